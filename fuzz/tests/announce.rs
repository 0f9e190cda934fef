//! Members' multicast announcements are network input to the coordinator
//! (`configure --cluster discover`). Cases: `STILLEPOST_FUZZ_CASES` (default 2000).

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(stillepost_fuzz::property_cases()))]

    /// Members' announcements are network input: any datagram, raw or framed and tagged
    /// with the coordinator's key, decodes or is refused, and the roster takes it or not,
    /// never panicking (`stillepost_fuzz::heartbeats` checks the properties).
    #[test]
    fn any_announcement_is_taken_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        stillepost_fuzz::heartbeats(&bytes);
    }
}
