//! Deliveries: a capture sent (again) to a target URL, with every attempt kept.
//!
//! A delivery records the request exactly as it goes out, so what a receiver got can be shown and
//! compared later even after the capture's endpoint settings changed. Attempts are appended, never
//! rewritten.

use bytes::Bytes;
use sha2::Digest;

use crate::{CaptureId, CapturedRequest, DeliveryId, EndpointId, Header, TeamId, Timestamp};

/// Sends every new capture of an endpoint that matches it to `target`, as a delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ForwardingRule {
    /// Unique within the endpoint; names the rule in deliveries (`rule:<id>`).
    pub id: String,
    /// `http://` or `https://` URL; the capture's path and query are appended to its path.
    pub target: String,
    /// Only captures with exactly this method.
    #[serde(default)]
    pub method: Option<String>,
    /// Only captures whose path (after `/h/<token>`) starts with this.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Only captures with this header (name in any case) whose value contains `contains`.
    #[serde(default)]
    pub header: Option<HeaderMatch>,
    /// Only captures whose provider event type matches one of these patterns (`charge.*`; see
    /// [`crate::event_type_matches`]); empty matches every capture, with a type or without.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeaderMatch {
    pub name: String,
    pub contains: String,
}

impl ForwardingRule {
    /// Whether `capture`, whose provider names the event type `event_type`, passes every condition.
    pub fn matches(&self, capture: &CapturedRequest, event_type: Option<&str>) -> bool {
        (self.event_types.is_empty()
            || event_type.is_some_and(|t| self.event_types.iter().any(|p| crate::event_type_matches(p, t))))
            && self.method.as_ref().is_none_or(|m| *m == capture.method)
            && self.path_prefix.as_ref().is_none_or(|p| capture.path.starts_with(p.as_str()))
            && self.header.as_ref().is_none_or(|h| {
                capture.headers.iter().any(|ch| {
                    ch.name.eq_ignore_ascii_case(&h.name)
                        && (h.contains.is_empty()
                            || ch.value.windows(h.contains.len()).any(|w| w == h.contains.as_bytes()))
                })
            })
    }
}

impl DeliveryId {
    /// The delivery a forwarding rule makes of a capture: always the same id for the same pair,
    /// so a capture the processor handles twice (after a crash) is forwarded once. Time-ordered
    /// like the capture: the first 48 bits are the capture's UUIDv7 timestamp.
    pub fn for_rule(capture: CaptureId, rule_id: &str) -> DeliveryId {
        let digest = sha2::Sha256::new().chain_update(capture.as_bytes()).chain_update(rule_id.as_bytes()).finalize();
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&capture.as_bytes()[..6]);
        b[6..].copy_from_slice(&digest[..10]);
        b[6] = (b[6] & 0x0f) | 0x70; // version 7
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        DeliveryId::from_bytes(b)
    }
}

/// Where a delivery stands. `Pending` covers both the first attempt and a scheduled retry:
/// `next_attempt_at` says when. An attempt in flight is not a state of its own: a worker killed
/// mid-attempt leaves the delivery pending and it is tried again (delivery is at least once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    Pending,
    Succeeded,
    /// Every attempt of the schedule failed; nothing more happens unless it is replayed again.
    DeadLettered,
    Cancelled,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::DeadLettered => "dead_lettered",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "dead_lettered" => Self::DeadLettered,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// No attempt follows a finished delivery.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// Why a delivery exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOrigin {
    /// `replayCapture`, `replayCaptures` or `hookmetry replay`.
    Manual,
    /// A forwarding rule of the endpoint matched a new capture.
    Rule { rule_id: String },
    /// `hookmetry listen` forwarded the capture to a developer's machine and reported the
    /// attempts; the server itself sends nothing for it.
    Listener {
        /// The listener's `--name` (or a name made up for one run).
        name: String,
        /// The listener was offline when the capture arrived and delivered it on its return.
        missed: bool,
    },
}

impl DeliveryOrigin {
    /// The id a listener's delivery of a capture has: derived from both, so a report sent twice
    /// (the first answer was lost) lands on the same delivery.
    pub fn listener_delivery_id(capture: CaptureId, name: &str) -> DeliveryId {
        // Rule ids cannot contain `:`, so this never collides with a rule's delivery.
        DeliveryId::for_rule(capture, &format!("listener:{name}"))
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones some
/// proxies use the same way. They must not be forwarded; the client sets its own.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers the HTTP client writes itself for the target and the exact body it sends.
const SET_BY_CLIENT: [&str; 2] = ["host", "content-length"];

/// `headers` without those a forwarded request must not carry: hop-by-hop headers
/// (`Connection` and every header it names, `Keep-Alive`, `Proxy-Authenticate`,
/// `Proxy-Authorization`, `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`),
/// HTTP/2 pseudo-headers, `Host` and `Content-Length`. Shared by the replay worker and
/// `hookmetry listen`, so both forward the same headers.
pub fn forwarded_headers(headers: &[Header]) -> Vec<Header> {
    // `Connection: close, X-Trace` makes `X-Trace` hop-by-hop as well.
    let listed: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .map(|token| String::from_utf8_lossy(token.trim_ascii()).to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect();
    headers
        .iter()
        .filter(|h| {
            let name = h.name.trim_ascii();
            !name.starts_with(':')
                && !HOP_BY_HOP.iter().chain(&SET_BY_CLIENT).any(|dropped| name.eq_ignore_ascii_case(dropped))
                && !listed.iter().any(|dropped| name.eq_ignore_ascii_case(dropped))
        })
        .cloned()
        .collect()
}

/// Whether `path` climbs above its own start through dot segments: `/../x`, `/a/../../x`,
/// spelled with `%2e` too, and counting `%2f`, `%5c` and `\\` as separators because some receivers
/// decode or accept them as `/`. A forwarded path that does is never joined to a target's path,
/// where resolving it would reach paths outside the target's (docs/security.md).
pub fn path_climbs(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let unified = lower.replace("%2f", "/").replace("%5c", "/").replace('\\', "/").replace("%2e", ".");
    let mut depth: i64 = 0;
    for segment in unified.split('/').filter(|s| !s.is_empty()) {
        match segment {
            "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Whether `path` has a `.` or `..` segment in any spelling [`path_climbs`] knows.
pub fn has_dot_segment(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let unified = lower.replace("%2f", "/").replace("%5c", "/").replace('\\', "/").replace("%2e", ".");
    unified.split('/').any(|s| s == "." || s == "..")
}

/// The request a delivery sends: the captured one, or an edited or re-signed copy of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    pub method: String,
    /// The full target URL, path and query included.
    pub url: String,
    /// In the order they are sent; hop-by-hop headers already removed.
    pub headers: Vec<Header>,
    pub body: Bytes,
    /// Of `body`; equal to the capture's when the body was not edited, which is the proof that
    /// forwarding was byte-exact.
    pub body_sha256: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub team_id: TeamId,
    pub endpoint_id: EndpointId,
    pub capture_id: CaptureId,
    pub origin: DeliveryOrigin,
    pub request: OutgoingRequest,
    /// The method, path, headers or body differ from the capture's (apart from hop-by-hop headers).
    pub edited: bool,
    /// Signature headers were replaced with fresh ones; the capture keeps the originals.
    pub resigned: bool,
    pub state: DeliveryState,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When the next attempt is due; `None` once the delivery is final.
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// W3C `traceparent` of the span that made the delivery (a forwarding rule's processing of
    /// the capture, or the API request that replayed it), when spans are exported: every
    /// attempt continues that trace, also one a scan of the store starts hours later.
    pub trace_parent: Option<String>,
    /// Retry as this provider does instead of with the instance's backoff; `None` for the
    /// instance's schedule.
    pub retry_like: Option<RetryLike>,
}

/// A delivery that retries on a provider's documented schedule (`hookmetry_samples::retry`),
/// its waits divided by `speed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryLike {
    /// A provider id with a retry profile: `stripe`, `slack`, …
    pub provider: String,
    /// At least 1 (real time).
    pub speed: u32,
}

/// What kind of failure an attempt met, coarse enough to count in a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptError {
    /// No TCP connection: refused, unreachable, DNS failure.
    Connect,
    /// The connect or total timeout passed.
    Timeout,
    /// The connection broke mid-request or mid-response.
    Reset,
    /// The target's resolved address is not allowed (SSRF guard), before any connection.
    Refused,
    Tls,
    /// The target answered, with a status that is not 2xx.
    Status,
    /// Anything else the HTTP client reported.
    Other,
}

impl AttemptError {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Reset => "reset",
            Self::Refused => "refused",
            Self::Tls => "tls",
            Self::Status => "status",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "connect" => Self::Connect,
            "timeout" => Self::Timeout,
            "reset" => Self::Reset,
            "refused" => Self::Refused,
            "tls" => Self::Tls,
            "status" => Self::Status,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// Whether trying again can help: a refused target stays refused until an operator changes
    /// the policy, so retrying it would only hammer the guard.
    pub fn is_retryable(self) -> bool {
        !matches!(self, Self::Refused)
    }
}

/// One try of a delivery, as it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt.
    pub number: u32,
    pub started_at: Timestamp,
    pub latency_ms: u64,
    pub response_status: Option<u16>,
    pub response_headers: Vec<Header>,
    /// At most the configured size; `response_truncated` says when more was received.
    pub response_body: Bytes,
    pub response_truncated: bool,
    /// `None` for a 2xx answer.
    pub error: Option<AttemptError>,
    /// A sentence for the user, e.g. "connection refused by 127.0.0.1:3000".
    pub error_message: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbing_paths_are_recognised_in_every_spelling() {
        for p in ["/../admin", "/%2e%2e/admin", "/x/../../admin", "/%2E%2e%2Fadmin", "/a/..%5c..%5cb", "/..\\x"] {
            assert!(path_climbs(p), "{p}");
            assert!(has_dot_segment(p), "{p}");
        }
        for p in ["/", "/a/../b", "/a/./b", "/..a/b", "/a..", "/%2e%2ex"] {
            assert!(!path_climbs(p), "{p}");
        }
        assert!(!has_dot_segment("/orders/7"));
    }

    #[test]
    fn names_round_trip() {
        for s in
            [DeliveryState::Pending, DeliveryState::Succeeded, DeliveryState::DeadLettered, DeliveryState::Cancelled]
        {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
        }
        for e in [
            AttemptError::Connect,
            AttemptError::Timeout,
            AttemptError::Reset,
            AttemptError::Refused,
            AttemptError::Tls,
            AttemptError::Status,
            AttemptError::Other,
        ] {
            assert_eq!(AttemptError::parse(e.as_str()), Some(e));
        }
        assert_eq!(DeliveryState::parse("done"), None);
        assert_eq!(AttemptError::parse(""), None);
    }

    #[test]
    fn rule_delivery_ids_are_stable_distinct_and_time_ordered_like_the_capture() {
        let (a, b) = (CaptureId::new(), CaptureId::new());
        assert_eq!(DeliveryId::for_rule(a, "staging"), DeliveryId::for_rule(a, "staging"));
        assert_ne!(DeliveryId::for_rule(a, "staging"), DeliveryId::for_rule(a, "laptop"));
        assert_ne!(DeliveryId::for_rule(a, "staging"), DeliveryId::for_rule(b, "staging"));
        let id = DeliveryId::for_rule(a, "staging");
        assert_eq!(id.0.get_version_num(), 7);
        assert_eq!(id.as_bytes()[..6], a.as_bytes()[..6]);
    }

    #[test]
    fn rules_match_on_method_path_prefix_and_header() {
        let capture = CapturedRequest {
            id: CaptureId::new(),
            endpoint_id: EndpointId::new(),
            team_id: TeamId::new(),
            method: "POST".into(),
            path: "/stripe/events".into(),
            query: None,
            headers: vec![Header::new("X-GitHub-Event", "push"), Header::new("Stripe-Signature", "t=1,v1=ab")],
            body: Bytes::new(),
            body_sha256: [0; 32],
            remote_addr: "127.0.0.1".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::now(),
            answered: None,
        };
        let rule = |method: Option<&str>, prefix: Option<&str>, header: Option<(&str, &str)>| ForwardingRule {
            id: "r".into(),
            target: "http://127.0.0.1:3000".into(),
            method: method.map(Into::into),
            path_prefix: prefix.map(Into::into),
            header: header.map(|(n, c)| HeaderMatch { name: n.into(), contains: c.into() }),
            event_types: Vec::new(),
        };
        assert!(rule(None, None, None).matches(&capture, None), "no condition matches everything");
        let typed = |patterns: &[&str]| ForwardingRule {
            event_types: patterns.iter().map(|p| p.to_string()).collect(),
            ..rule(None, None, None)
        };
        assert!(typed(&["charge.*"]).matches(&capture, Some("charge.succeeded")));
        assert!(typed(&["invoice.paid", "charge.*"]).matches(&capture, Some("charge.refunded")), "any pattern");
        assert!(!typed(&["charge.*"]).matches(&capture, Some("invoice.paid")));
        assert!(!typed(&["*"]).matches(&capture, None), "a typed rule needs a type");
        assert!(rule(None, None, None).matches(&capture, Some("anything")));
        assert!(rule(Some("POST"), Some("/stripe"), Some(("stripe-signature", "v1="))).matches(&capture, None));
        assert!(
            rule(None, None, Some(("x-github-event", ""))).matches(&capture, None),
            "empty `contains`: the header exists"
        );
        assert!(!rule(Some("post"), None, None).matches(&capture, None), "methods are case-sensitive");
        assert!(!rule(None, Some("/github"), None).matches(&capture, None));
        assert!(!rule(None, None, Some(("x-github-event", "pull_request"))).matches(&capture, None));
        assert!(!rule(None, None, Some(("x-missing", ""))).matches(&capture, None));
    }

    #[test]
    fn only_pending_is_not_final_and_only_refusals_are_not_retried() {
        assert!(!DeliveryState::Pending.is_final());
        assert!(DeliveryState::Succeeded.is_final() && DeliveryState::DeadLettered.is_final());
        assert!(DeliveryState::Cancelled.is_final());
        assert!(!AttemptError::Refused.is_retryable());
        assert!(AttemptError::Timeout.is_retryable() && AttemptError::Status.is_retryable());
    }
}
