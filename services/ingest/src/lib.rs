//! Ingest role: takes webhooks at `/h/<token>/…`, appends them to the captures log, and answers
//! only after the append is durable.
//!
//! Every limit answers with a status and a message that names it, before anything is appended:
//! unknown token 404, body too large 413, too many header lines or bytes 431, forwarded too many
//! times 508, in-flight byte budget (global or the team's) or log trouble 503.
//!
//! Every answer, whoever chose it, carries [`hookmetry_core::answer::SANDBOX_HEADERS`]: capture
//! URLs are public and may share the inspector's origin (docs/security.md).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::{Bytes, BytesMut};
use hookmetry_core::{CaptureId, CapturedRequest, Header, TOPIC_CAPTURES, TeamId, Timestamp};
use hookmetry_log::{EventLog, LogError, NewRecord};
use hookmetry_store::EndpointStore;
use hookmetry_telemetry::Metrics;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument as _;
use tracing::field::Empty;

mod cache;
mod error;
mod metrics;
mod raw_headers;
mod scenario;

pub use cache::EndpointCache;
pub use error::IngestError;
use metrics::IngestMetrics;
pub use raw_headers::{HeadQueue, HeaderTap, RawHeaders};

/// Limits and settings of ingest; the binary maps the configuration onto them.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub max_body_bytes: u64,
    pub max_headers: usize,
    pub max_header_bytes: u64,
    pub inflight_bytes: u64,
    pub team_inflight_bytes: u64,
    pub max_hops: u32,
    /// Whether capture URLs have an origin of their own (`server.capture_base_url` on another
    /// host): only then may a custom response declare an active content type.
    pub separate_capture_origin: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub append_timeout: Duration,
    pub body_timeout: Duration,
    pub endpoint_cache_ttl: Duration,
}

pub struct Ingest {
    log: Arc<dyn EventLog>,
    endpoints: EndpointCache,
    settings: IngestSettings,
    inflight: Arc<Semaphore>,
    /// Each team's share of the in-flight budget, made on its first request. Bounded by the
    /// number of teams, which only admins create.
    team_inflight: std::sync::Mutex<HashMap<TeamId, Arc<Semaphore>>>,
    metrics: IngestMetrics,
}

impl Ingest {
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Arc<dyn EndpointStore>,
        settings: IngestSettings,
        metrics: &Metrics,
    ) -> Result<Arc<Self>, hookmetry_telemetry::TelemetryError> {
        let permits = usize::try_from(settings.inflight_bytes).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        Ok(Arc::new(Self {
            log,
            endpoints: EndpointCache::new(store, settings.endpoint_cache_ttl),
            inflight: Arc::new(Semaphore::new(permits)),
            team_inflight: std::sync::Mutex::new(HashMap::new()),
            settings,
            metrics: IngestMetrics::register(metrics)?,
        }))
    }

    /// `ANY /h/{token}` and `ANY /h/{token}/{*rest}`. Needs `ConnectInfo<SocketAddr>` in the
    /// request extensions (the server inserts it per connection).
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().route("/h/", any(capture)).route("/h/{*rest}", any(capture)).with_state(self.clone())
    }

    async fn handle(&self, peer: SocketAddr, req: Request) -> Result<scenario::Answer, IngestError> {
        let received_at = Timestamp::now();
        let (mut parts, body) = req.into_parts();

        let (token, path) = split_capture_path(parts.uri.path()).ok_or(IngestError::UnknownEndpoint)?;
        check_headers(&parts.headers, &self.settings)?;
        let hops = hookmetry_core::answer::hops(parts.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
        if hops > self.settings.max_hops {
            return Err(IngestError::TooManyHops { hops, limit: self.settings.max_hops });
        }
        let endpoint = self.endpoints.get(token).await?.ok_or(IngestError::UnknownEndpoint)?;
        // Expired is gone, whether or not the sweeper has deleted it yet.
        if endpoint.expired(received_at) {
            return Err(IngestError::UnknownEndpoint);
        }

        let team_budget = self.team_budget(endpoint.team_id);
        let (body, permits) =
            tokio::time::timeout(self.settings.body_timeout, self.read_body(&parts.headers, body, &team_budget))
                .await
                .map_err(|_| IngestError::BodyTimeout(self.settings.body_timeout))??;

        // Original case and true order when the connection tap saw this head and agrees with
        // hyper about its lines; hyper's view (lower case, repeats grouped) otherwise.
        let headers = match parts.extensions.remove::<RawHeaders>().filter(|raw| raw.matches(&parts.headers)) {
            Some(raw) => raw.0.into_iter().map(|(name, value)| Header::new(name, value)).collect(),
            None => parts
                .headers
                .iter()
                .map(|(name, value)| Header::new(name.as_str(), Bytes::copy_from_slice(value.as_bytes())))
                .collect(),
        };
        let id = CaptureId::new();
        let body_len = body.len();
        let span = tracing::Span::current();
        span.record("endpoint_id", tracing::field::display(endpoint.id));
        span.record("capture_id", tracing::field::display(id));
        span.record("body_bytes", i64::try_from(body_len).unwrap_or(i64::MAX));
        let mut capture = CapturedRequest {
            id,
            endpoint_id: endpoint.id,
            team_id: endpoint.team_id,
            method: parts.method.as_str().to_string(),
            path: path.to_string(),
            query: parts.uri.query().map(str::to_string),
            headers,
            body_sha256: Sha256::digest(&body).into(),
            body,
            remote_addr: client_addr(peer, &parts.headers, &self.settings.trusted_proxies),
            http_version: http_version(parts.version).to_string(),
            received_at,
            answered: None,
        };
        let handshake = if endpoint.handshakes {
            hookmetry_verify::handshake(endpoint.verification.as_ref(), &capture.headers, &capture.body)
        } else {
            None
        };
        // The cap is counted once every other check has passed, so a request refused for its
        // size or headers does not use up the endpoint's captures.
        scenario::admit(self.endpoints.store(), &endpoint).await?;
        // What the sender will be told, recorded with the capture: a provider's retry after a
        // non-2xx or slow answer is then told apart from a true duplicate, and a scenario's
        // answers can be followed capture by capture.
        let (decision, answered) = match handshake {
            Some(_) => (scenario::Decision::Default, hookmetry_core::Answered::plain(200, 0)),
            None => scenario::decide(self.endpoints.store(), &endpoint, &capture).await?,
        };
        let answered_status = answered.status;
        capture.answered = Some(answered);
        let mut record =
            NewRecord::new(Bytes::copy_from_slice(endpoint.id.as_bytes()), hookmetry_proto::encode_capture(&capture))
                .with_header(hookmetry_proto::SCHEMA_HEADER, hookmetry_proto::SCHEMA_CAPTURED_REQUEST);
        // The record carries this span's context, so the processor's work continues the trace
        // (docs/tracing.md). Nothing is added when traces are not exported.
        let append_span = tracing::info_span!(
            "log append",
            otel.kind = "producer",
            topic = TOPIC_CAPTURES,
            record_bytes = i64::try_from(record.payload.len()).unwrap_or(i64::MAX),
            otel.status_code = Empty
        );
        hookmetry_telemetry::inject(&append_span, &mut record.headers);
        drop(capture);

        // The append runs in its own task that owns the in-flight permits: if we stop waiting
        // (timeout, client gone), the record still sits in the log's queue, and its bytes stay
        // counted until the log is done with them.
        let log = self.log.clone();
        let append = tokio::spawn(
            async move {
                let result = log.append(TOPIC_CAPTURES, record).await;
                drop(permits);
                if result.is_err() {
                    tracing::Span::current().record("otel.status_code", "error");
                }
                result
            }
            .instrument(append_span),
        );
        let started = Instant::now();
        match tokio::time::timeout(self.settings.append_timeout, append).await {
            Ok(Ok(Ok(_))) => {
                self.metrics.append_seconds.observe(started.elapsed().as_secs_f64());
                self.metrics.body_bytes.observe(body_len as f64);
            }
            Ok(Ok(Err(LogError::Full { limit_bytes, .. }))) => return Err(IngestError::LogFull { limit_bytes }),
            Ok(Ok(Err(LogError::RecordTooLarge { limit, .. }))) => return Err(IngestError::RecordTooLarge { limit }),
            Ok(Ok(Err(e))) => return Err(IngestError::LogUnavailable(e.to_string())),
            Ok(Err(join)) => return Err(IngestError::LogUnavailable(format!("append task failed: {join}"))),
            Err(_) => return Err(IngestError::AppendTimeout(self.settings.append_timeout)),
        }
        tracing::debug!(capture_id = %id, endpoint_id = %endpoint.id, bytes = body_len, "capture appended");
        if let Some(answer) = handshake {
            // Answered only once the handshake request itself is durable, like any capture.
            tracing::info!(capture_id = %id, endpoint_id = %endpoint.id, provider = answer.provider, "handshake answered");
            return Ok(scenario::Answer::Ready(answer_handshake(answer, id)));
        }
        Ok(scenario::Answer::Later { endpoint, decision, id, status: answered_status })
    }

    /// Reads the body within `max_body_bytes`, holding in-flight budget for every byte held, so a
    /// flood of large uploads gets 503 instead of exhausting memory.
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
        team: &Arc<Semaphore>,
    ) -> Result<(Bytes, Vec<OwnedSemaphorePermit>), IngestError> {
        let limit = self.settings.max_body_bytes;
        let declared = headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut permits = Vec::new();
        if let Some(len) = declared {
            if len > limit {
                return Err(IngestError::BodyTooLarge { limit });
            }
            if len > 0 {
                permits.extend(self.reserve(len, team)?);
            }
        }
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| IngestError::BodyRead(e.to_string()))?;
            let Ok(data) = frame.into_data() else { continue };
            if (buf.len() + data.len()) as u64 > limit {
                return Err(IngestError::BodyTooLarge { limit });
            }
            if declared.is_none() && !data.is_empty() {
                permits.extend(self.reserve(data.len() as u64, team)?);
            }
            buf.extend_from_slice(&data);
        }
        Ok((buf.freeze(), permits))
    }

    /// Takes `bytes` from the global budget, then from the team's (so a single team on an
    /// instance whose budgets are equal is told about the global one); both are given back when
    /// the permits drop.
    fn reserve(&self, bytes: u64, team: &Arc<Semaphore>) -> Result<[OwnedSemaphorePermit; 2], IngestError> {
        let n = u32::try_from(bytes).map_err(|_| IngestError::Overloaded { budget: self.settings.inflight_bytes })?;
        let global = self
            .inflight
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| IngestError::Overloaded { budget: self.settings.inflight_bytes })?;
        let team = team
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| IngestError::TeamOverloaded { budget: self.settings.team_inflight_bytes })?;
        Ok([team, global])
    }

    fn team_budget(&self, team: TeamId) -> Arc<Semaphore> {
        let mut teams = self.team_inflight.lock().unwrap_or_else(|e| e.into_inner());
        teams
            .entry(team)
            .or_insert_with(|| {
                let permits = usize::try_from(self.settings.team_inflight_bytes)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS);
                Arc::new(Semaphore::new(permits))
            })
            .clone()
    }
}

async fn capture(
    State(ingest): State<Arc<Ingest>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let started = Instant::now();
    // Every capture starts a new trace. A `traceparent` the provider sent is kept with the
    // capture like any header but never continued: it is unauthenticated input, and a trace of
    // ours must not be joined to (or sampled by) a stranger's (docs/tracing.md).
    let span = tracing::info_span!(
        parent: None,
        "ingest",
        otel.kind = "server",
        endpoint_id = Empty,
        capture_id = Empty,
        body_bytes = Empty,
        outcome = Empty,
        status = Empty,
        otel.status_code = Empty,
    );
    let result = ingest.handle(peer, req).instrument(span.clone()).await;
    let outcome = match &result {
        Ok(_) => "accepted",
        Err(e) => e.outcome(),
    };
    ingest.metrics.observe(outcome, started.elapsed());
    let status = match &result {
        Ok(answer) => answer.status(),
        Err(e) => e.status(),
    };
    span.record("outcome", outcome);
    span.record("status", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    // The durable part is over and measured; a chosen delay (a scenario, a custom response) is
    // the sender's to see, not ingest's latency.
    drop(span);
    let mut resp = match result {
        Ok(answer) => answer.send(ingest.settings.separate_capture_origin).await,
        Err(e) => {
            // A full in-flight budget is the server shedding load as designed: under overload it
            // refuses thousands of requests a second, and a line for each would be a second
            // overload (they are counted in `hookmetry_ingest_requests_total{outcome}`).
            if matches!(e, IngestError::Overloaded { .. } | IngestError::TeamOverloaded { .. }) {
                tracing::debug!(error = %e, outcome, "capture refused");
            } else if e.status().is_server_error() {
                tracing::warn!(error = %e, outcome, "capture refused");
            }
            e.into_response()
        }
    };
    sandbox(resp.headers_mut());
    resp
}

/// Whatever a capture URL answers cannot act as a page of the origin it is served from.
fn sandbox(headers: &mut HeaderMap) {
    for (name, value) in hookmetry_core::answer::SANDBOX_HEADERS {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
}

/// As `Debug` prints it (`HTTP/1.1`), which is what captures have always stored.
fn http_version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

/// `/h/<token>/rest?q` → (`<token>`, `/rest`). The path stays percent-encoded as sent. A token
/// that cannot have been issued (not 32 lower-case hex digits) is rejected here, so random
/// paths never reach the store or the endpoint cache.
fn split_capture_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/h/")?;
    let (token, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let issued_shape = token.len() == 32 && token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    issued_shape.then_some((token, tail))
}

fn check_headers(headers: &HeaderMap, s: &IngestSettings) -> Result<(), IngestError> {
    if headers.len() > s.max_headers {
        return Err(IngestError::TooManyHeaders { count: headers.len(), limit: s.max_headers });
    }
    let bytes: u64 = headers.iter().map(|(n, v)| (n.as_str().len() + v.len()) as u64).sum();
    if bytes > s.max_header_bytes {
        return Err(IngestError::HeadersTooLarge { bytes, limit: s.max_header_bytes });
    }
    Ok(())
}

/// The peer, unless it is a trusted proxy: then the right-most `X-Forwarded-For` entry that is
/// not itself a trusted proxy (entries further left are client-controlled).
fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> String {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer.ip()) {
        return peer.to_string();
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    match hops.iter().rev().find(|ip| !is_trusted(ip)) {
        Some(ip) => ip.to_string(),
        None => hops.first().map(|ip| ip.to_string()).unwrap_or_else(|| peer.to_string()),
    }
}

fn answer_handshake(answer: hookmetry_verify::HandshakeAnswer, id: CaptureId) -> Response {
    (
        StatusCode::OK,
        [
            (http::header::CONTENT_TYPE, answer.content_type),
            (HeaderName::from_static("hookmetry-capture-id"), &id.to_string()),
        ],
        answer.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
