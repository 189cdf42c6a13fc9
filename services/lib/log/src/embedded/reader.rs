//! Reading a topic: batches of records up to the durable end, for consumer groups and tails.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf, Bytes};
use tracing::warn;

use super::files::at;
use super::frame::decode;
use super::topic::Shared;
use super::{blocking, read};
use crate::{GroupConsumer, LogError, Record, Result, Tail};

/// Bounds the memory one poll reads at once; a single larger record is still returned whole.
pub(super) const READ_BUDGET: u64 = 8 << 20;

impl Shared {
    /// Reads records `[from, to)`, at most `max` of them and about `READ_BUDGET` bytes.
    pub(super) async fn read_records(&self, from: u64, to: u64, max: usize) -> Result<Vec<Record>> {
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

/// Consecutive records of one segment, read with one positional read.
pub(super) struct Chunk {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    len: u64,
    first: u64,
    count: usize,
}

impl Chunk {
    pub(super) fn read(&self, topic: &str) -> Result<Vec<Record>> {
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

/// Reads from an offset up to the durable end, waiting for new records.
pub(super) struct Follower {
    pub(super) shared: Arc<Shared>,
    pub(super) next: u64,
}

impl Follower {
    pub(super) async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>> {
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

pub(super) struct EmbeddedConsumer {
    pub(super) follower: Follower,
    pub(super) group: String,
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

pub(super) struct EmbeddedTail {
    pub(super) follower: Follower,
}

#[async_trait]
impl Tail for EmbeddedTail {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>> {
        self.follower.next_batch(max, wait).await
    }
}
