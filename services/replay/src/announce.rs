//! The one way capture and delivery changes reach the `events` topic, used alike by the API, the
//! processor and the replay worker, so every API node's live subscribers hear of them.

use std::sync::Arc;

use hookmetry_core::{CapturedRequest, Delivery, TOPIC_EVENTS};
use hookmetry_log::{EventLog, NewRecord};
use hookmetry_proto::{CaptureChange, DeliveryUpdate, Event};

/// Appends change events to the `events` topic.
///
/// Announcing never fails the change it announces: the change is already stored and readable,
/// and the topic is volatile anyway, so a failed append costs only a live notification and is
/// logged as a warning.
#[derive(Clone)]
pub struct Announcer {
    log: Arc<dyn EventLog>,
}

impl Announcer {
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self { log }
    }

    /// A delivery was created or changed state.
    pub async fn delivery(&self, d: &Delivery) {
        let record = hookmetry_proto::event_record(&Event::DeliveryUpdated(DeliveryUpdate::of(d)));
        if let Err(e) = self.log.append(TOPIC_EVENTS, record).await {
            tracing::warn!(error = %e, delivery_id = %d.id, "delivery change not announced");
        }
    }

    /// Deliveries were created or changed state, in one append.
    pub async fn deliveries(&self, ds: &[Delivery]) {
        if ds.is_empty() {
            return;
        }
        let records =
            ds.iter().map(|d| hookmetry_proto::event_record(&Event::DeliveryUpdated(DeliveryUpdate::of(d)))).collect();
        if let Err(e) = self.log.append_batch(TOPIC_EVENTS, records).await {
            tracing::warn!(error = %e, deliveries = ds.len(), "delivery changes not announced");
        }
    }

    /// Captures were deleted or verified again.
    pub async fn capture_changes(&self, changes: &[CaptureChange]) {
        if changes.is_empty() {
            return;
        }
        let records = changes.iter().map(|c| hookmetry_proto::event_record(&Event::CaptureChanged(*c))).collect();
        if let Err(e) = self.log.append_batch(TOPIC_EVENTS, records).await {
            tracing::warn!(error = %e, changes = changes.len(), "capture changes not announced; open views stay stale");
        }
    }

    /// A batch of captures was stored and `deliveries` were made of them, in one append.
    ///
    /// Redelivered captures are announced again too: a subscriber that missed them during a
    /// crash still hears of them, and subscribers deduplicate by capture id.
    pub async fn stored(&self, captures: &[CapturedRequest], deliveries: &[Delivery]) {
        let mut events: Vec<NewRecord> =
            captures.iter().map(|c| hookmetry_proto::event_record(&Event::CaptureStored(c.summary()))).collect();
        events.extend(
            deliveries.iter().map(|d| hookmetry_proto::event_record(&Event::DeliveryUpdated(DeliveryUpdate::of(d)))),
        );
        if events.is_empty() {
            return;
        }
        if let Err(e) = self.log.append_batch(TOPIC_EVENTS, events).await {
            tracing::warn!(error = %e, captures = captures.len(), "capture events not published");
        }
    }
}
