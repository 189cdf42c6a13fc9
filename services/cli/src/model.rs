//! The API objects the CLI reads, with the selections that fetch them. Field order here is the
//! order of `--json` output.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Selection for [`Endpoint`].
pub(crate) const ENDPOINT_FIELDS: &str = "id teamId name token url response { status headers { name value } body delayMs } createdAt \
     expiresAt maxCaptures";

/// Selection for `endpoint show` and `endpoint update`: everything, secret values aside (the
/// server never returns them).
pub(crate) const ENDPOINT_DETAIL_FIELDS: &str = "id teamId name token url \
     response { status headers { name value } body delayMs } createdAt \
     expiresAt ttlSeconds maxCaptures \
     verification { provider secrets { label } toleranceSeconds effectiveToleranceSeconds publicUrl \
     generic { header algorithm encoding prefix template timestampHeader idHeader } } \
     handshakes forwardingRules { id target method pathPrefix headerName headerContains } \
     scenario { id method pathPrefix header { name contains } eventTypes answer { summary } }";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Endpoint {
    pub id: String,
    pub team_id: String,
    pub name: String,
    pub token: String,
    pub url: String,
    /// The custom answer, or null for the default one; shown as the server sends it.
    pub response: Option<serde_json::Value>,
    pub created_at: String,
    /// When the endpoint and its captures are deleted (RFC 3339); null for one kept until
    /// deleted.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Captures stored at most; past it ingest answers 429. Null for no cap.
    #[serde(default)]
    pub max_captures: Option<u64>,
}

/// Every stored field of a capture (the derived `curl` and `har` exports aside).
pub(crate) const CAPTURE_FIELDS: &str = "id endpointId teamId method path query headers { name value valueBase64 } \
     bodyBase64 bodyText bodySize bodySha256 remoteAddr httpVersion receivedAt contentType url \
     verification { provider verdict reason secretLabel } \
     event { id type createdAt attempt retryReason resource } answer { ruleId status delayMs step timedOut }";

/// What one `tail` line needs: no headers or body, which can be large.
pub(crate) const CAPTURE_LINE_FIELDS: &str = "id endpointId teamId method path query bodySize bodySha256 remoteAddr httpVersion receivedAt contentType url \
     verification { provider verdict reason secretLabel } event { id type } answer { ruleId status delayMs step timedOut }";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Capture {
    pub id: String,
    pub endpoint_id: String,
    pub team_id: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    // Absent from `CAPTURE_LINE_FIELDS` selections; those records are never printed whole.
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub body_base64: String,
    #[serde(default)]
    pub body_text: Option<String>,
    pub body_size: u64,
    pub body_sha256: String,
    pub remote_addr: String,
    pub http_version: String,
    pub received_at: String,
    pub content_type: Option<String>,
    pub url: String,
    /// Null until the processor has checked the capture.
    #[serde(default)]
    pub verification: Option<Verification>,
    /// The provider's event; null when the request names none (and absent from line selections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    /// What the capture URL answered; null for captures from before answers were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
}

/// What ingest answered the sender, and which scenario rule chose it (docs/scenarios.md).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Answer {
    pub rule_id: Option<String>,
    pub status: u16,
    pub delay_ms: u64,
    pub step: Option<u64>,
    pub timed_out: bool,
}

impl Answer {
    /// `500 by rule flaky (step 2)`, `timeout (held 30 s, then 504) by rule chaos`, `200 after 400 ms`.
    pub(crate) fn line(&self) -> String {
        let mut line = if self.timed_out {
            format!("timeout (held {} s, then {})", self.delay_ms / 1000, self.status)
        } else if self.delay_ms > 0 {
            format!("{} after {} ms", self.status, self.delay_ms)
        } else {
            self.status.to_string()
        };
        if let Some(rule) = &self.rule_id {
            line.push_str(&format!(" by rule {rule}"));
            if let Some(step) = self.step {
                line.push_str(&format!(" (step {step})"));
            }
        }
        line
    }

    /// Whether the sender was told something other than a prompt 2xx: worth a column in `tail`.
    pub(crate) fn notable(&self) -> bool {
        self.timed_out || !(200..300).contains(&self.status)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub created_at: Option<String>,
    pub attempt: Option<i64>,
    pub retry_reason: Option<String>,
    pub resource: Option<String>,
}

impl Event {
    /// `charge.succeeded evt_1 (attempt 2, http_timeout), created 2026-12-01 10:00:00 UTC, about ch_9`.
    pub(crate) fn line(&self) -> String {
        let mut parts = Vec::new();
        match (&self.kind, &self.id) {
            (Some(k), Some(i)) => parts.push(format!("{k} {i}")),
            (Some(k), None) => parts.push(k.clone()),
            (None, Some(i)) => parts.push(i.clone()),
            (None, None) => {}
        }
        let retry = match (self.attempt, &self.retry_reason) {
            (Some(a), Some(r)) => Some(format!("attempt {a}, {r}")),
            (Some(a), None) => Some(format!("attempt {a}")),
            (None, Some(r)) => Some(r.clone()),
            (None, None) => None,
        };
        let mut line = parts.join(" ");
        if let Some(r) = retry {
            line.push_str(&format!(" ({r})"));
        }
        if let Some(c) = &self.created_at {
            let c = c.replacen('T', " ", 1);
            let c = c.strip_suffix('Z').map(|c| format!("{c} UTC")).unwrap_or(c);
            line.push_str(&format!(", created {c}"));
        }
        if let Some(r) = &self.resource {
            line.push_str(&format!(", about {r}"));
        }
        line.trim_start_matches([' ', ',']).to_string()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Verification {
    pub provider: Option<String>,
    pub verdict: String,
    pub reason: String,
    pub secret_label: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Header {
    pub name: String,
    pub value: String,
    pub value_base64: String,
}

impl Header {
    /// The exact value bytes (`value` replaced what is not UTF-8).
    pub fn bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.value_base64)
            .unwrap_or_else(|_| self.value.clone().into_bytes())
    }
}

impl Capture {
    /// Path and query as sent after the capture token.
    pub fn target(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// One page of a GraphQL connection (`captures`), as `tail` and `listen` page through it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page {
    pub edges: Vec<Edge>,
    pub page_info: PageInfo,
}

#[derive(Deserialize)]
pub(crate) struct Edge {
    pub node: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}
