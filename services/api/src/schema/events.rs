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

/// Shapes listed per endpoint: the processor learns at most 100 event types per endpoint.
pub const MAX_SHAPES_LISTED: usize = 100;

/// The most captures of one event read to place a capture among them.
const GROUP_READ: usize = 1_000;

/// Why a capture is where it is among the captures of its event.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "RedeliveryKind")]
pub enum RedeliveryKindValue {
    /// The first capture of the event.
    First,
    /// Sent again because it was not acknowledged: the provider says so (an attempt above 1, a
    /// retry reason), or the delivery before was answered non-2xx or after 3 s.
    Retry,
    /// Sent again although the delivery before was answered 2xx in time.
    Duplicate,
}

impl From<hookmetry_core::RedeliveryKind> for RedeliveryKindValue {
    fn from(k: hookmetry_core::RedeliveryKind) -> Self {
        match k {
            hookmetry_core::RedeliveryKind::First => RedeliveryKindValue::First,
            hookmetry_core::RedeliveryKind::Retry => RedeliveryKindValue::Retry,
            hookmetry_core::RedeliveryKind::Duplicate => RedeliveryKindValue::Duplicate,
        }
    }
}

/// The captures of one endpoint that carry the same provider event, and where this one stands.
pub struct RedeliveriesObject {
    pub group: hookmetry_core::EventGroup,
    pub place: hookmetry_core::Redelivery,
    pub first: usize,
}

#[Object(name = "Redeliveries")]
impl RedeliveriesObject {
    /// How many captures of this endpoint carry the event, this one included.
    async fn count(&self) -> i32 {
        i32::try_from(self.group.total).unwrap_or(i32::MAX)
    }
    /// 1 for the first capture of the event.
    async fn position(&self) -> i32 {
        i32::try_from(self.place.position).unwrap_or(i32::MAX)
    }
    async fn kind(&self) -> RedeliveryKindValue {
        self.place.kind.into()
    }
    /// Why, in words: "the delivery before was answered 503, which providers retry".
    async fn reason(&self) -> &str {
        &self.place.reason
    }
    /// The captures of the event, oldest first (at most `first` of `redeliveries`).
    async fn captures(&self) -> Vec<RedeliveryMemberObject> {
        self.group.members.iter().take(self.first).cloned().map(RedeliveryMemberObject).collect()
    }
}

pub struct RedeliveryMemberObject(hookmetry_core::GroupMember);

/// One capture of an event: when it arrived and what it was answered.
#[Object(name = "RedeliveryMember")]
impl RedeliveryMemberObject {
    async fn capture_id(&self) -> async_graphql::ID {
        async_graphql::ID(self.0.id.to_string())
    }
    async fn received_at(&self) -> String {
        self.0.received_at.to_rfc3339()
    }
    /// The status the capture URL answered; null for captures from before it was recorded.
    async fn answered_status(&self) -> Option<i32> {
        self.0.answered.as_ref().map(|a| i32::from(a.status))
    }
    /// The configured delay before that answer, in milliseconds.
    async fn answered_delay_ms(&self) -> Option<i32> {
        self.0.answered.as_ref().map(|a| i32::try_from(a.delay_ms).unwrap_or(i32::MAX))
    }
    /// The provider's delivery attempt, when it names one.
    async fn attempt(&self) -> Option<i32> {
        self.0.attempt.map(|a| i32::try_from(a).unwrap_or(i32::MAX))
    }
}

/// Where a capture's event stands among the events received before it about the same resource.
pub struct EventOrderObject {
    pub resource: String,
    pub late: Option<hookmetry_core::OutOfOrder>,
}

#[Object(name = "EventOrder")]
impl EventOrderObject {
    /// Whether an event about the same resource created after this one was received before it.
    async fn out_of_order(&self) -> bool {
        self.late.is_some()
    }
    /// The resource the provider names (Stripe's `data.object.id`).
    async fn resource(&self) -> &str {
        &self.resource
    }
    /// The capture received before this one whose event is the newest about the resource.
    async fn newer_capture_id(&self) -> Option<async_graphql::ID> {
        self.late.as_ref().map(|l| async_graphql::ID(l.newer.to_string()))
    }
    /// When that newer event was created (RFC 3339).
    async fn newer_created_at(&self) -> Option<String> {
        self.late.as_ref().map(|l| l.newer_created_at.to_rfc3339())
    }
    /// How much older this event is than that one, in seconds.
    async fn gap_seconds(&self) -> Option<f64> {
        self.late.as_ref().map(|l| l.gap_micros as f64 / 1e6)
    }
}

/// The captures carrying `capture`'s event, and where it stands; `None` when it names no event id.
pub(crate) async fn redeliveries(
    store: &dyn hookmetry_store::Store,
    capture: &hookmetry_core::CapturedRequest,
    event: &CaptureEvent,
    first: usize,
) -> Result<Option<RedeliveriesObject>, hookmetry_store::StoreError> {
    let Some(id) = event.id.as_deref() else { return Ok(None) };
    let group = store.event_group(capture.endpoint_id, id, GROUP_READ).await?;
    // A capture beyond the members read (an event sent over a thousand times) is not placed.
    Ok(hookmetry_core::classify(&group, capture.id).map(|place| RedeliveriesObject { group, place, first }))
}

/// Which of its provider's retries a redelivery looks like, against the provider's documented
/// schedule (`hookmetry_samples::retry`).
pub struct RetryGuessObject(hookmetry_samples::retry::RetryGuess);

#[Object(name = "RetryGuess")]
impl RetryGuessObject {
    /// 1 for the first retry.
    async fn attempt(&self) -> i32 {
        i32::try_from(self.0.attempt).unwrap_or(i32::MAX)
    }
    /// "Stripe's 3rd retry".
    async fn label(&self) -> &str {
        &self.0.label
    }
    /// The provider's documented wait before this retry, in seconds; null past its last retry or
    /// for a provider that does not retry.
    async fn expected_delay_seconds(&self) -> Option<f64> {
        self.0.expected_delay.map(|d| d.as_secs_f64())
    }
    /// How long after the delivery before it this one came, in seconds.
    async fn observed_delay_seconds(&self) -> Option<f64> {
        self.0.observed_delay.map(|d| d.as_secs_f64())
    }
    /// Whether the observed wait is within the documented tolerance of the expected one.
    async fn fits_schedule(&self) -> bool {
        self.0.fits_schedule
    }
    /// The provider documents only an envelope; the expected wait is an approximation.
    async fn approximate(&self) -> bool {
        self.0.approximate
    }
    /// "Stripe retries after ~4h; this came 2s after the previous".
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }
}

/// What `capture` looks like as a redelivery of its provider's event; `None` for the first
/// delivery, a capture naming no event id, or a provider without a retry profile.
pub(crate) async fn retry_guess(
    store: &dyn hookmetry_store::Store,
    capture: &hookmetry_core::CapturedRequest,
    provider: Option<&str>,
    event: &CaptureEvent,
) -> Result<Option<RetryGuessObject>, hookmetry_store::StoreError> {
    let (Some(provider), Some(id)) = (provider, event.id.as_deref()) else { return Ok(None) };
    if hookmetry_samples::retry::profile(provider).is_none() {
        return Ok(None);
    }
    let group = store.event_group(capture.endpoint_id, id, GROUP_READ).await?;
    let Some(at) = group.members.iter().position(|m| m.id == capture.id) else { return Ok(None) };
    let gaps: Vec<_> = group.members[..=at]
        .windows(2)
        .map(|w| {
            std::time::Duration::from_micros(
                w[1].received_at.micros().saturating_sub(w[0].received_at.micros()).max(0) as u64
            )
        })
        .collect();
    let so_far = u32::try_from(at).unwrap_or(u32::MAX);
    Ok(hookmetry_samples::retry::guess(provider, so_far, &gaps).map(RetryGuessObject))
}

/// Whether `capture`'s event arrived after a newer one about the same resource; `None` when it
/// names no resource or creation time.
pub(crate) async fn ordering(
    store: &dyn hookmetry_store::Store,
    capture: &hookmetry_core::CapturedRequest,
    event: &CaptureEvent,
) -> Result<Option<EventOrderObject>, hookmetry_store::StoreError> {
    let (Some(resource), Some(created_at)) = (event.resource.as_deref(), event.created_at) else { return Ok(None) };
    let newest = store.newest_event_before(capture.endpoint_id, resource, capture.id).await?;
    Ok(Some(EventOrderObject {
        resource: resource.to_string(),
        late: hookmetry_core::out_of_order(created_at, newest),
    }))
}

/// What a capture changed in its event type's learned shape.
#[derive(async_graphql::SimpleObject)]
#[graphql(name = "SchemaChange")]
pub struct SchemaChangeObject {
    kind: SchemaChangeKindValue,
    /// The changed fields, by path (at most 50).
    fields: Vec<FieldChangeObject>,
    /// Changed fields beyond those listed.
    more: i32,
}

impl SchemaChangeObject {
    /// The stored change; `None` for one this build cannot read.
    pub(crate) fn parse(json: &str) -> Option<Self> {
        let c: hookmetry_shape::Change = serde_json::from_str(json).ok()?;
        Some(SchemaChangeObject {
            kind: match c.kind {
                hookmetry_shape::ChangeKind::Added => SchemaChangeKindValue::Added,
                hookmetry_shape::ChangeKind::Removed => SchemaChangeKindValue::Removed,
                hookmetry_shape::ChangeKind::Retyped => SchemaChangeKindValue::Retyped,
                hookmetry_shape::ChangeKind::Mixed => SchemaChangeKindValue::Mixed,
            },
            fields: c
                .fields
                .into_iter()
                .map(|f| FieldChangeObject {
                    path: f.path,
                    kind: match f.kind {
                        hookmetry_shape::FieldChangeKind::Added => SchemaChangeKindValue::Added,
                        hookmetry_shape::FieldChangeKind::Removed => SchemaChangeKindValue::Removed,
                        hookmetry_shape::FieldChangeKind::Retyped => SchemaChangeKindValue::Retyped,
                    },
                    before: f.before.iter().map(|t| t.as_str().to_string()).collect(),
                    after: f.after.iter().map(|t| t.as_str().to_string()).collect(),
                })
                .collect(),
            more: i32::try_from(c.more).unwrap_or(i32::MAX),
        })
    }
}

#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "SchemaChangeKind")]
pub enum SchemaChangeKindValue {
    /// A field never seen before.
    Added,
    /// A field present in every earlier capture is missing.
    Removed,
    /// A field has a type never seen for it (`null` included).
    Retyped,
    /// More than one of those.
    Mixed,
}

/// One changed field: its path (`data.object.amount`, `items[].id`) and its JSON types before and
/// after.
#[derive(async_graphql::SimpleObject)]
#[graphql(name = "FieldChange")]
pub struct FieldChangeObject {
    path: String,
    kind: SchemaChangeKindValue,
    before: Vec<String>,
    after: Vec<String>,
}

/// The learned JSON shape of one event type's bodies on an endpoint.
pub struct EventShapeObject(pub hookmetry_core::EventShape);

#[Object(name = "EventShape")]
impl EventShapeObject {
    #[graphql(name = "eventType")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    /// Captures learned from.
    async fn samples(&self) -> i32 {
        i32::try_from(self.0.samples).unwrap_or(i32::MAX)
    }
    async fn updated_at(&self) -> String {
        self.0.updated_at.to_rfc3339()
    }
    /// Whether the field limit (1,024 paths) cut anything: fields beyond it are not tracked.
    async fn truncated(&self) -> bool {
        self.parsed().is_some_and(|s| s.truncated())
    }
    /// Every field path seen, with its types and how often it was present.
    async fn fields(&self) -> Result<Vec<ShapeFieldObject>, crate::ApiError> {
        // A shape's listing weighs about what it takes stored; charged like a body.
        crate::budget::charge(self.0.shape.len() as u64)?;
        Ok(self.parsed().map(|s| s.fields().into_iter().map(ShapeFieldObject).collect()).unwrap_or_default())
    }
    /// The shape as a JSON Schema (draft 2020-12): `required` lists the fields present every time.
    async fn json_schema(&self) -> Result<Option<async_graphql::Json<serde_json::Value>>, crate::ApiError> {
        crate::budget::charge(self.0.shape.len() as u64)?;
        Ok(self.parsed().map(|s| async_graphql::Json(s.to_json_schema())))
    }
}

impl EventShapeObject {
    fn parsed(&self) -> Option<hookmetry_shape::Shape> {
        serde_json::from_str(&self.0.shape).ok()
    }
}

pub struct ShapeFieldObject(hookmetry_shape::FieldInfo);

/// One field path of a learned shape.
#[Object(name = "ShapeField")]
impl ShapeFieldObject {
    async fn path(&self) -> &str {
        &self.0.path
    }
    /// `null`, `boolean`, `integer`, `number`, `string`, `object`, `array`.
    async fn types(&self) -> Vec<&'static str> {
        self.0.types.iter().map(|t| t.as_str()).collect()
    }
    /// Captures in which the field was present.
    async fn present(&self) -> i32 {
        i32::try_from(self.0.present).unwrap_or(i32::MAX)
    }
    /// Captures in which its parent object was present.
    async fn parent_present(&self) -> i32 {
        i32::try_from(self.0.parent_present).unwrap_or(i32::MAX)
    }
    /// Present every time its parent was.
    async fn required(&self) -> bool {
        self.0.required
    }
}
