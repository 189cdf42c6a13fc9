//! Offset commits, batched: at most every `processor.commit_interval`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hookmetry_log::{GroupConsumer, Record};
use hookmetry_store::CaptureStore;

/// The newest stored record per partition, not yet committed.
///
/// Persist, then commit: a record enters here only after its capture is stored, and every store
/// write is idempotent on the capture id assigned at ingest. So committing late (at most every
/// `commit_interval`) or not at all before a crash only means those captures are stored again,
/// harmlessly; it saves several fsyncs per batch under load.
#[derive(Default)]
pub(crate) struct PendingCommit {
    last: BTreeMap<u32, Record>,
    since: Option<Instant>,
    pub(crate) records: u64,
}

impl PendingCommit {
    pub(crate) fn add(&mut self, batch: &[Record]) {
        for r in batch {
            self.last.insert(r.partition, r.clone());
        }
        self.records += batch.len() as u64;
        self.since.get_or_insert_with(Instant::now);
    }

    pub(crate) fn due(&self, interval: Duration) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= interval)
    }

    /// Syncs the store, then commits. The store may keep a batch only in memory or an unsynced
    /// file until `sync_captures` (SQLite's WAL): an offset committed before that could skip
    /// captures a power loss took from the store.
    pub(crate) async fn commit(&mut self, consumer: &mut dyn GroupConsumer, store: &dyn CaptureStore) {
        if self.last.is_empty() {
            return;
        }
        if let Err(e) = store.sync_captures().await {
            tracing::warn!(error = %e, "store sync failed; offsets not committed, will retry");
            self.since = Some(Instant::now());
            return;
        }
        let records: Vec<Record> = self.last.values().cloned().collect();
        match consumer.commit(&records).await {
            Ok(()) => {
                self.last.clear();
                self.since = None;
                self.records = 0;
            }
            // Kept for the next attempt, one interval later (a rebalance in progress fails every
            // commit until it ends); until then a crash re-stores, which is safe.
            Err(e) => {
                tracing::warn!(error = %e, "offset commit failed; will retry");
                self.since = Some(Instant::now());
            }
        }
    }
}
