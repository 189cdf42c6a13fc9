//! `EmbeddedLog`: the single-node log, kept as segment files on local disk.
//!
//! # Layout
//!
//! ```text
//! <dir>/<topic>/00000000000000000000.log   a segment, named by the offset of its first record
//! <dir>/<topic>/groups/<group>.offset      the group's committed offset, as decimal text
//! ```
//!
//! Each topic has one partition (0). Topic directories are created on first use of the name.
//!
//! # Record framing (all integers little-endian)
//!
//! ```text
//! len              u32   number of bytes after the crc field
//! crc              u32   CRC-32 (IEEE, crc32fast) of those `len` bytes
//! offset           u64
//! timestamp_micros i64   append time since the Unix epoch
//! key_len          u32   followed by the key
//! header_count     u32   followed by, per header in order:
//!                        name_len u32, name (UTF-8), value_len u32, value
//! payload                the remaining bytes of the record
//! ```
//!
//! # Durability
//!
//! One writer thread per topic owns the active segment. It takes a request, drains whatever else
//! is already queued (up to `max_batch_records`), writes the lot with one positional write,
//! `fdatasync`s once and only then publishes the new end offset and answers every caller. Readers
//! never read past the published end, so they never see a record that could vanish in a crash.
//! A failed write or sync fails the whole batch and poisons the topic: later appends get
//! `Unavailable` until the process restarts and recovery decides what survived.
//!
//! A segment is closed at the first batch that finds it at `segment_bytes` or more, so a segment
//! overshoots its size by at most one batch.
//!
//! # Recovery
//!
//! Opening scans every segment. The active segment normally ends in zeroed space written ahead
//! (a frame prefix of all zeros marks the end of data). It may also end in a torn or CRC-failing
//! record (a crash mid-write): the file is truncated after the last good record. Closed segments were synced in
//! full before their successor was created, so damage there is reported as `LogError::Corrupt`.
//!
//! # Retention and back-pressure
//!
//! - A topic with consumer groups deletes closed segments whose records are all below the lowest
//!   committed offset of its groups (checked on commit and on roll). Appends fail with
//!   `LogError::Full` while the bytes from that lowest commit to the end exceed
//!   `max_unconsumed_bytes`.
//! - A topic without groups (one that is only tailed) is never full; on roll it deletes its
//!   oldest closed segments while the topic holds more than `max_unconsumed_bytes`.
//! - The active segment is never deleted.
//!
//! # Consumer groups
//!
//! `consumer()` registers the group durably at the earliest retained offset if it has no commit,
//! so retention waits for it from then on. An embedded group is meant to have one member per
//! process: every consumer of a group reads from the last commit on its own, so two members of one
//! group in a process each receive every record, and commits are shared (they never go back).

mod files;
mod frame;
mod reader;
mod recovery;
mod topic;
mod writer;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use tokio::sync::oneshot;
use tracing::info;

use crate::{EventLog, GroupConsumer, LogError, NewRecord, Position, Result, Tail, validate_name};
use files::{at, private_dir, sync_dir};
use frame::framed_len;
use reader::{EmbeddedConsumer, EmbeddedTail, Follower};
use topic::Topic;
use writer::Request;

/// Appenders wait for queue space beyond this, which bounds memory under overload.
const QUEUE_REQUESTS: usize = 4096;

#[derive(Debug, Clone)]
pub struct EmbeddedLogOptions {
    /// Size at which the active segment is closed and a new one started.
    pub segment_bytes: u64,
    /// Per topic: bytes its slowest group has not committed before appends fail with `Full`
    /// (topics with groups), or size beyond which old segments are deleted (topics without).
    pub max_unconsumed_bytes: u64,
    /// Largest framed record (header, key, headers and payload) accepted.
    pub max_record_bytes: u64,
    /// Most records written under one fsync.
    pub max_batch_records: usize,
    /// Topics whose appends are written but not fsynced, for records worth nothing after a crash
    /// (live notifications whose listeners die with the process). `append` on them still returns
    /// only after the write, and readers see the records at once.
    pub volatile_topics: Vec<String>,
}

impl Default for EmbeddedLogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            max_unconsumed_bytes: 4 << 30,
            max_record_bytes: 128 << 20,
            max_batch_records: 1024,
            volatile_topics: Vec::new(),
        }
    }
}

pub struct EmbeddedLog {
    dir: PathBuf,
    options: EmbeddedLogOptions,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises topic creation so one topic never gets two writer threads.
    creating: tokio::sync::Mutex<()>,
    syncs: Arc<AtomicU64>,
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log in `dir`, recovering every topic already there.
    pub async fn open(dir: impl Into<PathBuf>, options: EmbeddedLogOptions) -> Result<Arc<Self>> {
        let dir = dir.into();
        let syncs = Arc::new(AtomicU64::new(0));
        let topics = {
            let (dir, options, syncs) = (dir.clone(), options.clone(), syncs.clone());
            blocking(move || {
                let fresh = !dir.exists();
                private_dir(&dir).map_err(at(&dir))?;
                // A new log directory must survive power loss too, or the first topics created
                // in it (and the captures acknowledged there) could vanish with it.
                if fresh && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    sync_dir(parent)?;
                }
                let mut topics = HashMap::new();
                for entry in fs::read_dir(&dir).map_err(at(&dir))? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if entry.file_type()?.is_dir() && validate_name(&name).is_ok() {
                        let topic = Topic::open(&dir, &name, &options, &syncs)?;
                        topics.insert(name, Arc::new(topic));
                    }
                }
                Ok(topics)
            })
            .await?
        };
        info!(dir = %dir.display(), topics = topics.len(), "embedded log opened");
        Ok(Arc::new(Self { dir, options, topics: RwLock::new(topics), creating: tokio::sync::Mutex::new(()), syncs }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of data syncs the writers have issued, all topics together. Far fewer than appends
    /// under concurrency: that is the point of group commit.
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    async fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        validate_name(name)?;
        if let Some(topic) = read(&self.topics).get(name) {
            return Ok(topic.clone());
        }
        let _creating = self.creating.lock().await;
        if let Some(topic) = read(&self.topics).get(name) {
            return Ok(topic.clone());
        }
        let (dir, owned, options, syncs) =
            (self.dir.clone(), name.to_owned(), self.options.clone(), self.syncs.clone());
        let topic = blocking(move || Topic::open(&dir, &owned, &options, &syncs)).await?;
        let topic = Arc::new(topic);
        write(&self.topics).insert(name.to_owned(), topic.clone());
        Ok(topic)
    }

    async fn submit(&self, topic: &str, records: Vec<NewRecord>) -> Result<Vec<Position>> {
        validate_name(topic)?;
        let limit = self.options.max_record_bytes.min(u64::from(u32::MAX));
        if let Some(size) = records.iter().map(framed_len).find(|&size| size > limit) {
            return Err(LogError::RecordTooLarge { size, limit });
        }
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let topic = self.topic(topic).await?;
        if let Some(reason) = topic.shared.failure() {
            return Err(LogError::Unavailable(reason));
        }
        topic.shared.check_full()?;
        let stopped = || LogError::Unavailable(format!("writer of topic `{}` stopped", topic.name()));
        let (reply, answer) = oneshot::channel();
        topic.requests.send(Request { records, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn append(&self, topic: &str, record: NewRecord) -> Result<Position> {
        let positions = self.submit(topic, vec![record]).await?;
        positions.into_iter().next().ok_or_else(|| LogError::Unavailable("writer answered without a position".into()))
    }

    async fn append_batch(&self, topic: &str, records: Vec<NewRecord>) -> Result<Vec<Position>> {
        self.submit(topic, records).await
    }

    async fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn GroupConsumer>> {
        validate_name(group)?;
        let shared = self.topic(topic).await?.shared.clone();
        let _commits = shared.commit_lock.lock().await;
        let start = match shared.committed(group) {
            Some(offset) => offset,
            None => {
                let (s, g) = (shared.clone(), group.to_owned());
                let start = s.earliest();
                blocking(move || s.store_commit(&g, start)).await?;
                info!(topic = shared.name, group, offset = start, "consumer group registered");
                start
            }
        };
        let follower = Follower { shared: shared.clone(), next: start };
        Ok(Box::new(EmbeddedConsumer { follower, group: group.to_owned() }))
    }

    async fn tail(&self, topic: &str) -> Result<Box<dyn Tail>> {
        let shared = self.topic(topic).await?.shared.clone();
        let next = shared.end_offset();
        Ok(Box::new(EmbeddedTail { follower: Follower { shared, next } }))
    }

    async fn health(&self) -> Result<()> {
        let topics: Vec<_> = read(&self.topics).values().cloned().collect();
        for topic in topics {
            if topic.writer.as_ref().is_none_or(|w| w.is_finished()) {
                return Err(LogError::Unavailable(format!("writer of topic `{}` stopped", topic.name())));
            }
            if let Some(reason) = topic.shared.failure() {
                return Err(LogError::Unavailable(reason));
            }
        }
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| LogError::Unavailable(format!("log task failed: {e}")))?
}

// Lock poisoning would only repeat another thread's panic; the data under these locks stays
// consistent because every update is a single assignment or push.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}
