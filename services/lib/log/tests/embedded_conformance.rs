//! The shared `EventLog` conformance suite, run against `EmbeddedLog` in a temporary directory.

use std::future::Future;
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

/// Each case in a directory of its own.
async fn each_case<F, Fut>(_case: &str, test: F)
where
    F: FnOnce(Arc<Harness>) -> Fut,
    Fut: Future<Output = ()>,
{
    test(Arc::new(Harness::new())).await
}

/// Each case also in its own directory, so a failure is reported under the case's name.
mod conformance_case {
    hookmetry_log::log_conformance_tests!(super::each_case, flavor = "multi_thread", worker_threads = 2);
}

/// `conformance::CASES`, which `run_all` and `log_conformance_tests!` expand, holds every case the
/// module defines, so a new case cannot be left out of either.
#[test]
fn every_conformance_case_is_listed_once() {
    hookmetry_testkit::assert_cases_listed_once(
        include_str!("../src/conformance.rs"),
        "LogHarness",
        conformance::CASES,
    );
}
