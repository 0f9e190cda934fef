//! Network namespaces for the reliability run's link cut: the tests' lab
//! (client/tests/support/netns.rs: a namespace per member, veth pairs to a bridge in a hub
//! namespace, 198.18.0.0/24, all removed on drop), shared rather than copied.

#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
#[path = "../../client/tests/support/netns.rs"]
pub mod netns;

/// What the lab calls when it cannot be built (no root, no iproute2): the bench says why,
/// and its report says the scenario did not run.
pub fn skip_unless_required(_required: Option<&str>, missing: &str) {
    eprintln!("[reliability] no namespace lab: {missing}");
}
