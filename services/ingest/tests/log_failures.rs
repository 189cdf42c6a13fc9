//! When the log cannot make a capture durable, ingest must answer 503 and never 2xx. The log is a
//! stub here (the failure is the point); the store is the real SQLite one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hookmetry_ingest::{Ingest, IngestSettings};
use hookmetry_log::{EventLog, GroupConsumer, LogError, NewRecord, Position, Tail};
use hookmetry_store::{EndpointStore, SqliteStore, TeamStore};
use hookmetry_telemetry::Metrics;
use hookmetry_testkit::fixtures;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

#[derive(Clone, Copy)]
enum Failure {
    Full,
    Down,
    Hang,
}

struct FailingLog {
    failure: Failure,
    appends: AtomicUsize,
}

#[async_trait]
impl EventLog for FailingLog {
    async fn append(&self, _topic: &str, _record: NewRecord) -> Result<Position, LogError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        match self.failure {
            Failure::Full => Err(LogError::Full { topic: "captures".into(), limit_bytes: 4096 }),
            Failure::Down => Err(LogError::Unavailable("disk went away".into())),
            Failure::Hang => std::future::pending().await,
        }
    }
    async fn consumer(&self, _: &str, _: &str) -> Result<Box<dyn GroupConsumer>, LogError> {
        Err(LogError::Unavailable("stub".into()))
    }
    async fn tail(&self, _: &str) -> Result<Box<dyn Tail>, LogError> {
        Err(LogError::Unavailable("stub".into()))
    }
    async fn health(&self) -> Result<(), LogError> {
        Err(LogError::Unavailable("stub".into()))
    }
}

async fn answer(failure: Failure) -> (StatusCode, String, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("db")).await.unwrap();
    let team = fixtures::team(1);
    store.create_team(&team).await.unwrap();
    let ep = fixtures::endpoint(team.id, TOKEN);
    store.create_endpoint(&ep).await.unwrap();
    let log = Arc::new(FailingLog { failure, appends: AtomicUsize::new(0) });
    let settings = IngestSettings {
        max_body_bytes: 1024,
        max_headers: 100,
        max_header_bytes: 65536,
        inflight_bytes: 4096,
        team_inflight_bytes: 4096,
        max_hops: 3,
        separate_capture_origin: false,
        trusted_proxies: vec![],
        append_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_secs(5),
        endpoint_cache_ttl: Duration::from_secs(1),
    };
    let ingest = Ingest::new(log.clone(), Arc::new(store), settings, &Metrics::new()).unwrap();
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut req = Request::post(format!("/h/{TOKEN}/x")).body(Body::from("payload")).unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = ingest.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let body = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert_eq!(log.appends.load(Ordering::SeqCst), 1, "the append was attempted once");
    (status, body, retry)
}

fn message(body: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    (v["error"]["code"].as_str().unwrap().into(), v["error"]["message"].as_str().unwrap().into())
}

#[tokio::test]
async fn full_log_is_503_naming_the_limit() {
    let (status, body, retry) = answer(Failure::Full).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(
        message(&body),
        ("log_full".into(), "capture log is full (4096 bytes not yet processed); retry later".into())
    );
}

#[tokio::test]
async fn unavailable_log_is_503() {
    let (status, body, _) = answer(Failure::Down).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        message(&body),
        (
            "log_unavailable".into(),
            "capture log unavailable; nothing was stored: log unavailable: disk went away".into()
        )
    );
}

#[tokio::test]
async fn slow_log_is_503_within_the_append_timeout() {
    let started = std::time::Instant::now();
    let (status, body, _) = answer(Failure::Hang).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (code, msg) = message(&body);
    assert_eq!(code, "log_unavailable");
    assert!(msg.contains("did not confirm the write within 300ms (ingest.append_timeout)"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
