//! A scheduled retry survives SIGKILL of the replay worker: the store, not the process, holds the
//! schedule, and a new worker on the same store finishes the delivery with every attempt
//! numbered once.

use crate::common;

use common::read_request;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookmetry_core::{
    AttemptError, CaptureId, CapturedRequest, Delivery, DeliveryId, DeliveryOrigin, DeliveryState, Endpoint,
    EndpointId, Header, OutgoingRequest, Team, TeamId, Timestamp,
};
use hookmetry_store::{CaptureStore, DeliveryStore, EndpointStore, SqliteStore, TeamStore};
use hookmetry_testkit::ChildServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

/// What the receiver did with each request, in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Answered(u16),
    /// Being held without an answer.
    Held,
    /// Held without an answer until the connection closed.
    Cut,
}

/// Answers 503 to request 0, holds request 1 until its connection closes (the worker is killed
/// meanwhile), answers 503 to request 2 and 200 to the rest.
async fn receiver() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/in?token=not-logged", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let (count, log) = (count.clone(), log.clone());
            tokio::spawn(async move {
                while read_request(&mut stream).await.is_some() {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let status = match n {
                        0 | 2 => 503,
                        1 => {
                            // Seen first: the test kills the worker once it is.
                            log.lock().unwrap().push(Seen::Held);
                            let mut rest = [0u8; 64];
                            while !matches!(stream.read(&mut rest).await, Ok(0) | Err(_)) {}
                            log.lock().unwrap()[1] = Seen::Cut;
                            return;
                        }
                        _ => 200,
                    };
                    log.lock().unwrap().push(Seen::Answered(status));
                    let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                    if stream.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}

/// A team, endpoint and capture (retention keeps it), and a pending delivery of the capture to
/// `target`, written straight into the SQLite file the worker uses.
async fn pending_delivery(store: &SqliteStore, target: &str) -> Delivery {
    let now = Timestamp::now();
    let team = Team { id: TeamId::new(), name: "replay".into(), retention_days: 30, created_at: now };
    store.create_team(&team).await.unwrap();
    let endpoint = Endpoint {
        id: EndpointId::new(),
        team_id: team.id,
        name: "replay".into(),
        token: "fedcba9876543210fedcba9876543210".into(),
        response: None,
        verification: None,
        handshakes: false,
        event_fields: None,
        scenario: Vec::new(),
        max_captures: None,
        expires_at: None,
        created_at: now,
    };
    store.create_endpoint(&endpoint).await.unwrap();
    let capture = CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: endpoint.id,
        team_id: team.id,
        method: "POST".into(),
        path: "/".into(),
        query: None,
        headers: vec![Header::new("content-type", "application/json")],
        body: b"{\"event\":\"order.paid\"}".to_vec().into(),
        body_sha256: [7; 32],
        remote_addr: "203.0.113.9:4000".into(),
        http_version: "HTTP/1.1".into(),
        received_at: now,
        answered: None,
    };
    store.put_captures(std::slice::from_ref(&capture)).await.unwrap();
    let delivery = Delivery {
        id: DeliveryId::new(),
        team_id: team.id,
        endpoint_id: endpoint.id,
        capture_id: capture.id,
        origin: DeliveryOrigin::Manual,
        request: OutgoingRequest {
            method: "POST".into(),
            url: target.into(),
            headers: capture.headers.clone(),
            body: capture.body.clone(),
            body_sha256: capture.body_sha256,
        },
        edited: false,
        resigned: false,
        state: DeliveryState::Pending,
        attempts: 0,
        max_attempts: 5,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
        trace_parent: None,
        retry_like: None,
    };
    store.put_delivery(&delivery).await.unwrap();
    delivery
}

async fn wait_until<T>(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_retry_survives_sigkill_of_the_replay_worker() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let store_url = format!("sqlite://{}", db.display());
    let log_url = format!("embedded://{}", dir.path().join("log").display());
    let node = dir.path().join("node");
    let migrate = tokio::process::Command::new(binary())
        .args(["migrate", "--store", &store_url])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));

    let store = SqliteStore::open(&db).await.unwrap();
    let (target, seen) = receiver().await;
    let delivery = pending_delivery(&store, &target).await;

    let args = [
        "run",
        "--roles",
        "replay",
        "--store",
        &store_url,
        "--log",
        &log_url,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        node.to_str().unwrap(),
        // A cluster node refuses loopback unless told otherwise; the receiver is on 127.0.0.1.
        "--set",
        "replay.allow_loopback=true",
        "--set",
        "replay.retry_initial=2s",
        "--set",
        "replay.retry_max_delay=2s",
        "--set",
        "replay.scan_interval=100ms",
        // An attempt holds its delivery for connect + total timeout + 5 s: kept short so the
        // restarted worker's wait for the dead one's lease stays short.
        "--set",
        "replay.connect_timeout=1s",
        "--set",
        "replay.total_timeout=2s",
    ];
    let mut worker = ChildServer::spawn(binary(), &args, String::new()).await.unwrap();

    // The kill point: attempt 1 failed and is recorded, and attempt 2 is in flight, held by the
    // receiver. Attempt 2 starts only after attempt 1 is recorded, so this is deterministic.
    wait_until("attempt 2 to reach the receiver", Duration::from_secs(20), async || {
        (seen.lock().unwrap().len() == 2).then_some(())
    })
    .await;
    let before = store.delivery(delivery.id).await.unwrap().unwrap();
    assert_eq!((before.state, before.attempts), (DeliveryState::Pending, 1));
    let lease_end = before.next_attempt_at.unwrap();
    worker.kill9().await.unwrap();
    let killed_at = Timestamp::now();
    assert!(lease_end > killed_at, "attempt 2 holds its delivery until the lease ends");

    // Nothing of attempt 2 was recorded: the delivery is still pending, due when the lease ends.
    let after_kill = store.attempts(delivery.id).await.unwrap();
    assert_eq!(after_kill.iter().map(|a| (a.number, a.response_status)).collect::<Vec<_>>(), [(1, Some(503))]);
    let d = store.delivery(delivery.id).await.unwrap().unwrap();
    assert_eq!((d.state, d.attempts, d.next_attempt_at), (DeliveryState::Pending, 1, Some(lease_end)));
    wait_until("the held request's connection to close", Duration::from_secs(5), async || {
        (seen.lock().unwrap().as_slice() == [Seen::Answered(503), Seen::Cut]).then_some(())
    })
    .await;

    // A new worker on the same store and log finds the due retry by its scan.
    let worker = ChildServer::spawn(binary(), &args, String::new()).await.unwrap();
    let done = wait_until("the delivery to finish", Duration::from_secs(30), async || {
        store.delivery(delivery.id).await.unwrap().filter(|d| d.state.is_final())
    })
    .await;
    assert_eq!((done.state, done.attempts, done.next_attempt_at), (DeliveryState::Succeeded, 3, None));
    let attempts = store.attempts(delivery.id).await.unwrap();
    let got: Vec<_> = attempts.iter().map(|a| (a.number, a.response_status, a.error)).collect();
    assert_eq!(
        got,
        [(1, Some(503), Some(AttemptError::Status)), (2, Some(503), Some(AttemptError::Status)), (3, Some(200), None)],
        "each attempt number exactly once"
    );
    // At least once: attempt 2 reached the receiver twice, once cut by the kill before it could
    // be recorded, and once again after the restart under the same number.
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [Seen::Answered(503), Seen::Cut, Seen::Answered(503), Seen::Answered(200)]
    );
    assert!(
        attempts[1].started_at >= lease_end,
        "the repeated attempt 2, after the dead worker's lease, is the one recorded"
    );

    let ready = reqwest::get(format!("{}/readyz", worker.base_url)).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["replay"], "ok");
    let metrics = reqwest::get(format!("{}/metrics", worker.base_url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("hookmetry_replay_deliveries_finished_total{state=\"succeeded\"} 1"), "{metrics}");
    eprintln!("finished in {:?}", started.elapsed());
}
