use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hookmetry_log::EventLog;
use hookmetry_store::Store;
use hookmetry_telemetry::Metrics;
use http::StatusCode;

/// `/healthz`, `/readyz`, `/metrics`, and a JSON 404 for everything else.
#[derive(Clone)]
pub struct Ops {
    pub log: Arc<dyn EventLog>,
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    /// False while the processor is being restarted after a failure.
    pub processor_up: Arc<std::sync::atomic::AtomicBool>,
    /// False while the replay worker is being restarted after a failure.
    pub replay_up: Arc<std::sync::atomic::AtomicBool>,
}

pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(Arc::new(ops))
}

/// Ready when both backends answer; the body says which one does not.
async fn readyz(State(ops): State<Arc<Ops>>) -> Response {
    let log = ops.log.health().await.err().map(|e| e.to_string());
    let store = ops.store.health().await.err().map(|e| e.to_string());
    let restarting = |up: &std::sync::atomic::AtomicBool| {
        (!up.load(std::sync::atomic::Ordering::Relaxed)).then(|| "restarting after a failure".to_string())
    };
    let processor = restarting(&ops.processor_up);
    let replay = restarting(&ops.replay_up);
    let ready = log.is_none() && store.is_none() && processor.is_none() && replay.is_none();
    let body = serde_json::json!({
        "ready": ready,
        "log": log.unwrap_or_else(|| "ok".into()),
        "store": store.unwrap_or_else(|| "ok".into()),
        "processor": processor.unwrap_or_else(|| "ok".into()),
        "replay": replay.unwrap_or_else(|| "ok".into()),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(ops): State<Arc<Ops>>) -> Response {
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], ops.metrics.render()).into_response()
}

async fn not_found() -> Response {
    let body = serde_json::json!({ "error": { "code": "not_found", "message": "no such route; captures go to /h/<token>, the API is /graphql" } });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
