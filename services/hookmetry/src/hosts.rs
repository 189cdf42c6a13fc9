//! One origin per job when `server.capture_base_url` names a host other than `server.public_url`:
//! the capture host answers only capture URLs (and the probes and metrics), the inspector's host
//! never answers them. So nothing an endpoint answers can share the inspector's origin, even
//! through a path the router would otherwise serve on both. Requests naming any other host (an
//! IP address, a cluster-internal name) are served as usual: no browser holds a session there.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

#[derive(Debug, Clone)]
pub struct Hosts {
    /// `host[:port]` as browsers send it, lower case.
    pub capture: String,
    pub inspector: String,
    pub capture_base_url: String,
    pub inspector_base_url: String,
}

const OPS_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn split(hosts: Hosts, req: Request, next: Next) -> Response {
    let host =
        req.uri().authority().map(|a| a.as_str().to_ascii_lowercase()).or_else(|| {
            req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_ascii_lowercase)
        });
    let path = req.uri().path();
    let capture_path = path.starts_with("/h/");
    match host.as_deref() {
        Some(h) if h == hosts.capture && !capture_path && !OPS_PATHS.contains(&path) => refuse(format!(
            "this host serves capture URLs only (server.capture_base_url); the inspector and the API are at {}",
            hosts.inspector_base_url
        )),
        Some(h) if h == hosts.inspector && capture_path => refuse(format!(
            "capture URLs are served at {} only (server.capture_base_url), not on the inspector's host",
            hosts.capture_base_url
        )),
        _ => next.run(req).await,
    }
}

fn refuse(message: String) -> Response {
    let body = serde_json::json!({ "error": { "code": "wrong_host", "message": message } }).to_string();
    let mut resp =
        (StatusCode::NOT_FOUND, [(http::header::CONTENT_TYPE, "application/json")], Body::from(body)).into_response();
    for (name, value) in hookmetry_core::answer::SANDBOX_HEADERS {
        resp.headers_mut().insert(name, http::HeaderValue::from_static(value));
    }
    resp
}
