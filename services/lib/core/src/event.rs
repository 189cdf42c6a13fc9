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
