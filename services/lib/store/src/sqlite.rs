//! `Store` on one SQLite file, for single-host deployments.
//!
//! All SQL lives in this module so the schema and every query can be reviewed in one place.
//!
//! Durability: the processor writes captures here before it commits its log offset, so a
//! transaction reported as committed must survive power loss, or the log would skip captures the
//! store never kept. WAL with `synchronous=NORMAL` only survives process crashes (the last
//! transactions can be lost on power loss), so this uses `synchronous=FULL`: one extra fsync per
//! write transaction, and `put_captures` writes a whole batch in one transaction.
//!
//! Concurrency: several processes on one host may open the same file. WAL lets readers run
//! alongside the single writer, every write transaction begins `IMMEDIATE` so waiting for the
//! write lock goes through `busy_timeout` instead of failing with `SQLITE_BUSY`, and a busy error
//! that outlasts the timeout surfaces as `StoreError::Unavailable`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use hookmetry_core::{
    ApiToken, Attempt, AttemptError, CaptureId, CapturedRequest, CustomResponse, Delivery, DeliveryId, DeliveryState,
    Endpoint, EndpointId, ForwardingRule, Header, OutgoingRequest, Role, Team, TeamId, Timestamp, TokenHash, TokenId,
    Verification, VerificationSettings,
};
use rusqlite::types::Type;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, Transaction, TransactionBehavior};

use crate::{CaptureList, CapturePage, DeliveryProgress, HeaderFilter, ListenerClaim, Result, Store, StoreError};

/// Reader connections per handle; reads are short, so a few cover a small host.
const READERS: usize = 4;

/// How long a connection waits for another one's lock before reporting the store unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `MIGRATIONS[i]` takes the schema from `user_version` i to i + 1. Append only: a released
/// migration never changes.
const MIGRATIONS: &[&str] = &[
    // Version 1. Ids are 16-byte UUID blobs, timestamps are INTEGER microseconds since the epoch.
    // Captures carry no foreign key: the processor replays them from the log, and a capture of an
    // endpoint deleted meanwhile must not fail the batch forever.
    "
    CREATE TABLE teams (
        id             BLOB PRIMARY KEY NOT NULL,
        name           TEXT NOT NULL,
        retention_days INTEGER NOT NULL,
        created_at     INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE tokens (
        id             BLOB PRIMARY KEY NOT NULL,
        team_id        BLOB NOT NULL REFERENCES teams (id),
        hash           BLOB NOT NULL UNIQUE,
        role           TEXT NOT NULL,
        name           TEXT NOT NULL,
        instance_admin INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        last_used_at   INTEGER,
        revoked        INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX tokens_by_team ON tokens (team_id, created_at);

    CREATE TABLE endpoints (
        id         BLOB PRIMARY KEY NOT NULL,
        team_id    BLOB NOT NULL REFERENCES teams (id),
        name       TEXT NOT NULL,
        token      TEXT NOT NULL UNIQUE,
        response   TEXT, -- CustomResponse as JSON, NULL for the default response
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX endpoints_by_team ON endpoints (team_id, created_at);

    CREATE TABLE captures (
        id           BLOB PRIMARY KEY NOT NULL,
        endpoint_id  BLOB NOT NULL,
        team_id      BLOB NOT NULL,
        method       TEXT NOT NULL,
        path         TEXT NOT NULL,
        query        TEXT, -- NULL when the request had no `?`, '' when it had an empty one
        headers      BLOB NOT NULL, -- see `encode_headers`
        body         BLOB NOT NULL,
        body_sha256  BLOB NOT NULL,
        remote_addr  TEXT NOT NULL,
        http_version TEXT NOT NULL,
        received_at  INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX captures_by_endpoint ON captures (endpoint_id, id DESC);
    ",
    // Version 2: retention deletes by team and age.
    "
    CREATE INDEX captures_by_team_age ON captures (team_id, received_at);
    ",
    // Version 3: signature verification. Settings are JSON (secrets included: they must be
    // usable to compute HMACs, so they cannot be hashed like tokens). A capture's verdict has its
    // own column because captures are filtered by it; the rest of the result is JSON.
    "
    ALTER TABLE endpoints ADD COLUMN verification TEXT;
    ALTER TABLE endpoints ADD COLUMN handshakes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE captures ADD COLUMN verdict TEXT;
    ALTER TABLE captures ADD COLUMN verification TEXT;
    ",
    // Version 4: deliveries (a capture sent to a target) and their attempts. The request is
    // stored as sent, edits and re-signing applied. Pending deliveries are indexed by due time so
    // a restarted replay worker finds its scheduled retries.
    "
    CREATE TABLE deliveries (
        id              BLOB PRIMARY KEY NOT NULL,
        team_id         BLOB NOT NULL,
        endpoint_id     BLOB NOT NULL,
        capture_id      BLOB NOT NULL,
        origin          TEXT NOT NULL, -- `manual` or `rule:<id>`
        method          TEXT NOT NULL,
        url             TEXT NOT NULL,
        headers         BLOB NOT NULL, -- see `encode_headers`
        body            BLOB NOT NULL,
        body_sha256     BLOB NOT NULL,
        edited          INTEGER NOT NULL,
        resigned        INTEGER NOT NULL,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        max_attempts    INTEGER NOT NULL,
        next_attempt_at INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX deliveries_by_capture ON deliveries (capture_id, id DESC);
    CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id);
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';

    CREATE TABLE attempts (
        delivery_id        BLOB NOT NULL,
        number             INTEGER NOT NULL,
        started_at         INTEGER NOT NULL,
        latency_ms         INTEGER NOT NULL,
        response_status    INTEGER,
        response_headers   BLOB NOT NULL,
        response_body      BLOB NOT NULL,
        response_truncated INTEGER NOT NULL,
        error              TEXT,
        error_message      TEXT,
        PRIMARY KEY (delivery_id, number)
    ) STRICT;
    ",
    // Version 5: forwarding rules per endpoint, as JSON, beside the endpoint row rather than in
    // it: only the processor and the rule editor read them.
    "
    CREATE TABLE forwarding_rules (
        endpoint_id BLOB PRIMARY KEY NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        rules       TEXT NOT NULL
    ) STRICT;
    ",
    // Version 6: where each named `hookmetry listen` of an endpoint stands, so it can deliver
    // what arrived while it was offline. One row per listener, moved forward only.
    "
    CREATE TABLE listener_cursors (
        endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        capture_id  BLOB NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, name)
    ) STRICT;
    ",
    // Version 7: the W3C `traceparent` of the span that made a delivery, so every attempt (also
    // one a scan starts after a restart) continues the trace. NULL when traces are not exported.
    "
    ALTER TABLE deliveries ADD COLUMN trace_parent TEXT;
    ",
    // Version 8: which token holds each listener name of an endpoint, so one token of a team
    // cannot move the cursor of a listener another token started. Claimed once, never moved.
    "
    CREATE TABLE listeners (
        endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        owner       BLOB NOT NULL, -- the token's id
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, name)
    ) STRICT;
    ",
    // Version 9: which `hookmetry listen` process runs each named listener, until when, so a
    // second one with the same name is refused instead of delivering everything twice.
    "
    CREATE TABLE listener_leases (
        endpoint_id BLOB NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        holder      TEXT NOT NULL,
        description TEXT NOT NULL,
        acquired_at INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        PRIMARY KEY (endpoint_id, name)
    ) STRICT;
    ",
];

/// Retention deletes this many captures per write transaction, so other writers (the processor)
/// are never held up for long by a large expiry.
const EXPIRE_BATCH: i64 = 2_000;

const TEAM_COLUMNS: &str = "id, name, retention_days, created_at";
const TOKEN_COLUMNS: &str = "id, team_id, role, name, instance_admin, hash, created_at, last_used_at, revoked";
const ENDPOINT_COLUMNS: &str = "id, team_id, name, token, response, created_at, verification, handshakes";
const CAPTURE_COLUMNS: &str = "id, endpoint_id, team_id, method, path, query, headers, body, \
                               body_sha256, remote_addr, http_version, received_at";
/// `CAPTURE_COLUMNS` with an empty blob in the body's place, for listings without bodies.
const CAPTURE_COLUMNS_WITHOUT_BODY: &str = "id, endpoint_id, team_id, method, path, query, headers, x'', \
                                            body_sha256, remote_addr, http_version, received_at";
const DELIVERY_COLUMNS: &str = "id, team_id, endpoint_id, capture_id, origin, method, url, headers, body, body_sha256, \
                                edited, resigned, state, attempts, max_attempts, next_attempt_at, created_at, updated_at, \
                                trace_parent";
const ATTEMPT_COLUMNS: &str = "delivery_id, number, started_at, latency_ms, response_status, response_headers, \
                               response_body, response_truncated, error, error_message";
/// Deliveries and attempts whose capture is gone (deleted or expired), removed with it.
const DELETE_ORPHAN_DELIVERIES: &str = "
    DELETE FROM attempts WHERE delivery_id IN
        (SELECT id FROM deliveries WHERE capture_id NOT IN (SELECT id FROM captures));
    DELETE FROM deliveries WHERE capture_id NOT IN (SELECT id FROM captures);";

/// A cheap-to-clone handle on one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// SQLite allows one writer at a time anyway; serialising in-process writers here keeps them
    /// from spinning on the file lock against each other.
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) and migrates the database at
    /// `path`. Other handles and processes may have the same file open.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let inner = blocking(move || Inner::open(path)).await?;
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` on a reader connection off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        blocking(move || f(&inner.reader()).map_err(|e| sql_error("", what, e))).await
    }

    /// Runs `f` in one `IMMEDIATE` transaction on the writer connection off the async runtime,
    /// committing when it returns `Ok`. `entity` names what a constraint violation conflicts on.
    async fn write<T: Send + 'static>(
        &self,
        entity: &'static str,
        what: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut conn = lock(&inner.writer);
            let run = move || {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            };
            run().map_err(|e| sql_error(entity, what, e))
        })
        .await
    }
}

impl Inner {
    fn open(path: PathBuf) -> Result<Self> {
        let what = format!("open database {}", path.display());
        let context = |e| sql_error("", &what, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("create directory {}: {e}", dir.display())))?;
        }
        let mut writer = connect(&path).map_err(context)?;
        let mode = enable_wal(&writer).map_err(context)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "open database {}: journal mode is {mode}, WAL could not be enabled",
                path.display()
            )));
        }
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = connect(&path)?;
                conn.execute_batch("PRAGMA query_only = ON")?;
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<_>>()
            .map_err(context)?;
        Ok(Self { path, writer: Mutex::new(writer), readers, next_reader: AtomicUsize::new(0) })
    }

    /// An idle reader if there is one, else waits for the next one in turn.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            match self.readers[(start + i) % self.readers.len()].try_lock() {
                Ok(conn) => return conn,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&self.readers[start % self.readers.len()])
    }
}

/// These settings are per connection, so every connection gets them.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;")?;
    register_functions(&conn)?;
    Ok(conn)
}

/// `hm_header_match(headers, name, value)`: whether the encoded header list has a line named
/// `name` (ASCII case-insensitive) whose value contains `value`. Header filtering runs inside
/// the query so paging and `LIMIT` see only matching rows.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "hm_header_match",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let blob = ctx.get_raw(0).as_blob().map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            let name: String = ctx.get(1)?;
            let value: Vec<u8> = ctx.get(2)?;
            let headers = decode_headers(blob).map_err(|e| rusqlite::Error::UserFunctionError(e.into()))?;
            Ok(HeaderFilter { name, value_contains: value }.matches(&headers))
        },
    )
}

/// The journal mode is stored in the file, so this is a no-op once any connection switched it.
/// Switching needs an exclusive lock, and SQLite fails with BUSY at once, without waiting, when
/// two connections race to switch a fresh file (waiting could deadlock), so this retries.
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// A panic while a connection was locked leaves it usable: an open transaction is rolled back
/// when its `Transaction` is dropped during the unwind.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking SQLite work on tokio's blocking pool, so it never stalls the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(out) => out,
        // A panic in store code is a bug; re-raising it keeps the original message and location.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(StoreError::Unavailable("runtime is shutting down".into())),
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
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

/// `what` says which operation failed; `entity` is what a constraint violation conflicts on.
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

fn sql_error(entity: &'static str, what: &str, e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    let message = format!("{what}: {e}");
    match &e {
        E::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Unavailable(message),
            // Every foreign key in the schema references `teams`.
            ErrorCode::ConstraintViolation if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                StoreError::NotFound { entity: "team" }
            }
            ErrorCode::ConstraintViolation => StoreError::Conflict { entity, detail: message },
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt(message),
            _ => StoreError::Backend(message),
        },
        E::FromSqlConversionFailure(..) | E::InvalidColumnType(..) | E::IntegralValueOutOfRange(..) => {
            StoreError::Corrupt(message)
        }
        _ => StoreError::Backend(message),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_team(&self, team: &Team) -> Result<()> {
        let team = team.clone();
        self.write("team", "create team", move |tx| {
            tx.execute(
                "INSERT INTO teams (id, name, retention_days, created_at) VALUES (?1, ?2, ?3, ?4)",
                (team.id.as_bytes(), &team.name, team.retention_days, team.created_at.micros()),
            )
            .map(drop)
        })
        .await
    }

    async fn team(&self, id: TeamId) -> Result<Option<Team>> {
        self.read("read team", move |conn| {
            conn.prepare_cached(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = ?1"))?
                .query_row([id.as_bytes()], team_from_row)
                .optional()
        })
        .await
    }

    async fn teams(&self) -> Result<Vec<Team>> {
        self.read("list teams", |conn| {
            conn.prepare_cached(&format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY created_at, id"))?
                .query_map([], team_from_row)?
                .collect()
        })
        .await
    }

    async fn set_retention(&self, team: TeamId, days: u32) -> Result<()> {
        let changed = self
            .write("team", "set retention", move |tx| {
                tx.execute("UPDATE teams SET retention_days = ?2 WHERE id = ?1", (team.as_bytes(), days))
            })
            .await?;
        found(changed, "team")
    }

    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        let t = token.clone();
        self.write("token", "create token", move |tx| {
            tx.execute(
                &format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                (
                    t.id.as_bytes(),
                    t.team_id.as_bytes(),
                    t.role.as_str(),
                    &t.name,
                    t.instance_admin,
                    t.hash,
                    t.created_at.micros(),
                    t.last_used_at.map(|ts| ts.micros()),
                    t.revoked,
                ),
            )
            .map(drop)
        })
        .await
    }

    async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>> {
        let hash = *hash;
        self.read("read token", move |conn| {
            conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1"))?
                .query_row([hash], token_from_row)
                .optional()
        })
        .await
    }

    async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>> {
        self.read("list tokens", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE team_id = ?1 ORDER BY created_at, id"
            ))?
            .query_map([team.as_bytes()], token_from_row)?
            .collect()
        })
        .await
    }

    /// Touching an unknown token is not an error: it only records activity, and the lookup that
    /// authenticated the request already decided whether the token exists.
    async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()> {
        self.write("token", "touch token", move |tx| {
            tx.execute("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1", (id.as_bytes(), at.micros())).map(drop)
        })
        .await
    }

    async fn token(&self, id: TokenId) -> Result<Option<ApiToken>> {
        self.read("read token", move |conn| {
            conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"))?
                .query_row([id.as_bytes()], token_from_row)
                .optional()
        })
        .await
    }

    async fn revoke_token(&self, id: TokenId) -> Result<()> {
        let changed = self
            .write("token", "revoke token", move |tx| {
                tx.execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id.as_bytes()])
            })
            .await?;
        found(changed, "token")
    }

    async fn has_tokens(&self) -> Result<bool> {
        self.read("count tokens", |conn| conn.query_row("SELECT EXISTS (SELECT 1 FROM tokens)", [], |r| r.get(0))).await
    }

    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let response = response_json(endpoint)?;
        let verification = verification_json(endpoint)?;
        let e = endpoint.clone();
        // The name check and the insert share one IMMEDIATE transaction: no other writer can
        // take the name in between.
        let created = self
            .write("endpoint", "create endpoint", move |tx| {
                if name_taken(tx, &e.team_id, &e.name, &e.id)? {
                    return Ok(false);
                }
                tx.execute(
                    &format!("INSERT INTO endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    (
                        e.id.as_bytes(),
                        e.team_id.as_bytes(),
                        &e.name,
                        &e.token,
                        response,
                        e.created_at.micros(),
                        verification,
                        e.handshakes,
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
        let (id, name, handshakes) = (endpoint.id, endpoint.name.clone(), endpoint.handshakes);
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
                    "UPDATE endpoints SET name = ?2, response = ?3, verification = ?4, handshakes = ?5 WHERE id = ?1",
                    (id.as_bytes(), &name, response, verification, handshakes),
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

    async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize> {
        if captures.is_empty() {
            return Ok(0);
        }
        // Bodies are `Bytes`, so these clones share the buffers rather than copying them.
        let rows = captures.iter().map(|c| Ok((c.clone(), encode_headers(&c.headers)?))).collect::<Result<Vec<_>>>()?;
        self.write("capture", "store captures", move |tx| {
            // `ON CONFLICT (id) DO NOTHING` rather than `INSERT OR IGNORE`, which would also drop
            // rows that violate NOT NULL instead of reporting them.
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO captures ({CAPTURE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
                 ON CONFLICT (id) DO NOTHING"
            ))?;
            let mut new = 0;
            for (c, headers) in &rows {
                new += insert.execute((
                    c.id.as_bytes(),
                    c.endpoint_id.as_bytes(),
                    c.team_id.as_bytes(),
                    &c.method,
                    &c.path,
                    &c.query,
                    headers,
                    c.body.as_ref(),
                    c.body_sha256,
                    &c.remote_addr,
                    &c.http_version,
                    c.received_at.micros(),
                ))?;
            }
            Ok(new)
        })
        .await
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
        use rusqlite::types::Value;
        let limit = page.limit as usize;
        // `length()` of a blob is read from the record header: SQLite does not load the body for
        // it, so a listing without bodies never holds one (the `body_contains` condition below
        // loads them, but one row at a time while it scans).
        let columns = if page.without_bodies { CAPTURE_COLUMNS_WITHOUT_BODY } else { CAPTURE_COLUMNS };
        // Conditions are appended with their parameters in step, so the SQL text only ever
        // contains fixed fragments and every user value is bound.
        let mut sql = format!("SELECT {columns}, length(body) FROM captures WHERE endpoint_id = ?");
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
        if let Some(needle) = f.body_contains.as_ref().filter(|n| !n.is_empty()) {
            // instr() on two blobs compares bytes, so binary needles and bodies work.
            sql.push_str(" AND instr(body, ?) > 0");
            params.push(Value::Blob(needle.clone()));
        }
        // One row past the page tells whether there is more.
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        params.push(Value::Integer(limit as i64 + 1));
        self.read("list captures", move |conn| {
            let mut rows = conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(params), |r| {
                    let size: i64 = r.get(12)?;
                    let size = u64::try_from(size).map_err(|e| corrupt(12, Type::Integer, e))?;
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
        if results.is_empty() {
            return Ok(());
        }
        let rows = results
            .iter()
            .map(|(id, v)| crate::verification_codec::encode(v).map(|(verdict, json)| (*id, verdict, json)))
            .collect::<Result<Vec<_>>>()?;
        self.write("capture", "store verifications", move |tx| {
            let mut update = tx.prepare_cached("UPDATE captures SET verdict = ?2, verification = ?3 WHERE id = ?1")?;
            for (id, verdict, json) in &rows {
                update.execute((id.as_bytes(), verdict, json))?;
            }
            Ok(())
        })
        .await
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

    async fn set_forwarding_rules(&self, endpoint: EndpointId, rules: &[ForwardingRule]) -> Result<()> {
        let json = (!rules.is_empty()).then(|| crate::rules_to_json(rules)).transpose()?;
        let exists = self
            .write("endpoint", "set forwarding rules", move |tx| {
                let exists = tx
                    .prepare_cached("SELECT 1 FROM endpoints WHERE id = ?1")?
                    .query_row([endpoint.as_bytes()], |_| Ok(()))
                    .optional()?;
                if exists.is_none() {
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
                let exists = tx
                    .prepare_cached("SELECT 1 FROM endpoints WHERE id = ?1")?
                    .query_row([endpoint.as_bytes()], |_| Ok(()))
                    .optional()?;
                if exists.is_none() {
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
                let exists = tx
                    .prepare_cached("SELECT 1 FROM endpoints WHERE id = ?1")?
                    .query_row([endpoint.as_bytes()], |_| Ok(()))
                    .optional()?;
                if exists.is_none() {
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
                let exists = tx
                    .prepare_cached("SELECT 1 FROM endpoints WHERE id = ?1")?
                    .query_row([endpoint.as_bytes()], |_| Ok(()))
                    .optional()?;
                if exists.is_none() {
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

    async fn put_delivery(&self, delivery: &Delivery) -> Result<()> {
        let d = delivery.clone();
        let headers = encode_headers(&d.request.headers)?;
        self.write("delivery", "store delivery", move |tx| {
            tx.prepare_cached(&format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
                 ON CONFLICT (id) DO NOTHING"
            ))?
            .execute(rusqlite::params![
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
            ])
            .map(drop)
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
        let (a, p) = (attempt.clone(), progress.clone());
        let headers = encode_headers(&a.response_headers)?;
        let outcome = self
            .write("attempt", "record attempt", move |tx| {
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
                    "UPDATE deliveries SET state = ?2, attempts = ?3, next_attempt_at = ?4, updated_at = ?5 \
                     WHERE id = ?1",
                )?
                .execute(rusqlite::params![
                    a.delivery_id.as_bytes(),
                    p.state.as_str(),
                    p.attempts,
                    p.next_attempt_at.map(|t| t.micros()),
                    p.updated_at.micros(),
                ])?;
                Ok(Some(true))
            })
            .await?;
        outcome.ok_or(StoreError::NotFound { entity: "delivery" })
    }

    async fn claim_delivery(&self, id: DeliveryId, attempts: u32, now: Timestamp, until: Timestamp) -> Result<bool> {
        let changed = self
            .write("delivery", "claim delivery", move |tx| {
                tx.execute(
                    "UPDATE deliveries SET next_attempt_at = ?4 WHERE id = ?1 AND state = 'pending' AND attempts = ?2 \
                     AND (next_attempt_at IS NULL OR next_attempt_at <= ?3)",
                    (id.as_bytes(), attempts, now.micros(), until.micros()),
                )
            })
            .await?;
        Ok(changed == 1)
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

    async fn health(&self) -> Result<()> {
        self.read("health check", |conn| conn.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

fn found(changed: usize, entity: &'static str) -> Result<()> {
    if changed == 0 { Err(StoreError::NotFound { entity }) } else { Ok(()) }
}

fn response_json(endpoint: &Endpoint) -> Result<Option<String>> {
    endpoint
        .response
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode endpoint response: {e}")))
}

fn verification_json(endpoint: &Endpoint) -> Result<Option<String>> {
    endpoint
        .verification
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Backend(format!("encode endpoint verification: {e}")))
}

fn team_from_row(row: &Row<'_>) -> rusqlite::Result<Team> {
    Ok(Team {
        id: TeamId::from_bytes(row.get(0)?),
        name: row.get(1)?,
        retention_days: row.get(2)?,
        created_at: Timestamp::from_micros(row.get(3)?),
    })
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    let role: String = row.get(2)?;
    Ok(ApiToken {
        id: TokenId::from_bytes(row.get(0)?),
        team_id: TeamId::from_bytes(row.get(1)?),
        role: role.parse::<Role>().map_err(|e| corrupt(2, Type::Text, e))?,
        name: row.get(3)?,
        instance_admin: row.get(4)?,
        hash: row.get(5)?,
        created_at: Timestamp::from_micros(row.get(6)?),
        last_used_at: row.get::<_, Option<i64>>(7)?.map(Timestamp::from_micros),
        revoked: row.get(8)?,
    })
}

fn endpoint_from_row(row: &Row<'_>) -> rusqlite::Result<Endpoint> {
    let response = row
        .get::<_, Option<String>>(4)?
        .map(|json| serde_json::from_str::<CustomResponse>(&json))
        .transpose()
        .map_err(|e| corrupt(4, Type::Text, e))?;
    Ok(Endpoint {
        id: EndpointId::from_bytes(row.get(0)?),
        team_id: TeamId::from_bytes(row.get(1)?),
        name: row.get(2)?,
        token: row.get(3)?,
        response,
        created_at: Timestamp::from_micros(row.get(5)?),
        verification: row
            .get::<_, Option<String>>(6)?
            .map(|json| serde_json::from_str::<VerificationSettings>(&json))
            .transpose()
            .map_err(|e| corrupt(6, Type::Text, e))?,
        handshakes: row.get(7)?,
    })
}

fn capture_from_row(row: &Row<'_>) -> rusqlite::Result<CapturedRequest> {
    let headers: Vec<u8> = row.get(6)?;
    Ok(CapturedRequest {
        id: CaptureId::from_bytes(row.get(0)?),
        endpoint_id: EndpointId::from_bytes(row.get(1)?),
        team_id: TeamId::from_bytes(row.get(2)?),
        method: row.get(3)?,
        path: row.get(4)?,
        query: row.get(5)?,
        headers: decode_headers(&headers).map_err(|e| corrupt(6, Type::Blob, e))?,
        body: Bytes::from(row.get::<_, Vec<u8>>(7)?),
        body_sha256: row.get(8)?,
        remote_addr: row.get(9)?,
        http_version: row.get(10)?,
        received_at: Timestamp::from_micros(row.get(11)?),
    })
}

/// A delivery row as read, decoded outside the SQLite callback so its errors are store errors.
struct DeliveryRow {
    id: [u8; 16],
    team_id: [u8; 16],
    endpoint_id: [u8; 16],
    capture_id: [u8; 16],
    origin: String,
    method: String,
    url: String,
    headers: Vec<u8>,
    body: Vec<u8>,
    body_sha256: [u8; 32],
    edited: bool,
    resigned: bool,
    state: String,
    attempts: u32,
    max_attempts: u32,
    next_attempt_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    trace_parent: Option<String>,
}

fn delivery_row(r: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        team_id: r.get(1)?,
        endpoint_id: r.get(2)?,
        capture_id: r.get(3)?,
        origin: r.get(4)?,
        method: r.get(5)?,
        url: r.get(6)?,
        headers: r.get(7)?,
        body: r.get(8)?,
        body_sha256: r.get(9)?,
        edited: r.get(10)?,
        resigned: r.get(11)?,
        state: r.get(12)?,
        attempts: r.get(13)?,
        max_attempts: r.get(14)?,
        next_attempt_at: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
        trace_parent: r.get(18)?,
    })
}

impl DeliveryRow {
    fn into_delivery(self) -> Result<Delivery> {
        Ok(Delivery {
            id: DeliveryId::from_bytes(self.id),
            team_id: TeamId::from_bytes(self.team_id),
            endpoint_id: EndpointId::from_bytes(self.endpoint_id),
            capture_id: CaptureId::from_bytes(self.capture_id),
            origin: crate::origin_from_str(&self.origin)?,
            request: OutgoingRequest {
                method: self.method,
                url: self.url,
                headers: decode_headers(&self.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                body: Bytes::from(self.body),
                body_sha256: self.body_sha256,
            },
            edited: self.edited,
            resigned: self.resigned,
            state: crate::state_from_str(&self.state)?,
            attempts: self.attempts,
            max_attempts: self.max_attempts,
            next_attempt_at: self.next_attempt_at.map(Timestamp::from_micros),
            created_at: Timestamp::from_micros(self.created_at),
            updated_at: Timestamp::from_micros(self.updated_at),
            trace_parent: self.trace_parent,
        })
    }
}

struct AttemptRow {
    delivery_id: [u8; 16],
    number: u32,
    started_at: i64,
    latency_ms: i64,
    response_status: Option<u16>,
    response_headers: Vec<u8>,
    response_body: Vec<u8>,
    response_truncated: bool,
    error: Option<String>,
    error_message: Option<String>,
}

fn attempt_row(r: &Row<'_>) -> rusqlite::Result<AttemptRow> {
    Ok(AttemptRow {
        delivery_id: r.get(0)?,
        number: r.get(1)?,
        started_at: r.get(2)?,
        latency_ms: r.get(3)?,
        response_status: r.get(4)?,
        response_headers: r.get(5)?,
        response_body: r.get(6)?,
        response_truncated: r.get(7)?,
        error: r.get(8)?,
        error_message: r.get(9)?,
    })
}

impl AttemptRow {
    fn into_attempt(self) -> Result<Attempt> {
        Ok(Attempt {
            delivery_id: DeliveryId::from_bytes(self.delivery_id),
            number: self.number,
            started_at: Timestamp::from_micros(self.started_at),
            latency_ms: u64::try_from(self.latency_ms).unwrap_or(0),
            response_status: self.response_status,
            response_headers: decode_headers(&self.response_headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            response_body: Bytes::from(self.response_body),
            response_truncated: self.response_truncated,
            error: self.error.as_deref().map(crate::attempt_error_from_str).transpose()?,
            error_message: self.error_message,
        })
    }
}

fn corrupt(column: usize, ty: Type, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, ty, e.into())
}

/// Encodes headers as `u32 count`, then per header `u32 name length, name, u32 value length,
/// value`, all integers big-endian. Binary rather than JSON because values are raw bytes that
/// may not be UTF-8, and a list rather than a map because order and duplicates must round-trip.
fn encode_headers(headers: &[Header]) -> Result<Vec<u8>> {
    fn len(n: usize) -> Result<[u8; 4]> {
        u32::try_from(n)
            .map(u32::to_be_bytes)
            .map_err(|_| StoreError::Backend(format!("header of {n} bytes is too large to store")))
    }
    let size = 4 + headers.iter().map(|h| 8 + h.name.len() + h.value.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend(len(headers.len())?);
    for h in headers {
        out.extend(len(h.name.len())?);
        out.extend(h.name.as_bytes());
        out.extend(len(h.value.len())?);
        out.extend(h.value.as_ref());
    }
    Ok(out)
}

#[derive(Debug, thiserror::Error)]
#[error("malformed headers blob: {0}")]
struct MalformedHeaders(&'static str);

fn decode_headers(mut buf: &[u8]) -> Result<Vec<Header>, MalformedHeaders> {
    fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], MalformedHeaders> {
        if buf.len() < n {
            return Err(MalformedHeaders("truncated"));
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head)
    }
    fn take_len(buf: &mut &[u8]) -> Result<usize, MalformedHeaders> {
        let bytes = take(buf, 4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
    }
    let count = take_len(&mut buf)?;
    // Each header needs at least 8 bytes, so a corrupt count cannot trigger a huge allocation.
    let mut headers = Vec::with_capacity(count.min(buf.len() / 8));
    for _ in 0..count {
        let len = take_len(&mut buf)?;
        let name =
            std::str::from_utf8(take(&mut buf, len)?).map_err(|_| MalformedHeaders("header name is not UTF-8"))?;
        let len = take_len(&mut buf)?;
        let value = Bytes::copy_from_slice(take(&mut buf, len)?);
        headers.push(Header::new(name, value));
    }
    if !buf.is_empty() {
        return Err(MalformedHeaders("trailing bytes"));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bodiless_columns_are_the_capture_columns_without_the_body() {
        assert_eq!(CAPTURE_COLUMNS.replace(" body,", " x'',"), CAPTURE_COLUMNS_WITHOUT_BODY);
    }

    #[test]
    fn headers_round_trip_in_order_with_duplicates_and_raw_bytes() {
        let headers = vec![
            Header::new("x-a", "1"),
            Header::new("x-raw", &b"\xff\x00\xfe"[..]),
            Header::new("x-a", "2"),
            Header::new("x-empty", ""),
        ];
        let encoded = encode_headers(&headers).unwrap();
        assert_eq!(decode_headers(&encoded).unwrap(), headers);
        assert_eq!(decode_headers(&encode_headers(&[]).unwrap()).unwrap(), vec![]);
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let encoded = encode_headers(&[Header::new("x-a", "1")]).unwrap();
        for cut in 0..encoded.len() {
            assert!(decode_headers(&encoded[..cut]).is_err(), "accepted a blob cut at {cut}");
        }
        let mut trailing = encoded.clone();
        trailing.push(0);
        assert!(decode_headers(&trailing).is_err());
        let bad_name = [0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0, 0, 0, 0];
        assert!(decode_headers(&bad_name).is_err());
        assert!(decode_headers(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
