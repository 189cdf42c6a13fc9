//! One topic: its segments, its consumer groups' commits, retention, and the writer thread that
//! owns its active segment.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::files::{at, private_dir, private_file, sync_dir};
use super::recovery::{load_groups, recover_segments};
use super::writer::{Request, Writer};
use super::{EmbeddedLogOptions, QUEUE_REQUESTS, lock, read, write};
use crate::{LogError, Result};

pub(super) const GROUPS_DIR: &str = "groups";

pub(super) struct Topic {
    pub(super) shared: Arc<Shared>,
    pub(super) requests: mpsc::Sender<Request>,
    pub(super) writer: Option<std::thread::JoinHandle<()>>,
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
    pub(super) fn name(&self) -> &str {
        &self.shared.name
    }

    /// Recovers (or creates) the topic's directory and starts its writer thread.
    pub(super) fn open(root: &Path, name: &str, options: &EmbeddedLogOptions, syncs: &Arc<AtomicU64>) -> Result<Self> {
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
pub(super) struct Shared {
    pub(super) name: String,
    pub(super) dir: PathBuf,
    pub(super) options: EmbeddedLogOptions,
    /// Oldest first; the last one is the active segment.
    pub(super) segments: RwLock<Vec<Segment>>,
    /// Offset after the last durable record: readers never go past it.
    pub(super) end: watch::Sender<u64>,
    pub(super) groups: Mutex<HashMap<String, u64>>,
    /// Keeps commit files from being written out of order.
    pub(super) commit_lock: tokio::sync::Mutex<()>,
    /// Why the writer gave up, once it has.
    pub(super) failure: Mutex<Option<String>>,
}

impl Shared {
    pub(super) fn end_offset(&self) -> u64 {
        *self.end.borrow()
    }

    pub(super) fn earliest(&self) -> u64 {
        read(&self.segments)[0].base
    }

    pub(super) fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    pub(super) fn committed(&self, group: &str) -> Option<u64> {
        lock(&self.groups).get(group).copied()
    }

    pub(super) fn check_full(&self) -> Result<()> {
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
    pub(super) fn store_commit(&self, group: &str, offset: u64) -> Result<()> {
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
    pub(super) fn retain(&self) {
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
}

pub(super) struct Segment {
    pub(super) base: u64,
    pub(super) path: PathBuf,
    pub(super) file: Arc<File>,
    /// File position of each durable record: record `base + i` starts at `positions[i]`.
    pub(super) positions: Vec<u64>,
    /// Durable length of the file.
    pub(super) size: u64,
}

impl Segment {
    pub(super) fn end_offset(&self) -> u64 {
        self.base + self.positions.len() as u64
    }

    /// Start and end file positions of the record at `offset`, which must be in this segment.
    pub(super) fn span(&self, offset: u64) -> (u64, u64) {
        let i = (offset - self.base) as usize;
        (self.positions[i], self.positions.get(i + 1).copied().unwrap_or(self.size))
    }
}
