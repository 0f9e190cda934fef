//! The datagram wire format: a fixed 64-byte header in network byte order, then payload.
//!
//! The layout is documented in `docs/wire-format.md`. Every datagram read from the network
//! goes through [`Header::decode`], which checks length, magic, version, kind and the
//! consistency of the length fields before anything else looks at it.
#![forbid(unsafe_code)]

/// `"STPO"`: the first four bytes of every Stillepost datagram.
pub const MAGIC: u32 = 0x5354_504F;
/// The wire-format version this build speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed header in bytes; the smallest valid message length.
pub const HEADER_LEN: usize = 64;
/// Largest UDP payload over IPv4 (65535 − 20 IP − 8 UDP). Until Stillepost fragments
/// messages itself, this is the largest message length a tour accepts.
pub const MAX_DATAGRAM: usize = 65_507;

/// What a datagram is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A tour message (or a fragment of one).
    Data = 1,
    /// An echo request from `stillepost echo-members`; answered from the peer socket.
    EchoRequest = 2,
    /// The answer to an echo request, the request's bytes with this kind.
    EchoReply = 3,
    /// A clock-offset probe between neighbours.
    ClockProbe = 4,
    /// A handshake between neighbours.
    Handshake = 5,
}

impl Kind {
    /// The kind of a datagram, read from its kind byte alone (nothing else is checked):
    /// for routing a datagram before its header is decoded.
    pub fn peek(datagram: &[u8]) -> Option<Kind> {
        Kind::from_u8(*datagram.get(OFF_KIND)?)
    }

    fn from_u8(value: u8) -> Option<Kind> {
        Some(match value {
            1 => Kind::Data,
            2 => Kind::EchoRequest,
            3 => Kind::EchoReply,
            4 => Kind::ClockProbe,
            5 => Kind::Handshake,
            _ => return None,
        })
    }
}

/// Header flag: the message was sent during warm-up and is not recorded.
pub const FLAG_WARMUP: u16 = 1 << 0;
/// Header flag: the datagram carries a tag (bytes 56..64) over the rest of its header,
/// keyed with the ring's datagram key (see [`tagged`]).
pub const FLAG_AUTH_TAG: u16 = 1 << 1;

/// Header flag: the datagram answers a clock probe (carrying the responder's timestamps)
/// or a challenge (carrying the answer's tag).
pub const FLAG_ANSWER: u16 = 1 << 2;

/// Length of a challenge (kind `Handshake`) and of its answer: the header and room for
/// the answer's tag, so the answer is exactly as large as the challenge.
pub const CHALLENGE_LEN: usize = HEADER_LEN + crate::auth::TAG_LEN;

/// Length of a clock probe and of its answer: the header (whose last eight bytes carry the
/// answer time t3) and room for the datagram tag, which covers the whole header.
pub const PROBE_LEN: usize = HEADER_LEN + crate::auth::DATAGRAM_TAG_LEN;

/// The four timestamps of one clock-probe exchange (NTP's t1..t4): the prober sends at
/// `t1`, the responder receives at `t2` and answers at `t3` (its clock), the prober
/// receives the answer at `t4` (its clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTimes {
    /// Prober sends.
    pub t1: u64,
    /// Responder receives.
    pub t2: u64,
    /// Responder answers.
    pub t3: u64,
    /// Prober receives the answer.
    pub t4: u64,
}

impl ProbeTimes {
    /// Whether the four times fit together: the answer came after the probe on each clock,
    /// and the round trip is longer than the responder's turnaround. A sample that does
    /// not (a clock stepped meanwhile) says nothing about the offset.
    pub fn is_consistent(&self) -> bool {
        self.t4 >= self.t1 && self.t3 >= self.t2 && self.t4 - self.t1 > self.t3 - self.t2
    }

    /// Round trip minus the responder's turnaround, ns (0 if the clocks make it negative).
    pub fn rtt_ns(&self) -> u64 {
        (self.t4.saturating_sub(self.t1)).saturating_sub(self.t3.saturating_sub(self.t2))
    }

    /// The responder's clock minus the prober's, ns, assuming symmetric paths.
    pub fn offset_ns(&self) -> i64 {
        let out = i128::from(self.t2) - i128::from(self.t1);
        let back = i128::from(self.t3) - i128::from(self.t4);
        ((out + back) / 2).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// The fixed header of every datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the datagram is for.
    pub kind: Kind,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// The tour this datagram belongs to (echo id for echoes).
    pub tour_id: u64,
    /// Message sequence number within the tour, from 0.
    pub seq: u32,
    /// Index of this fragment within its message, from 0.
    pub frag_index: u32,
    /// Number of fragments the message was split into (1 when it fits one datagram).
    pub frag_count: u32,
    /// Length of the whole message in bytes, header included.
    pub msg_len: u32,
    /// Hops the message has travelled: 0 when the origin sends it, +1 at every forward.
    pub hop: u16,
    /// When the previous member sent this datagram, on its clock (ns).
    pub prev_send_ns: u64,
    /// When the origin first sent the message, on the origin's clock (ns).
    pub origin_send_ns: u64,
}

/// Why a datagram was rejected. The data plane counts these; it never trusts such a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the fixed header.
    #[error("datagram of {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// Longer than any UDP datagram.
    #[error("datagram of {len} bytes exceeds the {MAX_DATAGRAM}-byte limit")]
    Oversize {
        /// Bytes received.
        len: usize,
    },
    /// Not a Stillepost datagram.
    #[error("wrong magic {found:#010x}")]
    BadMagic {
        /// The first four bytes.
        found: u32,
    },
    /// A Stillepost datagram of another wire version.
    #[error("unsupported wire version {found} (this build speaks {VERSION})")]
    BadVersion {
        /// The version byte.
        found: u8,
    },
    /// An unknown kind byte.
    #[error("unknown datagram kind {found}")]
    BadKind {
        /// The kind byte.
        found: u8,
    },
    /// The length fields do not describe this datagram.
    #[error(
        "inconsistent lengths: datagram {len} bytes, message {msg_len} bytes, fragment {frag_index} of {frag_count}"
    )]
    BadLength {
        /// Bytes received.
        len: usize,
        /// The header's message length.
        msg_len: u32,
        /// The header's fragment index.
        frag_index: u32,
        /// The header's fragment count.
        frag_count: u32,
    },
}

fn be_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

// Byte offsets of the header fields (see docs/wire-format.md).
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_KIND: usize = 5;
const OFF_FLAGS: usize = 6;
const OFF_TOUR: usize = 8;
const OFF_SEQ: usize = 16;
const OFF_FRAG_INDEX: usize = 20;
const OFF_FRAG_COUNT: usize = 24;
const OFF_MSG_LEN: usize = 28;
const OFF_HOP: usize = 32;
const OFF_PREV_SEND: usize = 40;
const OFF_ORIGIN_SEND: usize = 48;
/// Clock-probe answers only: the responder's answer time t3 (otherwise reserved).
const OFF_PROBE_T3: usize = 56;
/// Tour datagrams with [`FLAG_AUTH_TAG`]: the tag over bytes 0..56.
const OFF_TAG: usize = 56;

/// Where a datagram's tag starts: after the header's first 56 bytes, or, in a clock probe
/// (whose bytes 56..64 carry the answer time t3), after the whole header.
fn tag_offset(datagram: &[u8]) -> usize {
    if Kind::peek(datagram) == Some(Kind::ClockProbe) {
        HEADER_LEN
    } else {
        OFF_TAG
    }
}

/// A datagram's tagged part and its tag: `(header bytes 0..56, bytes 56..64)`, the tag
/// covering everything the measurement trusts (kind, flags, tour, sequence, fragment,
/// length, hop and both timestamps); in a clock probe `(bytes 0..64, bytes 64..72)`, so
/// that t3 is covered too. `None` when the datagram is too short to carry a tag.
pub fn tagged(datagram: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = tag_offset(datagram);
    let covered = datagram.get(..at + 8)?;
    Some(covered.split_at(at))
}

/// Sets [`FLAG_AUTH_TAG`] and writes the tag that `tag_of` computes over the tagged part
/// (see [`tagged`]); the flag is set first, so the tag covers it.
pub fn write_tag(datagram: &mut [u8], tag_of: impl FnOnce(&[u8]) -> [u8; 8]) {
    let at = tag_offset(datagram);
    let Some(tagged) = datagram.get_mut(..at + 8) else {
        return;
    };
    let flags = be_u16(tagged, OFF_FLAGS) | FLAG_AUTH_TAG;
    tagged[OFF_FLAGS..OFF_FLAGS + 2].copy_from_slice(&flags.to_be_bytes());
    let (covered, tag) = tagged.split_at_mut(at);
    tag.copy_from_slice(&tag_of(covered));
}

impl Header {
    /// Parses and validates the header of a received datagram.
    ///
    /// A single-fragment message must fill the datagram exactly (`msg_len == datagram.len()`);
    /// a fragment must not claim more bytes than its message has.
    pub fn decode(datagram: &[u8]) -> Result<Header, DecodeError> {
        let len = datagram.len();
        if len < HEADER_LEN {
            return Err(DecodeError::Truncated { len });
        }
        if len > MAX_DATAGRAM {
            return Err(DecodeError::Oversize { len });
        }
        let magic = be_u32(datagram, OFF_MAGIC);
        if magic != MAGIC {
            return Err(DecodeError::BadMagic { found: magic });
        }
        let version = datagram[OFF_VERSION];
        if version != VERSION {
            return Err(DecodeError::BadVersion { found: version });
        }
        let kind_byte = datagram[OFF_KIND];
        let kind = Kind::from_u8(kind_byte).ok_or(DecodeError::BadKind { found: kind_byte })?;
        let header = Header {
            kind,
            flags: be_u16(datagram, OFF_FLAGS),
            tour_id: be_u64(datagram, OFF_TOUR),
            seq: be_u32(datagram, OFF_SEQ),
            frag_index: be_u32(datagram, OFF_FRAG_INDEX),
            frag_count: be_u32(datagram, OFF_FRAG_COUNT),
            msg_len: be_u32(datagram, OFF_MSG_LEN),
            hop: be_u16(datagram, OFF_HOP),
            prev_send_ns: be_u64(datagram, OFF_PREV_SEND),
            origin_send_ns: be_u64(datagram, OFF_ORIGIN_SEND),
        };
        let consistent = if header.frag_count == 1 {
            header.frag_index == 0 && header.msg_len as usize == len
        } else {
            header.frag_count > 1
                && header.frag_index < header.frag_count
                && (header.msg_len as usize) >= len
        };
        if !consistent {
            return Err(DecodeError::BadLength {
                len,
                msg_len: header.msg_len,
                frag_index: header.frag_index,
                frag_count: header.frag_count,
            });
        }
        Ok(header)
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than [`HEADER_LEN`]; callers size their buffers at configure time.
    pub fn encode(&self, out: &mut [u8]) {
        let out = &mut out[..HEADER_LEN];
        out[OFF_MAGIC..OFF_MAGIC + 4].copy_from_slice(&MAGIC.to_be_bytes());
        out[OFF_VERSION] = VERSION;
        out[OFF_KIND] = self.kind as u8;
        out[OFF_FLAGS..OFF_FLAGS + 2].copy_from_slice(&self.flags.to_be_bytes());
        out[OFF_TOUR..OFF_TOUR + 8].copy_from_slice(&self.tour_id.to_be_bytes());
        out[OFF_SEQ..OFF_SEQ + 4].copy_from_slice(&self.seq.to_be_bytes());
        out[OFF_FRAG_INDEX..OFF_FRAG_INDEX + 4].copy_from_slice(&self.frag_index.to_be_bytes());
        out[OFF_FRAG_COUNT..OFF_FRAG_COUNT + 4].copy_from_slice(&self.frag_count.to_be_bytes());
        out[OFF_MSG_LEN..OFF_MSG_LEN + 4].copy_from_slice(&self.msg_len.to_be_bytes());
        out[OFF_HOP..OFF_HOP + 2].copy_from_slice(&self.hop.to_be_bytes());
        // Bytes 34..40 are reserved (room for an authentication key id) and sent as zero.
        out[OFF_HOP + 2..OFF_PREV_SEND].fill(0);
        out[OFF_PREV_SEND..OFF_PREV_SEND + 8].copy_from_slice(&self.prev_send_ns.to_be_bytes());
        out[OFF_ORIGIN_SEND..OFF_ORIGIN_SEND + 8]
            .copy_from_slice(&self.origin_send_ns.to_be_bytes());
        // Bytes 56..64 are reserved and sent as zero.
        out[OFF_ORIGIN_SEND + 8..HEADER_LEN].fill(0);
    }

    /// Rewrites, in a datagram that already carries a valid header, the fields a member
    /// changes when it forwards: the hop count and the previous member's send time.
    /// Forwarding touches nothing else, so the payload is sent from the buffer it arrived in.
    pub fn stamp_forward(datagram: &mut [u8], hop: u16, send_ns: u64) {
        datagram[OFF_HOP..OFF_HOP + 2].copy_from_slice(&hop.to_be_bytes());
        datagram[OFF_PREV_SEND..OFF_PREV_SEND + 8].copy_from_slice(&send_ns.to_be_bytes());
    }

    /// The header of an echo request: a header-only datagram carrying `echo_id`.
    pub fn echo_request(echo_id: u64) -> Header {
        Header {
            kind: Kind::EchoRequest,
            flags: 0,
            tour_id: echo_id,
            seq: 0,
            frag_index: 0,
            frag_count: 1,
            msg_len: HEADER_LEN as u32,
            hop: 0,
            prev_send_ns: 0,
            origin_send_ns: 0,
        }
    }

    /// The flags and the previous send time of a datagram whose header was decoded before
    /// (`None` if it is too short to have one).
    pub fn send_stamp(datagram: &[u8]) -> Option<(u16, u64)> {
        (datagram.len() >= HEADER_LEN)
            .then(|| (be_u16(datagram, OFF_FLAGS), be_u64(datagram, OFF_PREV_SEND)))
    }

    /// Stamps the previous member's send time into a datagram about to be sent (used when
    /// held messages are flushed, long after they were stamped on arrival).
    pub fn set_prev_send_ns(datagram: &mut [u8], send_ns: u64) {
        datagram[OFF_PREV_SEND..OFF_PREV_SEND + 8].copy_from_slice(&send_ns.to_be_bytes());
    }

    /// A clock probe from the prober, sent at `t1`: [`PROBE_LEN`] bytes, the header and
    /// room for its tag.
    pub fn clock_probe(probe_id: u64, seq: u32, t1: u64) -> Header {
        Header {
            kind: Kind::ClockProbe,
            flags: 0,
            tour_id: probe_id,
            seq,
            frag_index: 0,
            frag_count: 1,
            msg_len: PROBE_LEN as u32,
            hop: 0,
            prev_send_ns: t1,
            origin_send_ns: 0,
        }
    }

    /// Turns a clock probe, in place, into its answer: the responder's receive time `t2`
    /// goes into the origin-send field, its answer time `t3` into the last eight bytes.
    pub fn make_probe_reply(datagram: &mut [u8], t2: u64, t3: u64) {
        let flags = be_u16(datagram, OFF_FLAGS) | FLAG_ANSWER;
        datagram[OFF_FLAGS..OFF_FLAGS + 2].copy_from_slice(&flags.to_be_bytes());
        datagram[OFF_ORIGIN_SEND..OFF_ORIGIN_SEND + 8].copy_from_slice(&t2.to_be_bytes());
        datagram[OFF_PROBE_T3..OFF_PROBE_T3 + 8].copy_from_slice(&t3.to_be_bytes());
    }

    /// Sets the answer's t3 (when it leaves the answering member) in a probe already turned
    /// into its reply by [`Header::make_probe_reply`].
    pub fn set_probe_t3(datagram: &mut [u8], t3: u64) {
        if let Some(field) = datagram.get_mut(OFF_PROBE_T3..OFF_PROBE_T3 + 8) {
            field.copy_from_slice(&t3.to_be_bytes());
        }
    }

    /// Reads an answered clock probe: its id, number, and t1..t3 (t4 is the caller's).
    pub fn probe_reply(datagram: &[u8]) -> Option<(u64, u32, u64, u64, u64)> {
        let h = Header::decode(datagram).ok()?;
        (h.kind == Kind::ClockProbe && h.flags & FLAG_ANSWER != 0).then(|| {
            (
                h.tour_id,
                h.seq,
                h.prev_send_ns,
                h.origin_send_ns,
                be_u64(datagram, OFF_PROBE_T3),
            )
        })
    }

    /// A challenge to a next member, with a fresh `nonce` (in the tour-id field).
    pub fn challenge(nonce: u64) -> Header {
        Header {
            kind: Kind::Handshake,
            flags: 0,
            tour_id: nonce,
            seq: 0,
            frag_index: 0,
            frag_count: 1,
            msg_len: CHALLENGE_LEN as u32,
            hop: 0,
            prev_send_ns: 0,
            origin_send_ns: 0,
        }
    }

    /// Turns a challenge, in place, into its answer: the answer flag, and `tag` in the
    /// room after the header.
    pub fn make_challenge_answer(datagram: &mut [u8], tag: &[u8; crate::auth::TAG_LEN]) {
        let flags = be_u16(datagram, OFF_FLAGS) | FLAG_ANSWER;
        datagram[OFF_FLAGS..OFF_FLAGS + 2].copy_from_slice(&flags.to_be_bytes());
        if let Some(room) = datagram.get_mut(HEADER_LEN..CHALLENGE_LEN) {
            room.copy_from_slice(tag);
        }
    }

    /// Reads an answered challenge: its nonce and the answer's tag.
    pub fn challenge_answer(datagram: &[u8]) -> Option<(u64, &[u8])> {
        let h = Header::decode(datagram).ok()?;
        (h.kind == Kind::Handshake && h.flags & FLAG_ANSWER != 0 && datagram.len() == CHALLENGE_LEN)
            .then(|| (h.tour_id, &datagram[HEADER_LEN..CHALLENGE_LEN]))
    }

    /// Turns an echo request, in place, into its reply.
    pub fn make_echo_reply(datagram: &mut [u8]) {
        datagram[OFF_KIND] = Kind::EchoReply as u8;
    }
}

/// Builds a complete single-datagram message of `msg_len` bytes into `out[..msg_len]`:
/// the header, then a payload of a repeating byte pattern (so captures are recognisable).
/// Returns the datagram length.
///
/// # Panics
/// If `out` is shorter than `msg_len` or `msg_len < HEADER_LEN`; callers validate both.
pub fn write_message(out: &mut [u8], header: &Header) -> usize {
    header.encode(out);
    fill_payload(&mut out[..header.msg_len as usize]);
    header.msg_len as usize
}

/// Writes the payload pattern after the header room of `message` (all of it but the first
/// [`HEADER_LEN`] bytes). The origin does this once per send buffer at configure time, so
/// that sending a message only writes its header.
pub fn fill_payload(message: &mut [u8]) {
    if let Some(payload) = message.get_mut(HEADER_LEN..) {
        for (i, b) in payload.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_probe_round_trips_its_four_timestamps() {
        let mut buf = [0u8; PROBE_LEN];
        Header::clock_probe(0xfeed, 7, 1_000).encode(&mut buf);
        assert_eq!(
            Header::probe_reply(&buf),
            None,
            "a request is not an answer"
        );
        let request = Header::decode(&buf).unwrap();
        assert_eq!((request.kind, request.seq), (Kind::ClockProbe, 7));
        // The responder's clock runs 5000 ns ahead; 300 ns each way, 50 ns turnaround.
        Header::make_probe_reply(&mut buf, 6_300, 6_350);
        let (id, seq, t1, t2, t3) = Header::probe_reply(&buf).unwrap();
        assert_eq!((id, seq, t1, t2, t3), (0xfeed, 7, 1_000, 6_300, 6_350));
        let times = ProbeTimes {
            t1,
            t2,
            t3,
            t4: 1_650,
        };
        assert_eq!(times.rtt_ns(), 600);
        assert_eq!(times.offset_ns(), 5_000);
        // Asymmetry shows up as offset error within rtt/2.
        let skewed = ProbeTimes {
            t1: 0,
            t2: 5_500,
            t3: 5_500,
            t4: 600,
        };
        assert_eq!(skewed.offset_ns(), 5_200);
        assert!((skewed.offset_ns() - 5_000).unsigned_abs() <= skewed.rtt_ns() / 2);
        assert!(times.is_consistent() && skewed.is_consistent());
        // An answer "before" the probe, or a turnaround longer than the round trip.
        assert!(!ProbeTimes { t4: 999, ..times }.is_consistent());
        assert!(!ProbeTimes { t3: 9_000, ..times }.is_consistent());
    }
    use proptest::prelude::*;

    fn sample(msg_len: u32) -> Header {
        Header {
            kind: Kind::Data,
            flags: FLAG_WARMUP,
            tour_id: 0x0123_4567_89ab_cdef,
            seq: 42,
            frag_index: 0,
            frag_count: 1,
            msg_len,
            hop: 3,
            prev_send_ns: 1_000_000_007,
            origin_send_ns: 999_999_999,
        }
    }

    #[test]
    fn round_trip_minimal_message() {
        let h = sample(HEADER_LEN as u32);
        let mut buf = [0u8; HEADER_LEN];
        assert_eq!(write_message(&mut buf, &h), HEADER_LEN);
        assert_eq!(&buf[0..4], b"STPO");
        assert_eq!(Header::decode(&buf), Ok(h));
    }

    #[test]
    fn rejects_truncated() {
        let h = sample(HEADER_LEN as u32);
        let mut buf = [0u8; HEADER_LEN];
        write_message(&mut buf, &h);
        for len in 0..HEADER_LEN {
            assert_eq!(
                Header::decode(&buf[..len]),
                Err(DecodeError::Truncated { len })
            );
        }
    }

    #[test]
    fn rejects_oversize() {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        write_message(&mut buf, &sample(MAX_DATAGRAM as u32 + 1));
        assert_eq!(
            Header::decode(&buf),
            Err(DecodeError::Oversize {
                len: MAX_DATAGRAM + 1
            })
        );
        // The largest legal datagram decodes.
        assert!(
            Header::decode(&buf[..MAX_DATAGRAM])
                .is_err_and(|e| matches!(e, DecodeError::BadLength { .. }))
        );
        write_message(&mut buf, &sample(MAX_DATAGRAM as u32));
        assert_eq!(
            Header::decode(&buf[..MAX_DATAGRAM]),
            Ok(sample(MAX_DATAGRAM as u32))
        );
    }

    #[test]
    fn rejects_wrong_magic_version_kind() {
        let h = sample(100);
        let mut buf = [0u8; 100];
        write_message(&mut buf, &h);
        let mut bad = buf;
        bad[0] = b'X';
        assert_eq!(
            Header::decode(&bad),
            Err(DecodeError::BadMagic { found: 0x5854_504F })
        );
        let mut bad = buf;
        bad[4] = 9;
        assert_eq!(
            Header::decode(&bad),
            Err(DecodeError::BadVersion { found: 9 })
        );
        let mut bad = buf;
        bad[5] = 0;
        assert_eq!(Header::decode(&bad), Err(DecodeError::BadKind { found: 0 }));
    }

    #[test]
    fn rejects_length_mismatch() {
        let mut buf = [0u8; 200];
        write_message(&mut buf, &sample(200));
        // Datagram shorter than the single-fragment message it claims to be.
        assert!(matches!(
            Header::decode(&buf[..150]),
            Err(DecodeError::BadLength {
                len: 150,
                msg_len: 200,
                ..
            })
        ));
        // Fragment index beyond the count.
        let mut h = sample(1000);
        h.frag_count = 4;
        h.frag_index = 4;
        h.encode(&mut buf);
        assert!(matches!(
            Header::decode(&buf),
            Err(DecodeError::BadLength { .. })
        ));
        // Zero fragments.
        h.frag_count = 0;
        h.frag_index = 0;
        h.encode(&mut buf);
        assert!(matches!(
            Header::decode(&buf),
            Err(DecodeError::BadLength { .. })
        ));
    }

    #[test]
    fn stamp_forward_changes_only_hop_and_send_time() {
        let h = sample(300);
        let mut buf = [0u8; 300];
        write_message(&mut buf, &h);
        let before = buf;
        Header::stamp_forward(&mut buf, 4, 77);
        let got = Header::decode(&buf).unwrap();
        assert_eq!(
            got,
            Header {
                hop: 4,
                prev_send_ns: 77,
                ..h
            }
        );
        assert_eq!(buf[HEADER_LEN..], before[HEADER_LEN..]);
    }

    fn arb_kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            Just(Kind::Data),
            Just(Kind::EchoRequest),
            Just(Kind::EchoReply),
            Just(Kind::ClockProbe),
            Just(Kind::Handshake),
        ]
    }

    proptest! {
        #[test]
        fn prop_round_trip(kind in arb_kind(), flags: u16, tour_id: u64, seq: u32, hop: u16,
                           prev: u64, origin: u64, msg_len in HEADER_LEN as u32..4096) {
            let h = Header { kind, flags, tour_id, seq, frag_index: 0, frag_count: 1, msg_len,
                             hop, prev_send_ns: prev, origin_send_ns: origin };
            let mut buf = vec![0u8; msg_len as usize];
            prop_assert_eq!(write_message(&mut buf, &h), msg_len as usize);
            prop_assert_eq!(Header::decode(&buf), Ok(h));
        }

        #[test]
        fn prop_fragment_round_trip(frag_count in 2u32..100_000, frag_pick: u32,
                                    len in HEADER_LEN..2000, extra in 0u32..1_000_000) {
            let frag_index = frag_pick % frag_count;
            let h = Header { frag_index, frag_count, msg_len: len as u32 + extra, ..sample(0) };
            let mut buf = vec![0u8; len];
            h.encode(&mut buf);
            prop_assert_eq!(Header::decode(&buf), Ok(h));
        }

        /// Arbitrary bytes never panic the decoder, and whatever it accepts re-encodes to
        /// the same header bytes (reserved bytes aside).
        #[test]
        fn prop_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(h) = Header::decode(&bytes) {
                let mut again = vec![0u8; HEADER_LEN];
                h.encode(&mut again);
                prop_assert_eq!(&again[..34], &bytes[..34]);
                prop_assert_eq!(&again[40..56], &bytes[40..56]);
            }
        }

        /// Whatever the bytes, a datagram shorter than the header is rejected as truncated.
        #[test]
        fn prop_truncated(bytes in proptest::collection::vec(any::<u8>(), 0..HEADER_LEN)) {
            prop_assert_eq!(Header::decode(&bytes), Err(DecodeError::Truncated { len: bytes.len() }));
        }

        /// Whatever the header says, a datagram longer than any UDP payload is rejected.
        #[test]
        fn prop_oversize(extra in 1usize..2000, msg_len: u32, seq: u32) {
            let mut buf = vec![0u8; MAX_DATAGRAM + extra];
            Header { msg_len, seq, ..sample(0) }.encode(&mut buf);
            prop_assert_eq!(Header::decode(&buf), Err(DecodeError::Oversize { len: MAX_DATAGRAM + extra }));
        }

        /// A valid message cut short anywhere is never accepted.
        #[test]
        fn prop_cut_short(msg_len in HEADER_LEN as u32 + 1..3000, cut_pick: usize) {
            let mut buf = vec![0u8; msg_len as usize];
            write_message(&mut buf, &sample(msg_len));
            let cut = HEADER_LEN + cut_pick % (msg_len as usize - HEADER_LEN);
            prop_assert!(Header::decode(&buf[..cut]).is_err());
        }

        /// Any datagram whose first four bytes are not the magic is rejected as such.
        #[test]
        fn prop_wrong_magic(mut bytes in proptest::collection::vec(any::<u8>(), HEADER_LEN..300)) {
            if bytes[..4] == MAGIC.to_be_bytes() { bytes[0] ^= 0xff; }
            let rejected = matches!(Header::decode(&bytes), Err(DecodeError::BadMagic { .. }));
            prop_assert!(rejected);
        }
    }
}
