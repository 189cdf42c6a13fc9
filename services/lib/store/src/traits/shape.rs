use async_trait::async_trait;
use hookmetry_core::{CaptureId, EndpointId, EventShape};

use crate::Result;

/// The learned shape of each event type's bodies per endpoint, and what each capture changed.
/// Written by the processor's drift analysis, read by the API.
#[async_trait]
pub trait ShapeStore: Send + Sync + 'static {
    /// The shape of `event_type`'s bodies on `endpoint`, when one has been learned.
    async fn event_shape(&self, endpoint: EndpointId, event_type: &str) -> Result<Option<EventShape>>;
    /// The endpoint's shapes, by event type, at most `limit`.
    async fn event_shapes(&self, endpoint: EndpointId, limit: usize) -> Result<Vec<EventShape>>;
    /// Writes shapes, replacing the stored ones of the same endpoint and type. Shapes of an
    /// endpoint that no longer exists are not written.
    async fn put_event_shapes(&self, shapes: &[EventShape]) -> Result<()>;
    /// Records what each capture changed in its event type's shape (serialized
    /// `hookmetry_shape::Change`); captures not stored are skipped.
    async fn put_schema_changes(&self, changes: &[(CaptureId, String)]) -> Result<()>;
    /// What the capture changed, when it changed something.
    async fn schema_change(&self, capture: CaptureId) -> Result<Option<String>>;
}
