//! The coordinator's stored files are untrusted bytes when it reads them back (a disk, a
//! copy, an editor): any content of a result file or of the kept ring is read as a result,
//! a ring, or an error naming the file, never a panic. Cases: `STILLEPOST_FUZZ_CASES`
//! (default 2000).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use proptest::prelude::*;
use prost::Message as _;
use stillepost_control::proto::{StoredRing, TourResult};
use stillepost_control::store::ResultStore;

fn cases() -> u32 {
    std::env::var("STILLEPOST_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

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
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn stored_files_of_any_content_are_read_or_refused(bytes in stored_bytes()) {
        let dir = std::env::temp_dir().join(format!(
            "stillepost-fuzz-store-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let store = ResultStore::open(&dir).unwrap();
        std::fs::write(dir.join("0000000000000001.pb"), &bytes).unwrap();
        std::fs::write(dir.join("ring.pb"), &bytes).unwrap();
        match store.load(1) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().contains("0000000000000001.pb"), "{}", e),
        }
        let _ = store.load_ring();
        let _ = store.index();
        let _ = StoredRing::decode(bytes.as_slice());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
