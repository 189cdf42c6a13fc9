use async_trait::async_trait;
use hookmetry_core::{Answered, CaptureId, CapturedRequest, EndpointId, EventGroup, Timestamp, Verification};

use crate::{CaptureList, CapturePage, Result};

/// Captures and their verification results.
#[async_trait]
pub trait CaptureStore: Send + Sync + 'static {
    /// Stores captures, skipping ids already stored (byte-for-byte as first written). Returns how
    /// many were new.
    async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize>;
    async fn capture(&self, id: CaptureId) -> Result<Option<CapturedRequest>>;
    /// Captures of one endpoint that pass `page.filter`, newest (highest id) first.
    async fn captures(&self, endpoint: EndpointId, page: &CapturePage) -> Result<CaptureList>;
    /// Records the verification result of stored captures, replacing an earlier one (captures are
    /// verified again after their endpoint's secrets change). Ids not stored are skipped.
    async fn put_verifications(&self, results: &[(CaptureId, Verification)]) -> Result<()>;
    /// Stores new captures and records verification results together: what `put_captures`
    /// followed by `put_verifications` does, in one write where the backend can (SQLite writes
    /// each new capture with its result in one transaction, instead of writing every row twice).
    /// Returns how many captures were new. Durable against power loss only after
    /// [`CaptureStore::sync_captures`]; against a crash of the process, at once.
    async fn put_checked_captures(
        &self,
        captures: &[CapturedRequest],
        results: &[(CaptureId, Verification)],
    ) -> Result<usize> {
        let new = self.put_captures(captures).await?;
        // Written after the captures they describe, so a crash between them is healed by the
        // redelivery (both writes are idempotent).
        self.put_verifications(results).await?;
        Ok(new)
    }
    /// Makes every capture and result written by `put_checked_captures` so far durable against
    /// power loss. Until it returns, such a write may be lost with the machine (never with the
    /// process), so the processor calls it before it commits a log offset: the log keeps what
    /// the store might lose. Backends whose writes are durable when acknowledged do nothing.
    async fn sync_captures(&self) -> Result<()> {
        Ok(())
    }
    /// The latest verification result of a capture; `None` when it has none or does not exist.
    async fn verification(&self, id: CaptureId) -> Result<Option<Verification>>;
    /// The latest verification results of many captures, for comparing before and after a
    /// re-verification; captures with none, or not stored, are left out. Backends override the
    /// one-by-one default with a batch read.
    async fn verifications(&self, ids: &[CaptureId]) -> Result<std::collections::HashMap<CaptureId, Verification>> {
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(v) = self.verification(id).await? {
                found.insert(id, v);
            }
        }
        Ok(found)
    }
    /// The captures of `endpoint` whose latest result names provider event `event_id`: how many,
    /// and the oldest `limit` of them, oldest first.
    async fn event_group(&self, endpoint: EndpointId, event_id: &str, limit: usize) -> Result<EventGroup>;
    /// For each `(endpoint, event id, capture)`, the capture of the same event received just
    /// before it: `None` when there is none, else its id and what it was answered. In order;
    /// backends override the one-by-one default with a batch read.
    async fn previous_of_events(
        &self,
        keys: &[(EndpointId, String, CaptureId)],
    ) -> Result<Vec<Option<(CaptureId, Option<Answered>)>>> {
        let mut out = Vec::with_capacity(keys.len());
        for (endpoint, event_id, capture) in keys {
            let group = self.event_group(*endpoint, event_id, usize::MAX).await?;
            out.push(group.members.iter().rev().find(|m| m.id < *capture).map(|m| (m.id, m.answered.clone())));
        }
        Ok(out)
    }
    /// Among the captures of `endpoint` received before `before` whose latest result names an
    /// event about `resource` with a creation time, the one whose event was created last.
    async fn newest_event_before(
        &self,
        endpoint: EndpointId,
        resource: &str,
        before: CaptureId,
    ) -> Result<Option<(CaptureId, Timestamp)>>;
    /// `NotFound` when it does not exist.
    async fn delete_capture(&self, id: CaptureId) -> Result<()>;
    /// Deletes every capture received before `now` minus its team's retention. Returns how many
    /// were deleted. Backends with native expiry (Scylla TTLs) may find nothing to do.
    async fn expire_captures(&self, now: Timestamp) -> Result<u64>;
}
