use bytes::Bytes;

use crate::{CaptureId, EndpointId, TeamId, Timestamp};

/// The longest a custom response may be delayed, so a misconfigured endpoint cannot pin ingest
/// connections for long.
pub const MAX_RESPONSE_DELAY_MS: u32 = 30_000;

/// One header line as received. The value is raw bytes: HTTP allows obs-text that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Bytes,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self { name: name.into(), value: value.into() }
    }
}

/// A request exactly as ingest received it. This is what the captures log carries and what the
/// store keeps; every field is set at ingest and never rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedRequest {
    pub id: CaptureId,
    pub endpoint_id: EndpointId,
    pub team_id: TeamId,
    /// The method as sent, custom ones included (`PURGE`, `REPORT`, …).
    pub method: String,
    /// The path after `/h/<token>`, starting with `/` (just `/` when nothing followed the token),
    /// still percent-encoded as sent.
    pub path: String,
    /// The raw query string without the `?`; `None` when the request had no `?` at all.
    pub query: Option<String>,
    /// Every header in the order the HTTP stack handed them over, duplicates kept.
    pub headers: Vec<Header>,
    pub body: Bytes,
    pub body_sha256: [u8; 32],
    /// Client address: the peer, or the `X-Forwarded-For` client when the peer is a trusted proxy.
    pub remote_addr: String,
    /// `HTTP/1.0`, `HTTP/1.1`, `HTTP/2.0`, …
    pub http_version: String,
    pub received_at: Timestamp,
    /// What ingest answered the sender, decided before the capture was appended; `None` for
    /// captures written before it was recorded. Tells a provider's retry (we answered non-2xx, or
    /// too late) from a true duplicate.
    pub answered: Option<Answered>,
}

/// The answer a capture URL gave: its status and the delay before it, and which scenario rule
/// chose it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answered {
    pub status: u16,
    pub delay_ms: u32,
    /// The scenario rule that answered; `None` for the custom response or the default answer.
    pub rule_id: Option<String>,
    /// The rule's request count that chose the answer (a sequence's position, 1-based), for rules
    /// that count.
    pub step: Option<u64>,
    /// The answer was a simulated timeout: held, then 504.
    pub timed_out: bool,
}

impl Answered {
    /// An answer not chosen by a scenario rule.
    pub fn plain(status: u16, delay_ms: u32) -> Self {
        Self { status, delay_ms, ..Self::default() }
    }
}

impl CapturedRequest {
    pub fn body_size(&self) -> u64 {
        self.body.len() as u64
    }

    pub fn summary(&self) -> CaptureSummary {
        CaptureSummary {
            id: self.id,
            endpoint_id: self.endpoint_id,
            team_id: self.team_id,
            method: self.method.clone(),
            path: self.path.clone(),
            body_size: self.body_size(),
            received_at: self.received_at,
        }
    }
}

/// What the events log says about a stored capture; enough for a live list without a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSummary {
    pub id: CaptureId,
    pub endpoint_id: EndpointId,
    pub team_id: TeamId,
    pub method: String,
    pub path: String,
    pub body_size: u64,
    pub received_at: Timestamp,
}

/// What ingest answers for an endpoint instead of the default `200 {"id": …}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub team_id: TeamId,
    pub name: String,
    /// The public, unguessable part of the capture URL.
    pub token: String,
    pub response: Option<CustomResponse>,
    /// How captures are checked for authenticity; `None` until someone configures it.
    pub verification: Option<crate::VerificationSettings>,
    /// Whether ingest answers providers' URL-verification handshakes (Slack, Zoom, Twitch)
    /// instead of the usual response. The handshake request is captured either way.
    pub handshakes: bool,
    /// Where a custom sender names its events, overriding the provider's places field by field.
    pub event_fields: Option<crate::EventFields>,
    /// Rules that choose the answer per request, tried before `response`.
    pub scenario: Vec<crate::scenario::ScenarioRule>,
    /// Most captures the endpoint accepts (counted since creation or the last counter reset);
    /// past it ingest answers 429 and stores nothing.
    pub max_captures: Option<u64>,
    /// When the endpoint and its captures go away; its capture URL answers 404 from then on.
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl Endpoint {
    /// Whether the endpoint has passed its expiry at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}
