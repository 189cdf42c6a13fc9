use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use hookmetry_core::{CapturedRequest, Endpoint, EndpointId, TeamId, Timestamp, capture_token};
use hookmetry_store::conformance::{self, StoreHarness};
use hookmetry_store::{CapturePage, CaptureStore, EndpointStore, SqliteStore, Store, StoreError, TeamStore};
use hookmetry_testkit::fixtures;
use tempfile::TempDir;

/// A database file in its own temporary directory, removed when the harness is dropped.
struct Harness {
    dir: TempDir,
}

impl Harness {
    fn new() -> Self {
        // CI runs this suite again with the clock a year ahead (HOOKMETRY_TEST_CLOCK_SHIFT_DAYS).
        hookmetry_core::clock::shift_from_env();
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("data").join("hookmetry.db")
    }

    async fn store(&self) -> SqliteStore {
        SqliteStore::open(self.path()).await.unwrap()
    }
}

#[async_trait]
impl StoreHarness for Harness {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.store().await)
    }
}

#[tokio::test]
async fn conformance_run_all_on_one_database() {
    conformance::run_all(&Harness::new()).await;
}

/// Each case on a fresh database of its own.
async fn each_case<F, Fut>(_case: &str, test: F)
where
    F: FnOnce(Arc<Harness>) -> Fut,
    Fut: Future<Output = ()>,
{
    test(Arc::new(Harness::new())).await
}

/// Each case also on its own database, so a failure is reported under the case's name.
mod conformance_case {
    hookmetry_store::store_conformance_tests!(super::each_case);
}

/// `conformance::CASES`, which `run_all` and `store_conformance_tests!` expand, holds every case
/// the module defines, so a new case cannot be left out of either.
#[test]
fn every_conformance_case_is_listed_once() {
    hookmetry_testkit::assert_cases_listed_once(
        include_str!("../src/conformance.rs"),
        "StoreHarness",
        conformance::CASES,
    );
}

async fn team_and_endpoint(store: &SqliteStore) -> Endpoint {
    let team = fixtures::team(7);
    store.create_team(&team).await.unwrap();
    let endpoint = fixtures::endpoint(team.id, &capture_token());
    store.create_endpoint(&endpoint).await.unwrap();
    endpoint
}

fn capture(endpoint: &Endpoint) -> CapturedRequest {
    fixtures::capture(endpoint, Timestamp::now())
}

fn all(limit: u32) -> CapturePage {
    CapturePage { limit, before: None, ..Default::default() }
}

#[tokio::test]
async fn open_creates_directory_in_wal_mode_at_the_latest_schema_version() {
    let h = Harness::new();
    let store = h.store().await;
    assert_eq!(store.path(), h.path());
    let conn = rusqlite::Connection::open(h.path()).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 13);
}

/// Like several processes starting at once on a file none of them has created yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_opening_a_fresh_file_at_once_all_succeed() {
    let h = Harness::new();
    let open = || SqliteStore::open(h.path());
    let (a, b, c, d) = tokio::join!(open(), open(), open(), open());
    let endpoint = team_and_endpoint(&a.unwrap()).await;
    for other in [b, c, d] {
        assert_eq!(other.unwrap().endpoint(endpoint.id).await.unwrap(), Some(endpoint.clone()));
    }
}

#[tokio::test]
async fn two_handles_on_one_file_see_each_others_writes() {
    let h = Harness::new();
    let (a, b) = (h.store().await, h.store().await);

    let endpoint = team_and_endpoint(&a).await;
    assert_eq!(b.endpoint_by_token(&endpoint.token).await.unwrap(), Some(endpoint.clone()));
    let first = capture(&endpoint);
    a.put_captures(std::slice::from_ref(&first)).await.unwrap();
    assert_eq!(b.capture(first.id).await.unwrap(), Some(first.clone()));

    let second = capture(&endpoint);
    assert_eq!(b.put_captures(&[first.clone(), second.clone()]).await.unwrap(), 1);
    let listed = a.captures(endpoint.id, &all(10)).await.unwrap();
    assert_eq!(listed.items, vec![second, first]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_handles_never_see_busy() {
    const TASKS: usize = 8;
    const BATCHES: usize = 10;
    const BATCH: usize = 5;
    let h = Harness::new();
    let handles = [h.store().await, h.store().await];
    let endpoint = team_and_endpoint(&handles[0]).await;

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = handles[t % 2].clone();
            let endpoint = endpoint.clone();
            tokio::spawn(async move {
                let mut new = 0;
                for _ in 0..BATCHES {
                    let batch: Vec<_> = (0..BATCH).map(|_| capture(&endpoint)).collect();
                    new += store.put_captures(&batch).await.unwrap();
                    // Readers interleave with the writers, as the API does with the processor.
                    store.captures(endpoint.id, &all(5)).await.unwrap();
                }
                new
            })
        })
        .collect();
    let mut new = 0;
    for task in tasks {
        new += task.await.unwrap();
    }

    let total = TASKS * BATCHES * BATCH;
    assert_eq!(new, total);
    let listed = handles[1].captures(endpoint.id, &all(1000)).await.unwrap();
    assert_eq!(listed.items.len(), total);
}

#[tokio::test]
async fn undecodable_headers_are_reported_as_corrupt() {
    let h = Harness::new();
    let store = h.store().await;
    let endpoint = team_and_endpoint(&store).await;
    let c = capture(&endpoint);
    store.put_captures(std::slice::from_ref(&c)).await.unwrap();

    let conn = rusqlite::Connection::open(h.path()).unwrap();
    conn.execute("UPDATE captures SET headers = x'00000001ff' WHERE id = ?1", [c.id.as_bytes()]).unwrap();

    let err = store.capture(c.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("read capture"), "error should say what failed: {err}");
}

#[tokio::test]
async fn endpoint_of_unknown_team_is_refused() {
    let store = Harness::new().store().await;
    let endpoint = Endpoint {
        id: EndpointId::new(),
        team_id: TeamId::new(),
        name: "orphan".into(),
        token: capture_token(),
        response: None,
        verification: None,
        handshakes: false,
        event_fields: None,
        scenario: Vec::new(),
        max_captures: None,
        expires_at: None,
        created_at: Timestamp::now(),
    };
    let err = store.create_endpoint(&endpoint).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { entity: "team" }), "{err:?}");
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let h = Harness::new();
    drop(h.store().await);
    let conn = rusqlite::Connection::open(h.path()).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);

    let err = SqliteStore::open(h.path()).await.unwrap_err();
    assert!(err.to_string().contains("schema version 99 is newer"), "{err}");
}
