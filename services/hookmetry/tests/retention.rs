//! The retention job on a real SQLite store: expired captures go, the rest stay, and the job
//! keeps running on its interval.

use std::sync::Arc;
use std::time::Duration;

use hookmetry_core::{CapturedRequest, Endpoint, Timestamp, capture_token};
use hookmetry_store::{SqliteStore, Store};
use hookmetry_telemetry::Metrics;
use hookmetry_testkit::fixtures;
use tokio_util::sync::CancellationToken;

const DAY_US: i64 = 86_400_000_000;

fn capture(ep: &Endpoint, age_us: i64) -> CapturedRequest {
    let received_at = Timestamp::from_micros(Timestamp::now().micros() - age_us);
    CapturedRequest { body_sha256: [0; 32], ..fixtures::capture(ep, received_at) }
}

#[tokio::test]
async fn expired_captures_are_deleted_on_each_pass() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("h.db")).await.unwrap());
    let team = fixtures::team(1);
    store.create_team(&team).await.unwrap();
    let ep = fixtures::endpoint(team.id, &capture_token());
    store.create_endpoint(&ep).await.unwrap();
    let old = capture(&ep, 2 * DAY_US);
    let fresh = capture(&ep, DAY_US / 2);
    store.put_captures(&[old.clone(), fresh.clone()]).await.unwrap();

    let metrics = Metrics::new();
    let shutdown = CancellationToken::new();
    let job = hookmetry::retention::run(store.clone(), Duration::from_secs(1), &metrics, shutdown.clone()).unwrap();
    let task = tokio::spawn(job);

    let gone = |id| {
        let store = store.clone();
        async move {
            for _ in 0..100 {
                if store.capture(id).await.unwrap().is_none() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(gone(old.id).await, "the first pass runs at start and deletes the 2-day-old capture");
    assert!(store.capture(fresh.id).await.unwrap().is_some(), "a capture within retention stays");

    // Captures that expire later are caught by a later pass, without a restart.
    let later = capture(&ep, 3 * DAY_US);
    store.put_captures(std::slice::from_ref(&later)).await.unwrap();
    assert!(gone(later.id).await, "the next pass (1 s later) deletes it");
    assert!(store.capture(fresh.id).await.unwrap().is_some());
    assert!(metrics.render().contains("hookmetry_retention_expired_captures_total 2"), "{}", metrics.render());

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("job stops on shutdown").unwrap();
}
