//! `Store` on ScyllaDB, for cluster deployments (the `scylla` cargo feature).
//!
//! All CQL lives in [`cql`]; the pure logic (day buckets, TTLs, filters, the paging walk) in
//! `paging`; URL and options in `options`. This module connects, migrates, prepares every
//! statement once, and maps the `Store` methods onto them. `docs/scylla.md` describes the design
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

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ::scylla::DeserializeRow;
use ::scylla::client::Compression;
use ::scylla::client::execution_profile::ExecutionProfile;
use ::scylla::client::session::Session;
use ::scylla::client::session_builder::SessionBuilder;
use ::scylla::deserialize::row::DeserializeRow as DeserializeRowTrait;
use ::scylla::errors::{
    DbError, ExecutionError, IntoRowsResultError, NewSessionError, PrepareError, RequestAttemptError, RowsError,
    UseKeyspaceError,
};
use ::scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use ::scylla::response::PagingState;
use ::scylla::response::query_result::{QueryResult, QueryRowsResult};
use ::scylla::serialize::row::SerializeRow;
use ::scylla::statement::prepared::PreparedStatement;
use ::scylla::value::{CqlValue, Row};
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use hookmetry_core::{
    ApiToken, Attempt, CaptureId, CapturedRequest, CustomResponse, Delivery, DeliveryId, DeliveryState, Endpoint,
    EndpointId, ForwardingRule, Header, OutgoingRequest, Role, Team, TeamId, Timestamp, TokenHash, TokenId,
    Verification, VerificationSettings,
};
use uuid::Uuid;

use crate::{CaptureList, CapturePage, DeliveryProgress, Result, Store, StoreError};

pub mod cql;
mod options;
mod paging;

pub use options::{
    DEFAULT_KEYSPACE, DEFAULT_MAX_ROWS_EXAMINED, DEFAULT_PORT, DEFAULT_REPLICATION_FACTOR, OptionsError, Replication,
    ScyllaOptions, parse_consistency,
};
pub use paging::{capture_day, capture_ttl, day_marker_ttl, day_of_micros};

/// Requests one store call keeps in flight at once (existence checks and writes of a batch,
/// lookups of a team's tokens or endpoints).
const CONCURRENCY: usize = 32;
/// How long a team's retention is cached for `put_captures`. `set_retention` on this handle
/// updates the cache at once; other processes see a change within this time.
const RETENTION_CACHE_TTL: Duration = Duration::from_secs(60);
/// Retention applied to a capture whose team cannot be found (the default of new teams), so
/// such a row still expires.
const UNKNOWN_TEAM_RETENTION_DAYS: u32 = 30;
/// Days read from `capture_days` at a time when deleting an endpoint.
const DELETE_DAYS_PER_READ: i32 = 1_000;

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

/// Declares the prepared statements: one field per `cql` constant.
macro_rules! statements {
    ($($field:ident = $cql:ident,)*) => {
        struct Statements {
            $($field: PreparedStatement,)*
        }

        impl Statements {
            async fn prepare(session: &Session) -> Result<Self> {
                Ok(Self { $($field: prepare(session, cql::$cql).await?,)* })
            }
        }

        #[cfg(test)]
        const PREPARED: &[&str] = &[$(cql::$cql,)*];
    };
}

statements! {
    select_schema_version = SELECT_SCHEMA_VERSION,
    insert_team = INSERT_TEAM,
    select_team = SELECT_TEAM,
    select_teams = SELECT_TEAMS,
    update_retention = UPDATE_RETENTION,
    insert_token_hash = INSERT_TOKEN_HASH,
    delete_token_hash = DELETE_TOKEN_HASH,
    insert_token = INSERT_TOKEN,
    insert_token_by_team = INSERT_TOKEN_BY_TEAM,
    select_token = SELECT_TOKEN,
    select_token_id_by_hash = SELECT_TOKEN_ID_BY_HASH,
    select_token_ids_by_team = SELECT_TOKEN_IDS_BY_TEAM,
    touch_token = TOUCH_TOKEN,
    revoke_token = REVOKE_TOKEN,
    any_token = ANY_TOKEN,
    insert_endpoint_token = INSERT_ENDPOINT_TOKEN,
    delete_endpoint_token = DELETE_ENDPOINT_TOKEN,
    insert_endpoint = INSERT_ENDPOINT,
    insert_endpoint_by_team = INSERT_ENDPOINT_BY_TEAM,
    update_endpoint = UPDATE_ENDPOINT,
    select_endpoint = SELECT_ENDPOINT,
    select_endpoint_id_by_token = SELECT_ENDPOINT_ID_BY_TOKEN,
    select_endpoint_ids_by_team = SELECT_ENDPOINT_IDS_BY_TEAM,
    delete_endpoint = DELETE_ENDPOINT,
    delete_endpoint_by_team = DELETE_ENDPOINT_BY_TEAM,
    select_capture_exists = SELECT_CAPTURE_EXISTS,
    insert_capture_by_id = INSERT_CAPTURE_BY_ID,
    insert_capture_by_endpoint = INSERT_CAPTURE_BY_ENDPOINT,
    insert_capture_day = INSERT_CAPTURE_DAY,
    select_capture = SELECT_CAPTURE,
    select_capture_location = SELECT_CAPTURE_LOCATION,
    select_capture_days = SELECT_CAPTURE_DAYS,
    select_captures_in_day = SELECT_CAPTURES_IN_DAY,
    select_captures_in_day_before = SELECT_CAPTURES_IN_DAY_BEFORE,
    select_capture_ids_in_day = SELECT_CAPTURE_IDS_IN_DAY,
    update_verification_by_id = UPDATE_VERIFICATION_BY_ID,
    update_verification_by_endpoint = UPDATE_VERIFICATION_BY_ENDPOINT,
    select_verification = SELECT_VERIFICATION,
    delete_capture_by_id = DELETE_CAPTURE_BY_ID,
    delete_capture_by_endpoint = DELETE_CAPTURE_BY_ENDPOINT,
    delete_capture_day_partition = DELETE_CAPTURE_DAY_PARTITION,
    delete_capture_days = DELETE_CAPTURE_DAYS,
    insert_delivery = INSERT_DELIVERY,
    select_delivery = SELECT_DELIVERY,
    select_delivery_state = SELECT_DELIVERY_STATE,
    update_delivery_progress = UPDATE_DELIVERY_PROGRESS,
    delete_delivery = DELETE_DELIVERY,
    claim_delivery = CLAIM_DELIVERY,
    insert_delivery_by_capture = INSERT_DELIVERY_BY_CAPTURE,
    select_delivery_ids_by_capture = SELECT_DELIVERY_IDS_BY_CAPTURE,
    delete_deliveries_by_capture = DELETE_DELIVERIES_BY_CAPTURE,
    insert_attempt = INSERT_ATTEMPT,
    select_attempt_exists = SELECT_ATTEMPT_EXISTS,
    select_attempts = SELECT_ATTEMPTS,
    delete_attempts = DELETE_ATTEMPTS,
    insert_due = INSERT_DUE,
    delete_due = DELETE_DUE,
    select_due = SELECT_DUE,
    upsert_forwarding = UPSERT_FORWARDING,
    select_forwarding = SELECT_FORWARDING,
    delete_forwarding = DELETE_FORWARDING,
    select_listener_cursor = SELECT_LISTENER_CURSOR,
    insert_listener_cursor = INSERT_LISTENER_CURSOR,
    delete_listener_cursors_before = DELETE_LISTENER_CURSORS_BEFORE,
    delete_listener_cursors = DELETE_LISTENER_CURSORS,
    select_listener_owner = SELECT_LISTENER_OWNER,
    count_listeners = COUNT_LISTENERS,
    insert_listener = INSERT_LISTENER,
    delete_listeners = DELETE_LISTENERS,
    select_lease = SELECT_LEASE,
    insert_lease = INSERT_LEASE,
    replace_lease = REPLACE_LEASE,
    release_lease = RELEASE_LEASE,
    delete_leases = DELETE_LEASES,
}

/// Everything but a lightweight transaction may be retried and speculatively executed: the
/// plain writes here set fixed values, so running one twice changes nothing.
async fn prepare(session: &Session, cql: &'static str) -> Result<PreparedStatement> {
    let mut st = session.prepare(cql).await.map_err(|e| prepare_error(cql, &e))?;
    st.set_is_idempotent(!cql.contains(" IF "));
    Ok(st)
}

impl ScyllaStore {
    /// `NameTaken` when an endpoint of `team` other than `except` is named `name`.
    ///
    /// A read before the write, not part of it: Scylla has no transaction spanning the team's
    /// endpoint list and the insert, and a lightweight transaction on a name row would need a
    /// table (a migration) of its own. Two creates or renames to the same name racing within a
    /// few milliseconds can therefore both pass, leaving two endpoints with one name; everything
    /// that takes a name copes with that (it asks for the id), as it does for data from before
    /// names were unique. docs/scylla.md says so too.
    async fn check_name_free(&self, team: TeamId, name: &str, except: EndpointId) -> Result<()> {
        let taken = self.endpoints(team).await?.iter().any(|e| e.id != except && e.name == name);
        if taken { Err(StoreError::NameTaken { name: name.to_owned() }) } else { Ok(()) }
    }

    /// Connects, migrates the schema when `options.migrate` is set (otherwise checks that it is
    /// at this build's version), and prepares every statement.
    pub async fn open(options: ScyllaOptions) -> Result<Self> {
        let session = connect(&options).await?;
        if options.migrate {
            migrate(&session, &options).await?;
        } else {
            use_keyspace(&session, &options).await?;
            let version = schema_version(&session).await?;
            if version != latest_version() {
                return Err(StoreError::Backend(format!(
                    "keyspace {} is at schema version {version}, this build needs {}: run the migration \
                     (`hookmetry migrate`, or open the store with migrate=true)",
                    options.keyspace,
                    latest_version()
                )));
            }
        }
        let st = Statements::prepare(&session).await?;
        Ok(Self { inner: Arc::new(Inner { session, st, options, retention: Mutex::default() }) })
    }

    /// [`ScyllaStore::open`] with options parsed from a `scylla://` URL.
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = ScyllaOptions::from_url(url).map_err(|e| StoreError::Backend(e.to_string()))?;
        Self::open(options).await
    }

    /// Creates the keyspace (when `options.create_keyspace`) and brings the schema to this
    /// build's version. Idempotent; safe to run on every start, but run it from one place at a
    /// time (older ScyllaDB and Cassandra versions do not serialise concurrent schema changes).
    /// Returns the schema version now in place.
    pub async fn migrate(options: &ScyllaOptions) -> Result<u32> {
        let session = connect(options).await?;
        migrate(&session, options).await
    }

    pub fn options(&self) -> &ScyllaOptions {
        &self.inner.options
    }

    /// The schema version this build creates and expects.
    pub fn schema_version() -> u32 {
        latest_version()
    }
}

fn latest_version() -> u32 {
    cql::MIGRATIONS.len() as u32
}

async fn connect(options: &ScyllaOptions) -> Result<Session> {
    let profile = ExecutionProfile::builder()
        .consistency(options.consistency)
        .serial_consistency(Some(options.serial_consistency()))
        .request_timeout(Some(options.request_timeout))
        .build();
    SessionBuilder::new()
        .known_nodes(&options.nodes)
        .default_execution_profile_handle(profile.into_handle())
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
        // Bodies are often JSON and compress well; LZ4 costs little CPU.
        .compression(Some(Compression::Lz4))
        .build()
        .await
        .map_err(|e| session_error(&options.nodes, &e))
}

async fn use_keyspace(session: &Session, options: &ScyllaOptions) -> Result<()> {
    session.use_keyspace(&options.keyspace, false).await.map_err(|e| {
        let what = format!("use keyspace {}", options.keyspace);
        match &e {
            UseKeyspaceError::RequestError(a) => classify(&what, attempt_kind(a), &e),
            UseKeyspaceError::RequestTimeout(_) => classify(&what, Kind::Unavailable, &e),
            _ => classify(&what, Kind::Backend, &e),
        }
    })
}

async fn schema_version(session: &Session) -> Result<u32> {
    let what = "read schema version";
    let result = session.query_unpaged(cql::SELECT_SCHEMA_VERSION, ()).await.map_err(|e| exec_error(what, &e))?;
    let rows = result.into_rows_result().map_err(|e| rows_error(what, &e))?;
    let row = rows.maybe_first_row::<(Option<i32>,)>().map_err(|e| corrupt(what, &e))?;
    let version = row.and_then(|(v,)| v).unwrap_or(0);
    u32::try_from(version).map_err(|_| StoreError::Corrupt(format!("{what}: negative version {version}")))
}

async fn migrate(session: &Session, options: &ScyllaOptions) -> Result<u32> {
    let ddl = |what: String| move |e: ExecutionError| exec_error(&what, &e);
    if options.create_keyspace {
        let what = format!("create keyspace {}", options.keyspace);
        let create = cql::create_keyspace(&options.keyspace, &options.replication, options.disable_tablets);
        match session.query_unpaged(create, ()).await {
            Ok(_) => {}
            // Servers without tablets do not know the option; they use vnodes anyway.
            Err(e) if options.disable_tablets && e.to_string().to_ascii_lowercase().contains("tablets") => {
                let create = cql::create_keyspace(&options.keyspace, &options.replication, false);
                session.query_unpaged(create, ()).await.map_err(ddl(what))?;
            }
            Err(e) => return Err(ddl(what)(e)),
        }
    }
    use_keyspace(session, options).await?;
    session.query_unpaged(cql::CREATE_SCHEMA_VERSION, ()).await.map_err(ddl("create schema_version".into()))?;
    let version = schema_version(session).await?;
    if version > latest_version() {
        return Err(StoreError::Backend(format!(
            "keyspace {} is at schema version {version}, newer than this build supports ({})",
            options.keyspace,
            latest_version()
        )));
    }
    for (i, statements) in cql::MIGRATIONS.iter().enumerate().skip(version as usize) {
        for statement in *statements {
            match session.query_unpaged(*statement, ()).await {
                Ok(_) => {}
                // A migration run again after a crash finds its column added: done.
                Err(e) if cql::adds_column(statement) && cql::column_exists(&e.to_string()) => {}
                Err(e) => return Err(ddl(format!("migrate to version {}", i + 1))(e)),
            }
        }
        let to = i as i32 + 1;
        session
            .query_unpaged(cql::UPSERT_SCHEMA_VERSION, (to, Timestamp::now().micros()))
            .await
            .map_err(ddl(format!("record schema version {to}")))?;
        tracing::info!(keyspace = %options.keyspace, version = to, "scylla store schema migrated");
    }
    Ok(latest_version())
}

// ---- rows -----------------------------------------------------------------------------------

#[derive(DeserializeRow)]
struct TeamRow {
    id: Uuid,
    name: String,
    retention_days: i32,
    created_at: i64,
}

impl TeamRow {
    fn into_team(self) -> Result<Team> {
        Ok(Team {
            id: TeamId(self.id),
            name: self.name,
            retention_days: u32::try_from(self.retention_days).map_err(|_| {
                StoreError::Corrupt(format!("team {}: retention_days {}", self.id, self.retention_days))
            })?,
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

#[derive(DeserializeRow)]
struct TokenRow {
    id: Uuid,
    team_id: Uuid,
    role: String,
    name: String,
    instance_admin: bool,
    hash: Vec<u8>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked: Option<bool>,
}

impl TokenRow {
    fn into_token(self) -> Result<ApiToken> {
        let bad = |what: String| StoreError::Corrupt(format!("token {}: {what}", self.id));
        Ok(ApiToken {
            id: TokenId(self.id),
            team_id: TeamId(self.team_id),
            role: self.role.parse::<Role>().map_err(bad)?,
            name: self.name.clone(),
            instance_admin: self.instance_admin,
            hash: self.hash.as_slice().try_into().map_err(|_| bad(format!("hash of {} bytes", self.hash.len())))?,
            created_at: Timestamp::from_micros(self.created_at),
            last_used_at: self.last_used_at.map(Timestamp::from_micros),
            revoked: self.revoked.unwrap_or(false),
        })
    }
}

#[derive(DeserializeRow)]
struct EndpointRow {
    id: Uuid,
    team_id: Uuid,
    name: String,
    token: String,
    response: Option<String>,
    verification: Option<String>,
    handshakes: Option<bool>,
    created_at: i64,
}

impl EndpointRow {
    fn into_endpoint(self) -> Result<Endpoint> {
        let id = self.id;
        let bad = move |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("endpoint {id}: {what}: {e}"));
        Ok(Endpoint {
            id: EndpointId(self.id),
            team_id: TeamId(self.team_id),
            name: self.name,
            token: self.token,
            response: self
                .response
                .map(|json| serde_json::from_str::<CustomResponse>(&json))
                .transpose()
                .map_err(|e| bad("response", e))?,
            verification: self
                .verification
                .map(|json| serde_json::from_str::<VerificationSettings>(&json))
                .transpose()
                .map_err(|e| bad("verification", e))?,
            handshakes: self.handshakes.unwrap_or(false),
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

/// `endpoint_id, day, received_at, TTL(received_at)` of `SELECT_CAPTURE_LOCATION`.
type LocationRow = (Option<Uuid>, Option<i32>, Option<i64>, Option<i32>);

/// A row of either capture table. Every column but the key is optional so that leftover rows
/// (see the module documentation) can be recognised instead of failing to decode.
#[derive(DeserializeRow)]
struct CaptureRow {
    capture_id: Uuid,
    endpoint_id: Option<Uuid>,
    team_id: Option<Uuid>,
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    headers: Option<Vec<(String, Bytes)>>,
    body: Option<Bytes>,
    body_sha256: Option<Vec<u8>>,
    remote_addr: Option<String>,
    http_version: Option<String>,
    received_at: Option<i64>,
    verdict: Option<String>,
    verification: Option<String>,
}

impl CaptureRow {
    /// `None` for a leftover row without capture data.
    fn into_stored(self) -> Result<Option<paging::StoredCapture>> {
        let Some(received_at) = self.received_at else { return Ok(None) };
        let id = self.capture_id;
        let missing = |column: &str| StoreError::Corrupt(format!("capture {id}: {column} is missing"));
        let body_sha256 = self.body_sha256.ok_or_else(|| missing("body_sha256"))?;
        let capture = CapturedRequest {
            id: CaptureId(id),
            endpoint_id: EndpointId(self.endpoint_id.ok_or_else(|| missing("endpoint_id"))?),
            team_id: TeamId(self.team_id.ok_or_else(|| missing("team_id"))?),
            method: self.method.ok_or_else(|| missing("method"))?,
            path: self.path.ok_or_else(|| missing("path"))?,
            query: self.query,
            // An empty frozen list may come back as null.
            headers: self.headers.unwrap_or_default().into_iter().map(|(name, value)| Header { name, value }).collect(),
            // An empty blob is a value, not null; a null body would be a broken row.
            body: self.body.ok_or_else(|| missing("body"))?,
            body_sha256: body_sha256.as_slice().try_into().map_err(|_| {
                StoreError::Corrupt(format!("capture {id}: body_sha256 of {} bytes", body_sha256.len()))
            })?,
            remote_addr: self.remote_addr.ok_or_else(|| missing("remote_addr"))?,
            http_version: self.http_version.ok_or_else(|| missing("http_version"))?,
            received_at: Timestamp::from_micros(received_at),
        };
        // The verdict is only meaningful with its detail; a half-written result counts as none.
        let verdict = self.verdict.filter(|_| self.verification.is_some());
        Ok(Some(paging::StoredCapture { capture, verdict }))
    }
}

/// Shards of `deliveries_due`.
const DUE_SHARDS: i32 = 16;

fn due_shard(id: DeliveryId) -> i32 {
    // The low bits of a UUIDv7 are random, so shards fill evenly.
    (id.0.as_u128() % DUE_SHARDS as u128) as i32
}

/// The values of `INSERT_DELIVERY`, in its column order (more than a tuple can carry).
#[derive(::scylla::SerializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
struct DeliveryValues {
    delivery_id: Uuid,
    team_id: Uuid,
    endpoint_id: Uuid,
    capture_id: Uuid,
    origin: String,
    method: String,
    url: String,
    headers: Vec<(String, Bytes)>,
    body: Bytes,
    body_sha256: Vec<u8>,
    edited: bool,
    resigned: bool,
    state: &'static str,
    attempts: i32,
    max_attempts: i32,
    next_attempt_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    trace_parent: Option<String>,
    ttl: i32,
}

#[derive(DeserializeRow)]
struct DeliveryRow {
    delivery_id: Uuid,
    team_id: Option<Uuid>,
    endpoint_id: Option<Uuid>,
    capture_id: Option<Uuid>,
    origin: Option<String>,
    method: Option<String>,
    url: Option<String>,
    headers: Option<Vec<(String, Bytes)>>,
    body: Option<Bytes>,
    body_sha256: Option<Vec<u8>>,
    edited: Option<bool>,
    resigned: Option<bool>,
    state: Option<String>,
    attempts: Option<i32>,
    max_attempts: Option<i32>,
    next_attempt_at: Option<i64>,
    created_at: Option<i64>,
    updated_at: Option<i64>,
    trace_parent: Option<String>,
}

impl DeliveryRow {
    /// `None` for a row that only a late progress update wrote (its delivery expired or was
    /// deleted meanwhile).
    fn into_delivery(self) -> Result<Option<Delivery>> {
        let Some(created_at) = self.created_at else { return Ok(None) };
        let id = self.delivery_id;
        let missing = |column: &str| StoreError::Corrupt(format!("delivery {id}: {column} is missing"));
        let sha = self.body_sha256.ok_or_else(|| missing("body_sha256"))?;
        let count = |v: Option<i32>, column: &str| v.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| missing(column));
        Ok(Some(Delivery {
            id: DeliveryId(id),
            team_id: TeamId(self.team_id.ok_or_else(|| missing("team_id"))?),
            endpoint_id: EndpointId(self.endpoint_id.ok_or_else(|| missing("endpoint_id"))?),
            capture_id: CaptureId(self.capture_id.ok_or_else(|| missing("capture_id"))?),
            origin: crate::origin_from_str(&self.origin.ok_or_else(|| missing("origin"))?)?,
            request: OutgoingRequest {
                method: self.method.ok_or_else(|| missing("method"))?,
                url: self.url.ok_or_else(|| missing("url"))?,
                headers: self
                    .headers
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, value)| Header { name, value })
                    .collect(),
                body: self.body.ok_or_else(|| missing("body"))?,
                body_sha256: sha.as_slice().try_into().map_err(|_| missing("body_sha256 (32 bytes)"))?,
            },
            edited: self.edited.unwrap_or(false),
            resigned: self.resigned.unwrap_or(false),
            state: crate::state_from_str(&self.state.ok_or_else(|| missing("state"))?)?,
            attempts: count(self.attempts, "attempts")?,
            max_attempts: count(self.max_attempts, "max_attempts")?,
            next_attempt_at: self.next_attempt_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(created_at),
            updated_at: Timestamp::from_micros(self.updated_at.unwrap_or(created_at)),
            trace_parent: self.trace_parent,
        }))
    }
}

#[derive(DeserializeRow)]
struct AttemptRow {
    delivery_id: Uuid,
    number: i32,
    started_at: Option<i64>,
    latency_ms: Option<i64>,
    response_status: Option<i32>,
    response_headers: Option<Vec<(String, Bytes)>>,
    response_body: Option<Bytes>,
    response_truncated: Option<bool>,
    error: Option<String>,
    error_message: Option<String>,
}

impl AttemptRow {
    fn into_attempt(self) -> Result<Attempt> {
        let (id, n) = (self.delivery_id, self.number);
        let missing = |column: &str| StoreError::Corrupt(format!("attempt {n} of delivery {id}: {column} is missing"));
        Ok(Attempt {
            delivery_id: DeliveryId(id),
            number: u32::try_from(n).map_err(|_| missing("number"))?,
            started_at: Timestamp::from_micros(self.started_at.ok_or_else(|| missing("started_at"))?),
            latency_ms: self.latency_ms.and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
            response_status: self.response_status.and_then(|s| u16::try_from(s).ok()),
            response_headers: self
                .response_headers
                .unwrap_or_default()
                .into_iter()
                .map(|(name, value)| Header { name, value })
                .collect(),
            response_body: self.response_body.unwrap_or_default(),
            response_truncated: self.response_truncated.unwrap_or(false),
            error: self.error.as_deref().map(crate::attempt_error_from_str).transpose()?,
            error_message: self.error_message,
        })
    }
}

fn json<T: serde::Serialize>(what: &str, value: &Option<T>) -> Result<Option<String>> {
    value
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode {what}: {e}")))
}

// ---- requests -------------------------------------------------------------------------------

impl Inner {
    async fn exec(&self, st: &PreparedStatement, values: impl SerializeRow, what: &str) -> Result<QueryResult> {
        self.session.execute_unpaged(st, values).await.map_err(|e| exec_error(what, &e))
    }

    /// The first row, if any.
    async fn one<R>(&self, st: &PreparedStatement, values: impl SerializeRow, what: &str) -> Result<Option<R>>
    where
        R: for<'f, 'm> DeserializeRowTrait<'f, 'm>,
    {
        let rows = self.exec(st, values, what).await?.into_rows_result().map_err(|e| rows_error(what, &e))?;
        rows.maybe_first_row::<R>().map_err(|e| corrupt(what, &e))
    }

    /// Every row, page by page.
    async fn all<R, V>(&self, st: &PreparedStatement, values: &V, what: &str) -> Result<Vec<R>>
    where
        R: for<'f, 'm> DeserializeRowTrait<'f, 'm>,
        V: SerializeRow + Sync,
    {
        let mut out = Vec::new();
        let mut state = PagingState::start();
        loop {
            let (result, paging) =
                self.session.execute_single_page(st, values, state).await.map_err(|e| exec_error(what, &e))?;
            let rows = result.into_rows_result().map_err(|e| rows_error(what, &e))?;
            decode_rows(&rows, what, &mut out)?;
            match paging.into_paging_control_flow() {
                ControlFlow::Break(()) => return Ok(out),
                ControlFlow::Continue(next) => state = next,
            }
        }
    }

    /// Runs a lightweight transaction and returns whether it applied.
    async fn lwt(&self, st: &PreparedStatement, values: impl SerializeRow, what: &str) -> Result<bool> {
        let row: Option<Row> = self.one(st, values, what).await?;
        match row.and_then(|r| r.columns.into_iter().next().flatten()) {
            Some(CqlValue::Boolean(applied)) => Ok(applied),
            other => Err(StoreError::Backend(format!("{what}: unexpected lightweight transaction result {other:?}"))),
        }
    }

    /// Runs a lightweight `INSERT … IF NOT EXISTS`: `None` when it applied, otherwise the value
    /// the existing row holds in `column` (itself `None` when the result does not carry it).
    async fn insert_if_absent(
        &self,
        st: &PreparedStatement,
        values: impl SerializeRow,
        column: &str,
        what: &str,
    ) -> Result<Option<Option<CqlValue>>> {
        let rows = self.exec(st, values, what).await?.into_rows_result().map_err(|e| rows_error(what, &e))?;
        // By name: which columns a result that did not apply carries, and in what order, is the
        // server's choice (the existing row's, after `[applied]`).
        let specs = rows.column_specs();
        let applied_at = specs.get_by_name("[applied]").map_or(0, |(i, _)| i);
        let column_at = specs.get_by_name(column).map(|(i, _)| i);
        let mut columns = rows.maybe_first_row::<Row>().map_err(|e| corrupt(what, &e))?.map(|r| r.columns);
        let mut take = |i: usize| columns.as_mut().and_then(|c| c.get_mut(i)).and_then(Option::take);
        match take(applied_at) {
            Some(CqlValue::Boolean(true)) => Ok(None),
            Some(CqlValue::Boolean(false)) => Ok(Some(column_at.and_then(take))),
            other => Err(StoreError::Backend(format!("{what}: unexpected lightweight transaction result {other:?}"))),
        }
    }

    async fn team_exists(&self, id: TeamId) -> Result<bool> {
        Ok(self.one::<TeamRow>(&self.st.select_team, (id.0,), "read team").await?.is_some())
    }

    /// The team's retention in days, from the cache when fresh.
    async fn retention_days(&self, team: TeamId) -> Result<u32> {
        if let Some((days, at)) = lock(&self.retention).get(&team).copied()
            && at.elapsed() < RETENTION_CACHE_TTL
        {
            return Ok(days);
        }
        let row = self.one::<TeamRow>(&self.st.select_team, (team.0,), "read team retention").await?;
        let days = match row {
            Some(row) => row.into_team()?.retention_days,
            None => {
                tracing::warn!(team_id = %team, "capture of an unknown team; keeping it for the default retention");
                UNKNOWN_TEAM_RETENTION_DAYS
            }
        };
        lock(&self.retention).insert(team, (days, Instant::now()));
        Ok(days)
    }

    async fn capture_exists(&self, id: CaptureId) -> Result<bool> {
        let row: Option<(Option<i64>,)> =
            self.one(&self.st.select_capture_exists, (id.0,), "check whether a capture is stored").await?;
        Ok(matches!(row, Some((Some(_),))))
    }

    /// Endpoint, day and remaining TTL (`None`: no TTL) of a stored capture.
    async fn capture_location(&self, id: CaptureId, what: &str) -> Result<Option<(Uuid, i32, Option<i32>)>> {
        let row: Option<LocationRow> = self.one(&self.st.select_capture_location, (id.0,), what).await?;
        Ok(match row {
            Some((Some(endpoint), Some(day), Some(_), ttl)) => Some((endpoint, day, ttl)),
            _ => None,
        })
    }

    async fn delete_capture_rows(&self, endpoint: Uuid, day: i32, id: Uuid) -> Result<()> {
        self.exec(&self.st.delete_capture_by_endpoint, (endpoint, day, id), "delete capture").await?;
        self.exec(&self.st.delete_capture_by_id, (id,), "delete capture").await?;
        self.delete_deliveries_of(id).await
    }

    /// The TTL for rows about a capture: what is left of the capture's, 0 (none) when the
    /// capture has none or is not stored.
    async fn capture_ttl(&self, capture: CaptureId, what: &str) -> Result<i32> {
        Ok(self.capture_location(capture, what).await?.and_then(|(_, _, ttl)| ttl).map_or(0, |t| t.max(1)))
    }

    /// Removes a capture's deliveries, their attempts and due entries.
    async fn delete_deliveries_of(&self, capture: Uuid) -> Result<()> {
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

    /// Deletes every capture of an endpoint, day by day, and its day index.
    async fn delete_endpoint_captures(&self, endpoint: Uuid) -> Result<()> {
        let what = "delete endpoint captures";
        let mut at_most = i32::MAX;
        loop {
            let days: Vec<(i32,)> =
                self.all(&self.st.select_capture_days, &(endpoint, at_most, DELETE_DAYS_PER_READ), what).await?;
            for &(day,) in &days {
                let ids: Vec<(Uuid,)> = self.all(&self.st.select_capture_ids_in_day, &(endpoint, day), what).await?;
                bounded(
                    ids.into_iter()
                        .map(|(id,)| async move {
                            self.exec(&self.st.delete_capture_by_id, (id,), what).await?;
                            self.delete_deliveries_of(id).await
                        })
                        .collect(),
                )
                .await?;
                self.exec(&self.st.delete_capture_day_partition, (endpoint, day), what).await?;
            }
            match days.last() {
                Some(&(last,)) if days.len() as i32 >= DELETE_DAYS_PER_READ && last > i32::MIN => at_most = last - 1,
                _ => break,
            }
        }
        self.exec(&self.st.delete_capture_days, (endpoint,), what).await?;
        Ok(())
    }
}

fn decode_rows<R>(rows: &QueryRowsResult, what: &str, out: &mut Vec<R>) -> Result<()>
where
    R: for<'f, 'm> DeserializeRowTrait<'f, 'm>,
{
    for row in rows.rows::<R>().map_err(|e| rows_type_error(what, &e))? {
        out.push(row.map_err(|e| corrupt(what, &e))?);
    }
    Ok(())
}

/// Runs the futures with at most [`CONCURRENCY`] in flight, results in order. Takes built
/// futures rather than a stream with a closure: closures borrowing the call's arguments trip
/// up the `Send` inference of `async_trait` futures.
async fn bounded<T, F>(futures: Vec<F>) -> Result<Vec<T>>
where
    F: Future<Output = Result<T>>,
{
    stream::iter(futures).buffered(CONCURRENCY).try_collect().await
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads one endpoint's day partitions for the paging walk.
struct DayReader<'a> {
    inner: &'a Inner,
    endpoint: Uuid,
}

impl paging::DaySource for DayReader<'_> {
    type Resume = PagingState;

    async fn days(&mut self, at_most: paging::Day, max: u32) -> Result<Vec<paging::Day>> {
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        let days: Vec<(i32,)> = self
            .inner
            .all(&self.inner.st.select_capture_days, &(self.endpoint, at_most, max), "list capture days")
            .await?;
        Ok(days.into_iter().map(|(d,)| d).collect())
    }

    async fn page(
        &mut self,
        day: paging::Day,
        before: Option<CaptureId>,
        page_size: usize,
        resume: Option<PagingState>,
    ) -> Result<paging::Page<PagingState>> {
        let what = "list captures";
        let st = &self.inner.st;
        let mut statement =
            if before.is_some() { st.select_captures_in_day_before.clone() } else { st.select_captures_in_day.clone() };
        statement.set_page_size(i32::try_from(page_size).unwrap_or(i32::MAX).max(1));
        let state = resume.unwrap_or_else(PagingState::start);
        let session = &self.inner.session;
        let (result, paging) = match before {
            Some(before) => session.execute_single_page(&statement, (self.endpoint, day, before.0), state).await,
            None => session.execute_single_page(&statement, (self.endpoint, day), state).await,
        }
        .map_err(|e| exec_error(what, &e))?;
        let rows = result.into_rows_result().map_err(|e| rows_error(what, &e))?;
        let mut raw: Vec<CaptureRow> = Vec::new();
        decode_rows(&rows, what, &mut raw)?;
        let examined = raw.len();
        let rows = raw.into_iter().filter_map(|r| r.into_stored().transpose()).collect::<Result<Vec<_>>>()?;
        let next = match paging.into_paging_control_flow() {
            ControlFlow::Break(()) => None,
            ControlFlow::Continue(next) => Some(next),
        };
        Ok(paging::Page { rows, examined, next })
    }
}

// ---- Store ----------------------------------------------------------------------------------

#[async_trait]
impl Store for ScyllaStore {
    async fn create_team(&self, team: &Team) -> Result<()> {
        let s = &*self.inner;
        let retention = i32::try_from(team.retention_days)
            .map_err(|_| StoreError::Backend(format!("retention of {} days is too long", team.retention_days)))?;
        let values = (team.id.0, &team.name, retention, team.created_at.micros());
        if !s.lwt(&s.st.insert_team, values, "create team").await? {
            return Err(StoreError::Conflict { entity: "team", detail: format!("team id {} is taken", team.id) });
        }
        lock(&s.retention).insert(team.id, (team.retention_days, Instant::now()));
        Ok(())
    }

    async fn team(&self, id: TeamId) -> Result<Option<Team>> {
        let s = &*self.inner;
        s.one::<TeamRow>(&s.st.select_team, (id.0,), "read team").await?.map(TeamRow::into_team).transpose()
    }

    async fn teams(&self) -> Result<Vec<Team>> {
        let s = &*self.inner;
        let rows: Vec<TeamRow> = s.all(&s.st.select_teams, &(), "list teams").await?;
        let mut teams = rows.into_iter().map(TeamRow::into_team).collect::<Result<Vec<_>>>()?;
        teams.sort_by_key(|t| (t.created_at, t.id));
        Ok(teams)
    }

    async fn set_retention(&self, team: TeamId, days: u32) -> Result<()> {
        let s = &*self.inner;
        let value =
            i32::try_from(days).map_err(|_| StoreError::Backend(format!("retention of {days} days is too long")))?;
        if !s.lwt(&s.st.update_retention, (value, team.0), "set retention").await? {
            return Err(StoreError::NotFound { entity: "team" });
        }
        lock(&s.retention).insert(team, (days, Instant::now()));
        Ok(())
    }

    /// The hash is reserved first (`tokens_by_hash IF NOT EXISTS`), then the id (`tokens IF NOT
    /// EXISTS`); a taken id releases the hash again. Only then is the token listed for its team.
    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let s = &*self.inner;
        let what = "create token";
        if !s.team_exists(token.team_id).await? {
            return Err(StoreError::NotFound { entity: "team" });
        }
        let hash = token.hash.as_slice();
        if !s.lwt(&s.st.insert_token_hash, (hash, token.id.0), what).await? {
            return Err(StoreError::Conflict { entity: "token", detail: "token hash is taken".into() });
        }
        let row = (
            token.id.0,
            token.team_id.0,
            token.role.as_str(),
            &token.name,
            token.instance_admin,
            hash,
            token.created_at.micros(),
            token.last_used_at.map(|t| t.micros()),
            token.revoked,
        );
        if !s.lwt(&s.st.insert_token, row, what).await? {
            s.lwt(&s.st.delete_token_hash, (hash, token.id.0), what).await?;
            return Err(StoreError::Conflict { entity: "token", detail: format!("token id {} is taken", token.id) });
        }
        s.exec(&s.st.insert_token_by_team, (token.team_id.0, token.created_at.micros(), token.id.0), what).await?;
        Ok(())
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>> {
        let s = &*self.inner;
        let Some((id,)) = s.one::<(Uuid,)>(&s.st.select_token_id_by_hash, (hash.as_slice(),), "read token").await?
        else {
            return Ok(None);
        };
        // The id row must agree: a hash reserved by a create that then lost its id to another
        // token points at that other token until it is released.
        Ok(self.token(TokenId(id)).await?.filter(|t| t.hash == *hash))
    }

    async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>> {
        let s = &*self.inner;
        let ids: Vec<(Uuid,)> = s.all(&s.st.select_token_ids_by_team, &(team.0,), "list tokens").await?;
        let tokens: Vec<Option<ApiToken>> =
            bounded(ids.into_iter().map(|(id,)| self.token(TokenId(id))).collect()).await?;
        let mut tokens: Vec<ApiToken> = tokens.into_iter().flatten().filter(|t| t.team_id == team).collect();
        tokens.sort_by_key(|t| (t.created_at, t.id));
        Ok(tokens)
    }

    /// A read, then a plain write: tokens are never deleted, so the write cannot recreate one,
    /// and an unknown id writes nothing (not an error, as in the embedded store).
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()> {
        let s = &*self.inner;
        if self.token(id).await?.is_some() {
            s.exec(&s.st.touch_token, (at.micros(), id.0), "touch token").await?;
        }
        Ok(())
    }

    async fn token(&self, id: TokenId) -> Result<Option<ApiToken>> {
        let s = &*self.inner;
        s.one::<TokenRow>(&s.st.select_token, (id.0,), "read token").await?.map(TokenRow::into_token).transpose()
    }

    async fn revoke_token(&self, id: TokenId) -> Result<()> {
        let s = &*self.inner;
        if !s.lwt(&s.st.revoke_token, (id.0,), "revoke token").await? {
            return Err(StoreError::NotFound { entity: "token" });
        }
        Ok(())
    }

    async fn has_tokens(&self) -> Result<bool> {
        let s = &*self.inner;
        Ok(s.one::<(Uuid,)>(&s.st.any_token, (), "count tokens").await?.is_some())
    }

    /// The capture token is reserved first, then the id; a taken id releases the token again.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let s = &*self.inner;
        let what = "create endpoint";
        let response = json("endpoint response", &endpoint.response)?;
        let verification = json("endpoint verification", &endpoint.verification)?;
        if !s.team_exists(endpoint.team_id).await? {
            return Err(StoreError::NotFound { entity: "team" });
        }
        self.check_name_free(endpoint.team_id, &endpoint.name, endpoint.id).await?;
        let (id, token) = (endpoint.id.0, endpoint.token.as_str());
        if !s.lwt(&s.st.insert_endpoint_token, (token, id), what).await? {
            return Err(StoreError::Conflict { entity: "endpoint", detail: "capture token is taken".into() });
        }
        let row = (
            id,
            endpoint.team_id.0,
            &endpoint.name,
            token,
            response,
            verification,
            endpoint.handshakes,
            endpoint.created_at.micros(),
        );
        if !s.lwt(&s.st.insert_endpoint, row, what).await? {
            s.lwt(&s.st.delete_endpoint_token, (token, id), what).await?;
            return Err(StoreError::Conflict {
                entity: "endpoint",
                detail: format!("endpoint id {} is taken", endpoint.id),
            });
        }
        s.exec(&s.st.insert_endpoint_by_team, (endpoint.team_id.0, endpoint.created_at.micros(), id), what).await?;
        Ok(())
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let s = &*self.inner;
        let Some(stored) = self.endpoint(endpoint.id).await? else {
            return Err(StoreError::NotFound { entity: "endpoint" });
        };
        // Only a new name is checked: a name shared in data from before names were unique stays.
        if stored.name != endpoint.name {
            self.check_name_free(stored.team_id, &endpoint.name, endpoint.id).await?;
        }
        let response = json("endpoint response", &endpoint.response)?;
        let verification = json("endpoint verification", &endpoint.verification)?;
        let values = (&endpoint.name, response, verification, endpoint.handshakes, endpoint.id.0);
        if !s.lwt(&s.st.update_endpoint, values, "update endpoint").await? {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        Ok(())
    }

    /// Captures first, then the lookup rows, the endpoint row last: a delete that fails halfway
    /// can be retried, because the endpoint is still found.
    async fn delete_endpoint(&self, id: EndpointId) -> Result<()> {
        let s = &*self.inner;
        let what = "delete endpoint";
        let Some(endpoint) = self.endpoint(id).await? else {
            return Err(StoreError::NotFound { entity: "endpoint" });
        };
        s.delete_endpoint_captures(id.0).await?;
        s.exec(&s.st.delete_forwarding, (id.0,), what).await?;
        s.exec(&s.st.delete_listener_cursors, (id.0,), what).await?;
        s.exec(&s.st.delete_listeners, (id.0,), what).await?;
        s.exec(&s.st.delete_leases, (id.0,), what).await?;
        s.lwt(&s.st.delete_endpoint_token, (endpoint.token.as_str(), id.0), what).await?;
        s.exec(&s.st.delete_endpoint_by_team, (endpoint.team_id.0, endpoint.created_at.micros(), id.0), what).await?;
        if !s.lwt(&s.st.delete_endpoint, (id.0,), what).await? {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        Ok(())
    }

    async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>> {
        let s = &*self.inner;
        s.one::<EndpointRow>(&s.st.select_endpoint, (id.0,), "read endpoint")
            .await?
            .map(EndpointRow::into_endpoint)
            .transpose()
    }

    async fn endpoint_by_token(&self, token: &str) -> Result<Option<Endpoint>> {
        let s = &*self.inner;
        let what = "read endpoint by token";
        let Some((id,)) = s.one::<(Uuid,)>(&s.st.select_endpoint_id_by_token, (token,), what).await? else {
            return Ok(None);
        };
        // As for token hashes: the endpoint must agree that the token is its own.
        Ok(self.endpoint(EndpointId(id)).await?.filter(|e| e.token == token))
    }

    async fn endpoints(&self, team: TeamId) -> Result<Vec<Endpoint>> {
        let s = &*self.inner;
        // Clustered by (created_at, endpoint_id): already oldest first.
        let ids: Vec<(Uuid,)> = s.all(&s.st.select_endpoint_ids_by_team, &(team.0,), "list endpoints").await?;
        let endpoints: Vec<Option<Endpoint>> =
            bounded(ids.into_iter().map(|(id,)| self.endpoint(EndpointId(id))).collect()).await?;
        Ok(endpoints.into_iter().flatten().filter(|e| e.team_id == team).collect())
    }

    /// Checks which ids are stored (reads, no LWT), then writes the others with a TTL from their
    /// team's retention: day markers, then `captures_by_endpoint`, then `captures_by_id`.
    /// Returns how many were written; a capture already past retention is neither written nor
    /// counted.
    async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize> {
        let s = &*self.inner;
        let what = "store captures";
        let mut seen = HashSet::new();
        let candidates: Vec<&CapturedRequest> = captures.iter().filter(|c| seen.insert(c.id)).collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let stored: Vec<bool> = bounded(candidates.iter().map(|c| s.capture_exists(c.id)).collect()).await?;
        let now = Timestamp::now();
        let mut writes = Vec::new();
        let mut markers: HashMap<(Uuid, i32), i32> = HashMap::new();
        for (c, stored) in candidates.into_iter().zip(stored) {
            if stored {
                continue;
            }
            let days = s.retention_days(c.team_id).await?;
            let Some(ttl) = paging::capture_ttl(days, c.received_at, now) else { continue };
            let day = paging::capture_day(c.id, c.received_at);
            let marker = markers.entry((c.endpoint_id.0, day)).or_insert(0);
            *marker = (*marker).max(paging::day_marker_ttl(days));
            writes.push((c, day, ttl));
        }
        bounded(
            markers
                .iter()
                .map(|(&(endpoint, day), &ttl)| s.exec(&s.st.insert_capture_day, (endpoint, day, ttl), what))
                .collect(),
        )
        .await?;
        let headers = |c: &CapturedRequest| -> Vec<(String, Bytes)> {
            c.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect()
        };
        bounded(
            writes
                .iter()
                .map(|&(c, day, ttl)| {
                    let values = (
                        c.endpoint_id.0,
                        day,
                        c.id.0,
                        c.team_id.0,
                        c.method.as_str(),
                        c.path.as_str(),
                        c.query.as_deref(),
                        headers(c),
                        c.body.clone(),
                        c.body_sha256.as_slice(),
                        c.remote_addr.as_str(),
                        c.http_version.as_str(),
                        c.received_at.micros(),
                        ttl,
                    );
                    s.exec(&s.st.insert_capture_by_endpoint, values, what)
                })
                .collect(),
        )
        .await?;
        bounded(
            writes
                .iter()
                .map(|&(c, day, ttl)| {
                    let values = (
                        c.id.0,
                        c.endpoint_id.0,
                        c.team_id.0,
                        day,
                        c.method.as_str(),
                        c.path.as_str(),
                        c.query.as_deref(),
                        headers(c),
                        c.body.clone(),
                        c.body_sha256.as_slice(),
                        c.remote_addr.as_str(),
                        c.http_version.as_str(),
                        c.received_at.micros(),
                        ttl,
                    );
                    s.exec(&s.st.insert_capture_by_id, values, what)
                })
                .collect(),
        )
        .await?;
        Ok(writes.len())
    }

    async fn capture(&self, id: CaptureId) -> Result<Option<CapturedRequest>> {
        let s = &*self.inner;
        let row = s.one::<CaptureRow>(&s.st.select_capture, (id.0,), "read capture").await?;
        Ok(row.map(CaptureRow::into_stored).transpose()?.flatten().map(|stored| stored.capture))
    }

    /// Walks the endpoint's day partitions newest first and filters client-side; see `paging`.
    /// `without_bodies` saves memory, not I/O, here: no table holds a body's size, so every body
    /// is still read, measured and dropped at once.
    async fn captures(&self, endpoint: EndpointId, page: &CapturePage) -> Result<CaptureList> {
        let s = &*self.inner;
        let mut reader = DayReader { inner: s, endpoint: endpoint.0 };
        let scan = paging::scan(&mut reader, page, s.options.max_rows_examined).await?;
        if scan.budget_exhausted {
            tracing::warn!(
                endpoint_id = %endpoint,
                examined = scan.examined,
                found = scan.list.items.len(),
                "capture listing stopped at its scan budget (max_rows_examined); a narrower filter or time range \
                 finds older matches"
            );
        }
        Ok(scan.list)
    }

    /// Each result: locate the capture (a read, so results for unknown ids create nothing),
    /// then update both tables with the row's remaining TTL. A later result for the same id in
    /// one call wins, as it would if they were applied in order.
    async fn put_verifications(&self, results: &[(CaptureId, Verification)]) -> Result<()> {
        let s = &*self.inner;
        let what = "store verifications";
        let mut last: HashMap<CaptureId, &Verification> = HashMap::new();
        for (id, v) in results {
            last.insert(*id, v);
        }
        let rows = last
            .into_iter()
            .map(|(id, v)| crate::verification_codec::encode(v).map(|(verdict, json)| (id, verdict, json)))
            .collect::<Result<Vec<_>>>()?;
        bounded(
            rows.iter()
                .map(|(id, verdict, json)| async move {
                    let Some((endpoint, day, ttl)) = s.capture_location(*id, what).await? else { return Ok(()) };
                    // TTL 0 means "none" in CQL, which is right for a row without one; a row about
                    // to expire is left alone.
                    let ttl = match ttl {
                        None => 0,
                        Some(t) if t <= 0 => return Ok(()),
                        Some(t) => t,
                    };
                    let by_endpoint = (ttl, *verdict, json.as_str(), endpoint, day, id.0);
                    s.exec(&s.st.update_verification_by_endpoint, by_endpoint, what).await?;
                    s.exec(&s.st.update_verification_by_id, (ttl, *verdict, json.as_str(), id.0), what).await?;
                    Ok::<_, StoreError>(())
                })
                .collect(),
        )
        .await
        .map(drop)
    }

    async fn verification(&self, id: CaptureId) -> Result<Option<Verification>> {
        let s = &*self.inner;
        let row: Option<(Option<i64>, Option<String>, Option<String>)> =
            s.one(&s.st.select_verification, (id.0,), "read verification").await?;
        let Some((Some(_), Some(verdict), Some(json))) = row else { return Ok(None) };
        crate::verification_codec::decode(&verdict, &json).map(Some)
    }

    async fn verifications(&self, ids: &[CaptureId]) -> Result<std::collections::HashMap<CaptureId, Verification>> {
        // Point reads in parallel: each is a single-partition lookup.
        let found = futures::future::try_join_all(
            ids.iter().map(|&id| async move { self.verification(id).await.map(|v| v.map(|v| (id, v))) }),
        )
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn delete_capture(&self, id: CaptureId) -> Result<()> {
        let s = &*self.inner;
        let Some((endpoint, day, _)) = s.capture_location(id, "delete capture").await? else {
            return Err(StoreError::NotFound { entity: "capture" });
        };
        s.delete_capture_rows(endpoint, day, id.0).await
    }

    /// Nothing to do: every capture row was written with a TTL that ends its team's retention,
    /// and ScyllaDB drops expired rows itself (reads stop returning them at once; compaction
    /// reclaims the space). So this deletes nothing and returns 0.
    async fn expire_captures(&self, _now: Timestamp) -> Result<u64> {
        Ok(0)
    }

    async fn set_forwarding_rules(&self, endpoint: EndpointId, rules: &[ForwardingRule]) -> Result<()> {
        let s = &*self.inner;
        let what = "set forwarding rules";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        if rules.is_empty() {
            s.exec(&s.st.delete_forwarding, (endpoint.0,), what).await.map(drop)
        } else {
            s.exec(&s.st.upsert_forwarding, (endpoint.0, crate::rules_to_json(rules)?), what).await.map(drop)
        }
    }

    async fn listener_cursor(&self, endpoint: EndpointId, name: &str) -> Result<Option<crate::ListenerCursor>> {
        let s = &*self.inner;
        let row: Option<(Uuid, i64)> =
            s.one(&s.st.select_listener_cursor, (endpoint.0, name), "read listener cursor").await?;
        Ok(row.map(|(id, at)| crate::ListenerCursor {
            capture_id: CaptureId(id),
            updated_at: Timestamp::from_micros(at),
        }))
    }

    /// Insert, then drop the older rows (see `cql::MIGRATIONS`, version 4): the first row of the
    /// listener is always the newest capture reported, whatever order reports arrive in.
    async fn advance_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        capture: CaptureId,
        at: Timestamp,
    ) -> Result<()> {
        let s = &*self.inner;
        let what = "advance listener cursor";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        s.exec(&s.st.insert_listener_cursor, (endpoint.0, name, capture.0, at.micros()), what).await?;
        s.exec(&s.st.delete_listener_cursors_before, (endpoint.0, name, capture.0), what).await.map(drop)
    }

    /// A plain read of the name first: most claims are a listener reporting again under its own
    /// name, answered without Paxos. A new name is counted against the limit, then inserted with
    /// a lightweight transaction, so of two tokens racing for one name exactly one owns it. The
    /// count and the insert are not one transaction: claims of different new names racing each
    /// other may together exceed `limit`, by at most the number of racing writers.
    async fn claim_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        owner: TokenId,
        limit: usize,
        at: Timestamp,
    ) -> Result<crate::ListenerClaim> {
        use crate::ListenerClaim;
        let s = &*self.inner;
        let what = "claim listener";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        let held_by = |held: Uuid| {
            if held == owner.0 { ListenerClaim::Owned } else { ListenerClaim::Taken { owner: TokenId(held) } }
        };
        let read_owner = || async {
            let row: Option<(Option<Uuid>,)> = s.one(&s.st.select_listener_owner, (endpoint.0, name), what).await?;
            Ok::<_, StoreError>(row.and_then(|(held,)| held))
        };
        if let Some(held) = read_owner().await? {
            return Ok(held_by(held));
        }
        let names: Option<(i64,)> = s.one(&s.st.count_listeners, (endpoint.0,), what).await?;
        let names = names.map_or(0, |(n,)| u64::try_from(n).unwrap_or(0));
        if names >= u64::try_from(limit).unwrap_or(u64::MAX) {
            return Ok(ListenerClaim::Full { limit });
        }
        match s.insert_if_absent(&s.st.insert_listener, (endpoint.0, name, owner.0, at.micros()), "owner", what).await?
        {
            None => Ok(ListenerClaim::Owned),
            Some(Some(CqlValue::Uuid(held))) => Ok(held_by(held)),
            // Lost the race, and the result did not say to whom: the winner's row is committed.
            Some(_) => match read_owner().await? {
                Some(held) => Ok(held_by(held)),
                None => Err(StoreError::Backend(format!("{what}: `{name}` is claimed, but its owner cannot be read"))),
            },
        }
    }

    /// Read, then a lightweight transaction that applies only if the holder read is still the
    /// holder (or, for a new name, nobody is): a racing start makes it fail, and the lease is
    /// read again to say who won.
    async fn lease_listener(
        &self,
        endpoint: EndpointId,
        name: &str,
        lease: &crate::ListenerLease,
        now: Timestamp,
        takeover: bool,
    ) -> Result<crate::LeaseOutcome> {
        use crate::{LeaseOutcome, ListenerLease};
        let s = &*self.inner;
        let what = "lease listener";
        if self.endpoint(endpoint).await?.is_none() {
            return Err(StoreError::NotFound { entity: "endpoint" });
        }
        type LeaseRow = (Option<String>, Option<String>, Option<i64>, Option<i64>);
        let read = || async {
            let row: Option<LeaseRow> = s.one(&s.st.select_lease, (endpoint.0, name), what).await?;
            Ok::<_, StoreError>(row.map(|(holder, description, acquired, expires)| ListenerLease {
                holder: holder.unwrap_or_default(),
                description: description.unwrap_or_default(),
                acquired_at: Timestamp::from_micros(acquired.unwrap_or(0)),
                expires_at: Timestamp::from_micros(expires.unwrap_or(0)),
            }))
        };
        let mut lease = lease.clone();
        let current = read().await?;
        let applied = match &current {
            None => s
                .insert_if_absent(
                    &s.st.insert_lease,
                    (
                        endpoint.0,
                        name,
                        &lease.holder,
                        &lease.description,
                        lease.acquired_at.micros(),
                        lease.expires_at.micros(),
                    ),
                    "holder",
                    what,
                )
                .await?
                .is_none(),
            Some(c) => {
                if c.holder == lease.holder {
                    lease.acquired_at = c.acquired_at;
                } else if c.expires_at > now && !takeover {
                    return Ok(LeaseOutcome::Busy(c.clone()));
                }
                let values = (
                    &lease.holder,
                    &lease.description,
                    lease.acquired_at.micros(),
                    lease.expires_at.micros(),
                    endpoint.0,
                    name,
                    &c.holder,
                );
                s.insert_if_absent(&s.st.replace_lease, values, "holder", what).await?.is_none()
            }
        };
        if applied {
            return Ok(LeaseOutcome::Held(lease));
        }
        match read().await? {
            Some(winner) => Ok(LeaseOutcome::Busy(winner)),
            None => Err(StoreError::Backend(format!("{what}: `{name}` changed hands, but its lease cannot be read"))),
        }
    }

    async fn release_listener(&self, endpoint: EndpointId, name: &str, holder: &str) -> Result<()> {
        let s = &*self.inner;
        s.lwt(&s.st.release_lease, (endpoint.0, name, holder), "release listener").await?;
        Ok(())
    }

    async fn forwarding_rules(&self, endpoint: EndpointId) -> Result<Vec<ForwardingRule>> {
        let s = &*self.inner;
        let row: Option<(Option<String>,)> =
            s.one(&s.st.select_forwarding, (endpoint.0,), "read forwarding rules").await?;
        match row {
            Some((Some(json),)) => crate::rules_from_json(&json),
            _ => Ok(Vec::new()),
        }
    }

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

    async fn health(&self) -> Result<()> {
        let s = &*self.inner;
        s.one::<(Option<i32>,)>(&s.st.select_schema_version, (), "health check").await.map(drop)
    }
}

// ---- errors ---------------------------------------------------------------------------------

/// How a driver error surfaces: `Unavailable` for what may pass (no node reachable, timeouts,
/// too few replicas, overload), `Corrupt` for rows that do not decode, `Backend` for the rest
/// (syntax, schema mismatch, authorisation: retrying will not help).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unavailable,
    Backend,
    Corrupt,
}

fn classify(what: &str, kind: Kind, e: &dyn fmt::Display) -> StoreError {
    let message = format!("{what}: {e}");
    match kind {
        Kind::Unavailable => StoreError::Unavailable(message),
        Kind::Backend => StoreError::Backend(message),
        Kind::Corrupt => StoreError::Corrupt(message),
    }
}

fn db_kind(e: &DbError) -> Kind {
    match e {
        DbError::Unavailable { .. }
        | DbError::Overloaded
        | DbError::IsBootstrapping
        | DbError::ReadTimeout { .. }
        | DbError::WriteTimeout { .. }
        | DbError::RateLimitReached { .. } => Kind::Unavailable,
        _ => Kind::Backend,
    }
}

fn attempt_kind(e: &RequestAttemptError) -> Kind {
    match e {
        RequestAttemptError::DbError(db, _) => db_kind(db),
        RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => Kind::Unavailable,
        _ => Kind::Backend,
    }
}

fn prepare_kind(e: &PrepareError) -> Kind {
    match e {
        PrepareError::ConnectionPoolError(_) => Kind::Unavailable,
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_kind(first_attempt),
        _ => Kind::Backend,
    }
}

fn exec_kind(e: &ExecutionError) -> Kind {
    match e {
        ExecutionError::EmptyPlan
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::SchemaAgreementError(_)
        | ExecutionError::MetadataError(_) => Kind::Unavailable,
        ExecutionError::LastAttemptError(a) => attempt_kind(a),
        ExecutionError::PrepareError(p) => prepare_kind(p),
        _ => Kind::Backend,
    }
}

fn exec_error(what: &str, e: &ExecutionError) -> StoreError {
    classify(what, exec_kind(e), e)
}

fn prepare_error(cql: &str, e: &PrepareError) -> StoreError {
    classify(&format!("prepare `{cql}`"), prepare_kind(e), e)
}

fn session_error(nodes: &[String], e: &NewSessionError) -> StoreError {
    let kind = match e {
        NewSessionError::EmptyKnownNodesList | NewSessionError::IllegalConfig(_) => Kind::Backend,
        _ => Kind::Unavailable,
    };
    classify(&format!("connect to {}", nodes.join(",")), kind, e)
}

fn rows_error(what: &str, e: &IntoRowsResultError) -> StoreError {
    classify(what, Kind::Backend, e)
}

fn rows_type_error(what: &str, e: &RowsError) -> StoreError {
    classify(what, Kind::Corrupt, e)
}

fn corrupt(what: &str, e: &dyn fmt::Display) -> StoreError {
    classify(what, Kind::Corrupt, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_prepared_and_every_prepared_one_is_listed() {
        let mut prepared = PREPARED.to_vec();
        prepared.sort_unstable();
        let mut listed: Vec<&str> =
            cql::STATEMENTS.iter().copied().filter(|s| *s != cql::UPSERT_SCHEMA_VERSION).collect();
        listed.sort_unstable();
        assert_eq!(prepared, listed, "a statement in cql::STATEMENTS is not prepared, or the reverse");
    }

    #[test]
    fn only_lightweight_transactions_are_not_idempotent() {
        let lwt: Vec<&str> = PREPARED.iter().copied().filter(|s| s.contains(" IF ")).collect();
        assert_eq!(lwt.len(), 16, "{lwt:#?}");
        for s in lwt {
            assert!(
                s.ends_with("IF NOT EXISTS")
                    || s.ends_with("IF EXISTS")
                    || s.contains(" IF token_id")
                    || s.contains(" IF endpoint_id")
                    || s.contains(" IF state = 'pending'")
                    || s.ends_with(" IF holder = ?"),
                "{s}"
            );
        }
    }

    #[test]
    fn driver_errors_are_classified() {
        let unavailable =
            DbError::Unavailable { consistency: ::scylla::statement::Consistency::LocalQuorum, required: 2, alive: 1 };
        assert_eq!(db_kind(&unavailable), Kind::Unavailable);
        assert_eq!(db_kind(&DbError::Overloaded), Kind::Unavailable);
        assert_eq!(db_kind(&DbError::SyntaxError), Kind::Backend);
        assert_eq!(db_kind(&DbError::Unauthorized), Kind::Backend);
        let attempt = RequestAttemptError::DbError(DbError::IsBootstrapping, "bootstrapping".into());
        assert_eq!(attempt_kind(&attempt), Kind::Unavailable);
        assert_eq!(exec_kind(&ExecutionError::LastAttemptError(attempt)), Kind::Unavailable);
        assert_eq!(exec_kind(&ExecutionError::EmptyPlan), Kind::Unavailable);
        assert_eq!(exec_kind(&ExecutionError::RequestTimeout(Duration::from_secs(1))), Kind::Unavailable);
        let invalid = RequestAttemptError::DbError(DbError::Invalid, "unconfigured table".into());
        let err = exec_error("read team", &ExecutionError::LastAttemptError(invalid));
        assert!(matches!(&err, StoreError::Backend(m) if m.starts_with("read team: ")), "{err:?}");
        let err = session_error(&["n1:9042".into()], &NewSessionError::EmptyKnownNodesList);
        assert!(matches!(&err, StoreError::Backend(m) if m.contains("n1:9042")), "{err:?}");
        let err = session_error(&["n1:9042".into()], &NewSessionError::FailedToResolveAnyHostname(vec!["n1".into()]));
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn opening_an_unreachable_cluster_is_unavailable() {
        // Port 1 on loopback refuses at once; no server is needed to see the error path.
        let mut options = ScyllaOptions::new(vec!["127.0.0.1:1".into()], "hookmetry").unwrap();
        options.request_timeout = Duration::from_secs(2);
        let err = ScyllaStore::open(options).await.unwrap_err();
        assert!(matches!(&err, StoreError::Unavailable(m) if m.contains("127.0.0.1:1")), "{err:?}");
    }
}
