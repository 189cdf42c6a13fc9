//! Endpoints and their forwarding rules.

use async_trait::async_trait;
use hookmetry_core::{Endpoint, EndpointId, ForwardingRule, TeamId, Timestamp};
use rusqlite::{OptionalExtension, Transaction};

use super::SqliteStore;
use super::captures::DELETE_ORPHAN_DELIVERIES;
use super::error::found;
use super::rows::{
    ENDPOINT_COLUMNS, endpoint_from_row, event_fields_json, response_json, scenario_json, verification_json,
};
use crate::{EndpointStore, Result, StoreError};

/// What an endpoint update found.
enum Rename {
    Done,
    NotFound,
    Taken,
}

/// Whether an endpoint of `team` other than `except` is named `name`.
fn name_taken(tx: &Transaction<'_>, team: &TeamId, name: &str, except: &EndpointId) -> rusqlite::Result<bool> {
    name_taken_in(tx, team.as_bytes(), name, except)
}

fn name_taken_in(tx: &Transaction<'_>, team: &[u8], name: &str, except: &EndpointId) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM endpoints WHERE team_id = ?1 AND name = ?2 AND id <> ?3)")?
        .query_row((team, name, except.as_bytes()), |r| r.get(0))
}

/// Whether `endpoint` exists, read in the caller's write transaction so that what it writes
/// next cannot outlive a concurrent delete of the endpoint.
pub(super) fn endpoint_exists(tx: &Transaction<'_>, endpoint: EndpointId) -> rusqlite::Result<bool> {
    let found = tx
        .prepare_cached("SELECT 1 FROM endpoints WHERE id = ?1")?
        .query_row([endpoint.as_bytes()], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

#[async_trait]
impl EndpointStore for SqliteStore {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let response = response_json(endpoint)?;
        let verification = verification_json(endpoint)?;
        let event_fields = event_fields_json(endpoint)?;
        let scenario = scenario_json(endpoint)?;
        let e = endpoint.clone();
        // The name check and the insert share one IMMEDIATE transaction: no other writer can
        // take the name in between.
        let created = self
            .write("endpoint", "create endpoint", move |tx| {
                if name_taken(tx, &e.team_id, &e.name, &e.id)? {
                    return Ok(false);
                }
                tx.execute(
                    &format!("INSERT INTO endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                    (
                        e.id.as_bytes(),
                        e.team_id.as_bytes(),
                        &e.name,
                        &e.token,
                        response,
                        e.created_at.micros(),
                        verification,
                        e.handshakes,
                        event_fields,
                        scenario,
                        e.max_captures.map(|n| n.min(i64::MAX as u64) as i64),
                        e.expires_at.map(|t| t.micros()),
                    ),
                )?;
                Ok(true)
            })
            .await?;
        if created { Ok(()) } else { Err(StoreError::NameTaken { name: endpoint.name.clone() }) }
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let response = response_json(endpoint)?;
        let verification = verification_json(endpoint)?;
        let event_fields = event_fields_json(endpoint)?;
        let scenario = scenario_json(endpoint)?;
        let (id, name, handshakes) = (endpoint.id, endpoint.name.clone(), endpoint.handshakes);
        let max_captures = endpoint.max_captures.map(|n| n.min(i64::MAX as u64) as i64);
        let expires_at = endpoint.expires_at.map(|t| t.micros());
        let outcome = self
            .write("endpoint", "update endpoint", move |tx| {
                // The stored team, not the caller's: an update does not move an endpoint.
                let stored: Option<(Vec<u8>, String)> = tx
                    .query_row("SELECT team_id, name FROM endpoints WHERE id = ?1", [id.as_bytes()], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                let Some((team, old_name)) = stored else { return Ok(Rename::NotFound) };
                if old_name != name && name_taken_in(tx, &team, &name, &id)? {
                    return Ok(Rename::Taken);
                }
                tx.execute(
                    "UPDATE endpoints SET name = ?2, response = ?3, verification = ?4, handshakes = ?5, \
                     event_fields = ?6, scenario = ?7, max_captures = ?8, expires_at = ?9 WHERE id = ?1",
                    rusqlite::params![
                        id.as_bytes(),
                        &name,
                        response,
                        verification,
                        handshakes,
                        event_fields,
                        scenario,
                        max_captures,
                        expires_at
                    ],
                )?;
                Ok(Rename::Done)
            })
            .await?;
        match outcome {
            Rename::Done => Ok(()),
            Rename::NotFound => Err(StoreError::NotFound { entity: "endpoint" }),
            Rename::Taken => Err(StoreError::NameTaken { name: endpoint.name.clone() }),
        }
    }

    async fn delete_endpoint(&self, id: EndpointId) -> Result<()> {
        let deleted = self
            .write("endpoint", "delete endpoint", move |tx| {
                let deleted = tx.execute("DELETE FROM endpoints WHERE id = ?1", [id.as_bytes()])?;
                tx.execute("DELETE FROM captures WHERE endpoint_id = ?1", [id.as_bytes()])?;
                tx.execute("DELETE FROM forwarding_rules WHERE endpoint_id = ?1", [id.as_bytes()])?;
                tx.execute("DELETE FROM endpoint_counters WHERE endpoint_id = ?1", [id.as_bytes()])?;
                tx.execute_batch(DELETE_ORPHAN_DELIVERIES)?;
                Ok(deleted)
            })
            .await?;
        found(deleted, "endpoint")
    }

    async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>> {
        self.read("read endpoint", move |conn| {
            conn.prepare_cached(&format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE id = ?1"))?
                .query_row([id.as_bytes()], endpoint_from_row)
                .optional()
        })
        .await
    }

    async fn endpoint_by_token(&self, token: &str) -> Result<Option<Endpoint>> {
        let token = token.to_owned();
        self.read("read endpoint by token", move |conn| {
            conn.prepare_cached(&format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE token = ?1"))?
                .query_row([token], endpoint_from_row)
                .optional()
        })
        .await
    }

    async fn endpoints(&self, team: TeamId) -> Result<Vec<Endpoint>> {
        self.read("list endpoints", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE team_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([team.as_bytes()], endpoint_from_row)?
            .collect()
        })
        .await
    }

    async fn set_forwarding_rules(&self, endpoint: EndpointId, rules: &[ForwardingRule]) -> Result<()> {
        let json = (!rules.is_empty()).then(|| crate::rules_to_json(rules)).transpose()?;
        let exists = self
            .write("endpoint", "set forwarding rules", move |tx| {
                if !endpoint_exists(tx, endpoint)? {
                    return Ok(false);
                }
                match json {
                    Some(json) => tx.execute(
                        "INSERT INTO forwarding_rules (endpoint_id, rules) VALUES (?1, ?2) \
                         ON CONFLICT (endpoint_id) DO UPDATE SET rules = excluded.rules",
                        (endpoint.as_bytes(), json),
                    )?,
                    None => tx.execute("DELETE FROM forwarding_rules WHERE endpoint_id = ?1", [endpoint.as_bytes()])?,
                };
                Ok(true)
            })
            .await?;
        if exists { Ok(()) } else { Err(StoreError::NotFound { entity: "endpoint" }) }
    }

    async fn forwarding_rules(&self, endpoint: EndpointId) -> Result<Vec<ForwardingRule>> {
        let json: Option<String> = self
            .read("read forwarding rules", move |conn| {
                conn.prepare_cached("SELECT rules FROM forwarding_rules WHERE endpoint_id = ?1")?
                    .query_row([endpoint.as_bytes()], |r| r.get(0))
                    .optional()
            })
            .await?;
        json.map_or(Ok(Vec::new()), |j| crate::rules_from_json(&j))
    }

    async fn bump_counter(&self, endpoint: EndpointId, key: &str) -> Result<u64> {
        let key = key.to_owned();
        let n = self
            .write("endpoint", "bump endpoint counter", move |tx| {
                if !endpoint_exists(tx, endpoint)? {
                    return Ok(None);
                }
                let n: i64 = tx
                    .prepare_cached(
                        "INSERT INTO endpoint_counters (endpoint_id, key, n) VALUES (?1, ?2, 1) \
                         ON CONFLICT (endpoint_id, key) DO UPDATE SET n = n + 1 RETURNING n",
                    )?
                    .query_row((endpoint.as_bytes(), &key), |r| r.get(0))?;
                Ok(Some(n))
            })
            .await?;
        n.map(|n| n.max(0) as u64).ok_or(StoreError::NotFound { entity: "endpoint" })
    }

    async fn counters(&self, endpoint: EndpointId) -> Result<Vec<(String, u64)>> {
        self.read("read endpoint counters", move |conn| {
            conn.prepare_cached("SELECT key, n FROM endpoint_counters WHERE endpoint_id = ?1 AND n > 0 ORDER BY key")?
                .query_map([endpoint.as_bytes()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?
                .collect()
        })
        .await
    }

    async fn reset_counters(&self, endpoint: EndpointId, prefix: &str) -> Result<()> {
        let prefix = prefix.to_owned();
        self.write("endpoint", "reset endpoint counters", move |tx| {
            // `substr` rather than LIKE: rule ids may contain `_`, which LIKE reads as a wildcard.
            tx.execute(
                "DELETE FROM endpoint_counters WHERE endpoint_id = ?1 AND substr(key, 1, length(?2)) = ?2",
                (endpoint.as_bytes(), &prefix),
            )?;
            Ok(())
        })
        .await
    }

    async fn expired_endpoints(&self, now: Timestamp, limit: usize) -> Result<Vec<Endpoint>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("list expired endpoints", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM endpoints WHERE expires_at IS NOT NULL AND expires_at <= ?1 \
                 ORDER BY expires_at LIMIT ?2"
            ))?
            .query_map((now.micros(), limit), endpoint_from_row)?
            .collect()
        })
        .await
    }
}
