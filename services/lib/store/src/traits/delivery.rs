use async_trait::async_trait;
use hookmetry_core::{Attempt, CaptureId, Delivery, DeliveryId, Timestamp};

use crate::{DeliveryProgress, Result};

/// Deliveries and their attempts.
#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// Stores a new delivery; an id already stored is left as it is (the first write wins), so a
    /// redelivered request to replay creates one delivery.
    async fn put_delivery(&self, delivery: &Delivery) -> Result<()>;
    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>>;
    /// Deliveries of one capture: at most `limit`, newest first. A capture can have many (bulk
    /// replays, listeners), each holding its request body, so readers ask only for what they show.
    async fn deliveries_for_capture(&self, capture: CaptureId, limit: usize) -> Result<Vec<Delivery>>;
    /// Keeps an attempt (once per delivery and number: the first write wins) and applies
    /// `progress` to its delivery. The answer is `false`, and the delivery is not changed, when
    /// the delivery is no longer pending (cancelled meanwhile; the attempt is still kept) or an
    /// attempt of that number was already recorded. `NotFound` for an unknown delivery.
    async fn record_attempt(&self, attempt: &Attempt, progress: &DeliveryProgress) -> Result<bool>;
    /// Takes a due delivery for one attempt: only when it is still pending, has had exactly
    /// `attempts` attempts, and is due at `now` does it become due again only at `until` (the
    /// lease), and the answer is `true`. Several replay workers scanning one store thus attempt a
    /// retry once; a worker that dies during the attempt leaves it due again at `until`.
    async fn claim_delivery(&self, id: DeliveryId, attempts: u32, now: Timestamp, until: Timestamp) -> Result<bool>;
    /// Attempts of a delivery, first first.
    async fn attempts(&self, delivery: DeliveryId) -> Result<Vec<Attempt>>;
    /// Pending deliveries whose next attempt is due at `now`, earliest first, at most `limit`.
    /// This is how a scheduled retry survives a restart of the replay worker.
    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>>;
    /// Cancels a pending delivery; `false` when it had already finished. `NotFound` for an
    /// unknown one.
    async fn cancel_delivery(&self, id: DeliveryId, at: Timestamp) -> Result<bool>;
}
