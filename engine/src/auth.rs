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
/// The context from which a ring key's echo key is derived.
const ECHO_KEY_CONTEXT: &str = "stillepost v1 echo tag key";
/// The context from which a pre-shared key is derived from its file's bytes.
const PSK_CONTEXT: &str = "stillepost v1 pre-shared key";
/// Domain separation for a ring key mixed with a pre-shared key.
const PSK_MIX_CONTEXT: &[u8] = b"stillepost v1 ring key under a pre-shared key";
/// The shortest pre-shared secret taken, bytes.
pub const PSK_MIN_LEN: usize = 16;

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
    /// The key that tags this ring's tour datagrams and clock probes (derived, so it never
    /// equals the key challenges are answered with).
    pub fn datagram_key(&self) -> DatagramKey {
        DatagramKey::derive(DATAGRAM_KEY_CONTEXT, &self.0)
    }

    /// The key that tags echo requests to this ring's members and their answers: the
    /// coordinator hands it to a client for `echo-members`. It is derived one way from the
    /// ring key, so its holder can neither answer challenges nor tag tour datagrams.
    pub fn echo_key(&self) -> DatagramKey {
        DatagramKey::derive(ECHO_KEY_CONTEXT, &self.0)
    }

    /// The ring key mixed with a pre-shared key: what members with `--psk-file` use for
    /// challenges and tour datagrams, so that whoever learns the ring key from the control
    /// plane still cannot pass as a member without the pre-shared key.
    pub fn with_psk(&self, psk: &Psk) -> RingKey {
        let mut input = [0u8; PSK_MIX_CONTEXT.len() + RING_KEY_LEN];
        input[..PSK_MIX_CONTEXT.len()].copy_from_slice(PSK_MIX_CONTEXT);
        input[PSK_MIX_CONTEXT.len()..].copy_from_slice(&self.0);
        RingKey(*blake3::keyed_hash(&psk.0, &input).as_bytes())
    }
}

/// A pre-shared key (`--psk-file`) that outlives configurations: derived from a secret of
/// at least [`PSK_MIN_LEN`] bytes. Its `Debug` shows nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Psk([u8; RING_KEY_LEN]);

impl Psk {
    /// The key of `secret` (a file's bytes, trailing newline dropped by the caller);
    /// `None` when it is shorter than [`PSK_MIN_LEN`].
    pub fn from_secret(secret: &[u8]) -> Option<Psk> {
        (secret.len() >= PSK_MIN_LEN).then(|| Psk(blake3::derive_key(PSK_CONTEXT, secret)))
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(***)")
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
    /// The first 16 bytes of the key derived from `material` in `context`.
    fn derive(context: &str, material: &[u8]) -> DatagramKey {
        let derived = blake3::derive_key(context, material);
        let mut key = [0u8; 16];
        key.copy_from_slice(&derived[..16]);
        DatagramKey(key)
    }

    /// The key with these bytes (as handed over the control plane).
    pub fn from_slice(bytes: &[u8]) -> Option<DatagramKey> {
        bytes.try_into().ok().map(DatagramKey)
    }

    /// The key's bytes (to hand it over the control plane).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Sets the tag flag in `datagram`'s header and writes its tag (see `wire::tagged`).
    pub fn sign(&self, datagram: &mut [u8]) {
        crate::wire::write_tag(datagram, |covered| self.tag(covered));
    }

    /// Whether `datagram` carries this key's tag over its header (constant time).
    pub fn check(&self, datagram: &[u8]) -> bool {
        crate::wire::tagged(datagram).is_some_and(|(covered, tag)| self.verify(covered, tag))
    }

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

    #[test]
    fn echo_keys_and_psk_mixes_are_separate_keys() {
        let ring = RingKey::from_bytes([7; RING_KEY_LEN]);
        let echo = ring.echo_key();
        assert_ne!(echo, ring.datagram_key());
        assert_eq!(DatagramKey::from_slice(echo.as_bytes()), Some(echo));
        assert_eq!(DatagramKey::from_slice(&[0; 15]), None);
        assert!(Psk::from_secret(&[1; PSK_MIN_LEN - 1]).is_none());
        let psk = Psk::from_secret(b"0123456789abcdef").unwrap();
        let other = Psk::from_secret(b"0123456789abcdeg").unwrap();
        let mixed = ring.with_psk(&psk);
        assert_ne!(mixed, ring);
        assert_ne!(mixed, ring.with_psk(&other));
        assert_eq!(mixed, ring.with_psk(&psk));
        assert_eq!(format!("{psk:?}"), "Psk(***)");
    }
}
