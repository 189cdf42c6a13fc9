//! What a test does when an outside program or server it needs (a ScyllaDB node, a Kafka broker,
//! Chromium, node, promtool) is missing. Nothing in the product calls it: test harnesses do.
//!
//! Locally a missing backend is a loud skip, so `cargo test --workspace` needs nothing but Rust.
//! CI sets [`REQUIRE_ENV`]`=1`, which turns every such skip into a failure, except for the
//! backends [`UNAVAILABLE_ENV`] names: a machine that cannot have one says so explicitly, and the
//! skip stays visible in the test summary.

use std::io::Write as _;

/// `1` makes a missing backend fail the test instead of skipping it.
pub const REQUIRE_ENV: &str = "HOOKMETRY_REQUIRE_EXTERNAL";
/// Backends this machine cannot have, separated by commas (`scylla`): skipped even when
/// [`REQUIRE_ENV`] is `1`.
pub const UNAVAILABLE_ENV: &str = "HOOKMETRY_UNAVAILABLE";

/// Reports that `test` did not run because `backend` is missing (`reason` says how to get it):
/// `SKIPPED {test}: {reason}` on stderr, past the test harness's capture, which
/// `.ci/test-summary.py` lists. Panics instead when [`REQUIRE_ENV`] is `1` and [`UNAVAILABLE_ENV`]
/// does not name `backend`. The caller then returns without running anything.
#[track_caller]
pub fn skip(backend: &str, test: &str, reason: &str) {
    let required = std::env::var(REQUIRE_ENV).ok();
    let unavailable = std::env::var(UNAVAILABLE_ENV).ok();
    if let Err(why) = may_skip(backend, required.as_deref(), unavailable.as_deref()) {
        panic!("{test} cannot run: {reason}; {why}");
    }
    // One write: `writeln!` on unbuffered stderr writes piece by piece, and other tests' output
    // would land inside the line that .ci/test-summary.py reads.
    let _ = std::io::stderr().write_all(format!("SKIPPED {test}: {reason}\n").as_bytes());
}

/// Whether a test may be skipped for want of `backend`, given the values of [`REQUIRE_ENV`] and
/// [`UNAVAILABLE_ENV`]; the error says why not.
pub fn may_skip(backend: &str, required: Option<&str>, unavailable: Option<&str>) -> Result<(), String> {
    if required.map(str::trim) != Some("1") {
        return Ok(());
    }
    let listed = unavailable.unwrap_or_default().split(',').any(|b| b.trim().eq_ignore_ascii_case(backend));
    if listed {
        Ok(())
    } else {
        Err(format!(
            "{REQUIRE_ENV}=1 and {UNAVAILABLE_ENV} does not list `{backend}` (add it only on a machine that cannot have it)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::may_skip;

    #[test]
    fn skips_unless_required() {
        assert!(may_skip("kafka", None, None).is_ok());
        assert!(may_skip("kafka", Some("0"), None).is_ok());
        assert!(may_skip("kafka", Some(""), Some("")).is_ok());
    }

    #[test]
    fn required_fails_unless_listed_unavailable() {
        let err = may_skip("scylla", Some("1"), None).unwrap_err();
        assert!(err.contains("HOOKMETRY_UNAVAILABLE does not list `scylla`"), "{err}");
        assert!(may_skip("scylla", Some("1"), Some("kafka")).is_err());
        assert!(may_skip("scylla", Some("1"), Some("scyllax")).is_err(), "whole names only");
        assert!(may_skip("scylla", Some("1"), Some("scylla")).is_ok());
        assert!(may_skip("scylla", Some("1"), Some("chromium, Scylla")).is_ok());
    }
}
