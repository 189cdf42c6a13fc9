//! Smoke cases of benchmark modes, run by CI: each mode at a size of a few seconds, checked for
//! its JSON and for what must hold at any speed. Timings are printed by the modes, never checked.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The `hookmetry` binary next to the bench, where the bench looks for it; `cargo test
/// --workspace` builds it (the `hookmetry` package has integration tests).
fn hookmetry() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_hookmetry-bench")).with_file_name("hookmetry");
    assert!(path.exists(), "{} is missing: `cargo build -p hookmetry` first", path.display());
    path
}

fn bench(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hookmetry-bench"))
        .args(args)
        .arg("--hookmetry")
        .arg(hookmetry())
        .output()
        .expect("start hookmetry-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hookmetry-bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn read_path_lists_a_seeded_endpoint_through_graphql() {
    let report = bench(&["read-path", "--captures", "300", "--seconds", "1", "--connections", "2"]);
    assert_eq!(report["captures"], 300);
    for case in ["graphql_floor", "first_page", "method_get", "path_prefix", "deep_cursor"] {
        let q = &report["queries"][case];
        // An answer counts only with the page size the seeded data gives, so these also say the
        // listings were right.
        assert!(q["requests_ok"].as_u64().unwrap() > 0, "{case}: {q}");
        assert_eq!(q["errors"], 0, "{case}: {q}");
    }
}

#[test]
fn fan_out_reaches_every_subscriber() {
    let report =
        bench(&["fan-out", "--subscribers", "6", "--endpoints", "3", "--captures-per-s", "20", "--for-seconds", "1"]);
    assert_eq!(report["subscribers"], 6);
    assert_eq!(report["send_errors"], 0, "{report}");
    assert_eq!(report["subscribers_ended_early"], 0, "{report}");
    assert!(report["deliveries"].as_u64().unwrap() > 0, "{report}");
    assert!(report["server_peak_rss_mib"]["end"].as_f64().is_some(), "{report}");
}

/// Every benchmark behind the performance targets still runs, and what must hold at any speed
/// does: nothing refused outside the overload contract, every capture delivered.
#[test]
fn all_runs_every_benchmark_in_small() {
    let report = bench(&["all", "--quick"]);
    assert_eq!(report["ingest"][0]["hookmetry_ingest"]["errors"], 0, "{report}");
    assert!(report["ingest"][0]["hookmetry_ingest"]["requests_ok"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["overload"]["overload"]["outside_contract"], 0, "{report}");
    assert_eq!(report["overload"]["slow_uploads"]["outside_contract"], 0, "{report}");
    assert_eq!(report["deliveries"]["hookmetry_replay"]["non_2xx_attempts"], 0, "{report}");
    assert_eq!(report["fan_out"]["deliveries_missed"], 0, "{report}");
    assert_eq!(report["read_path"]["queries"]["first_page"]["errors"], 0, "{report}");
}

/// The processor alone stores every capture an ingest node appended, and reports its CPU.
#[test]
fn processor_stores_what_ingest_appended() {
    let report = bench(&["processor", "--captures", "300", "--rounds", "1"]);
    assert_eq!(report["captures"], 300);
    assert!(report["cpu_us_per_capture"].as_f64().is_some_and(|c| c > 0.0), "{report}");
    assert!(report["captures_per_s"].as_f64().is_some_and(|c| c > 0.0), "{report}");
}
