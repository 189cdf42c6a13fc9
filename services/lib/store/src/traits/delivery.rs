use async_trait::async_trait;
use hookmetry_core::{Attempt, CaptureId, Delivery, DeliveryId, Timestamp};

use crate::{DeliveryProgress, Result};

/// Deliveries and their attempts.
#[async_trait]
pub trait DeliveryStore: Send + Sync + 'static {
    /// Stores a new delivery; an id already stored is left as it is (the first write wins), so a
    /// redelivered request to replay creates one delivery.
    async fn put_delivery(&self, delivery: &Delivery) -> Result<()>;
    /// [`put_delivery`](Self::put_delivery) of each, all or none: a bulk replay stores its
    /// deliveries at once (SQLite: one transaction, one fsync).
    async fn put_deliveries(&self, deliveries: &[Delivery]) -> Result<()> {
        for d in deliveries {
            self.put_delivery(d).await?;
        }
        Ok(())
    }
    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>>;
    /// [`delivery`](Self::delivery) of each id, answered in order: the replay worker reads the
    /// deliveries a poll of the log names at once.
    async fn deliveries(&self, ids: &[DeliveryId]) -> Result<Vec<Option<Delivery>>> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            out.push(self.delivery(id).await?);
        }
        Ok(out)
    }
    /// Deliveries of one capture: at most `limit`, newest first. A capture can have many (bulk
    /// replays, listeners), each holding its request body, so readers ask only for what they show.
    async fn deliveries_for_capture(&self, capture: CaptureId, limit: usize) -> Result<Vec<Delivery>>;
    /// Keeps an attempt (once per delivery and number: the first write wins) and applies
    /// `progress` to its delivery. The answer is `false`, and the delivery is not changed, when
    /// the delivery is no longer pending (cancelled meanwhile; the attempt is still kept) or an
    /// attempt of that number was already recorded. `NotFound` for an unknown delivery.
    async fn record_attempt(&self, attempt: &Attempt, progress: &DeliveryProgress) -> Result<bool>;
    /// [`record_attempt`](Self::record_attempt) of each pair, answered in order, `None` where
    /// that one's delivery is unknown. Group commit for the replay worker: the attempts of many
    /// deliveries written at once (SQLite: one transaction, one fsync). An error means none of
    /// them may be taken as recorded.
    async fn record_attempts(&self, batch: &[(Attempt, DeliveryProgress)]) -> Result<Vec<Option<bool>>> {
        let mut out = Vec::with_capacity(batch.len());
        for (attempt, progress) in batch {
            out.push(match self.record_attempt(attempt, progress).await {
                Ok(applied) => Some(applied),
                Err(crate::StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    }
    /// Takes a due delivery for one attempt: only when it is still pending, has had exactly
    /// `attempts` attempts, and is due at `now` does it become due again only at `until` (the
    /// lease), and the answer is `true`. Several replay workers scanning one store thus attempt a
    /// retry once; a worker that dies during the attempt leaves it due again at `until`. A claim
    /// may be lost with the machine (not with the process) until the next durable write: that
    /// too only makes the delivery due again.
    async fn claim_delivery(&self, id: DeliveryId, attempts: u32, now: Timestamp, until: Timestamp) -> Result<bool>;
    /// [`claim_delivery`](Self::claim_delivery) of each `(id, attempts)`, answered in order.
    async fn claim_deliveries(
        &self,
        claims: &[(DeliveryId, u32)],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(claims.len());
        for &(id, attempts) in claims {
            out.push(self.claim_delivery(id, attempts, now, until).await?);
        }
        Ok(out)
    }
    /// Attempts of a delivery, first first.
    async fn attempts(&self, delivery: DeliveryId) -> Result<Vec<Attempt>>;
    /// Pending deliveries whose next attempt is due at `now`, earliest first, at most `limit`.
    /// This is how a scheduled retry survives a restart of the replay worker.
    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>>;
    /// Cancels a pending delivery; `false` when it had already finished. `NotFound` for an
    /// unknown one.
    async fn cancel_delivery(&self, id: DeliveryId, at: Timestamp) -> Result<bool>;
}
