//! The shared `EventLog` conformance suite, run against `EmbeddedLog` in a temporary directory.

use std::sync::Arc;

use async_trait::async_trait;
use hookmetry_log::conformance::{self, LogHarness};
use hookmetry_log::{EmbeddedLog, EmbeddedLogOptions, EventLog};
use tempfile::TempDir;

/// A log directory removed when the harness is dropped; `open` reopens the same directory.
struct Harness {
    dir: TempDir,
}

impl Harness {
    fn new() -> Self {
        // CI runs this suite again with the clock a year ahead (HOOKMETRY_TEST_CLOCK_SHIFT_DAYS).
        hookmetry_core::clock::shift_from_env();
        Self { dir: tempfile::tempdir().unwrap() }
    }
}

#[async_trait]
impl LogHarness for Harness {
    async fn open(&self) -> Arc<dyn EventLog> {
        EmbeddedLog::open(self.dir.path().join("log"), EmbeddedLogOptions::default()).await.unwrap()
    }

    fn topic(&self, base: &str) -> String {
        base.to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_run_all_in_one_directory() {
    conformance::run_all(&Harness::new()).await;
}

/// Each case also in its own directory, so a failure is reported under the case's name.
macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        mod conformance_case {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    hookmetry_log::conformance::$case(&super::Harness::new()).await;
                }
            )*
        }
    };
}

conformance_cases!(
    health_is_ok,
    append_read_back_is_byte_exact,
    consumer_reads_everything_in_order,
    commit_then_reopen_resumes_after_commit,
    groups_are_independent,
    tail_sees_only_later_records,
    trace_headers_reach_tails_and_survive_a_restart,
    poll_with_nothing_returns_empty_after_wait,
    concurrent_appends_get_distinct_positions,
    append_batch_keeps_order,
    large_payload_round_trips,
    invalid_names_are_rejected,
);
