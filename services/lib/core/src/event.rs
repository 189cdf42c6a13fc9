//! What a provider says about the event a capture carries: its id, type, creation time, the
//! delivery attempt, and the resource it is about. Found by `hookmetry-verify` from the headers
//! and body as received, stored with the capture, and used to group redeliveries, spot events
//! that arrive out of order, and filter and route by type.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The longest id, type, resource or retry reason kept, in bytes; anything longer is dropped.
pub const MAX_EVENT_FIELD: usize = 200;

/// One capture's event identity. Every field is `None` when the request does not name it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureEvent {
    /// The provider's id of the event (`evt_…`, `X-GitHub-Delivery`, `webhook-id`): the same
    /// across the provider's retries of one event.
    pub id: Option<String>,
    /// `payment_intent.succeeded`, `pull_request.opened`, `orders/create`, …
    pub kind: Option<String>,
    /// When the provider says the event happened.
    pub created_at: Option<Timestamp>,
    /// The provider's delivery attempt, 1 for the first.
    pub attempt: Option<u32>,
    /// Why the provider says it is retrying (Slack's `http_timeout`), when it says.
    pub retry_reason: Option<String>,
    /// The object the event is about (Stripe's `data.object.id`), for ordering.
    pub resource: Option<String>,
}

impl CaptureEvent {
    pub fn is_empty(&self) -> bool {
        *self == CaptureEvent::default()
    }
}

/// Where an endpoint's custom sender names its events: each field is `header:<name>` or
/// `json:<RFC 6901 pointer>` (a bare pointer starting with `/` is read as `json:`). Fields left
/// `None` fall back to what the endpoint's provider names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFields {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub attempt: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
}

impl EventFields {
    pub fn is_empty(&self) -> bool {
        *self == EventFields::default()
    }
}

/// Whether event type `event` matches `pattern`, where `*` stands for any run of characters
/// (`charge.*`, `*.created`, `*`) and everything else is compared exactly. Linear in the
/// lengths, whatever the pattern: patterns come from users and are matched on every capture.
pub fn event_type_matches(pattern: &str, event: &str) -> bool {
    let (p, e) = (pattern.as_bytes(), event.as_bytes());
    let (mut pi, mut ei) = (0, 0);
    // Where the last `*` was, and where in `event` it was tried up to.
    let mut star: Option<(usize, usize)> = None;
    while ei < e.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ei));
            pi += 1;
        } else if pi < p.len() && p[pi] == e[ei] {
            pi += 1;
            ei += 1;
        } else if let Some((sp, se)) = star {
            pi = sp + 1;
            ei = se + 1;
            star = Some((sp, se + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_wildcards() {
        for (p, e) in [
            ("charge.*", "charge.succeeded"),
            ("charge.*", "charge."),
            ("*", "anything"),
            ("*", ""),
            ("*.created", "customer.subscription.created"),
            ("a*b*c", "aXbYc"),
            ("a*b*c", "abbc"),
            ("orders/create", "orders/create"),
            ("**", "x"),
        ] {
            assert!(event_type_matches(p, e), "{p} should match {e}");
        }
        for (p, e) in [
            ("charge.*", "charges.succeeded"),
            ("charge.*", "payment.charge.x"),
            ("orders/create", "orders/created"),
            ("a*b*c", "aXbY"),
            ("", "x"),
            ("Push Hook", "push hook"),
        ] {
            assert!(!event_type_matches(p, e), "{p} should not match {e}");
        }
    }

    #[test]
    fn a_pattern_built_to_backtrack_stays_cheap() {
        let event = "a".repeat(200);
        let pattern = format!("{}b", "a*".repeat(100));
        // Exponential for a naive recursive matcher; here a few tens of thousands of steps.
        assert!(!event_type_matches(&pattern, &event));
    }
}
