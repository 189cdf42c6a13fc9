//! Deliveries and their attempts.

use async_trait::async_trait;
use bytes::Bytes;
use hookmetry_core::{Attempt, CaptureId, Delivery, DeliveryId, DeliveryState, Timestamp};
use uuid::Uuid;

use super::requests::bounded;
use super::rows::{AttemptRow, DUE_SHARDS, DeliveryRow, DeliveryValues, due_shard};
use super::{Inner, ScyllaStore};
use crate::{DeliveryProgress, DeliveryStore, Result, StoreError};

impl Inner {
    /// Removes a capture's deliveries, their attempts and due entries.
    pub(super) async fn delete_deliveries_of(&self, capture: Uuid) -> Result<()> {
        let what = "delete deliveries";
        let ids: Vec<(Uuid,)> = self.all(&self.st.select_delivery_ids_by_capture, &(capture,), what).await?;
        for (id,) in ids {
            let state: Option<(Option<String>, Option<i64>)> =
                self.one(&self.st.select_delivery_state, (id,), what).await?;
            if let Some((_, Some(due))) = state {
                self.exec(&self.st.delete_due, (due_shard(DeliveryId(id)), due, id), what).await?;
            }
            self.exec(&self.st.delete_attempts, (id,), what).await?;
            self.exec(&self.st.delete_delivery, (id,), what).await?;
        }
        self.exec(&self.st.delete_deliveries_by_capture, (capture,), what).await.map(drop)
    }
}

#[async_trait]
impl DeliveryStore for ScyllaStore {
    /// The existence check before the insert stands in for a transaction: two writers of the
    /// same new id at the same instant could both insert, and the later one wins. Delivery ids
    /// are made by one writer each (the API call or the processor batch), so that does not occur.
    async fn put_delivery(&self, delivery: &Delivery) -> Result<()> {
        let s = &*self.inner;
        let what = "store delivery";
        let d = delivery;
        if s.one::<(Option<String>, Option<i64>)>(&s.st.select_delivery_state, (d.id.0,), what).await?.is_some() {
            return Ok(());
        }
        let ttl = s.capture_ttl(d.capture_id, what).await?;
        let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        let row = DeliveryValues {
            delivery_id: d.id.0,
            team_id: d.team_id.0,
            endpoint_id: d.endpoint_id.0,
            capture_id: d.capture_id.0,
            origin: crate::origin_to_str(&d.origin),
            method: d.request.method.clone(),
            url: d.request.url.clone(),
            headers: d.request.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect(),
            body: d.request.body.clone(),
            body_sha256: d.request.body_sha256.to_vec(),
            edited: d.edited,
            resigned: d.resigned,
            state: d.state.as_str(),
            attempts: count(d.attempts),
            max_attempts: count(d.max_attempts),
            next_attempt_at: d.next_attempt_at.map(|t| t.micros()),
            created_at: d.created_at.micros(),
            updated_at: d.updated_at.micros(),
            trace_parent: d.trace_parent.clone(),
            retry_like: d.retry_like.as_ref().map(|r| (r.provider.clone(), i32::try_from(r.speed).unwrap_or(i32::MAX))),
            ttl,
        };
        s.exec(&s.st.insert_delivery, row, what).await?;
        let (id, capture) = (d.id.0, d.capture_id.0);
        s.exec(&s.st.insert_delivery_by_capture, (capture, id, ttl), what).await?;
        if let (DeliveryState::Pending, Some(due)) = (d.state, d.next_attempt_at) {
            s.exec(&s.st.insert_due, (due_shard(d.id), due.micros(), id, ttl), what).await?;
        }
        Ok(())
    }

    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        let s = &*self.inner;
        let row: Option<DeliveryRow> = s.one(&s.st.select_delivery, (id.0,), "read delivery").await?;
        Ok(row.map(DeliveryRow::into_delivery).transpose()?.flatten())
    }

    /// The ids are read whole (small), and only the newest `limit` deliveries are loaded.
    async fn deliveries_for_capture(&self, capture: CaptureId, limit: usize) -> Result<Vec<Delivery>> {
        let s = &*self.inner;
        let mut ids: Vec<(Uuid,)> =
            s.all(&s.st.select_delivery_ids_by_capture, &(capture.0,), "read deliveries").await?;
        // UUIDv7: byte order is creation order.
        ids.sort_unstable_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
        ids.truncate(limit);
        let found = bounded(ids.into_iter().map(|(id,)| self.delivery(DeliveryId(id))).collect()).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn record_attempt(&self, attempt: &Attempt, progress: &DeliveryProgress) -> Result<bool> {
        let s = &*self.inner;
        let what = "record attempt";
        let a = attempt;
        let Some(d) = self.delivery(a.delivery_id).await? else {
            return Err(StoreError::NotFound { entity: "delivery" });
        };
        let ttl = s.capture_ttl(d.capture_id, what).await?;
        let number = i32::try_from(a.number).unwrap_or(i32::MAX);
        let known: Option<(i32,)> = s.one(&s.st.select_attempt_exists, (a.delivery_id.0, number), what).await?;
        if known.is_none() {
            let headers: Vec<(String, Bytes)> =
                a.response_headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect();
            let values = (
                a.delivery_id.0,
                number,
                a.started_at.micros(),
                i64::try_from(a.latency_ms).unwrap_or(i64::MAX),
                a.response_status.map(i32::from),
                headers,
                a.response_body.clone(),
                a.response_truncated,
                a.error.map(|e| e.as_str()),
                a.error_message.as_deref(),
                ttl,
            );
            s.exec(&s.st.insert_attempt, values, what).await?;
        }
        if known.is_some() || d.state != DeliveryState::Pending {
            return Ok(false);
        }
        let p = progress;
        let values = (
            ttl,
            p.state.as_str(),
            i32::try_from(p.attempts).unwrap_or(i32::MAX),
            p.next_attempt_at.map(|t| t.micros()),
            p.updated_at.micros(),
            d.id.0,
        );
        s.exec(&s.st.update_delivery_progress, values, what).await?;
        let shard = due_shard(d.id);
        if let (DeliveryState::Pending, Some(next)) = (p.state, p.next_attempt_at) {
            s.exec(&s.st.insert_due, (shard, next.micros(), d.id.0, ttl), what).await?;
        }
        if let Some(old) = d.next_attempt_at
            && (p.state != DeliveryState::Pending || p.next_attempt_at != Some(old))
        {
            s.exec(&s.st.delete_due, (shard, old.micros(), d.id.0), what).await?;
        }
        Ok(true)
    }

    async fn claim_delivery(&self, id: DeliveryId, attempts: u32, now: Timestamp, until: Timestamp) -> Result<bool> {
        let s = &*self.inner;
        let what = "claim delivery";
        let Some(d) = self.delivery(id).await? else { return Ok(false) };
        let due = d.next_attempt_at.is_none_or(|t| t <= now);
        if d.state != DeliveryState::Pending || d.attempts != attempts || !due {
            return Ok(false);
        }
        let ttl = s.capture_ttl(d.capture_id, what).await?;
        let seen = d.next_attempt_at.map(|t| t.micros());
        let count = i32::try_from(attempts).unwrap_or(i32::MAX);
        if !s.lwt(&s.st.claim_delivery, (ttl, until.micros(), id.0, count, seen), what).await? {
            return Ok(false);
        }
        let shard = due_shard(id);
        s.exec(&s.st.insert_due, (shard, until.micros(), id.0, ttl), what).await?;
        if let Some(old) = seen {
            s.exec(&s.st.delete_due, (shard, old, id.0), what).await?;
        }
        Ok(true)
    }

    async fn attempts(&self, delivery: DeliveryId) -> Result<Vec<Attempt>> {
        let s = &*self.inner;
        let rows: Vec<AttemptRow> = s.all(&s.st.select_attempts, &(delivery.0,), "read attempts").await?;
        rows.into_iter().map(AttemptRow::into_attempt).collect()
    }

    /// Reads every shard up to `now`, then checks each delivery itself: a due row can be stale
    /// (a cancel or an attempt raced its deletion).
    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>> {
        let s = &*self.inner;
        let what = "read due deliveries";
        let per_shard = i32::try_from(limit).unwrap_or(i32::MAX);
        let mut due: Vec<(i64, Uuid)> = Vec::new();
        for shard in 0..DUE_SHARDS {
            due.extend(s.all::<(i64, Uuid), _>(&s.st.select_due, &(shard, now.micros(), per_shard), what).await?);
        }
        due.sort_unstable();
        let mut out = Vec::new();
        for (at, id) in due {
            if out.len() >= limit {
                break;
            }
            if let Some(d) = self.delivery(DeliveryId(id)).await?
                && d.state == DeliveryState::Pending
                && d.next_attempt_at.map(|t| t.micros()) == Some(at)
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    async fn cancel_delivery(&self, id: DeliveryId, at: Timestamp) -> Result<bool> {
        let s = &*self.inner;
        let what = "cancel delivery";
        let Some(d) = self.delivery(id).await? else { return Err(StoreError::NotFound { entity: "delivery" }) };
        if d.state != DeliveryState::Pending {
            return Ok(false);
        }
        let ttl = s.capture_ttl(d.capture_id, what).await?;
        let values = (
            ttl,
            DeliveryState::Cancelled.as_str(),
            i32::try_from(d.attempts).unwrap_or(i32::MAX),
            None::<i64>,
            at.micros(),
            id.0,
        );
        s.exec(&s.st.update_delivery_progress, values, what).await?;
        if let Some(old) = d.next_attempt_at {
            s.exec(&s.st.delete_due, (due_shard(id), old.micros(), id.0), what).await?;
        }
        Ok(true)
    }
}
