//! `Store` on one SQLite file, for single-host deployments.
//!
//! All SQL lives in this module so the schema and every query can be reviewed in one place: the
//! schema in `migrations/`, the queries in one file per kind of data.
//!
//! Durability: every write transaction runs with `synchronous=FULL` (the WAL is synced at each
//! commit), so a committed change survives power loss, except the processor's capture batches
//! (`put_checked_captures`). Those commit with `synchronous=NORMAL`: written to the WAL, which
//! survives a crash of the process but not of the machine, and `sync_captures` syncs the WAL
//! before the processor commits its log offset, so the log still holds whatever the store
//! could lose. That saves one fsync per batch; a checkpoint syncs the WAL before copying it and
//! the database file after, so nothing committed leaves the WAL unsynced.
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
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use self::error::sql_error;
use self::headers::decode_headers;
use crate::{HeaderFilter, Result, StoreError, StoreHealth};

mod captures;
mod counters;
mod deliveries;
mod endpoints;
mod error;
mod headers;
mod listeners;
mod migrations;
mod rows;
mod shapes;
mod teams;

/// Reader connections per handle; reads are short, so a few cover a small host.
const READERS: usize = 4;

/// How long a connection waits for another one's lock before reporting the store unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// When a write transaction's commit syncs the WAL (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    Full,
    /// Synced later by `sync_wal`.
    Normal,
}

/// A cheap-to-clone handle on one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
    counters: Arc<counters::CounterQueue>,
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
        Ok(Self { inner: Arc::new(inner), counters: counters::CounterQueue::new() })
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
        self.write_with(Sync::Full, entity, what, f).await
    }

    async fn write_with<T: Send + 'static>(
        &self,
        sync: Sync,
        entity: &'static str,
        what: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        blocking(move || {
            let mut conn = lock(&inner.writer);
            let run = move || {
                if sync == Sync::Normal {
                    conn.execute_batch("PRAGMA synchronous = NORMAL")?;
                }
                // A failed BEGIN (busy past the timeout) must not skip the reset below.
                let out = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .and_then(|tx| f(&tx).and_then(|out| tx.commit().map(|()| out)));
                if sync == Sync::Normal {
                    // Back to FULL even when the transaction failed: every other write relies on it.
                    conn.execute_batch("PRAGMA synchronous = FULL")?;
                }
                out
            };
            run().map_err(|e| sql_error(entity, what, e))
        })
        .await
    }

    /// Syncs the WAL file, which holds every transaction committed with `synchronous=NORMAL` and
    /// not yet checkpointed (a checkpoint syncs what it copies). `fdatasync` on a descriptor of
    /// our own flushes the file's data whoever wrote it. No WAL file means nothing to sync: the
    /// last connection checkpointed it into the synced database and removed it.
    async fn sync_wal(&self) -> Result<()> {
        let mut wal = self.inner.path.clone().into_os_string();
        wal.push("-wal");
        blocking(move || match std::fs::File::open(&wal) {
            Ok(file) => file
                .sync_data()
                .map_err(|e| StoreError::Unavailable(format!("sync {}: {e}", Path::new(&wal).display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Unavailable(format!("open {}: {e}", Path::new(&wal).display()))),
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
        // The writer's page cache is 16 MiB rather than 2 MiB, so the upper levels of the
        // captures indexes stay cached between the processor's batches instead of being read
        // back for each. Readers keep the default: there are several, and they hold bodies.
        writer.execute_batch("PRAGMA cache_size = -16384").map_err(context)?;
        let mode = enable_wal(&writer).map_err(context)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "open database {}: journal mode is {mode}, WAL could not be enabled",
                path.display()
            )));
        }
        migrations::migrate(&mut writer)?;
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
    // A checkpoint every 16 MiB of WAL rather than SQLite's 4 MiB: under capture load the index
    // pages rewritten by every batch are copied to the database four times less often.
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 4000;")?;
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
    )?;
    // `hm_event_type_match(pattern, type)`: the `*` wildcard match of the event type filter.
    conn.create_scalar_function(
        "hm_event_type_match",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let pattern: String = ctx.get(0)?;
            let event: String = ctx.get(1)?;
            Ok(hookmetry_core::event_type_matches(&pattern, &event))
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

#[async_trait]
impl StoreHealth for SqliteStore {
    async fn health(&self) -> Result<()> {
        self.read("health check", |conn| conn.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}
