//! Captures and their verification results, and retention.

use std::collections::HashMap;

use async_trait::async_trait;
use hookmetry_core::{
    Answered, CaptureId, CapturedRequest, EndpointId, EventGroup, GroupMember, Timestamp, Verification,
};
use rusqlite::OptionalExtension;
use rusqlite::types::Type;

use super::error::{corrupt, found};
use super::headers::encode_headers;
use super::rows::{
    CAPTURE_COLUMN_COUNT, CAPTURE_COLUMNS, CAPTURE_COLUMNS_WITHOUT_BODY, CAPTURE_INSERT_COLUMNS, capture_from_row,
};
use super::{SqliteStore, Sync};
use crate::{CaptureList, CapturePage, CaptureStore, Result, TeamStore};

#[cfg(test)]
mod tests;

/// Retention deletes this many captures per write transaction, so other writers (the processor)
/// are never held up for long by a large expiry.
const EXPIRE_BATCH: i64 = 2_000;

/// Deliveries and attempts whose capture is gone (deleted or expired), removed with it.
pub(super) const DELETE_ORPHAN_DELIVERIES: &str = "
    DELETE FROM attempts WHERE delivery_id IN
        (SELECT id FROM deliveries WHERE capture_id NOT IN (SELECT id FROM captures));
    DELETE FROM deliveries WHERE capture_id NOT IN (SELECT id FROM captures);";

/// The parts of a result's event that have columns of their own (filters, groups, ordering).
#[derive(Default)]
struct EventColumns {
    kind: Option<String>,
    id: Option<String>,
    created_at: Option<i64>,
    resource: Option<String>,
}

impl EventColumns {
    fn of(e: &hookmetry_core::CaptureEvent) -> Self {
        EventColumns {
            kind: e.kind.clone(),
            id: e.id.clone(),
            created_at: e.created_at.map(|t| t.micros()),
            resource: e.resource.clone(),
        }
    }
}

impl SqliteStore {
    /// One transaction: each new capture is inserted with its result, so the row (body and all)
    /// is written once, not inserted and then rewritten by an update.
    async fn insert_captures(
        &self,
        sync: Sync,
        captures: &[CapturedRequest],
        results: &[(CaptureId, Verification)],
    ) -> Result<usize> {
        if captures.is_empty() && results.is_empty() {
            return Ok(0);
        }
        // Bodies are `Bytes`, so these clones share the buffers rather than copying them.
        let rows = captures.iter().map(|c| Ok((c.clone(), encode_headers(&c.headers)?))).collect::<Result<Vec<_>>>()?;
        let mut pending = results
            .iter()
            .map(|(id, v)| {
                crate::verification_codec::encode(v)
                    .map(|(verdict, json)| (*id, (verdict, json, EventColumns::of(&v.event))))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        self.write_with(sync, "capture", "store captures", move |tx| {
            // `ON CONFLICT (id) DO NOTHING` rather than `INSERT OR IGNORE`, which would also drop
            // rows that violate NOT NULL instead of reporting them.
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO captures ({CAPTURE_INSERT_COLUMNS}, verdict, verification, event_type, event_id, \
                 event_created_at, event_resource) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, \
                 ?21, ?22, ?23) \
                 ON CONFLICT (id) DO NOTHING"
            ))?;
            let mut insert_body = tx.prepare_cached("INSERT INTO capture_bodies (capture_id, body) VALUES (?1, ?2)")?;
            let mut new = 0;
            for (c, headers) in &rows {
                let result = pending.remove(&c.id);
                let none = EventColumns::default();
                let (verdict, json, event) = match &result {
                    Some((v, j, e)) => (Some(*v), Some(j.as_str()), e),
                    None => (None, None, &none),
                };
                let inserted = insert.execute(rusqlite::params![
                    c.id.as_bytes(),
                    c.endpoint_id.as_bytes(),
                    c.team_id.as_bytes(),
                    &c.method,
                    &c.path,
                    &c.query,
                    headers,
                    c.body.len() as i64,
                    c.body_sha256,
                    &c.remote_addr,
                    &c.http_version,
                    c.received_at.micros(),
                    c.answered.as_ref().map(|a| a.status),
                    c.answered.as_ref().map(|a| a.delay_ms),
                    c.answered.as_ref().and_then(|a| a.rule_id.as_deref()),
                    c.answered.as_ref().and_then(|a| a.step).map(|n| n.min(i64::MAX as u64) as i64),
                    c.answered.as_ref().and_then(|a| a.timed_out.then_some(true)),
                    verdict,
                    json,
                    event.kind,
                    event.id,
                    event.created_at,
                    event.resource,
                ])?;
                new += inserted;
                match (inserted, result) {
                    // A capture already stored (the log redelivered it) has its body already;
                    // its result replaces the old one below.
                    (0, Some(result)) => {
                        pending.insert(c.id, result);
                    }
                    (0, None) => {}
                    _ => {
                        insert_body.execute((c.id.as_bytes(), c.body.as_ref()))?;
                    }
                }
            }
            if !pending.is_empty() {
                let mut update = tx.prepare_cached(
                    "UPDATE captures SET verdict = ?2, verification = ?3, event_type = ?4, event_id = ?5, \
                     event_created_at = ?6, event_resource = ?7 WHERE id = ?1",
                )?;
                for (id, (verdict, json, e)) in &pending {
                    update.execute((id.as_bytes(), verdict, json, &e.kind, &e.id, e.created_at, &e.resource))?;
                }
            }
            Ok(new)
        })
        .await
    }
}

#[async_trait]
impl CaptureStore for SqliteStore {
    async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize> {
        self.insert_captures(Sync::Full, captures, &[]).await
    }

    async fn put_checked_captures(
        &self,
        captures: &[CapturedRequest],
        results: &[(CaptureId, Verification)],
    ) -> Result<usize> {
        self.insert_captures(Sync::Normal, captures, results).await
    }

    async fn sync_captures(&self) -> Result<()> {
        self.sync_wal().await
    }

    async fn capture(&self, id: CaptureId) -> Result<Option<CapturedRequest>> {
        self.read("read capture", move |conn| {
            conn.prepare_cached(&format!("SELECT {CAPTURE_COLUMNS} FROM captures WHERE id = ?1"))?
                .query_row([id.as_bytes()], capture_from_row)
                .optional()
        })
        .await
    }

    async fn captures(&self, endpoint: EndpointId, page: &CapturePage) -> Result<CaptureList> {
        let limit = page.limit as usize;
        let (sql, params) = listing(endpoint, page);
        self.read("list captures", move |conn| {
            let mut rows = conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(params), |r| {
                    let size: i64 = r.get(CAPTURE_COLUMN_COUNT)?;
                    let size = u64::try_from(size).map_err(|e| corrupt(CAPTURE_COLUMN_COUNT, Type::Integer, e))?;
                    Ok((capture_from_row(r)?, size))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let has_more = rows.len() > limit;
            rows.truncate(limit);
            let (items, body_sizes) = rows.into_iter().unzip();
            Ok(CaptureList { items, has_more, body_sizes })
        })
        .await
    }

    async fn put_verifications(&self, results: &[(CaptureId, Verification)]) -> Result<()> {
        // Durable when it returns: it answers whoever asked for a re-verification.
        self.insert_captures(Sync::Full, &[], results).await.map(drop)
    }

    async fn event_group(&self, endpoint: EndpointId, event_id: &str, limit: usize) -> Result<EventGroup> {
        let event_id = event_id.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (total, rows) = self
            .read("read event group", move |conn| {
                let total: i64 = conn
                    .prepare_cached("SELECT count(*) FROM captures WHERE endpoint_id = ?1 AND event_id = ?2")?
                    .query_row((endpoint.as_bytes(), &event_id), |r| r.get(0))?;
                let rows = conn
                    .prepare_cached(
                        "SELECT id, received_at, answered_status, answered_delay_ms, verdict, verification \
                         FROM captures WHERE endpoint_id = ?1 AND event_id = ?2 ORDER BY id LIMIT ?3",
                    )?
                    .query_map((endpoint.as_bytes(), &event_id, limit), |r| {
                        Ok((
                            r.get::<_, [u8; 16]>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<u16>>(2)?,
                            r.get::<_, Option<u32>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((total, rows))
            })
            .await?;
        let mut members = Vec::with_capacity(rows.len());
        for (id, received_at, status, delay, verdict, json) in rows {
            let event = match (verdict, json) {
                (Some(v), Some(j)) => crate::verification_codec::decode(&v, &j)?.event,
                _ => Default::default(),
            };
            members.push(GroupMember {
                id: CaptureId::from_bytes(id),
                received_at: Timestamp::from_micros(received_at),
                answered: status.map(|status| Answered::plain(status, delay.unwrap_or(0))),
                attempt: event.attempt,
                retry_reason: event.retry_reason,
            });
        }
        Ok(EventGroup { total: u64::try_from(total).unwrap_or(0), members })
    }

    async fn previous_of_events(
        &self,
        keys: &[(EndpointId, String, CaptureId)],
    ) -> Result<Vec<Option<(CaptureId, Option<Answered>)>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.read("read previous captures of events", move |conn| {
            // The event id index, newest first from the capture: one row per key.
            let mut previous = conn.prepare_cached(
                "SELECT id, answered_status, answered_delay_ms FROM captures \
                 WHERE endpoint_id = ?1 AND event_id = ?2 AND id < ?3 ORDER BY id DESC LIMIT 1",
            )?;
            keys.iter()
                .map(|(endpoint, event_id, capture)| {
                    previous
                        .query_row((endpoint.as_bytes(), event_id, capture.as_bytes()), |r| {
                            let status: Option<u16> = r.get(1)?;
                            let delay: Option<u32> = r.get(2)?;
                            Ok((
                                CaptureId::from_bytes(r.get(0)?),
                                status.map(|status| Answered::plain(status, delay.unwrap_or(0))),
                            ))
                        })
                        .optional()
                })
                .collect()
        })
        .await
    }

    async fn newest_event_before(
        &self,
        endpoint: EndpointId,
        resource: &str,
        before: CaptureId,
    ) -> Result<Option<(CaptureId, Timestamp)>> {
        let resource = resource.to_string();
        let row = self
            .read("read newest event of a resource", move |conn| {
                // Newest creation time first, through the resource index; the first row received
                // before `before` is the answer.
                conn.prepare_cached(
                    "SELECT id, event_created_at FROM captures \
                     WHERE endpoint_id = ?1 AND event_resource = ?2 AND event_created_at IS NOT NULL AND id < ?3 \
                     ORDER BY event_created_at DESC LIMIT 1",
                )?
                .query_row((endpoint.as_bytes(), &resource, before.as_bytes()), |r| {
                    Ok((r.get::<_, [u8; 16]>(0)?, r.get::<_, i64>(1)?))
                })
                .optional()
            })
            .await?;
        Ok(row.map(|(id, at)| (CaptureId::from_bytes(id), Timestamp::from_micros(at))))
    }

    async fn verification(&self, id: CaptureId) -> Result<Option<Verification>> {
        let row = self
            .read("read verification", move |conn| {
                conn.prepare_cached("SELECT verdict, verification FROM captures WHERE id = ?1")?
                    .query_row([id.as_bytes()], |r| {
                        Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?))
                    })
                    .optional()
            })
            .await?;
        let Some((Some(verdict), Some(json))) = row else { return Ok(None) };
        crate::verification_codec::decode(&verdict, &json).map(Some)
    }

    async fn verifications(&self, ids: &[CaptureId]) -> Result<std::collections::HashMap<CaptureId, Verification>> {
        let ids: Vec<[u8; 16]> = ids.iter().map(|id| *id.as_bytes()).collect();
        let rows = self
            .read("read verifications", move |conn| {
                let mut rows = Vec::with_capacity(ids.len());
                // Well below SQLite's limit on bound parameters per statement.
                for chunk in ids.chunks(500) {
                    let marks = vec!["?"; chunk.len()].join(",");
                    let sql = format!(
                        "SELECT id, verdict, verification FROM captures \
                         WHERE id IN ({marks}) AND verdict IS NOT NULL AND verification IS NOT NULL"
                    );
                    let mut st = conn.prepare(&sql)?;
                    let found = st.query_map(rusqlite::params_from_iter(chunk.iter().map(|b| &b[..])), |r| {
                        Ok((r.get::<_, [u8; 16]>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                    })?;
                    for row in found {
                        rows.push(row?);
                    }
                }
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|(id, verdict, json)| {
                Ok((CaptureId::from_bytes(id), crate::verification_codec::decode(&verdict, &json)?))
            })
            .collect()
    }

    async fn delete_capture(&self, id: CaptureId) -> Result<()> {
        let changed = self
            .write("capture", "delete capture", move |tx| {
                let n = tx.execute("DELETE FROM captures WHERE id = ?1", [id.as_bytes()])?;
                tx.execute(
                    "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE capture_id = ?1)",
                    [id.as_bytes()],
                )?;
                tx.execute("DELETE FROM deliveries WHERE capture_id = ?1", [id.as_bytes()])?;
                Ok(n)
            })
            .await?;
        found(changed, "capture")
    }

    async fn expire_captures(&self, now: Timestamp) -> Result<u64> {
        let teams = self.teams().await?;
        let mut deleted = 0u64;
        for team in teams {
            let cutoff = now.micros().saturating_sub(i64::from(team.retention_days) * 86_400_000_000);
            loop {
                let n = self
                    .write("capture", "expire captures", move |tx| {
                        tx.execute(
                            "DELETE FROM captures WHERE rowid IN (SELECT rowid FROM captures \
                             WHERE team_id = ?1 AND received_at < ?2 LIMIT ?3)",
                            (team.id.as_bytes(), cutoff, EXPIRE_BATCH),
                        )
                    })
                    .await?;
                deleted += n as u64;
                if (n as i64) < EXPIRE_BATCH {
                    break;
                }
            }
        }
        if deleted > 0 {
            self.write("delivery", "expire deliveries", |tx| tx.execute_batch(DELETE_ORPHAN_DELIVERIES)).await?;
        }
        Ok(deleted)
    }
}

/// The query of one page of an endpoint's captures, newest first, and its parameters. Without
/// bodies and without `body_contains` it reads only `captures` rows and indexes, never
/// `capture_bodies` (`tests::listings_never_open_the_bodies_table` holds it to that); the body
/// of a listed capture is fetched in the select list, so only for the rows returned.
fn listing(endpoint: EndpointId, page: &CapturePage) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let columns = if page.without_bodies { CAPTURE_COLUMNS_WITHOUT_BODY } else { CAPTURE_COLUMNS };
    // Conditions are appended with their parameters in step, so the SQL text only ever contains
    // fixed fragments and every user value is bound.
    let mut sql = format!("SELECT {columns}, body_size FROM captures WHERE endpoint_id = ?");
    let mut params: Vec<Value> = vec![Value::Blob(endpoint.as_bytes().to_vec())];
    if let Some(before) = page.before {
        sql.push_str(" AND id < ?");
        params.push(Value::Blob(before.as_bytes().to_vec()));
    }
    let f = &page.filter;
    if let Some(method) = &f.method {
        sql.push_str(" AND method = ?");
        params.push(Value::Text(method.clone()));
    }
    if let Some(from) = f.received_from {
        sql.push_str(" AND received_at >= ?");
        params.push(Value::Integer(from.micros()));
    }
    if let Some(until) = f.received_until {
        sql.push_str(" AND received_at < ?");
        params.push(Value::Integer(until.micros()));
    }
    if let Some(prefix) = &f.path_prefix {
        // instr() gives the first occurrence, so 1 means "starts with"; no LIKE escaping.
        sql.push_str(" AND instr(path, ?) = 1");
        params.push(Value::Text(prefix.clone()));
    }
    if let Some(h) = &f.header {
        sql.push_str(" AND hm_header_match(headers, ?, ?)");
        params.push(Value::Text(h.name.clone()));
        params.push(Value::Blob(h.value_contains.clone()));
    }
    if let Some(verdict) = f.verdict {
        sql.push_str(" AND verdict = ?");
        params.push(Value::Text(verdict.as_str().to_string()));
    }
    if let Some(pattern) = &f.event_type {
        // Without a `*` an equality the type index answers; with one, the same matcher forwarding
        // rules and `listen --events` use, over the rows that have a type.
        if pattern.contains('*') {
            sql.push_str(" AND event_type IS NOT NULL AND hm_event_type_match(?, event_type)");
        } else {
            sql.push_str(" AND event_type = ?");
        }
        params.push(Value::Text(pattern.clone()));
    }
    if let Some(id) = &f.event_id {
        sql.push_str(" AND event_id = ?");
        params.push(Value::Text(id.clone()));
    }
    if let Some(needle) = f.body_contains.as_ref().filter(|n| !n.is_empty()) {
        // The one filter that must read bodies: each candidate's, one at a time while the scan
        // goes, after the conditions above. instr() on two blobs compares bytes, so binary
        // needles and bodies work.
        sql.push_str(" AND instr((SELECT body FROM capture_bodies WHERE capture_id = captures.id), ?) > 0");
        params.push(Value::Blob(needle.clone()));
    }
    // One row past the page tells whether there is more.
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    params.push(Value::Integer(i64::from(page.limit) + 1));
    (sql, params)
}
