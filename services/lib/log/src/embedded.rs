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

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf, Bytes};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use crate::{EventLog, GroupConsumer, LogError, NewRecord, Position, Record, Result, Tail, validate_name};

const GROUPS_DIR: &str = "groups";
/// `len` and `crc`, which precede the bytes the CRC covers.
const FRAME_PREFIX: u64 = 8;
/// offset, timestamp, key length and header count: the smallest body a record can have.
const MIN_BODY: u64 = 8 + 8 + 4 + 4;
/// Bounds the memory one poll reads at once; a single larger record is still returned whole.
const READ_BUDGET: u64 = 8 << 20;
/// Appenders wait for queue space beyond this, which bounds memory under overload.
const QUEUE_REQUESTS: usize = 4096;
/// Zeroed space written ahead of the active segment's data at a time.
const PREALLOCATE_BYTES: u64 = 4 << 20;

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

struct Topic {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Topic {
    /// Closes the queue (`requests` is its only sender) and waits for the writer to drain it and
    /// trim the active segment, so a dropped log's files are final when the next open looks.
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.requests, closed));
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Topic {
    fn name(&self) -> &str {
        &self.shared.name
    }

    /// Recovers (or creates) the topic's directory and starts its writer thread.
    fn open(root: &Path, name: &str, options: &EmbeddedLogOptions, syncs: &Arc<AtomicU64>) -> Result<Self> {
        let dir = root.join(name);
        let groups_dir = dir.join(GROUPS_DIR);
        let fresh = !dir.exists();
        private_dir(&groups_dir).map_err(at(&groups_dir))?;
        if fresh {
            sync_dir(root)?;
            sync_dir(&dir)?;
        }
        let groups = load_groups(&groups_dir)?;
        // Records a group has committed were acknowledged and consumed: no crash can have torn
        // them, so recovery must never cut there.
        let committed = groups.values().copied().max().unwrap_or(0);
        let segments = recover_segments(&dir, name, committed)?;
        let active = segments.last().expect("recovery leaves at least one segment");
        let (file, size, next) = (active.file.clone(), active.size, active.end_offset());
        let (end, _) = watch::channel(next);
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            dir,
            options: options.clone(),
            segments: RwLock::new(segments),
            end,
            groups: Mutex::new(groups),
            commit_lock: tokio::sync::Mutex::new(()),
            failure: Mutex::new(None),
        });
        let allocated = file.metadata()?.len().max(size);
        let writer = Writer { shared: shared.clone(), file, size, allocated, next, syncs: syncs.clone() };
        let (requests, queue) = mpsc::channel(QUEUE_REQUESTS);
        let writer = std::thread::Builder::new().name(format!("log-{name}")).spawn(move || writer.run(queue))?;
        debug!(topic = name, end_offset = next, "topic opened");
        Ok(Self { shared, requests, writer: Some(writer) })
    }
}

/// What the writer thread, readers and committers of one topic share.
struct Shared {
    name: String,
    dir: PathBuf,
    options: EmbeddedLogOptions,
    /// Oldest first; the last one is the active segment.
    segments: RwLock<Vec<Segment>>,
    /// Offset after the last durable record: readers never go past it.
    end: watch::Sender<u64>,
    groups: Mutex<HashMap<String, u64>>,
    /// Keeps commit files from being written out of order.
    commit_lock: tokio::sync::Mutex<()>,
    /// Why the writer gave up, once it has.
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn end_offset(&self) -> u64 {
        *self.end.borrow()
    }

    fn earliest(&self) -> u64 {
        read(&self.segments)[0].base
    }

    fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    fn committed(&self, group: &str) -> Option<u64> {
        lock(&self.groups).get(group).copied()
    }

    fn check_full(&self) -> Result<()> {
        let Some(lowest) = lock(&self.groups).values().min().copied() else {
            return Ok(());
        };
        let unconsumed: u64 = read(&self.segments)
            .iter()
            .filter(|s| s.end_offset() > lowest)
            .map(|s| if s.base >= lowest { s.size } else { s.size - s.span(lowest).0 })
            .sum();
        let limit_bytes = self.options.max_unconsumed_bytes;
        if unconsumed > limit_bytes {
            debug!(topic = self.name, unconsumed, limit_bytes, "append refused: log full");
            return Err(LogError::Full { topic: self.name.clone(), limit_bytes });
        }
        Ok(())
    }

    /// Persists a commit: temp file, fsync, rename, fsync of the directory.
    fn store_commit(&self, group: &str, offset: u64) -> Result<()> {
        let dir = self.dir.join(GROUPS_DIR);
        let path = dir.join(format!("{group}.offset"));
        let tmp = dir.join(format!("{group}.offset.tmp"));
        let mut file = private_file().write(true).truncate(true).open(&tmp).map_err(at(&tmp))?;
        file.write_all(format!("{offset}\n").as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &path).map_err(at(&path))?;
        sync_dir(&dir)?;
        let mut groups = lock(&self.groups);
        let stored = groups.entry(group.to_owned()).or_insert(offset);
        *stored = (*stored).max(offset);
        Ok(())
    }

    /// Deletes closed segments no group needs, or (for topics without groups) the oldest ones
    /// beyond the size limit. Blocking: call from the writer thread or `spawn_blocking`.
    fn retain(&self) {
        let lowest = lock(&self.groups).values().min().copied();
        let doomed: Vec<Segment> = {
            let mut segments = write(&self.segments);
            let closed = segments.len() - 1;
            let mut total: u64 = segments.iter().map(|s| s.size).sum();
            let mut n = 0;
            while n < closed {
                let segment = &segments[n];
                let unneeded = match lowest {
                    Some(lowest) => segment.end_offset() <= lowest,
                    None => total > self.options.max_unconsumed_bytes,
                };
                if !unneeded {
                    break;
                }
                total -= segment.size;
                n += 1;
            }
            segments.drain(..n).collect()
        };
        for segment in doomed {
            // Readers still holding the file keep reading it; unlinking only frees the name.
            match fs::remove_file(&segment.path) {
                Ok(()) => info!(
                    topic = self.name,
                    file = %segment.path.display(),
                    base_offset = segment.base,
                    records = segment.positions.len(),
                    "deleted segment"
                ),
                Err(e) => warn!(
                    topic = self.name,
                    file = %segment.path.display(),
                    error = %e,
                    "cannot delete segment"
                ),
            }
        }
    }

    /// Reads records `[from, to)`, at most `max` of them and about `READ_BUDGET` bytes.
    async fn read_records(&self, from: u64, to: u64, max: usize) -> Result<Vec<Record>> {
        let chunks = {
            let segments = read(&self.segments);
            // Retention may have run since the caller looked; what it deleted is skipped.
            let mut offset = from.max(segments[0].base);
            let (mut taken, mut bytes, mut chunks) = (0usize, 0u64, Vec::new());
            for segment in segments.iter() {
                if segment.end_offset() <= offset {
                    continue;
                }
                let (first, start) = (offset, segment.span(offset).0);
                let mut stop = start;
                while offset < to.min(segment.end_offset()) && taken < max {
                    let record_end = segment.span(offset).1;
                    if taken > 0 && bytes + (record_end - stop) > READ_BUDGET {
                        break;
                    }
                    bytes += record_end - stop;
                    (stop, offset, taken) = (record_end, offset + 1, taken + 1);
                }
                if offset > first {
                    chunks.push(Chunk {
                        file: segment.file.clone(),
                        path: segment.path.clone(),
                        position: start,
                        len: stop - start,
                        first,
                        count: (offset - first) as usize,
                    });
                }
                if offset < segment.end_offset() {
                    break;
                }
            }
            chunks
        };
        let topic = self.name.clone();
        blocking(move || {
            let mut records = Vec::new();
            for chunk in chunks {
                records.extend(chunk.read(&topic)?);
            }
            Ok(records)
        })
        .await
    }
}

struct Segment {
    base: u64,
    path: PathBuf,
    file: Arc<File>,
    /// File position of each durable record: record `base + i` starts at `positions[i]`.
    positions: Vec<u64>,
    /// Durable length of the file.
    size: u64,
}

impl Segment {
    fn end_offset(&self) -> u64 {
        self.base + self.positions.len() as u64
    }

    /// Start and end file positions of the record at `offset`, which must be in this segment.
    fn span(&self, offset: u64) -> (u64, u64) {
        let i = (offset - self.base) as usize;
        (self.positions[i], self.positions.get(i + 1).copied().unwrap_or(self.size))
    }
}

/// Consecutive records of one segment, read with one positional read.
struct Chunk {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    len: u64,
    first: u64,
    count: usize,
}

impl Chunk {
    fn read(&self, topic: &str) -> Result<Vec<Record>> {
        let mut buf = vec![0; self.len as usize];
        self.file.read_exact_at(&mut buf, self.position).map_err(at(&self.path))?;
        let mut rest = Bytes::from(buf);
        let mut position = self.position;
        let mut records = Vec::with_capacity(self.count);
        for offset in self.first..self.first + self.count as u64 {
            let (record, used) = decode(&rest, topic, offset).map_err(|why| {
                LogError::Corrupt(format!("{}: {why} in the record at byte {position}", self.path.display()))
            })?;
            rest.advance(used);
            position += used as u64;
            records.push(record);
        }
        Ok(records)
    }
}

struct Request {
    records: Vec<NewRecord>,
    reply: oneshot::Sender<Result<Vec<Position>>>,
}

/// The only code that writes segments of its topic; runs on its own thread.
struct Writer {
    shared: Arc<Shared>,
    file: Arc<File>,
    size: u64,
    /// Physical length of the active file: `size` plus zeroed space written ahead (see
    /// `preallocate`).
    allocated: u64,
    next: u64,
    syncs: Arc<AtomicU64>,
}

impl Writer {
    fn run(mut self, mut queue: mpsc::Receiver<Request>) {
        let max_batch = self.shared.options.max_batch_records.max(1);
        while let Some(first) = queue.blocking_recv() {
            let mut records = first.records.len();
            let mut batch = vec![first];
            while records < max_batch {
                match queue.try_recv() {
                    Ok(request) => {
                        records += request.records.len();
                        batch.push(request);
                    }
                    Err(_) => break,
                }
            }
            if let Some(reason) = self.shared.failure() {
                fail(batch, &reason);
                continue;
            }
            match self.write(&batch) {
                Ok(positions) => {
                    for (request, positions) in batch.into_iter().zip(positions) {
                        // The caller may have given up waiting; the record is stored regardless.
                        let _ = request.reply.send(Ok(positions));
                    }
                }
                Err(e) => {
                    let reason = format!("writing topic `{}` failed: {e}", self.shared.name);
                    error!(topic = self.shared.name, error = %e, records, "log write failed; topic poisoned");
                    *lock(&self.shared.failure) = Some(reason.clone());
                    fail(batch, &reason);
                }
            }
        }
        // A clean close leaves the active segment holding exactly its records, like a closed one.
        if self.allocated > self.size && self.shared.failure().is_none() {
            let trimmed = self.file.set_len(self.size).and_then(|()| self.file.sync_all());
            if let Err(e) = trimmed {
                warn!(topic = self.shared.name, error = %e, "could not trim preallocated space");
            }
        }
        debug!(topic = self.shared.name, "log writer stopped");
    }

    fn write(&mut self, batch: &[Request]) -> io::Result<Vec<Vec<Position>>> {
        if self.size > 0 && self.size >= self.shared.options.segment_bytes {
            self.roll()?;
        }
        let timestamp = now_micros();
        let (mut buf, mut starts, mut answers) = (Vec::new(), Vec::new(), Vec::new());
        let mut offset = self.next;
        for request in batch {
            let mut positions = Vec::with_capacity(request.records.len());
            for record in &request.records {
                starts.push(self.size + buf.len() as u64);
                encode(&mut buf, offset, timestamp, record);
                positions.push(Position { partition: 0, offset });
                offset += 1;
            }
            answers.push(positions);
        }
        let end = self.size + buf.len() as u64;
        if end > self.allocated {
            self.preallocate(end)?;
        }
        self.file.write_all_at(&buf, self.size)?;
        if !self.shared.options.volatile_topics.contains(&self.shared.name) {
            self.file.sync_data()?;
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        self.size += buf.len() as u64;
        self.next = offset;
        {
            let mut segments = write(&self.shared.segments);
            let active = segments.last_mut().expect("a topic always has an active segment");
            active.positions.extend(starts);
            active.size = self.size;
        }
        self.shared.end.send_replace(self.next);
        Ok(answers)
    }

    /// Writes zeros ahead of the data so that most batches overwrite space the file already has.
    /// Then `fdatasync` only flushes data: an append that grows the file must also write the
    /// inode (its size) synchronously, which on this kind of disk doubles the cost of every
    /// acknowledged batch. The zeros read as "no record here" on recovery.
    fn preallocate(&mut self, needed: u64) -> io::Result<()> {
        let chunk = self.shared.options.segment_bytes.clamp(1, PREALLOCATE_BYTES);
        let target = needed.max(self.allocated + chunk);
        let zeros = vec![0u8; (target - self.allocated) as usize];
        self.file.write_all_at(&zeros, self.allocated)?;
        self.allocated = target;
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        // A closed segment holds exactly its records: cut the zeroed space written ahead.
        if self.allocated > self.size {
            self.file.set_len(self.size)?;
            self.file.sync_all()?;
        }
        let path = segment_path(&self.shared.dir, self.next);
        let file = private_file().read(true).write(true).create_new(true).open(&path).map_err(at(&path))?;
        sync_dir(&self.shared.dir)?;
        let file = Arc::new(file);
        write(&self.shared.segments).push(Segment {
            base: self.next,
            path,
            file: file.clone(),
            positions: Vec::new(),
            size: 0,
        });
        info!(topic = self.shared.name, base_offset = self.next, closed_bytes = self.size, "rolled to a new segment");
        (self.file, self.size, self.allocated) = (file, 0, 0);
        self.shared.retain();
        Ok(())
    }
}

fn fail(batch: Vec<Request>, reason: &str) {
    for request in batch {
        let _ = request.reply.send(Err(LogError::Unavailable(reason.to_owned())));
    }
}

/// Reads from an offset up to the durable end, waiting for new records.
struct Follower {
    shared: Arc<Shared>,
    next: u64,
}

impl Follower {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        let mut end = self.shared.end.subscribe();
        loop {
            let durable = *end.borrow_and_update();
            let earliest = self.shared.earliest();
            if self.next < earliest {
                warn!(topic = self.shared.name, from = self.next, earliest, "records deleted before they were read");
                self.next = earliest;
            }
            if self.next < durable {
                let records = self.shared.read_records(self.next, durable, max).await?;
                if let Some(last) = records.last() {
                    self.next = last.offset + 1;
                }
                return Ok(records);
            }
            match tokio::time::timeout_at(deadline, end.changed()).await {
                Ok(Ok(())) => continue,
                _ => return Ok(Vec::new()),
            }
        }
    }
}

struct EmbeddedConsumer {
    follower: Follower,
    group: String,
}

#[async_trait]
impl GroupConsumer for EmbeddedConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>> {
        self.follower.next_batch(max, wait).await
    }

    async fn commit(&mut self, records: &[Record]) -> Result<()> {
        let shared = self.follower.shared.clone();
        let Some(next) =
            records.iter().filter(|r| r.topic == shared.name && r.partition == 0).map(|r| r.offset + 1).max()
        else {
            return Ok(());
        };
        self.follower.next = self.follower.next.max(next);
        let _commits = shared.commit_lock.lock().await;
        if shared.committed(&self.group).is_some_and(|c| c >= next) {
            return Ok(());
        }
        let (s, group) = (shared.clone(), self.group.clone());
        blocking(move || {
            s.store_commit(&group, next)?;
            s.retain();
            Ok(())
        })
        .await
    }

    async fn lag(&mut self) -> Result<u64> {
        let shared = &self.follower.shared;
        let committed = shared.committed(&self.group).unwrap_or_else(|| shared.earliest());
        Ok(shared.end_offset().saturating_sub(committed))
    }
}

struct EmbeddedTail {
    follower: Follower,
}

#[async_trait]
impl Tail for EmbeddedTail {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>> {
        self.follower.next_batch(max, wait).await
    }
}

fn framed_len(record: &NewRecord) -> u64 {
    let headers: usize = record.headers.iter().map(|(n, v)| 8 + n.len() + v.len()).sum();
    FRAME_PREFIX + MIN_BODY + (record.key.len() + headers + record.payload.len()) as u64
}

fn encode(buf: &mut Vec<u8>, offset: u64, timestamp_micros: i64, record: &NewRecord) {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_PREFIX as usize]);
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp_micros.to_le_bytes());
    buf.extend_from_slice(&(record.key.len() as u32).to_le_bytes());
    buf.extend_from_slice(&record.key);
    buf.extend_from_slice(&(record.headers.len() as u32).to_le_bytes());
    for (name, value) in &record.headers {
        buf.extend_from_slice(&(name.len() as u32).to_le_bytes());
        buf.extend_from_slice(name.as_bytes());
        buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
        buf.extend_from_slice(value);
    }
    buf.extend_from_slice(&record.payload);
    let body = start + FRAME_PREFIX as usize;
    let len = (buf.len() - body) as u32;
    let crc = crc32fast::hash(&buf[body..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..body].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `buf`; returns it and its framed length.
fn decode(buf: &Bytes, topic: &str, expected: u64) -> Result<(Record, usize), &'static str> {
    let mut frame = Fields(buf.clone());
    let len = frame.u32()? as usize;
    let crc = frame.u32()?;
    let mut body = Fields(frame.take(len)?);
    if crc32fast::hash(&body.0) != crc {
        return Err("crc mismatch");
    }
    let offset = body.u64()?;
    if offset != expected {
        return Err("unexpected offset");
    }
    let timestamp_micros = body.u64()? as i64;
    let key_len = body.u32()? as usize;
    let key = body.take(key_len)?;
    let count = body.u32()?;
    let mut headers = Vec::with_capacity(count.min(64) as usize);
    for _ in 0..count {
        let name_len = body.u32()? as usize;
        let name = String::from_utf8(body.take(name_len)?.to_vec()).map_err(|_| "header name is not utf-8")?;
        let value_len = body.u32()? as usize;
        headers.push((name, body.take(value_len)?));
    }
    let record =
        Record { topic: topic.to_owned(), partition: 0, offset, key, payload: body.0, headers, timestamp_micros };
    Ok((record, FRAME_PREFIX as usize + len))
}

/// Bounds-checked little-endian field reader.
struct Fields(Bytes);

impl Fields {
    fn take(&mut self, n: usize) -> Result<Bytes, &'static str> {
        if self.0.len() < n {
            return Err("record truncated");
        }
        Ok(self.0.split_to(n))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(self.take(4)?.get_u32_le())
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(self.take(8)?.get_u64_le())
    }
}

fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Scans the topic's segments, truncating a torn tail, and returns them oldest first.
fn recover_segments(dir: &Path, topic: &str, committed: u64) -> Result<Vec<Segment>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let name = entry?.file_name();
        let base = name.to_str().and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse().ok());
        if let Some(base) = base {
            found.push((base, dir.join(&name)));
        }
    }
    found.sort_unstable();
    if found.is_empty() {
        let path = segment_path(dir, 0);
        private_file().write(true).truncate(true).open(&path).map_err(at(&path))?;
        sync_dir(dir)?;
        found.push((0, path));
    }
    let last = found.len() - 1;
    let mut segments: Vec<Segment> = Vec::with_capacity(found.len());
    for (i, (base, path)) in found.into_iter().enumerate() {
        if let Some(previous) = segments.last()
            && previous.end_offset() != base
        {
            return Err(LogError::Corrupt(format!(
                "{}: segment starts at offset {base} but the previous one ends at {}",
                path.display(),
                previous.end_offset()
            )));
        }
        let scan = scan_segment(&path, base)?;
        if i == last && scan.problem.is_none() && scan.good_len < scan.file_len {
            // Zeroed space written ahead. Cut it, rather than overwrite it later: if a torn write
            // left stray bytes past the zeros, they must not resurface behind new records.
            let file = OpenOptions::new().write(true).open(&path).map_err(at(&path))?;
            file.set_len(scan.good_len)?;
            file.sync_all()?;
        }
        if let Some(why) = scan.problem {
            let kept_end = base + scan.positions.len() as u64;
            if i != last {
                return Err(LogError::Corrupt(format!("{}: {why} at byte {}", path.display(), scan.good_len)));
            }
            if kept_end < committed {
                return Err(LogError::Corrupt(format!(
                    "{}: {why} at byte {} (offset {kept_end}), but offsets below {committed} were already consumed: \
                     refusing to drop acknowledged records",
                    path.display(),
                    scan.good_len
                )));
            }
            warn!(
                topic,
                file = %path.display(),
                position = scan.good_len,
                dropped_bytes = scan.file_len - scan.good_len,
                reason = why,
                "truncating torn tail of the log"
            );
            let file = OpenOptions::new().write(true).open(&path).map_err(at(&path))?;
            file.set_len(scan.good_len)?;
            file.sync_all()?;
        }
        let file = OpenOptions::new().read(true).write(i == last).open(&path).map_err(at(&path))?;
        segments.push(Segment { base, path, file: Arc::new(file), positions: scan.positions, size: scan.good_len });
    }
    Ok(segments)
}

struct Scan {
    positions: Vec<u64>,
    good_len: u64,
    file_len: u64,
    /// Why the scan stopped before the end of the file.
    problem: Option<&'static str>,
}

fn scan_segment(path: &Path, base: u64) -> Result<Scan> {
    let file = File::open(path).map_err(at(path))?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut scan = Scan { positions: Vec::new(), good_len: 0, file_len, problem: None };
    let mut body = Vec::new();
    while scan.good_len < file_len {
        let remaining = file_len - scan.good_len;
        if remaining < FRAME_PREFIX + MIN_BODY {
            scan.problem = Some("partial record header");
            break;
        }
        let mut prefix = [0; FRAME_PREFIX as usize];
        reader.read_exact(&mut prefix).map_err(at(path))?;
        let len = u64::from(u32::from_le_bytes(prefix[..4].try_into().expect("4 bytes")));
        let crc = u32::from_le_bytes(prefix[4..].try_into().expect("4 bytes"));
        if len == 0 && crc == 0 {
            // Zeroed space written ahead by the writer: the data ends here. Left in place so the
            // writer keeps overwriting allocated space instead of growing the file.
            break;
        }
        if len < MIN_BODY {
            scan.problem = Some("impossible record length");
            break;
        }
        if len > remaining - FRAME_PREFIX {
            scan.problem = Some("record runs past the end of the file");
            break;
        }
        body.resize(len as usize, 0);
        reader.read_exact(&mut body).map_err(at(path))?;
        if crc32fast::hash(&body) != crc {
            scan.problem = Some("crc mismatch");
            break;
        }
        // A record with a good CRC but the wrong offset is not a torn write: never truncate it.
        let offset = u64::from_le_bytes(body[..8].try_into().expect("8 bytes"));
        let expected = base + scan.positions.len() as u64;
        if offset != expected {
            return Err(LogError::Corrupt(format!(
                "{}: record at byte {} has offset {offset}, expected {expected}",
                path.display(),
                scan.good_len
            )));
        }
        scan.positions.push(scan.good_len);
        scan.good_len += FRAME_PREFIX + len;
    }
    Ok(scan)
}

fn load_groups(dir: &Path) -> Result<HashMap<String, u64>> {
    let mut groups = HashMap::new();
    for entry in fs::read_dir(dir).map_err(at(dir))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".tmp") {
            // A commit interrupted before its rename; the previous commit file still stands.
            fs::remove_file(&path).map_err(at(&path))?;
        } else if let Some(group) = name.strip_suffix(".offset") {
            let text = fs::read_to_string(&path).map_err(at(&path))?;
            let offset = text
                .trim()
                .parse()
                .map_err(|_| LogError::Corrupt(format!("{}: not an offset: {text:?}", path.display())))?;
            groups.insert(group.to_owned(), offset);
        }
    }
    Ok(groups)
}

/// Options that create a file only its owner can read: captures are secrets of their senders.
fn private_file() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o
}

/// `create_dir_all` with new directories only their owner can enter.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Adds the path to an I/O error, which otherwise does not say which file failed.
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The product's one wall clock (see `hookmetry_core::Timestamp::now`).
fn now_micros() -> i64 {
    hookmetry_core::Timestamp::now().micros()
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
