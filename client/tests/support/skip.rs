//! A test that cannot run here (a tool, a package, a privilege or a core is missing) says
//! what is missing and skips; where it must run it fails instead: under CI (`CI=true`,
//! as `.ci/run` is run), or where the test's own variable asks for it
//! (`STILLEPOST_REQUIRE_NETNS=1` for the network-namespace tests).
//!
//! Shared by the integration tests (through `support`) and the client's unit tests (by
//! `#[path]`), so there is one rule for when a skip is a failure.

/// Skips a test that cannot run here, saying what is `missing`; under `CI=true` fails
/// with it instead. The caller returns after it.
#[track_caller]
pub fn skip(missing: &str) {
    skip_unless_required(None, missing);
}

/// As [`skip`], and fails as well where `required` (a variable, e.g.
/// `STILLEPOST_REQUIRE_NETNS`) is `1`.
#[track_caller]
pub fn skip_unless_required(required: Option<&str>, missing: &str) {
    if let Some(failure) = failure(required, missing, |name| std::env::var(name).ok()) {
        panic!("{failure}");
    }
    eprintln!("skipped: {missing}");
}

/// Why a test that cannot run must fail, with the environment read through `var`; `None`
/// where it may skip.
fn failure(
    required: Option<&str>,
    missing: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if let Some(name) = required.filter(|name| var(name).as_deref() == Some("1")) {
        return Some(format!("{name}=1 but {missing}"));
    }
    (var("CI").as_deref() == Some("true")).then(|| {
        format!("CI=true but {missing}: CI must run every test (.ci/run installs what they need)")
    })
}

#[cfg(test)]
mod tests {
    use super::failure;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn a_test_that_cannot_run_fails_under_ci_and_skips_elsewhere() {
        assert_eq!(
            failure(None, "needs script(1)", env(&[("CI", "true")])).as_deref(),
            Some(
                "CI=true but needs script(1): CI must run every test (.ci/run installs what they need)"
            )
        );
        assert_eq!(failure(None, "needs script(1)", env(&[])), None);
        assert_eq!(failure(None, "needs script(1)", env(&[("CI", "")])), None);
    }

    #[test]
    fn a_required_variable_set_to_1_fails_outside_ci_too() {
        const REQUIRE: &str = "STILLEPOST_REQUIRE_NETNS";
        assert_eq!(
            failure(Some(REQUIRE), "needs root", env(&[(REQUIRE, "1")])).as_deref(),
            Some("STILLEPOST_REQUIRE_NETNS=1 but needs root")
        );
        assert_eq!(
            failure(Some(REQUIRE), "needs root", env(&[(REQUIRE, "0")])),
            None
        );
        assert!(failure(Some(REQUIRE), "needs root", env(&[("CI", "true")])).is_some());
    }
}
