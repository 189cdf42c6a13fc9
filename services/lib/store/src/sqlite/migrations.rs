//! The SQLite schema, one `.sql` file per version, and the runner that brings a file up to date.
//! The version a file is at is SQLite's `user_version`.

use rusqlite::{Connection, TransactionBehavior};

use super::error::sql_error;
use crate::{Result, StoreError};

/// `MIGRATIONS[i]` takes the schema from `user_version` i to i + 1. Append only: a released
/// migration never changes.
const MIGRATIONS: &[&str] = &[
    // Version 1. Ids are 16-byte UUID blobs, timestamps are INTEGER microseconds since the epoch.
    // Captures carry no foreign key: the processor replays them from the log, and a capture of an
    // endpoint deleted meanwhile must not fail the batch forever.
    include_str!("migrations/0001_initial.sql"),
    // Version 2: retention deletes by team and age.
    include_str!("migrations/0002_captures_by_team_age.sql"),
    // Version 3: signature verification. Settings are JSON (secrets included: they must be
    // usable to compute HMACs, so they cannot be hashed like tokens). A capture's verdict has its
    // own column because captures are filtered by it; the rest of the result is JSON.
    include_str!("migrations/0003_verification.sql"),
    // Version 4: deliveries (a capture sent to a target) and their attempts. The request is
    // stored as sent, edits and re-signing applied. Pending deliveries are indexed by due time so
    // a restarted replay worker finds its scheduled retries.
    include_str!("migrations/0004_deliveries.sql"),
    // Version 5: forwarding rules per endpoint, as JSON, beside the endpoint row rather than in
    // it: only the processor and the rule editor read them.
    include_str!("migrations/0005_forwarding_rules.sql"),
    // Version 6: where each named `hookmetry listen` of an endpoint stands, so it can deliver
    // what arrived while it was offline. One row per listener, moved forward only.
    include_str!("migrations/0006_listener_cursors.sql"),
    // Version 7: the W3C `traceparent` of the span that made a delivery, so every attempt (also
    // one a scan starts after a restart) continues the trace. NULL when traces are not exported.
    include_str!("migrations/0007_delivery_trace_parent.sql"),
    // Version 8: which token holds each listener name of an endpoint, so one token of a team
    // cannot move the cursor of a listener another token started. Claimed once, never moved.
    include_str!("migrations/0008_listeners.sql"),
    // Version 9: which `hookmetry listen` process runs each named listener, until when, so a
    // second one with the same name is refused instead of delivering everything twice.
    include_str!("migrations/0009_listener_leases.sql"),
    // Version 10: bodies in their own table (`capture_bodies`, keyed by capture id, written in
    // the same transaction), so listings, which read captures rows, read no body bytes; plus
    // indexes for the method and verdict filters.
    include_str!("migrations/0010_capture_bodies.sql"),
    // Version 11: event identity. The type and id a capture's provider names get columns and
    // indexes (filters, redelivery groups); an endpoint's custom event fields are JSON.
    include_str!("migrations/0011_capture_events.sql"),
    // Version 12: response scenarios, request caps and expiry of endpoints; which rule answered
    // each capture; per-endpoint counters.
    include_str!("migrations/0012_scenarios.sql"),
    // Version 13: deliveries that retry on a provider's documented schedule (`retryLike`): the
    // provider id and the speed its waits are divided by; NULL for the instance's backoff.
    include_str!("migrations/0013_delivery_retry_like.sql"),
];

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let context = |e| sql_error("", "migrate schema", e);
    // IMMEDIATE, so two processes opening a fresh file at once migrate it once, one after the
    // other, and the second sees the first's `user_version`.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(context)?;
    let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(context)?;
    if version > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "database schema version {version} is newer than this build supports ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql).map_err(context)?;
        tx.pragma_update(None, "user_version", i + 1).map_err(context)?;
    }
    tx.commit().map_err(context)
}
