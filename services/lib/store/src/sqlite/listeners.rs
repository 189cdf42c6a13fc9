//! Named listeners: cursors, name claims and leases.

use async_trait::async_trait;
use hookmetry_core::{CaptureId, EndpointId, Timestamp, TokenId};
use rusqlite::OptionalExtension;

use super::SqliteStore;
use super::endpoints::endpoint_exists;
use crate::{ListenerClaim, ListenerStore, Result, StoreError};

#[async_trait]
impl ListenerStore for SqliteStore {
    async fn listener_cursor(&self, endpoint: EndpointId, name: &str) -> Result<Option<crate::ListenerCursor>> {
        let name = name.to_owned();
        let row: Option<(Vec<u8>, i64)> = self
            .read("read listener cursor", move |conn| {
                conn.prepare_cached(
                    "SELECT capture_id, updated_at FROM listener_cursors WHERE endpoint_id = ?1 AND name = ?2",
                )?
                .query_row((endpoint.as_bytes(), name), |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
            })
            .await?;
        row.map(|(id, at)| {
            let id: [u8; 16] =
                id.try_into().map_err(|_| StoreError::Corrupt("listener cursor: capture id is not 16 bytes".into()))?;
            Ok(crate::ListenerCursor { capture_id: CaptureId::from_bytes(id), updated_at: Timestamp::from_micros(at) })
        })
        .transpose()
    }

    async fn advance_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        capture: CaptureId,
        at: Timestamp,
    ) -> Result<()> {
        let name = name.to_owned();
        let exists = self
            .write("listener", "advance listener cursor", move |tx| {
                if !endpoint_exists(tx, endpoint)? {
                    return Ok(false);
                }
                // Ids are time-ordered UUIDv7 stored big-endian, so BLOB order is capture order.
                tx.execute(
                    "INSERT INTO listener_cursors (endpoint_id, name, capture_id, updated_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (endpoint_id, name) DO UPDATE SET capture_id = excluded.capture_id, \
                     updated_at = excluded.updated_at WHERE excluded.capture_id > listener_cursors.capture_id",
                    (endpoint.as_bytes(), name, capture.as_bytes(), at.micros()),
                )?;
                Ok(true)
            })
            .await?;
        if exists { Ok(()) } else { Err(StoreError::NotFound { entity: "endpoint" }) }
    }

    /// One write transaction reads the name's owner, counts the endpoint's names and inserts:
    /// claims are serialised by SQLite's single writer, so the limit holds exactly.
    async fn claim_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        owner: TokenId,
        limit: usize,
        at: Timestamp,
    ) -> Result<ListenerClaim> {
        let name = name.to_owned();
        let limit_sql = i64::try_from(limit).unwrap_or(i64::MAX);
        let claim = self
            .write("listener", "claim listener", move |tx| {
                if !endpoint_exists(tx, endpoint)? {
                    return Ok(None);
                }
                let held: Option<[u8; 16]> = tx
                    .prepare_cached("SELECT owner FROM listeners WHERE endpoint_id = ?1 AND name = ?2")?
                    .query_row((endpoint.as_bytes(), &name), |r| r.get(0))
                    .optional()?;
                if let Some(held) = held {
                    let held = TokenId::from_bytes(held);
                    return Ok(Some(if held == owner {
                        ListenerClaim::Owned
                    } else {
                        ListenerClaim::Taken { owner: held }
                    }));
                }
                let names: i64 = tx
                    .prepare_cached("SELECT count(*) FROM listeners WHERE endpoint_id = ?1")?
                    .query_row([endpoint.as_bytes()], |r| r.get(0))?;
                if names >= limit_sql {
                    return Ok(Some(ListenerClaim::Full { limit }));
                }
                tx.prepare_cached(
                    "INSERT INTO listeners (endpoint_id, name, owner, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute((endpoint.as_bytes(), &name, owner.as_bytes(), at.micros()))?;
                Ok(Some(ListenerClaim::Owned))
            })
            .await?;
        claim.ok_or(StoreError::NotFound { entity: "endpoint" })
    }

    /// Read and write in one write transaction: SQLite's single writer serialises two
    /// listeners starting at once, so exactly one gets the lease.
    async fn lease_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        lease: &crate::ListenerLease,
        now: Timestamp,
        takeover: bool,
    ) -> Result<crate::LeaseOutcome> {
        use crate::{LeaseOutcome, ListenerLease};
        let name = name.to_owned();
        let mut lease = lease.clone();
        let outcome = self
            .write("listener", "lease listener", move |tx| {
                if !endpoint_exists(tx, endpoint)? {
                    return Ok(None);
                }
                let current: Option<ListenerLease> = tx
                    .prepare_cached(
                        "SELECT holder, description, acquired_at, expires_at FROM listener_leases \
                         WHERE endpoint_id = ?1 AND name = ?2",
                    )?
                    .query_row((endpoint.as_bytes(), &name), |r| {
                        Ok(ListenerLease {
                            holder: r.get(0)?,
                            description: r.get(1)?,
                            acquired_at: Timestamp::from_micros(r.get(2)?),
                            expires_at: Timestamp::from_micros(r.get(3)?),
                        })
                    })
                    .optional()?;
                match current {
                    Some(c) if c.holder == lease.holder => lease.acquired_at = c.acquired_at,
                    Some(c) if c.expires_at > now && !takeover => return Ok(Some(LeaseOutcome::Busy(c))),
                    _ => {}
                }
                tx.prepare_cached(
                    "INSERT INTO listener_leases (endpoint_id, name, holder, description, acquired_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (endpoint_id, name) DO UPDATE SET \
                     holder = excluded.holder, description = excluded.description, \
                     acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                )?
                .execute((
                    endpoint.as_bytes(),
                    &name,
                    &lease.holder,
                    &lease.description,
                    lease.acquired_at.micros(),
                    lease.expires_at.micros(),
                ))?;
                Ok(Some(LeaseOutcome::Held(lease)))
            })
            .await?;
        outcome.ok_or(StoreError::NotFound { entity: "endpoint" })
    }

    async fn release_listener(&self, endpoint: EndpointId, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write("listener", "release listener", move |tx| {
            tx.prepare_cached("DELETE FROM listener_leases WHERE endpoint_id = ?1 AND name = ?2 AND holder = ?3")?
                .execute((endpoint.as_bytes(), name, holder))?;
            Ok(())
        })
        .await
    }
}
