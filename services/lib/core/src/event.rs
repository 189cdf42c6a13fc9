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

/// One capture of a group that names the same provider event id, as the group is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub id: crate::CaptureId,
    pub received_at: Timestamp,
    pub answered: Option<crate::Answered>,
    pub attempt: Option<u32>,
    pub retry_reason: Option<String>,
}

/// The captures of one endpoint that name one provider event id: how many, and the oldest of
/// them (at most the limit asked for), oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventGroup {
    pub total: u64,
    pub members: Vec<GroupMember>,
}

/// Why a capture is in its group where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeliveryKind {
    /// The first capture of the event.
    First,
    /// The provider sent the event again because it was not acknowledged: it says so (an attempt
    /// number above 1, a retry reason), or we answered the delivery before with a non-2xx status
    /// or after [`LATE_ANSWER_MS`].
    Retry,
    /// The provider sent the event again although the delivery before was answered 2xx in time:
    /// a manual resend, or a duplicate the provider's at-least-once delivery makes.
    Duplicate,
}

/// An answer delayed this long may already have been given up on: Slack waits 3 s, Shopify 5,
/// GitHub 10. The shortest wait of the providers Hookmetry knows is the threshold.
pub const LATE_ANSWER_MS: u32 = 3_000;

/// Where a capture stands among the captures of its event, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivery {
    /// 1 for the first capture of the event.
    pub position: u64,
    pub kind: RedeliveryKind,
    /// Said to a person: "the provider says this is attempt 3 (http_timeout)".
    pub reason: String,
}

/// Classifies capture `id` within `group` (read oldest first). `None` when it is not among the
/// members read (the group is longer than was read, and `id` came later).
pub fn classify(group: &EventGroup, id: crate::CaptureId) -> Option<Redelivery> {
    let at = group.members.iter().position(|m| m.id == id)?;
    let position = at as u64 + 1;
    let this = &group.members[at];
    if at == 0 {
        return Some(Redelivery {
            position,
            kind: RedeliveryKind::First,
            reason: "the first capture of this event".into(),
        });
    }
    let retry = |reason: String| Some(Redelivery { position, kind: RedeliveryKind::Retry, reason });
    match (this.attempt.filter(|a| *a > 1), &this.retry_reason) {
        (Some(a), Some(r)) => return retry(format!("the provider says this is attempt {a} ({r})")),
        (Some(a), None) => return retry(format!("the provider says this is attempt {a}")),
        (None, Some(r)) => return retry(format!("the provider says it retried ({r})")),
        (None, None) => {}
    }
    let before = &group.members[at - 1];
    match &before.answered {
        Some(a) if !(200..300).contains(&a.status) => {
            retry(format!("the delivery before was answered {}, which providers retry", a.status))
        }
        Some(a) if a.delay_ms >= LATE_ANSWER_MS => retry(format!(
            "the delivery before was answered after {:.1} s, longer than some providers wait",
            f64::from(a.delay_ms) / 1000.0
        )),
        Some(a) => Some(Redelivery {
            position,
            kind: RedeliveryKind::Duplicate,
            reason: format!(
                "the delivery before was answered {} in time: sent again by the provider, not retried",
                a.status
            ),
        }),
        None => Some(Redelivery {
            position,
            kind: RedeliveryKind::Duplicate,
            reason: "sent again, and neither the provider nor the recorded answer says it was a retry".into(),
        }),
    }
}

/// A capture whose event was created before an event already received for the same resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfOrder {
    /// The earlier-received capture whose event is newer.
    pub newer: crate::CaptureId,
    pub newer_created_at: Timestamp,
    /// How much older this event is than that one, in microseconds (positive).
    pub gap_micros: i64,
}

/// Whether an event created at `created_at` arrived out of order, given the newest event
/// creation time among captures received before it for the same resource.
pub fn out_of_order(created_at: Timestamp, newest_before: Option<(crate::CaptureId, Timestamp)>) -> Option<OutOfOrder> {
    let (newer, newer_created_at) = newest_before?;
    (newer_created_at > created_at).then(|| OutOfOrder {
        newer,
        newer_created_at,
        gap_micros: newer_created_at.micros() - created_at.micros(),
    })
}

/// The learned JSON shape of the bodies of one event type on one endpoint, as stored: the shape
/// itself is the serialized form of `hookmetry_shape::Shape`, opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventShape {
    pub endpoint_id: crate::EndpointId,
    pub event_type: String,
    pub shape: String,
    /// Captures learned from.
    pub samples: u64,
    pub updated_at: Timestamp,
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

    fn member(n: u8, answered: Option<(u16, u32)>, attempt: Option<u32>, reason: Option<&str>) -> GroupMember {
        GroupMember {
            id: crate::CaptureId::from_bytes([n; 16]),
            received_at: Timestamp::from_micros(i64::from(n)),
            answered: answered.map(|(status, delay_ms)| crate::Answered::plain(status, delay_ms)),
            attempt,
            retry_reason: reason.map(str::to_string),
        }
    }

    #[test]
    fn redeliveries_are_told_from_duplicates() {
        let group = |members: Vec<GroupMember>| EventGroup { total: members.len() as u64, members };
        let id = |n: u8| crate::CaptureId::from_bytes([n; 16]);
        let kind = |g: &EventGroup, n: u8| classify(g, id(n)).map(|r| (r.position, r.kind, r.reason));

        let g = group(vec![member(1, Some((200, 0)), None, None), member(2, Some((200, 0)), None, None)]);
        assert_eq!(kind(&g, 1), Some((1, RedeliveryKind::First, "the first capture of this event".into())));
        assert_eq!(
            kind(&g, 2),
            Some((
                2,
                RedeliveryKind::Duplicate,
                "the delivery before was answered 200 in time: sent again by the provider, not retried".into()
            ))
        );
        assert_eq!(kind(&g, 3), None, "not in the group");

        let g = group(vec![member(1, Some((503, 0)), None, None), member(2, Some((200, 0)), None, None)]);
        assert_eq!(kind(&g, 2).unwrap().1, RedeliveryKind::Retry);
        assert_eq!(kind(&g, 2).unwrap().2, "the delivery before was answered 503, which providers retry");

        let g = group(vec![member(1, Some((200, 3_000)), None, None), member(2, Some((200, 0)), None, None)]);
        assert_eq!(
            kind(&g, 2).unwrap().2,
            "the delivery before was answered after 3.0 s, longer than some providers wait"
        );
        let g = group(vec![member(1, Some((200, 2_999)), None, None), member(2, Some((200, 0)), None, None)]);
        assert_eq!(kind(&g, 2).unwrap().1, RedeliveryKind::Duplicate, "just in time");

        // The provider's own word wins over the answer.
        let g = group(vec![member(1, Some((200, 0)), None, None), member(2, None, Some(3), Some("http_timeout"))]);
        assert_eq!(kind(&g, 2).unwrap().2, "the provider says this is attempt 3 (http_timeout)");
        let g = group(vec![member(1, None, None, None), member(2, None, Some(1), None)]);
        assert_eq!(kind(&g, 2).unwrap().1, RedeliveryKind::Duplicate, "attempt 1 is not a retry");
        assert!(kind(&g, 2).unwrap().2.contains("neither the provider nor the recorded answer"));
    }

    #[test]
    fn out_of_order_needs_a_newer_event_received_before() {
        let t = Timestamp::from_micros;
        let newer = crate::CaptureId::from_bytes([9; 16]);
        assert_eq!(
            out_of_order(t(1_000), Some((newer, t(61_000_000 + 1_000)))),
            Some(OutOfOrder { newer, newer_created_at: t(61_001_000), gap_micros: 61_000_000 })
        );
        assert_eq!(out_of_order(t(1_000), Some((newer, t(1_000)))), None, "same time is in order");
        assert_eq!(out_of_order(t(2_000), Some((newer, t(1_000)))), None);
        assert_eq!(out_of_order(t(1_000), None), None);
    }

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
