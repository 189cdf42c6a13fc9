//! Group commit: the one thread per topic that writes its active segment, many appends per sync.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::files::{at, private_file, segment_path, sync_dir};
use super::frame::{encode, framed_len};
use super::topic::{Segment, Shared};
use super::{lock, write};
use crate::{LogError, NewRecord, Position, Result};

/// Zeroed space written ahead of the active segment's data at a time.
pub(super) const PREALLOCATE_BYTES: u64 = 4 << 20;

pub(super) struct Request {
    pub(super) records: Vec<NewRecord>,
    pub(super) reply: oneshot::Sender<Result<Vec<Position>>>,
}

/// The only code that writes segments of its topic; runs on its own thread.
pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) file: Arc<File>,
    pub(super) size: u64,
    /// Physical length of the active file: `size` plus zeroed space written ahead (see
    /// `preallocate`).
    pub(super) allocated: u64,
    pub(super) next: u64,
    pub(super) syncs: Arc<AtomicU64>,
}

impl Writer {
    pub(super) fn run(mut self, mut queue: mpsc::Receiver<Request>) {
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

    pub(super) fn write(&mut self, batch: &[Request]) -> io::Result<Vec<Vec<Position>>> {
        if self.size > 0 && self.size >= self.shared.options.segment_bytes {
            self.roll()?;
        }
        let timestamp = now_micros();
        // Sized up front: growing it by doubling would copy every payload again.
        let total: u64 = batch.iter().flat_map(|r| &r.records).map(framed_len).sum();
        let mut buf = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let (mut starts, mut answers) = (Vec::new(), Vec::with_capacity(batch.len()));
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
    pub(super) fn preallocate(&mut self, needed: u64) -> io::Result<()> {
        let chunk = self.shared.options.segment_bytes.clamp(1, PREALLOCATE_BYTES);
        let target = needed.max(self.allocated + chunk);
        // From one static block rather than a fresh multi-MiB buffer each time, which the
        // allocator would map, fault in and unmap again.
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        while self.allocated < target {
            let n = (target - self.allocated).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], self.allocated)?;
            self.allocated += n as u64;
        }
        Ok(())
    }

    pub(super) fn roll(&mut self) -> io::Result<()> {
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

pub(super) fn fail(batch: Vec<Request>, reason: &str) {
    for request in batch {
        let _ = request.reply.send(Err(LogError::Unavailable(reason.to_owned())));
    }
}

/// The product's one wall clock (see `hookmetry_core::Timestamp::now`).
pub(super) fn now_micros() -> i64 {
    hookmetry_core::Timestamp::now().micros()
}
