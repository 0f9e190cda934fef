//! The coordinator's stored files are untrusted bytes when it reads them back (a disk, a
//! copy, an editor): any content of a result file or of the kept ring is read as a result,
//! a ring, or an error naming the file, never a panic (`stillepost_fuzz::stored` checks
//! it). Cases: `STILLEPOST_FUZZ_CASES` (default 2000).

use proptest::prelude::*;
use prost::Message as _;
use stillepost_control::proto::TourResult;

/// Bytes that are a valid result with some bytes flipped or cut, or anything at all.
fn stored_bytes() -> impl Strategy<Value = Vec<u8>> {
    let valid = TourResult {
        tour_id: 1,
        messages_sent: 10,
        error: "x".into(),
        ..Default::default()
    }
    .encode_to_vec();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(
            move |(at, flip, cut)| {
                let mut bytes = valid.clone();
                let at = at.index(bytes.len());
                if cut {
                    bytes.truncate(at);
                } else {
                    bytes[at] ^= flip;
                }
                bytes
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(stillepost_fuzz::property_cases()))]

    #[test]
    fn stored_files_of_any_content_are_read_or_refused(bytes in stored_bytes()) {
        stillepost_fuzz::stored(&bytes);
    }
}
