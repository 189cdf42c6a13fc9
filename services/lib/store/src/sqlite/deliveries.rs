//! Deliveries and their attempts.

use async_trait::async_trait;
use hookmetry_core::{Attempt, AttemptError, CaptureId, Delivery, DeliveryId, DeliveryState, Timestamp};
use rusqlite::OptionalExtension;

use super::headers::encode_headers;
use super::rows::{ATTEMPT_COLUMNS, AttemptRow, DELIVERY_COLUMNS, DeliveryRow, attempt_row, delivery_row};
use super::{SqliteStore, Sync};
use crate::{DeliveryProgress, DeliveryStore, Result, StoreError};

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn put_delivery(&self, delivery: &Delivery) -> Result<()> {
        self.put_deliveries(std::slice::from_ref(delivery)).await
    }

    async fn put_deliveries(&self, deliveries: &[Delivery]) -> Result<()> {
        let rows = deliveries
            .iter()
            .map(|d| Ok((d.clone(), encode_headers(&d.request.headers)?)))
            .collect::<Result<Vec<_>>>()?;
        self.write("delivery", "store delivery", move |tx| {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21) \
                 ON CONFLICT (id) DO NOTHING"
            ))?;
            for (d, headers) in &rows {
                insert.execute(rusqlite::params![
                    d.id.as_bytes(),
                    d.team_id.as_bytes(),
                    d.endpoint_id.as_bytes(),
                    d.capture_id.as_bytes(),
                    crate::origin_to_str(&d.origin),
                    d.request.method,
                    d.request.url,
                    headers,
                    d.request.body.as_ref(),
                    d.request.body_sha256,
                    d.edited,
                    d.resigned,
                    d.state.as_str(),
                    d.attempts,
                    d.max_attempts,
                    d.next_attempt_at.map(|t| t.micros()),
                    d.created_at.micros(),
                    d.updated_at.micros(),
                    d.trace_parent,
                    d.retry_like.as_ref().map(|r| r.provider.as_str()),
                    d.retry_like.as_ref().map(|r| r.speed),
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        let row = self
            .read("read delivery", move |conn| {
                conn.prepare_cached(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"))?
                    .query_row([id.as_bytes()], delivery_row)
                    .optional()
            })
            .await?;
        row.map(DeliveryRow::into_delivery).transpose()
    }

    async fn deliveries(&self, ids: &[DeliveryId]) -> Result<Vec<Option<Delivery>>> {
        let ids = ids.to_vec();
        let rows = self
            .read("read deliveries", move |conn| {
                let mut select =
                    conn.prepare_cached(&format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"))?;
                ids.iter()
                    .map(|id| select.query_row([id.as_bytes()], delivery_row).optional())
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        rows.into_iter().map(|row| row.map(DeliveryRow::into_delivery).transpose()).collect()
    }

    async fn deliveries_for_capture(&self, capture: CaptureId, limit: usize) -> Result<Vec<Delivery>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read("read deliveries", move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE capture_id = ?1 ORDER BY id DESC LIMIT ?2"
                ))?
                .query_map((capture.as_bytes(), limit), delivery_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        rows.into_iter().map(DeliveryRow::into_delivery).collect()
    }

    async fn record_attempt(&self, attempt: &Attempt, progress: &DeliveryProgress) -> Result<bool> {
        let outcome = self.record_attempts(&[(attempt.clone(), progress.clone())]).await?;
        outcome.into_iter().next().flatten().ok_or(StoreError::NotFound { entity: "delivery" })
    }

    async fn record_attempts(&self, batch: &[(Attempt, DeliveryProgress)]) -> Result<Vec<Option<bool>>> {
        let rows = batch
            .iter()
            .map(|(a, p)| Ok((a.clone(), p.clone(), encode_headers(&a.response_headers)?)))
            .collect::<Result<Vec<_>>>()?;
        self.write("attempt", "record attempt", move |tx| {
            rows.iter().map(|(a, p, headers)| record_one(tx, a, p, headers)).collect()
        })
        .await
    }

    async fn claim_delivery(&self, id: DeliveryId, attempts: u32, now: Timestamp, until: Timestamp) -> Result<bool> {
        let claimed = self.claim_deliveries(&[(id, attempts)], now, until).await?;
        Ok(claimed.first().copied().unwrap_or(false))
    }

    async fn claim_deliveries(
        &self,
        claims: &[(DeliveryId, u32)],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<bool>> {
        let claims = claims.to_vec();
        // A lease is not worth an fsync: one lost with the machine only makes its delivery due
        // again, as if its worker had died, and at-least-once delivery already covers that. The
        // attempt's record, written with FULL, syncs it anyway.
        self.write_with(Sync::Normal, "delivery", "claim delivery", move |tx| {
            let mut claim = tx.prepare_cached(
                "UPDATE deliveries SET next_attempt_at = ?4 WHERE id = ?1 AND state = 'pending' AND attempts = ?2 \
                 AND (next_attempt_at IS NULL OR next_attempt_at <= ?3)",
            )?;
            claims
                .iter()
                .map(|(id, attempts)| Ok(claim.execute((id.as_bytes(), attempts, now.micros(), until.micros()))? == 1))
                .collect()
        })
        .await
    }

    async fn attempts(&self, delivery: DeliveryId) -> Result<Vec<Attempt>> {
        let rows = self
            .read("read attempts", move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_id = ?1 ORDER BY number"
                ))?
                .query_map([delivery.as_bytes()], attempt_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        rows.into_iter().map(AttemptRow::into_attempt).collect()
    }

    async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .read("read due deliveries", move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                     WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2"
                ))?
                .query_map((now.micros(), limit), delivery_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .await?;
        rows.into_iter().map(DeliveryRow::into_delivery).collect()
    }

    async fn cancel_delivery(&self, id: DeliveryId, at: Timestamp) -> Result<bool> {
        let outcome = self
            .write("delivery", "cancel delivery", move |tx| {
                let changed = tx.execute(
                    "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, updated_at = ?2 \
                     WHERE id = ?1 AND state = 'pending'",
                    (id.as_bytes(), at.micros()),
                )?;
                if changed > 0 {
                    return Ok(Some(true));
                }
                let exists = tx
                    .prepare_cached("SELECT 1 FROM deliveries WHERE id = ?1")?
                    .query_row([id.as_bytes()], |_| Ok(()))
                    .optional()?;
                Ok(exists.map(|()| false))
            })
            .await?;
        outcome.ok_or(StoreError::NotFound { entity: "delivery" })
    }
}

/// One attempt kept and its delivery moved on, inside the caller's transaction; `None` for an
/// unknown delivery.
fn record_one(
    tx: &rusqlite::Transaction<'_>,
    a: &Attempt,
    p: &DeliveryProgress,
    headers: &[u8],
) -> rusqlite::Result<Option<bool>> {
    let state: Option<String> = tx
        .prepare_cached("SELECT state FROM deliveries WHERE id = ?1")?
        .query_row([a.delivery_id.as_bytes()], |r| r.get(0))
        .optional()?;
    let Some(state) = state else { return Ok(None) };
    let inserted = tx
        .prepare_cached(&format!(
            "INSERT INTO attempts ({ATTEMPT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (delivery_id, number) DO NOTHING"
        ))?
        .execute(rusqlite::params![
            a.delivery_id.as_bytes(),
            a.number,
            a.started_at.micros(),
            i64::try_from(a.latency_ms).unwrap_or(i64::MAX),
            a.response_status,
            headers,
            a.response_body.as_ref(),
            a.response_truncated,
            a.error.map(AttemptError::as_str),
            a.error_message,
        ])?;
    if inserted == 0 || state != DeliveryState::Pending.as_str() {
        return Ok(Some(false));
    }
    tx.prepare_cached(
        "UPDATE deliveries SET state = ?2, attempts = ?3, next_attempt_at = ?4, updated_at = ?5 WHERE id = ?1",
    )?
    .execute(rusqlite::params![
        a.delivery_id.as_bytes(),
        p.state.as_str(),
        p.attempts,
        p.next_attempt_at.map(|t| t.micros()),
        p.updated_at.micros(),
    ])?;
    Ok(Some(true))
}
