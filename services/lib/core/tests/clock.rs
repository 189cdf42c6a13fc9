//! The product's clock and its test shift. A process of its own: the shift is process-wide.

use std::time::{SystemTime, UNIX_EPOCH};

use hookmetry_core::{CaptureId, DeliveryId, Timestamp, clock};

const DAY_US: i64 = 86_400_000_000;
const SLACK_US: i64 = 60_000_000;

fn system_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as i64
}

fn id_micros(id: CaptureId) -> i64 {
    id.unix_millis().expect("a v7 id carries its time") as i64 * 1_000
}

/// One test, because the shift is shared by every thread of this process.
#[test]
fn the_shift_moves_now_and_the_time_in_new_ids_and_ids_stay_ordered() {
    clock::shift_days(0);
    let before = CaptureId::new();
    assert!((Timestamp::now().micros() - system_micros()).abs() < SLACK_US, "unshifted clock is the system's");
    assert!((id_micros(before) - system_micros()).abs() < SLACK_US);

    clock::shift_days(365);
    assert_eq!(clock::shifted_days(), 365);
    let ahead = Timestamp::now().micros() - system_micros();
    assert!((ahead - 365 * DAY_US).abs() < SLACK_US, "now is {ahead} µs ahead, not 365 days");
    let shifted = CaptureId::new();
    assert!((id_micros(shifted) - (system_micros() + 365 * DAY_US)).abs() < SLACK_US, "ids carry the moved time");
    assert!(before < shifted);

    // Moving the clock back (as the next test binary's harness might) never makes ids go back:
    // they are ordered by creation, which the stores' newest-first paging relies on.
    clock::shift_days(0);
    let after = CaptureId::new();
    assert!(shifted < after, "{shifted} then {after}");
    let d1 = DeliveryId::new();
    let d2 = DeliveryId::new();
    assert!(d1 < d2);
}

#[test]
fn the_shift_variable_is_whole_days_or_a_clear_error() {
    assert_eq!(clock::parse_shift("365"), Ok(365));
    assert_eq!(clock::parse_shift(" -30 "), Ok(-30));
    assert_eq!(clock::parse_shift(""), Ok(0));
    for bad in ["365d", "1.5", "one year", "9999999"] {
        let e = clock::parse_shift(bad).unwrap_err();
        assert!(e.contains(clock::SHIFT_ENV) && e.contains(bad), "{bad}: {e}");
    }
}

/// The product never moves its own clock: only test support code (the harnesses in `tests/`
/// folders, `hookmetry-testkit` and this crate's definition) may name the hook, so no setting,
/// flag or variable of a running server can shift the time it judges signatures and retention by.
#[test]
fn only_test_code_moves_the_clock() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let allowed = ["services/lib/core/src/time.rs", "services/lib/testkit/src/lib.rs"];
    let mut offenders = Vec::new();
    let mut dirs = vec![root.join("services")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            if path.is_dir() {
                // Test folders may move it; build output and fuzz corpora are not source.
                if !["tests", "target", "corpus", "artifacts", "node_modules"].iter().any(|d| rel.ends_with(d)) {
                    dirs.push(path);
                }
            } else if rel.ends_with(".rs") && !allowed.contains(&rel.as_str()) {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains("shift_from_env") || text.contains("shift_days") || text.contains(clock::SHIFT_ENV) {
                    offenders.push(rel);
                }
            }
        }
    }
    assert!(offenders.is_empty(), "non-test code names the clock's test hook: {offenders:?}");
}
