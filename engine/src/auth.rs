//! Keys and tags that prove a datagram comes from a member of the ring: keyed BLAKE3
//! (`blake3::keyed_hash`), compared in constant time.
//!
//! The coordinator hands every member a fresh [`RingKey`] with each configuration, over the
//! (authenticated) control plane. Before a member sends tour traffic anywhere, its next
//! member must have answered a challenge on its peer socket: a fresh nonce, answered with
//! [`RingKey::challenge_answer`] over that nonce and the answering member's ring index.
//! Only a member that was given the key can answer, and only from the address the
//! challenge went to, so a peer endpoint that is not a member of this ring (a victim's
//! address given by whoever configured the ring) is never sent a tour.
#![forbid(unsafe_code)]

use std::fmt;

/// Length of a ring key, bytes.
pub const RING_KEY_LEN: usize = 32;
/// Length of a challenge answer's tag, bytes.
pub const TAG_LEN: usize = 32;

/// Length of a datagram's tag, bytes (64 bits).
pub const DATAGRAM_TAG_LEN: usize = 8;

/// Domain separation: what a tag is over, so that a tag of one kind never passes as
/// another's.
const CHALLENGE_CONTEXT: &[u8] = b"stillepost v1 challenge answer";
/// The context from which a ring key's datagram key is derived (`blake3::derive_key`).
const DATAGRAM_KEY_CONTEXT: &str = "stillepost v1 datagram tag key";

/// A ring's secret key. Its `Debug` shows nothing of it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RingKey([u8; RING_KEY_LEN]);

impl RingKey {
    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; RING_KEY_LEN]) -> RingKey {
        RingKey(bytes)
    }

    /// The key from a byte slice of exactly [`RING_KEY_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<RingKey> {
        bytes.try_into().ok().map(RingKey)
    }

    /// The key's bytes (to hand it to a member over the control plane).
    pub fn as_bytes(&self) -> &[u8; RING_KEY_LEN] {
        &self.0
    }

    /// The answer member `index` gives to challenge `nonce`.
    pub fn challenge_answer(&self, nonce: u64, index: u32) -> [u8; TAG_LEN] {
        let mut input = [0u8; CHALLENGE_CONTEXT.len() + 12];
        input[..CHALLENGE_CONTEXT.len()].copy_from_slice(CHALLENGE_CONTEXT);
        input[CHALLENGE_CONTEXT.len()..CHALLENGE_CONTEXT.len() + 8]
            .copy_from_slice(&nonce.to_be_bytes());
        input[CHALLENGE_CONTEXT.len() + 8..].copy_from_slice(&index.to_be_bytes());
        *blake3::keyed_hash(&self.0, &input).as_bytes()
    }

    /// Whether `tag` is member `index`'s answer to challenge `nonce` (constant time).
    pub fn verify_challenge_answer(&self, nonce: u64, index: u32, tag: &[u8]) -> bool {
        let Ok(tag) = <[u8; TAG_LEN]>::try_from(tag) else {
            return false;
        };
        // blake3::Hash compares in constant time.
        blake3::Hash::from_bytes(tag)
            == blake3::Hash::from_bytes(self.challenge_answer(nonce, index))
    }
}

impl RingKey {
    /// The key that tags this ring's tour datagrams (derived, so it never equals the key
    /// challenges are answered with).
    pub fn datagram_key(&self) -> DatagramKey {
        let derived = blake3::derive_key(DATAGRAM_KEY_CONTEXT, &self.0);
        let mut key = [0u8; 16];
        key.copy_from_slice(&derived[..16]);
        DatagramKey(key)
    }
}

/// The key of a ring's datagram tags: SipHash-2-4 (a keyed PRF made for short inputs,
/// with a 128-bit key and a 64-bit output) over the part of a datagram's header the
/// measurement trusts. A forwarder checks one tag and makes one per datagram: with SipHash
/// both fit the 100 ns budget, where one keyed BLAKE3 hash alone does not (both are
/// measured by `stillepost-bench machine`). Its `Debug` shows nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DatagramKey([u8; 16]);

impl DatagramKey {
    /// The tag of `covered` (the header bytes a tag covers, see `wire::tagged`).
    pub fn tag(&self, covered: &[u8]) -> [u8; DATAGRAM_TAG_LEN] {
        let mut mac = siphasher::sip::SipHasher24::new_with_key(&self.0);
        std::hash::Hasher::write(&mut mac, covered);
        std::hash::Hasher::finish(&mac).to_be_bytes()
    }

    /// Whether `tag` is the tag of `covered`, compared in constant time.
    pub fn verify(&self, covered: &[u8], tag: &[u8]) -> bool {
        constant_time_eq::constant_time_eq(&self.tag(covered), tag)
    }
}

impl fmt::Debug for DatagramKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatagramKey(***)")
    }
}

impl fmt::Debug for RingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RingKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_and_the_right_member_answer_a_challenge() {
        let key = RingKey::from_bytes([7; RING_KEY_LEN]);
        let other = RingKey::from_bytes([8; RING_KEY_LEN]);
        let answer = key.challenge_answer(42, 2);
        assert!(key.verify_challenge_answer(42, 2, &answer));
        assert!(
            !key.verify_challenge_answer(43, 2, &answer),
            "another nonce"
        );
        assert!(
            !key.verify_challenge_answer(42, 1, &answer),
            "another member"
        );
        assert!(
            !other.verify_challenge_answer(42, 2, &answer),
            "another key"
        );
        assert!(
            !key.verify_challenge_answer(42, 2, &answer[..16]),
            "a short tag"
        );
        assert!(!key.verify_challenge_answer(42, 2, &[0; TAG_LEN]));
        // The answer is keyed BLAKE3 over the context, the nonce and the index.
        let mut input = b"stillepost v1 challenge answer".to_vec();
        input.extend(42u64.to_be_bytes());
        input.extend(2u32.to_be_bytes());
        assert_eq!(answer, *blake3::keyed_hash(&[7; 32], &input).as_bytes());
        assert_eq!(format!("{key:?}"), "RingKey(***)");
        assert_eq!(RingKey::from_slice(&[7; 32]), Some(key));
        assert_eq!(RingKey::from_slice(&[7; 31]), None);
    }

    #[test]
    fn datagram_tags_cover_every_byte_and_need_the_key() {
        let key = RingKey::from_bytes([7; RING_KEY_LEN]).datagram_key();
        let other = RingKey::from_bytes([8; RING_KEY_LEN]).datagram_key();
        let covered = [0x5au8; 56];
        let tag = key.tag(&covered);
        assert!(key.verify(&covered, &tag));
        assert!(!other.verify(&covered, &tag));
        assert!(!key.verify(&covered, &tag[..7]));
        for i in 0..covered.len() {
            let mut changed = covered;
            changed[i] ^= 1;
            assert!(!key.verify(&changed, &tag), "byte {i} is covered");
        }
        // SipHash-2-4 under the first 16 bytes of the key derived from the ring key.
        let derived = blake3::derive_key("stillepost v1 datagram tag key", &[7; RING_KEY_LEN]);
        let mut sip = siphasher::sip::SipHasher24::new_with_key(&derived[..16].try_into().unwrap());
        std::hash::Hasher::write(&mut sip, &covered);
        assert_eq!(tag, std::hash::Hasher::finish(&sip).to_be_bytes());
        assert_eq!(format!("{key:?}"), "DatagramKey(***)");
    }
}
