//! The replay worker against the real embedded log and SQLite store, sending to receivers on
//! 127.0.0.1: retries until success, dead letters, the per-target limit, cancellation, deliveries
//! found by the scan alone, refused targets, and records it cannot read.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookmetry_core::{
    AttemptError, CaptureId, CapturedRequest, Delivery, DeliveryId, DeliveryOrigin, DeliveryState, Header,
    TOPIC_DELIVERIES, TOPIC_EVENTS, Timestamp,
};
use hookmetry_egress::EgressPolicy;
use hookmetry_egress::Url;
use hookmetry_log::{EmbeddedLog, EventLog, NewRecord};
use hookmetry_proto::Event;
use hookmetry_replay::{ReplaySettings, ReplayWorker, RetrySchedule, SenderSettings, WorkerSettings, outgoing_request};
use hookmetry_store::{CaptureStore, DeliveryStore, SqliteStore};
use hookmetry_telemetry::Metrics;
use hookmetry_testkit::{fixtures, read_request};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// Receivers

type Answer = Pin<Box<dyn Future<Output = u16> + Send>>;

/// An HTTP/1.1 server on 127.0.0.1 that answers request `n` (0-based) with the status `answer(n)`
/// resolves to, and counts connections, requests and how many were being answered at once.
struct Receiver {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    max_concurrent: Arc<AtomicUsize>,
    /// Every request's head as received, in arrival order.
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start(answer: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let max_concurrent = Arc::new(AtomicUsize::new(0));
        let current = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(answer);
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (conns, reqs, max, log) = (connections.clone(), requests.clone(), max_concurrent.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                conns.fetch_add(1, Ordering::SeqCst);
                let (reqs, max, current, answer) = (reqs.clone(), max.clone(), current.clone(), answer.clone());
                let log = log.clone();
                tokio::spawn(async move {
                    // Keep-alive: one connection may carry several requests.
                    while let Some(head) = read_request(&mut stream).await {
                        log.lock().unwrap().push(head);
                        let n = reqs.fetch_add(1, Ordering::SeqCst);
                        let now = current.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(now, Ordering::SeqCst);
                        let status = answer(n).await;
                        current.fetch_sub(1, Ordering::SeqCst);
                        let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
                        if stream.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { addr, connections, requests, max_concurrent, heads }
    }

    /// Answers `failures` requests with 503, then 200.
    async fn failing(failures: usize) -> Receiver {
        Receiver::start(move |n| Box::pin(async move { if n < failures { 503 } else { 200 } })).await
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<EmbeddedLog>,
    store: Arc<SqliteStore>,
    capture: CapturedRequest,
}

async fn fixture() -> Fixture {
    let fixtures::Embedded { dir, log, store, endpoint } = fixtures::embedded().await;
    let body = Bytes::from_static(b"{\"id\":\"evt_1\"}");
    let capture = CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: endpoint.id,
        team_id: endpoint.team_id,
        method: "POST".into(),
        path: "/hook".into(),
        query: Some("token=secret".into()),
        headers: vec![Header::new("content-type", "application/json")],
        body_sha256: [0; 32],
        body,
        remote_addr: "203.0.113.9:4000".into(),
        http_version: "HTTP/1.1".into(),
        received_at: Timestamp::now(),
        answered: None,
    };
    store.put_captures(std::slice::from_ref(&capture)).await.unwrap();
    Fixture { _dir: dir, log, store, capture }
}

impl Fixture {
    /// A new pending delivery of the capture to `target`, due now, in the store only.
    async fn delivery(&self, target: &Url, max_attempts: u32) -> Delivery {
        let d = self.new_delivery(target, max_attempts);
        self.store.put_delivery(&d).await.unwrap();
        d
    }

    /// A new pending delivery of the capture to `target`, due now, not stored.
    fn new_delivery(&self, target: &Url, max_attempts: u32) -> Delivery {
        let now = Timestamp::now();
        Delivery {
            id: DeliveryId::new(),
            team_id: self.capture.team_id,
            endpoint_id: self.capture.endpoint_id,
            capture_id: self.capture.id,
            origin: DeliveryOrigin::Manual,
            request: outgoing_request(&self.capture, target),
            edited: false,
            resigned: false,
            state: DeliveryState::Pending,
            attempts: 0,
            max_attempts,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
            trace_parent: None,
            retry_like: None,
        }
    }

    /// What the API does after storing a delivery: wake a worker through the deliveries log.
    async fn wake(&self, d: &Delivery) {
        let record = NewRecord::new(
            Bytes::copy_from_slice(d.endpoint_id.as_bytes()),
            hookmetry_proto::encode_delivery_request(d.id),
        )
        .with_header(hookmetry_proto::SCHEMA_HEADER, hookmetry_proto::SCHEMA_DELIVERY_REQUEST);
        self.log.append(TOPIC_DELIVERIES, record).await.unwrap();
    }

    /// The delivery once `done` holds for it, or as it is after 10 s.
    async fn wait_for(&self, id: DeliveryId, done: impl Fn(&Delivery) -> bool) -> Delivery {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let d = self.store.delivery(id).await.unwrap().unwrap();
            if done(&d) || Instant::now() > deadline {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn start(&self, settings: ReplaySettings, metrics: &Metrics) -> Running {
        let worker = ReplayWorker::new(self.log.clone(), self.store.clone(), settings, metrics).unwrap();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move { worker.run(token).await.unwrap() });
        Running { shutdown, task }
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("stops in time").unwrap();
    }
}

/// Fast retries and scans, so that a test with several attempts takes well under a second.
fn settings(policy: EgressPolicy, max_attempts: u32, per_target: usize) -> ReplaySettings {
    ReplaySettings {
        sender: SenderSettings {
            policy,
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            max_response_body_bytes: 1024,
        },
        schedule: RetrySchedule {
            initial: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
            max_attempts,
        },
        worker: WorkerSettings {
            per_target_concurrency: per_target,
            scan_interval: Duration::from_millis(20),
            poll_wait: Duration::from_millis(20),
            shutdown_grace: Duration::from_secs(2),
            ..WorkerSettings::default()
        },
    }
}

fn metric(metrics: &Metrics, line_start: &str) -> Option<f64> {
    metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(line_start).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn retries_until_the_receiver_answers_2xx_and_announces_every_attempt() {
    let f = fixture().await;
    let mut events = f.log.tail(TOPIC_EVENTS).await.unwrap();
    let receiver = Receiver::failing(2).await;
    let d = f.delivery(&receiver.url("/in"), 5).await;
    f.wake(&d).await;
    let metrics = Metrics::new();
    let worker = f.start(settings(EgressPolicy::laptop(), 5, 4), &metrics);

    let done = f.wait_for(d.id, |d| d.state.is_final()).await;
    assert_eq!(done.state, DeliveryState::Succeeded);
    assert_eq!((done.attempts, done.next_attempt_at), (3, None));
    let attempts = f.store.attempts(d.id).await.unwrap();
    let seen: Vec<_> = attempts.iter().map(|a| (a.number, a.response_status, a.error)).collect();
    assert_eq!(
        seen,
        [(1, Some(503), Some(AttemptError::Status)), (2, Some(503), Some(AttemptError::Status)), (3, Some(200), None)]
    );
    assert_eq!(receiver.requests(), 3);

    // One DeliveryUpdated per attempt, in order, keyed by endpoint like every event.
    let mut updates = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while updates.len() < 3 && Instant::now() < deadline {
        for r in events.next_batch(10, Duration::from_millis(100)).await.unwrap() {
            assert_eq!(r.key.as_ref(), d.endpoint_id.as_bytes());
            assert_eq!(r.header(hookmetry_proto::SCHEMA_HEADER).map(|v| v.as_ref()), Some(&b"event/1"[..]));
            if let Some(Event::DeliveryUpdated(u)) = hookmetry_proto::decode_event(r.payload).unwrap() {
                assert_eq!((u.delivery_id, u.capture_id, u.team_id), (d.id, d.capture_id, d.team_id));
                updates.push((u.state, u.attempts));
            }
        }
    }
    assert_eq!(updates, [(DeliveryState::Pending, 1), (DeliveryState::Pending, 2), (DeliveryState::Succeeded, 3)]);
    worker.stop().await;
    assert_eq!(metric(&metrics, "hookmetry_replay_attempts_total{outcome=\"status\"}"), Some(2.0));
    assert_eq!(metric(&metrics, "hookmetry_replay_attempts_total{outcome=\"success\"}"), Some(1.0));
    assert_eq!(metric(&metrics, "hookmetry_replay_deliveries_finished_total{state=\"succeeded\"}"), Some(1.0));
    assert_eq!(metric(&metrics, "hookmetry_replay_attempt_duration_seconds_count"), Some(3.0));
    assert_eq!(metric(&metrics, "hookmetry_replay_delivery_duration_seconds_count"), Some(1.0));
    // The record was handled once: it started the attempt, or found it already started by the
    // first scan.
    let handled: f64 = ["started", "skipped"]
        .iter()
        .filter_map(|o| metric(&metrics, &format!("hookmetry_replay_records_total{{outcome=\"{o}\"}}")))
        .sum();
    assert_eq!(handled, 1.0);
    assert_eq!(metric(&metrics, "hookmetry_replay_in_flight"), Some(0.0));
}

#[tokio::test]
async fn a_receiver_failing_every_attempt_is_dead_lettered_after_max_attempts() {
    let f = fixture().await;
    let receiver = Receiver::failing(usize::MAX).await;
    let d = f.delivery(&receiver.url("/"), 4).await;
    f.wake(&d).await;
    let metrics = Metrics::new();
    let worker = f.start(settings(EgressPolicy::laptop(), 4, 4), &metrics);

    let done = f.wait_for(d.id, |d| d.state.is_final()).await;
    assert_eq!(done.state, DeliveryState::DeadLettered);
    assert_eq!((done.attempts, done.next_attempt_at), (4, None));
    let numbers: Vec<u32> = f.store.attempts(d.id).await.unwrap().iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    // Nothing after the last attempt, however many scans pass.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.requests(), 4);
    worker.stop().await;
    assert_eq!(metric(&metrics, "hookmetry_replay_deliveries_finished_total{state=\"dead_lettered\"}"), Some(1.0));
    assert_eq!(metric(&metrics, "hookmetry_replay_attempts_total{outcome=\"status\"}"), Some(4.0));
}

#[tokio::test]
async fn the_per_target_limit_bounds_attempts_in_flight_to_one_target() {
    let f = fixture().await;
    // Holds every request long enough for the others to pile up behind the limit.
    let receiver = Receiver::start(|_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            200
        })
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let d = f.delivery(&receiver.url("/"), 3).await;
        f.wake(&d).await;
        ids.push(d.id);
    }
    let metrics = Metrics::new();
    let worker = f.start(settings(EgressPolicy::laptop(), 3, 2), &metrics);
    for id in &ids {
        let d = f.wait_for(*id, |d| d.state.is_final()).await;
        assert_eq!((d.state, d.attempts), (DeliveryState::Succeeded, 1), "{id}");
    }
    assert_eq!(receiver.max_concurrent.load(Ordering::SeqCst), 2);
    assert_eq!(receiver.requests(), 6);
    worker.stop().await;
    // Every record was handled once, whether its delivery waited in the target's queue, was left
    // to the scan, or had been started by a scan already.
    let handled: f64 = ["started", "queued", "deferred", "skipped"]
        .iter()
        .filter_map(|o| metric(&metrics, &format!("hookmetry_replay_records_total{{outcome=\"{o}\"}}")))
        .sum();
    assert_eq!(handled, 6.0);
    assert!(receiver.connections.load(Ordering::SeqCst) <= 2, "each lane keeps its connection");
}

#[tokio::test]
async fn deliveries_to_one_target_reuse_its_connection_with_the_header_section_as_captured() {
    let f = fixture().await;
    let receiver = Receiver::failing(0).await;
    let headers = vec![
        Header::new("X-B", "2"),
        Header::new("content-type", "application/json"),
        Header::new("x-a", "1"),
        Header::new("X-B", "3"),
    ];
    let mut ids = Vec::new();
    for _ in 0..12 {
        let mut d = f.new_delivery(&receiver.url("/in"), 3);
        d.request.headers = headers.clone();
        f.store.put_delivery(&d).await.unwrap();
        f.wake(&d).await;
        ids.push(d.id);
    }
    let metrics = Metrics::new();
    let worker = f.start(settings(EgressPolicy::laptop(), 3, 1), &metrics);
    for id in &ids {
        let d = f.wait_for(*id, |d| d.state.is_final()).await;
        assert_eq!((d.state, d.attempts), (DeliveryState::Succeeded, 1), "{id}");
    }
    worker.stop().await;
    assert_eq!(receiver.requests(), 12);
    assert_eq!(receiver.connections.load(Ordering::SeqCst), 1, "one lane, one kept-alive connection");
    let heads = receiver.heads.lock().unwrap().clone();
    let expected = format!(
        "POST /in/hook?token=secret HTTP/1.1\r\nHost: {}\r\nX-B: 2\r\ncontent-type: application/json\r\nx-a: 1\r\n\
         X-B: 3\r\nHookmetry-Hops: 1\r\nContent-Length: 14\r\n\r\n",
        receiver.addr
    );
    for (i, head) in heads.iter().enumerate() {
        assert_eq!(head, &expected, "request {i} on the reused connection");
    }
}

#[tokio::test]
async fn a_cancelled_delivery_gets_no_further_attempt() {
    let f = fixture().await;
    let receiver = Receiver::failing(usize::MAX).await;
    // Two deliveries that already failed once, with a retry due shortly. One is cancelled before
    // then; the other shows the retry would have been made.
    let retry_soon = |d: Delivery| Delivery {
        attempts: 1,
        next_attempt_at: Some(Timestamp::from_micros(Timestamp::now().micros() + 300_000)),
        ..d
    };
    let cancelled = retry_soon(f.new_delivery(&receiver.url("/cancelled"), 3));
    let control = retry_soon(f.new_delivery(&receiver.url("/control"), 3));
    f.store.put_delivery(&cancelled).await.unwrap();
    f.store.put_delivery(&control).await.unwrap();
    assert!(f.store.cancel_delivery(cancelled.id, Timestamp::now()).await.unwrap());
    let worker = f.start(settings(EgressPolicy::laptop(), 3, 4), &Metrics::new());

    let control = f.wait_for(control.id, |d| d.attempts >= 2).await;
    assert_eq!(control.attempts, 2, "the control delivery's retry was made");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = f.store.delivery(cancelled.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempts), (DeliveryState::Cancelled, 1));
    assert!(f.store.attempts(cancelled.id).await.unwrap().is_empty());

    // Cancelled while its attempt is in flight: the attempt is kept, the delivery stays
    // cancelled, and nothing follows.
    let release = Arc::new(tokio::sync::Notify::new());
    let hold = release.clone();
    let slow = Receiver::start(move |_| {
        let hold = hold.clone();
        Box::pin(async move {
            hold.notified().await;
            503
        })
    })
    .await;
    let d = f.delivery(&slow.url("/"), 3).await;
    f.wake(&d).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while slow.requests() == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(f.store.cancel_delivery(d.id, Timestamp::now()).await.unwrap());
    release.notify_one();
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.store.attempts(d.id).await.unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let kept = f.store.attempts(d.id).await.unwrap();
    assert_eq!(kept.iter().map(|a| (a.number, a.response_status)).collect::<Vec<_>>(), [(1, Some(503))]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = f.store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempts), (DeliveryState::Cancelled, 0));
    assert_eq!(slow.requests(), 1);
    worker.stop().await;
}

#[tokio::test]
async fn a_delivery_without_a_log_record_is_found_by_the_scan() {
    let f = fixture().await;
    let receiver = Receiver::failing(0).await;
    let d = f.delivery(&receiver.url("/"), 3).await;
    let worker = f.start(settings(EgressPolicy::laptop(), 3, 4), &Metrics::new());
    let done = f.wait_for(d.id, |d| d.state.is_final()).await;
    assert_eq!((done.state, done.attempts), (DeliveryState::Succeeded, 1));
    assert_eq!(receiver.requests(), 1);
    worker.stop().await;
}

#[tokio::test]
async fn a_refused_target_is_dead_lettered_at_once_without_a_connection() {
    let f = fixture().await;
    let receiver = Receiver::failing(0).await;
    let d = f.delivery(&receiver.url("/"), 5).await;
    f.wake(&d).await;
    let metrics = Metrics::new();
    // The cluster policy refuses loopback.
    let worker = f.start(settings(EgressPolicy::cluster(), 5, 4), &metrics);
    let done = f.wait_for(d.id, |d| d.state.is_final()).await;
    assert_eq!((done.state, done.attempts), (DeliveryState::DeadLettered, 1));
    let attempts = f.store.attempts(d.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].error, Some(AttemptError::Refused));
    assert_eq!(attempts[0].response_status, None);
    worker.stop().await;
    assert_eq!(receiver.connections.load(Ordering::SeqCst), 0, "no connection was made");
    assert_eq!(metric(&metrics, "hookmetry_replay_attempts_total{outcome=\"refused\"}"), Some(1.0));
    assert_eq!(metric(&metrics, "hookmetry_replay_deliveries_finished_total{state=\"dead_lettered\"}"), Some(1.0));
}

#[tokio::test]
async fn undecodable_records_are_counted_and_skipped() {
    let f = fixture().await;
    let receiver = Receiver::failing(0).await;
    f.log
        .append(TOPIC_DELIVERIES, NewRecord::new(Bytes::new(), Bytes::from_static(b"\xff\xff not protobuf")))
        .await
        .unwrap();
    let newer = NewRecord::new(Bytes::new(), hookmetry_proto::encode_delivery_request(DeliveryId::new()))
        .with_header(hookmetry_proto::SCHEMA_HEADER, "delivery-request/99");
    f.log.append(TOPIC_DELIVERIES, newer).await.unwrap();
    // A record naming a delivery that does not exist is skipped, not an error.
    let unknown = NewRecord::new(Bytes::new(), hookmetry_proto::encode_delivery_request(DeliveryId::new()));
    f.log.append(TOPIC_DELIVERIES, unknown).await.unwrap();
    let d = f.delivery(&receiver.url("/"), 3).await;
    f.wake(&d).await;
    let metrics = Metrics::new();
    let worker = f.start(settings(EgressPolicy::laptop(), 3, 4), &metrics);
    let done = f.wait_for(d.id, |d| d.state.is_final()).await;
    assert_eq!(done.state, DeliveryState::Succeeded);
    worker.stop().await;
    assert_eq!(metric(&metrics, "hookmetry_replay_records_total{outcome=\"undecodable\"}"), Some(2.0));
    assert!(metric(&metrics, "hookmetry_replay_records_total{outcome=\"skipped\"}").unwrap() >= 1.0);

    // Committed: a new worker in the group does not read them again.
    let metrics = Metrics::new();
    let worker = f.start(settings(EgressPolicy::laptop(), 3, 4), &metrics);
    tokio::time::sleep(Duration::from_millis(200)).await;
    worker.stop().await;
    assert_eq!(metric(&metrics, "hookmetry_replay_records_total{outcome=\"undecodable\"}"), None);
}

/// Several workers scanning one store (replicas of the replay role) must not attempt one
/// delivery twice: each attempt is claimed first. 12 deliveries, the receiver failing its first
/// 12 requests: every request that reaches it is exactly one recorded attempt, however the two
/// workers' scans interleave (without claims, both scans would send most attempts twice).
#[tokio::test]
async fn two_workers_scanning_one_store_make_each_attempt_once() {
    let f = fixture().await;
    let receiver = Receiver::failing(12).await;
    let mut ds = Vec::new();
    for _ in 0..12 {
        ds.push(f.delivery(&receiver.url("/"), 5).await);
    }
    let a = f.start(settings(EgressPolicy::laptop(), 5, 8), &Metrics::new());
    let b = f.start(settings(EgressPolicy::laptop(), 5, 8), &Metrics::new());
    let mut recorded = 0;
    for d in &ds {
        let done = f.wait_for(d.id, |d| d.state.is_final()).await;
        assert_eq!(done.state, DeliveryState::Succeeded, "{}", d.id);
        let numbers: Vec<u32> = f.store.attempts(d.id).await.unwrap().iter().map(|a| a.number).collect();
        assert_eq!(numbers, (1..=done.attempts).collect::<Vec<_>>(), "numbered once each");
        recorded += done.attempts as usize;
    }
    a.stop().await;
    b.stop().await;
    // 12 failures and one success per delivery.
    assert_eq!(recorded, 24);
    assert_eq!(receiver.requests(), recorded, "one request per recorded attempt, none doubled by the other worker");
}
