use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

/// Why ingest refused a request. The one table below maps each to a status, a stable code and
/// the metric outcome; the message names the limit that was hit.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("no endpoint has this capture URL")]
    UnknownEndpoint,
    #[error(
        "this endpoint has accepted the {limit} captures it may (maxCaptures); nothing was stored: raise or remove the cap, or reset the endpoint's counters"
    )]
    CaptureCapReached { limit: u64 },
    #[error("request body exceeds the limit of {limit} bytes (ingest.max_body_bytes)")]
    BodyTooLarge { limit: u64 },
    #[error("request has {count} header lines; the limit is {limit} (ingest.max_headers)")]
    TooManyHeaders { count: usize, limit: usize },
    #[error("request headers total {bytes} bytes; the limit is {limit} bytes (ingest.max_header_bytes)")]
    HeadersTooLarge { bytes: u64, limit: u64 },
    #[error("ingest is holding its in-flight budget of {budget} body bytes (ingest.inflight_bytes); retry later")]
    Overloaded { budget: u64 },
    #[error(
        "requests to this team's endpoints are holding the team's in-flight budget of {budget} body bytes (ingest.team_inflight_bytes); retry later"
    )]
    TeamOverloaded { budget: u64 },
    #[error(
        "this request has been forwarded by Hookmetry {hops} times (Hookmetry-Hops); the limit is {limit} (ingest.max_hops), so it is not captured again: a forwarding rule or replay probably sends back to a capture URL"
    )]
    TooManyHops { hops: u32, limit: u32 },
    #[error("capture log is full ({limit_bytes} bytes not yet processed); retry later")]
    LogFull { limit_bytes: u64 },
    #[error("capture log unavailable; nothing was stored: {0}")]
    LogUnavailable(String),
    #[error("capture log did not confirm the write within {0:?} (ingest.append_timeout); nothing was acknowledged")]
    AppendTimeout(Duration),
    #[error("endpoint lookup failed; nothing was stored: {0}")]
    StoreUnavailable(String),
    #[error("request body could not be read: {0}")]
    BodyRead(String),
    #[error("request body not received within {0:?} (ingest.body_timeout)")]
    BodyTimeout(Duration),
    #[error("request with its headers exceeds the log's record limit of {limit} bytes")]
    RecordTooLarge { limit: u64 },
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::UnknownEndpoint => StatusCode::NOT_FOUND,
            IngestError::BodyTooLarge { .. } | IngestError::RecordTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            IngestError::TooManyHeaders { .. } | IngestError::HeadersTooLarge { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            IngestError::Overloaded { .. }
            | IngestError::TeamOverloaded { .. }
            | IngestError::LogFull { .. }
            | IngestError::LogUnavailable(_)
            | IngestError::AppendTimeout(_)
            | IngestError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::BodyRead(_) => StatusCode::BAD_REQUEST,
            IngestError::TooManyHops { .. } => StatusCode::LOOP_DETECTED,
            IngestError::CaptureCapReached { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Stable machine-readable code, also the `outcome` label of the requests metric.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::UnknownEndpoint => "unknown_endpoint",
            IngestError::BodyTooLarge { .. } | IngestError::RecordTooLarge { .. } => "body_too_large",
            IngestError::BodyTimeout(_) => "body_timeout",
            IngestError::TooManyHeaders { .. } => "too_many_headers",
            IngestError::HeadersTooLarge { .. } => "headers_too_large",
            IngestError::Overloaded { .. } => "overloaded",
            IngestError::TeamOverloaded { .. } => "team_overloaded",
            IngestError::TooManyHops { .. } => "loop_detected",
            IngestError::LogFull { .. } => "log_full",
            IngestError::LogUnavailable(_) | IngestError::AppendTimeout(_) => "log_unavailable",
            IngestError::StoreUnavailable(_) => "store_unavailable",
            IngestError::BodyRead(_) => "bad_request",
            IngestError::CaptureCapReached { .. } => "capture_cap",
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "error": { "code": self.outcome(), "message": self.to_string() } });
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
        }
        resp
    }
}
