//! What a capture's provider says about the event it carries.

use async_graphql::Object;
use hookmetry_core::CaptureEvent;

pub struct EventObject(pub CaptureEvent);

/// A provider's event, as the capture names it. Each field is null when the request does not
/// name it.
#[Object(name = "CaptureEvent")]
impl EventObject {
    /// The provider's event id (`evt_…`, `X-GitHub-Delivery`, `webhook-id`), the same across the
    /// provider's retries of the event.
    async fn id(&self) -> Option<&str> {
        self.0.id.as_deref()
    }
    /// `payment_intent.succeeded`, `pull_request.opened`, `orders/create`, …
    #[graphql(name = "type")]
    async fn kind(&self) -> Option<&str> {
        self.0.kind.as_deref()
    }
    /// When the provider says the event happened (RFC 3339).
    async fn created_at(&self) -> Option<String> {
        self.0.created_at.map(|t| t.to_rfc3339())
    }
    /// The provider's delivery attempt, 1 for the first.
    async fn attempt(&self) -> Option<i32> {
        self.0.attempt.map(|a| i32::try_from(a).unwrap_or(i32::MAX))
    }
    /// Why the provider says it retried (Slack's `http_timeout`), when it says.
    async fn retry_reason(&self) -> Option<&str> {
        self.0.retry_reason.as_deref()
    }
    /// The object the event is about (Stripe's `data.object.id`).
    async fn resource(&self) -> Option<&str> {
        self.0.resource.as_deref()
    }
}
