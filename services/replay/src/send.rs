//! One attempt of a delivery: send the request, record what came back or why nothing did.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hookmetry_core::{Attempt, AttemptError, DeliveryId, Header, OutgoingRequest, Timestamp};
use hookmetry_egress::http1::{self, FailureKind};
use hookmetry_egress::{EgressPolicy, Url};
use http::StatusCode;
use tracing::debug;

use crate::SettingError;
use crate::schedule::human;

/// How the replay worker's HTTP client behaves.
#[derive(Debug, Clone)]
pub struct SenderSettings {
    /// Which targets may be connected to.
    pub policy: EgressPolicy,
    /// `replay.connect_timeout`: TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// `replay.total_timeout`: from sending until the response body is read (as far as it is
    /// kept), connect included.
    pub total_timeout: Duration,
    /// `replay.max_response_body_bytes`: the most of a response body an attempt keeps.
    pub max_response_body_bytes: usize,
}

impl SenderSettings {
    /// Checks the values as configured; the error names the config key to fix.
    pub fn validate(&self) -> Result<(), SettingError> {
        if self.connect_timeout.is_zero() {
            return Err(SettingError::new("replay.connect_timeout", "must be more than 0s, such as 5s"));
        }
        if self.total_timeout.is_zero() {
            return Err(SettingError::new("replay.total_timeout", "must be more than 0s, such as 30s"));
        }
        if self.total_timeout > Duration::from_secs(600) {
            return Err(SettingError::new(
                "replay.total_timeout",
                format!("is {}; it can be at most 10m", human(self.total_timeout)),
            ));
        }
        if self.max_response_body_bytes > 64 << 20 {
            return Err(SettingError::new(
                "replay.max_response_body_bytes",
                format!("is {}; it can be at most 67108864 (64 MiB)", self.max_response_body_bytes),
            ));
        }
        Ok(())
    }
}

/// The HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error("could not set up the replay HTTP client: {0}")]
    Client(String),
}

/// Sends delivery attempts through an [`http1::Client`] that enforces the egress policy.
///
/// # What reaches the wire
///
/// The request line, then `Host` for the target, then the forwarded headers exactly as
/// [`crate::outgoing_request`] or [`crate::with_edits`] left them: in their order, repeated
/// names where they were, each name in its case, values byte for byte (obs-text included). Then
/// `Hookmetry-Hops` (one more than the request carried, replacing its count), then
/// `Content-Length` for the body, which follows byte for byte. Nothing else is added (no
/// `Accept`, `User-Agent` or `Connection`). Requests go out over HTTP/1.1, over TLS for `https`
/// targets, on connections kept alive per target and reused by later attempts (see
/// [`http1::Client`]). See [`http1::Client`] for why this is not reqwest.
///
/// The `url` crate's normalization of the path is described on [`crate::outgoing_request`].
#[derive(Debug, Clone)]
pub struct Sender {
    client: http1::Client,
    settings: SenderSettings,
}

impl Sender {
    pub fn new(settings: SenderSettings) -> Result<Self, SenderError> {
        settings.validate()?;
        let client = http1::Client::new(http1::ClientSettings {
            policy: settings.policy.clone(),
            connect_timeout: settings.connect_timeout,
            total_timeout: settings.total_timeout,
            max_response_body_bytes: settings.max_response_body_bytes,
            follow_redirects: true,
            extra_root_certificates: Vec::new(),
            pool: http1::PoolSettings::default(),
        })
        .map_err(SenderError::Client)?;
        Ok(Self { client, settings })
    }

    pub fn settings(&self) -> &SenderSettings {
        &self.settings
    }

    /// Makes attempt `number` of delivery `delivery_id` and records how it went. Never fails:
    /// every failure is an [`Attempt`] with an [`AttemptError`] and a message for the user.
    ///
    /// A target the policy refuses is not connected to at all. A non-2xx answer is a
    /// [`AttemptError::Status`] failure with its status, headers and body kept. A failure while
    /// the body is read (reset, timeout) fails the attempt even after a 2xx status, with that
    /// status recorded: the receiver may have processed the request, and delivery is at least
    /// once. `latency_ms` runs from sending until the attempt ended.
    pub async fn attempt(&self, delivery_id: DeliveryId, number: u32, req: &OutgoingRequest) -> Attempt {
        let started_at = Timestamp::now();
        let start = Instant::now();
        let mut attempt = Attempt {
            delivery_id,
            number,
            started_at,
            latency_ms: 0,
            response_status: None,
            response_headers: Vec::new(),
            response_body: Bytes::new(),
            response_truncated: false,
            error: None,
            error_message: None,
        };
        if let Err((class, message)) = self.send(req, &mut attempt).await {
            attempt.error = Some(class);
            attempt.error_message = Some(message);
        }
        attempt.latency_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        debug!(
            delivery = %delivery_id,
            attempt = number,
            status = attempt.response_status,
            error = attempt.error.map(AttemptError::as_str),
            latency_ms = attempt.latency_ms,
            "delivery attempt"
        );
        attempt
    }

    async fn send(&self, req: &OutgoingRequest, attempt: &mut Attempt) -> Result<(), (AttemptError, String)> {
        let raw_path = raw_path(&req.url);
        if hookmetry_core::has_dot_segment(raw_path) {
            return Err((
                AttemptError::Refused,
                format!(
                    "not sent: the path `{raw_path}` climbs above the target's path through `..` segments (from the capture path); Hookmetry does not resolve them past the target"
                ),
            ));
        }
        let url = Url::parse(&req.url)
            .map_err(|e| (AttemptError::Other, format!("the target URL is not a valid URL: {e}")))?;
        // Counted by every ingest this reaches, so a loop through any service ends
        // (`ingest.max_hops`).
        let sent = hookmetry_core::answer::with_next_hop(&req.headers);
        let headers: Vec<(&str, &[u8])> = sent.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
        let request = http1::Request { method: &req.method, url: &url, headers: &headers, body: &req.body };
        let exchange = self.client.send(&request).await;
        attempt.response_status = exchange.status;
        attempt.response_headers = exchange.headers.into_iter().map(|(name, value)| Header::new(name, value)).collect();
        attempt.response_body = exchange.body;
        attempt.response_truncated = exchange.truncated;
        if let Some(failure) = exchange.failure {
            return Err((attempt_error(failure.kind), failure.message));
        }
        match exchange.status {
            Some(status) if !(200..300).contains(&status) => {
                let reason = StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .map(|r| format!(" {r}"))
                    .unwrap_or_default();
                Err((AttemptError::Status, format!("{} answered {status}{reason}", exchange.target)))
            }
            _ => Ok(()),
        }
    }
}

/// The path of an absolute URL as written, before any parser resolves it.
fn raw_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
    let path = &after_scheme[path_start..];
    path.split(['?', '#']).next().unwrap_or_default()
}

/// The class an attempt's failure is counted and retried by.
fn attempt_error(kind: FailureKind) -> AttemptError {
    match kind {
        FailureKind::Refused => AttemptError::Refused,
        FailureKind::Connect => AttemptError::Connect,
        FailureKind::Timeout => AttemptError::Timeout,
        FailureKind::Tls => AttemptError::Tls,
        FailureKind::Reset => AttemptError::Reset,
        FailureKind::Unsendable | FailureKind::Protocol | FailureKind::TooManyRedirects => AttemptError::Other,
    }
}
