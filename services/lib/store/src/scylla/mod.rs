//! `Store` on ScyllaDB, for cluster deployments (the `scylla` cargo feature).
//!
//! All CQL lives in [`cql`] (the schema in `migrations/*.cql`); the pure logic (day buckets, TTLs,
//! filters, the paging walk) in `paging`; URL and options in `options`. `migrate` connects and
//! migrates, `statements` prepares every statement once, `rows` maps rows, `errors` classifies
//! driver errors, and one module per kind of data maps the store traits onto the statements. `docs/scylla.md` describes the design
//! for operators; the points that shape the code are:
//!
//! - **Tables follow the queries.** Every read is a single-partition read of one table, except
//!   `teams()` (a scan of a small table) and `has_tokens()` (`LIMIT 1`). Secondary copies
//!   (`*_by_token`, `*_by_hash`, `*_by_team`) hold ids only, so each entity has one mutable row.
//! - **No lightweight transactions on the hot path.** `put_captures` is an upsert keyed by the
//!   capture id; to report how many were new (a processor metric) and to keep the first write
//!   byte-for-byte (a replayed record must not rewrite a capture), it first reads which ids
//!   `captures_by_id` already holds. Two processors racing on the same id both write, but they
//!   write the same log record. Creating teams, tokens and endpoints, and updates that must not
//!   resurrect a deleted row, use LWTs (`IF NOT EXISTS` / `IF EXISTS`): rare, admin-driven.
//!   The exception is an endpoint's counters (`counters`): a response scenario that counts, or a
//!   request cap, costs each request it answers a compare-and-set, so that every ingest node
//!   draws from one count. Endpoints without them pay nothing.
//! - **Write order makes partial writes harmless.** A capture is written to `capture_days`, then
//!   `captures_by_endpoint`, then `captures_by_id`; the last one is what the idempotency check
//!   reads, so a batch that failed halfway is written again in full when the processor retries.
//!   Deletes go the other way round (`captures_by_id` last), so a retried delete finds its rows.
//! - **Retention is a TTL** on every capture row, computed at write time from the team's
//!   retention and the capture's receipt time, so rows disappear without a sweep and
//!   `expire_captures` has nothing to do (it returns 0). A capture already past retention when
//!   it is written (a replay of old log records) is not written at all. Changing a team's
//!   retention applies to captures written afterwards; rows keep the TTL they were written with.
//! - **Leftover rows.** CQL updates are upserts, so a verification result racing a delete could
//!   recreate a row holding nothing but the verdict. Such rows (no `received_at`) read as absent
//!   everywhere, and they carry the capture's remaining TTL, so they also expire.
//! - **Client-side timestamps** from one monotonic generator per handle, so a delete followed by
//!   a re-insert from the same handle (a replay after `delete_capture`) always orders correctly,
//!   whichever coordinators the two requests reach.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ::scylla::client::session::Session;
use async_trait::async_trait;
use hookmetry_core::TeamId;

use self::statements::Statements;
use crate::{Result, StoreError, StoreHealth};

mod captures;
mod counters;
pub mod cql;
mod deliveries;
mod endpoints;
mod errors;
mod expiry;
mod listeners;
mod options;
mod paging;
mod requests;
mod rows;
mod schema;
mod shapes;
mod statements;
mod teams;

pub use options::{
    DEFAULT_KEYSPACE, DEFAULT_MAX_ROWS_EXAMINED, DEFAULT_PORT, DEFAULT_REPLICATION_FACTOR, OptionsError, Replication,
    ScyllaOptions, parse_consistency,
};
pub use paging::{capture_day, capture_ttl, day_marker_ttl, day_of_micros};

/// A cheap-to-clone handle on a ScyllaDB keyspace.
#[derive(Clone)]
pub struct ScyllaStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    st: Statements,
    options: ScyllaOptions,
    retention: Mutex<HashMap<TeamId, (u32, Instant)>>,
}

impl fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("nodes", &self.inner.options.nodes)
            .field("keyspace", &self.inner.options.keyspace)
            .field("consistency", &self.inner.options.consistency)
            .finish_non_exhaustive()
    }
}

impl ScyllaStore {
    /// Connects, migrates the schema when `options.migrate` is set (otherwise checks that it is
    /// at this build's version), and prepares every statement.
    pub async fn open(options: ScyllaOptions) -> Result<Self> {
        let session = schema::connect(&options).await?;
        if options.migrate {
            schema::migrate(&session, &options).await?;
        } else {
            schema::use_keyspace(&session, &options).await?;
            let version = schema::schema_version(&session).await?;
            if version != schema::latest_version() {
                return Err(StoreError::Backend(format!(
                    "keyspace {} is at schema version {version}, this build needs {}: run the migration \
                     (`hookmetry migrate`, or open the store with migrate=true)",
                    options.keyspace,
                    schema::latest_version()
                )));
            }
        }
        let mut st = Statements::prepare(&session).await?;
        // A counter's bump compares against this read: it must see every committed bump.
        st.select_counter.set_consistency(options.serial_read_consistency());
        Ok(Self { inner: Arc::new(Inner { session, st, options, retention: Mutex::default() }) })
    }

    /// Creates the keyspace (when `options.create_keyspace`) and brings the schema to this
    /// build's version. Idempotent; safe to run on every start, but run it from one place at a
    /// time (older ScyllaDB and Cassandra versions do not serialise concurrent schema changes).
    /// Returns the schema version now in place.
    pub async fn migrate(options: &ScyllaOptions) -> Result<u32> {
        let session = schema::connect(options).await?;
        schema::migrate(&session, options).await
    }

    pub fn options(&self) -> &ScyllaOptions {
        &self.inner.options
    }

    /// The schema version this build creates and expects.
    pub fn schema_version() -> u32 {
        schema::latest_version()
    }
}

#[async_trait]
impl StoreHealth for ScyllaStore {
    async fn health(&self) -> Result<()> {
        let s = &*self.inner;
        s.one::<(Option<i32>,)>(&s.st.select_schema_version, (), "health check").await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn opening_an_unreachable_cluster_is_unavailable() {
        // Port 1 on loopback refuses at once; no server is needed to see the error path.
        let mut options = ScyllaOptions::new(vec!["127.0.0.1:1".into()], "hookmetry").unwrap();
        options.request_timeout = Duration::from_secs(2);
        let err = ScyllaStore::open(options).await.unwrap_err();
        assert!(matches!(&err, StoreError::Unavailable(m) if m.contains("127.0.0.1:1")), "{err:?}");
    }
}
