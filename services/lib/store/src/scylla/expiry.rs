//! The expiry index (`endpoints_by_expiry`): which endpoints are due, for the sweeper.
//!
//! The index is a hint, the endpoint row the truth. A row is written before its endpoint gains
//! that expiry and removed after the endpoint loses it (an update moving or clearing it, a
//! delete), so a change that fails halfway leaves an extra row, never a missing one: a missing
//! row would hide an expired endpoint from the sweeper for good. Readers check each row against
//! its endpoint and skip the ones that disagree; a row that still disagrees [`STALE_AFTER`] past
//! its time is left over from such a failure (no write holds a row that long before its endpoint
//! catches up) and is removed as it is read.

use std::time::Duration;

use hookmetry_core::{Endpoint, EndpointId, Timestamp};
use uuid::Uuid;

use super::requests::bounded;
use super::rows::{EXPIRY_BUCKETS, expiry_bucket};
use super::{Inner, ScyllaStore};
use crate::{EndpointStore, Result};

/// How long past its time a row whose endpoint disagrees is kept, in case a write that added it
/// has not reached the endpoint row yet.
const STALE_AFTER: Duration = Duration::from_secs(3600);

impl Inner {
    pub(super) async fn add_expiry(&self, id: EndpointId, at: Timestamp, what: &str) -> Result<()> {
        self.exec(&self.st.insert_expiry, (expiry_bucket(id), at.micros(), id.0), what).await.map(drop)
    }

    pub(super) async fn remove_expiry(&self, id: EndpointId, at: Timestamp, what: &str) -> Result<()> {
        self.exec(&self.st.delete_expiry, (expiry_bucket(id), at.micros(), id.0), what).await.map(drop)
    }
}

impl ScyllaStore {
    /// Reads each bucket's first `limit` rows due by `now`, merges them soonest first, and keeps
    /// those whose endpoint still has that expiry, up to `limit`. Rows that disagree can make a
    /// call return fewer than `limit` while more are due; the sweeper's next pass gets them.
    pub(super) async fn due_endpoints(&self, now: Timestamp, limit: usize) -> Result<Vec<Endpoint>> {
        let s = &*self.inner;
        let what = "list expired endpoints";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let per_bucket = i32::try_from(limit).unwrap_or(i32::MAX);
        let buckets: Vec<Vec<(i64, Uuid)>> =
            bounded(
                (0..EXPIRY_BUCKETS)
                    .map(|bucket| async move {
                        s.all(&s.st.select_expired, &(bucket, now.micros(), per_bucket), what).await
                    })
                    .collect(),
            )
            .await?;
        let mut rows: Vec<(i64, Uuid)> = buckets.into_iter().flatten().collect();
        rows.sort_unstable();
        let stale_before = now.micros().saturating_sub(i64::try_from(STALE_AFTER.as_micros()).unwrap_or(i64::MAX));
        let mut due = Vec::new();
        let mut rest = rows.as_slice();
        while due.len() < limit && !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(limit - due.len()));
            rest = tail;
            let endpoints: Vec<Option<Endpoint>> =
                bounded(chunk.iter().map(|&(_, id)| self.endpoint(EndpointId(id))).collect()).await?;
            for (&(at, id), endpoint) in chunk.iter().zip(endpoints) {
                let at = Timestamp::from_micros(at);
                match endpoint {
                    Some(e) if e.expires_at == Some(at) => due.push(e),
                    _ if at.micros() < stale_before => s.remove_expiry(EndpointId(id), at, what).await?,
                    _ => {}
                }
            }
        }
        Ok(due)
    }
}
