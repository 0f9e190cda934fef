//! Property-based fuzzing of every parser of untrusted bytes in the engine: the datagram
//! header, the whole receive path of a member (endpoint and tour state machine, with and
//! without a ring key), fragment reassembly, clock-probe and challenge answers, and
//! HdrHistogram bytes as results carry them. Inputs mix arbitrary bytes with
//! almost-valid datagrams (a real header with wild fields: fragment count 65535, index
//! beyond count, length 0xFFFFFFFF, the armed tour's id with bogus sequences and times),
//! which reach deeper than random bytes.
//!
//! Nothing may panic, and on the receive path every datagram is accounted for exactly once:
//! received, answered, or counted by one drop counter. Cases per property:
//! `STILLEPOST_FUZZ_CASES` (default 2000, what `cargo test` runs). These are property
//! tests over the same harnesses AFL++ fuzzes with coverage guidance (`fuzz/run`); they
//! check the properties with structured inputs, where AFL++ finds its own way in.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use proptest::prelude::*;
use stillepost_engine::fragment::{FragmentPlan, Reassembly};
use stillepost_engine::wire::{HEADER_LEN, Header, Kind, MAX_DATAGRAM};
use stillepost_fuzz::{Arrival, SLOT, Script, TOUR, run_script};

/// A datagram: arbitrary bytes, or a header with wild fields (kind, flags, the armed tour
/// or another, any sequence, fragment fields, length and times) in a datagram of any size.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), 0..400);
    let header = (
        0u8..8,
        any::<u16>(),
        prop_oneof![Just(TOUR), any::<u64>()],
        prop_oneof![0u32..120, any::<u32>()],
        prop_oneof![Just(0u32), any::<u32>()],
        prop_oneof![Just(1u32), Just(65_535u32), any::<u32>()],
        prop_oneof![Just(200u32), Just(u32::MAX), any::<u32>()],
        prop_oneof![Just(0u16), any::<u16>()],
        (any::<u64>(), prop_oneof![Just(1u64), any::<u64>()]),
        prop_oneof![
            Just(200usize),
            Just(HEADER_LEN),
            Just(72usize),
            Just(96usize),
            0usize..400
        ],
    )
        .prop_map(
            |(kind, flags, tour_id, seq, frag_index, frag_count, msg_len, hop, times, len)| {
                let mut bytes = vec![0u8; len.max(HEADER_LEN)];
                Header {
                    kind: Kind::Data,
                    flags,
                    tour_id,
                    seq,
                    frag_index,
                    frag_count,
                    msg_len,
                    hop,
                    prev_send_ns: times.0,
                    origin_send_ns: times.1,
                }
                .encode(&mut bytes);
                bytes[5] = kind; // any kind byte, known or not
                bytes.truncate(len);
                bytes
            },
        );
    prop_oneof![raw, header]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(stillepost_fuzz::property_cases()))]

    /// The whole receive path, with and without a ring key, as a forwarder or as the
    /// origin, from the previous member or elsewhere, the datagram tagged right or not,
    /// alone or in a GRO receive: no panic, and each datagram ends in exactly one count
    /// (`run_script` checks it after every receive).
    #[test]
    fn every_datagram_is_accounted_for_once(
        arrivals in proptest::collection::vec(
            (datagram(), any::<bool>(), any::<bool>(), prop_oneof![4 => Just(None), 1 => (1usize..33).prop_map(|s| Some(s * 8))]),
            1..40,
        ),
        keyed: bool,
        origin: bool,
        hold: bool,
    ) {
        let script = Script {
            keyed,
            origin,
            fragmented: false,
            hold,
            arrivals: arrivals
                .into_iter()
                .map(|(bytes, from_prev, tag, segment_size)| Arrival {
                    bytes: bytes[..bytes.len().min(SLOT)].to_vec(),
                    from_prev,
                    tag,
                    segment_size,
                })
                .collect(),
        };
        prop_assert_eq!(Script::parse(&script.to_bytes()), script.clone());
        let _ = run_script(&script);
    }

    /// The header decoder and the answer readers never panic on any bytes.
    #[test]
    fn header_and_answer_parsers_never_panic(bytes in datagram()) {
        let _ = Header::decode(&bytes);
        let _ = Header::probe_reply(&bytes);
        let _ = Header::challenge_answer(&bytes);
        let _ = Kind::peek(&bytes);
        prop_assert!(bytes.len() <= MAX_DATAGRAM || Header::decode(&bytes).is_err());
    }

    /// Reassembly takes any fragment index, length and sequence without panicking.
    #[test]
    fn reassembly_takes_any_fragment(
        fragments in proptest::collection::vec((any::<u32>(), any::<u32>(), 0usize..70_000), 1..60),
        max_datagram in 65u32..9000,
        msg_len in 64u32..200_000,
    ) {
        let Ok(plan) = FragmentPlan::new(msg_len, max_datagram) else {
            return Ok(());
        };
        let mut reassembly = Reassembly::new(plan, 8);
        for (i, (seq, index, len)) in fragments.into_iter().enumerate() {
            let _ = reassembly.accept(seq % 64, index, len, i as u64);
        }
    }

    /// HdrHistogram bytes as a result carries them: any bytes decode or fail, never panic.
    #[test]
    fn histogram_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = stillepost_engine::histogram::decode(&bytes);
    }
}

/// The decoder also survives valid histograms cut and flipped anywhere (what it makes of
/// them is its business; it must not panic).
#[test]
fn damaged_histograms_do_not_panic_the_decoder() {
    let mut h = stillepost_engine::histogram::new_histogram();
    for v in [1_000u64, 20_000, 3_000_000, 9_999_999] {
        h.record(v).unwrap();
    }
    let bytes = stillepost_engine::histogram::encode(&h).unwrap();
    for cut in 0..bytes.len() {
        let _ = stillepost_engine::histogram::decode(&bytes[..cut]);
        let mut flipped = bytes.clone();
        flipped[cut] ^= 0x5a;
        let _ = stillepost_engine::histogram::decode(&flipped);
    }
}
