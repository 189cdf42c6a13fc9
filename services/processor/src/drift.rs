//! Schema drift: the processor learns the JSON shape of each event type's bodies per endpoint
//! and records what a capture changed in it.
//!
//! Off the capture path: after a batch is stored, its captures that name an event type and have a
//! JSON-looking body are offered to a bounded queue, and a task of its own infers their shapes
//! (on a blocking thread, within [`hookmetry_shape::Limits`]), compares them with what was seen
//! before, and writes the results in batches. A full queue drops the capture from the analysis
//! and counts it: drift analysis never slows storing, and is at most once (a capture the process
//! did not get to before stopping is not analysed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, EndpointId, EventShape, TeamId, Timestamp, Verification};
use hookmetry_proto::{CaptureChange, CaptureChangeKind};
use hookmetry_replay::Announcer;
use hookmetry_shape::{Limits, Shape};
use hookmetry_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::ProcessorMetrics;

/// Captures waiting for analysis; beyond this they are dropped (and counted).
pub(crate) const QUEUE: usize = 4_096;
/// Most captures analysed, and shapes written, in one round.
const ROUND: usize = 256;
/// Event types learned per endpoint: anyone holding a capture URL chooses the types, so each
/// endpoint's shapes are bounded; captures of further types are not analysed.
pub const MAX_TYPES_PER_ENDPOINT: usize = 100;
/// Shapes kept in memory; beyond it the cache is emptied (after every shape is stored).
const CACHE: usize = 2_048;
/// After the first capture of a round arrives, how long the worker waits for more: one round (a
/// blocking task and two store writes) per few hundred captures under load, not per batch.
const LINGER: Duration = Duration::from_millis(100);
/// How long a shape whose counts changed, but not its fields or types, may wait to be stored: a
/// shape is rewritten whole, and rewriting it after every round would cost more than learning it.
/// A crash loses at most this much of the counts; a shape that changed is stored in its round.
const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// What the analysis of one capture needs.
pub(crate) struct Item {
    capture: CaptureId,
    endpoint: EndpointId,
    team: TeamId,
    event_type: String,
    body: Bytes,
}

/// The limits one capture's analysis stays within. More fields than the crate's default: a
/// GitHub `pull_request` event has over 500 paths.
pub fn limits() -> Limits {
    Limits { max_fields: 1_024, ..Limits::default() }
}

/// The captures of a stored batch worth analysing: a type, and a body that starts like JSON.
pub(crate) fn items(captures: &[CapturedRequest], results: &[(CaptureId, Verification)]) -> Vec<Item> {
    let types: HashMap<CaptureId, &str> =
        results.iter().filter_map(|(id, v)| v.event.kind.as_deref().map(|t| (*id, t))).collect();
    captures
        .iter()
        .filter_map(|c| {
            let event_type = types.get(&c.id)?;
            let first = c.body.iter().find(|b| !b.is_ascii_whitespace())?;
            matches!(first, b'{' | b'[').then(|| Item {
                capture: c.id,
                endpoint: c.endpoint_id,
                team: c.team_id,
                event_type: event_type.to_string(),
                // Shares the capture's buffer: no copy of the body.
                body: c.body.clone(),
            })
        })
        .collect()
}

/// The worker: receives items, analyses them a round at a time, writes what it learned.
pub(crate) struct Worker {
    store: Arc<dyn Store>,
    announcer: Announcer,
    metrics: Arc<ProcessorMetrics>,
    shapes: HashMap<(EndpointId, String), Shape>,
    /// Shapes learned from since they were last stored.
    dirty: std::collections::HashSet<(EndpointId, String)>,
    last_flush: std::time::Instant,
    /// Known event types per endpoint, loaded once per endpoint.
    types: HashMap<EndpointId, usize>,
}

impl Worker {
    pub(crate) fn new(store: Arc<dyn Store>, announcer: Announcer, metrics: Arc<ProcessorMetrics>) -> Self {
        Worker {
            store,
            announcer,
            metrics,
            shapes: HashMap::new(),
            dirty: Default::default(),
            last_flush: std::time::Instant::now(),
            types: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Item>, shutdown: CancellationToken) {
        let mut round = Vec::with_capacity(ROUND);
        loop {
            tokio::select! {
                n = tokio::time::timeout(FLUSH_EVERY, rx.recv_many(&mut round, ROUND)) => match n {
                    Ok(0) => break,
                    Ok(_) => {}
                    // Quiet: store what was learned since the last flush.
                    Err(_) => {
                        if let Err(e) = self.flush(false).await {
                            tracing::warn!(error = %e, "schema drift shapes not stored; retried at the next flush");
                        }
                        continue;
                    }
                },
                () = shutdown.cancelled() => break,
            }
            // More captures join the round for a moment: one round per few hundred under load.
            let linger = tokio::time::sleep(LINGER);
            tokio::pin!(linger);
            while round.len() < ROUND {
                let room = ROUND - round.len();
                tokio::select! {
                    n = rx.recv_many(&mut round, room) => if n == 0 { break },
                    () = &mut linger => break,
                }
            }
            if let Err(e) = self.round(std::mem::take(&mut round)).await {
                // Nothing to retry: the analysis is at most once, and the next captures go on.
                tracing::warn!(error = %e, "schema drift round failed; its captures are not analysed");
                self.shapes.clear();
                self.dirty.clear();
                self.types.clear();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        if let Err(e) = self.flush(true).await {
            tracing::warn!(error = %e, "schema drift shapes not stored at stop");
        }
    }

    /// The stored shape of `key`, a new one when none is stored and the endpoint has room for
    /// another type, or `None` when it has not.
    async fn load(&mut self, key: &(EndpointId, String)) -> Result<Option<Shape>, hookmetry_store::StoreError> {
        let (endpoint, event_type) = key;
        if !self.types.contains_key(endpoint) {
            let known = self.store.event_shapes(*endpoint, MAX_TYPES_PER_ENDPOINT + 1).await?.len();
            self.types.insert(*endpoint, known);
        }
        if let Some(stored) = self.store.event_shape(*endpoint, event_type).await? {
            return Ok(Some(serde_json::from_str::<Shape>(&stored.shape).unwrap_or_else(|e| {
                tracing::warn!(endpoint_id = %endpoint, event_type = %event_type, error = %e, "stored shape unreadable; learning it again");
                Shape::default()
            })));
        }
        let known = self.types.entry(*endpoint).or_default();
        if *known >= MAX_TYPES_PER_ENDPOINT {
            return Ok(None);
        }
        *known += 1;
        Ok(Some(Shape::default()))
    }

    /// Stores the dirty shapes when `now`, or when they have waited [`FLUSH_EVERY`].
    async fn flush(&mut self, now: bool) -> Result<(), hookmetry_store::StoreError> {
        if self.dirty.is_empty() || !(now || self.last_flush.elapsed() >= FLUSH_EVERY) {
            return Ok(());
        }
        let at = Timestamp::now();
        let shapes: Vec<EventShape> = self
            .dirty
            .iter()
            .filter_map(|key| {
                let shape = self.shapes.get(key)?;
                Some(EventShape {
                    endpoint_id: key.0,
                    event_type: key.1.clone(),
                    shape: serde_json::to_string(shape).expect("a shape serializes"),
                    samples: shape.samples(),
                    updated_at: at,
                })
            })
            .collect();
        self.store.put_event_shapes(&shapes).await?;
        self.dirty.clear();
        self.last_flush = std::time::Instant::now();
        Ok(())
    }

    async fn round(&mut self, items: Vec<Item>) -> Result<(), hookmetry_store::StoreError> {
        // The round's captures grouped by shape, in arrival order within each: every capture of
        // a type is compared with the shape as the ones before it left it.
        let mut groups: Vec<((EndpointId, String), Vec<Item>)> = Vec::new();
        let mut index: HashMap<(EndpointId, String), usize> = HashMap::new();
        for item in items {
            let key = (item.endpoint, item.event_type.clone());
            match index.get(&key) {
                Some(&i) => groups[i].1.push(item),
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push((key, vec![item]));
                }
            }
        }
        // Each group's shape, from the cache or the store; types past the bound skipped.
        let mut work = Vec::with_capacity(groups.len());
        for (key, items) in groups {
            let shape = match self.shapes.remove(&key) {
                Some(shape) => shape,
                None => match self.load(&key).await? {
                    Some(shape) => shape,
                    None => {
                        self.metrics.drift.with_label_values(&["type_limit"]).inc_by(items.len() as u64);
                        continue;
                    }
                },
            };
            work.push((key, shape, items));
        }
        // Inference and comparison are CPU work on bodies anyone can send: a blocking thread.
        let limits = limits();
        let done = tokio::task::spawn_blocking(move || {
            work.into_iter()
                .map(|(key, mut shape, items)| {
                    let outcomes: Vec<(Item, Result<Option<hookmetry_shape::Change>, ()>, u64)> = items
                        .into_iter()
                        .map(|item| {
                            let change = Shape::of(&item.body, &limits).map(|seen| shape.observe(&seen, &limits));
                            (item, change.map_err(drop), shape.samples())
                        })
                        .collect();
                    (key, shape, outcomes)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| hookmetry_store::StoreError::Backend(format!("schema drift task failed: {e}")))?;

        let mut changes = Vec::new();
        let mut announced = Vec::new();
        let mut changed_shape = false;
        for (key, shape, outcomes) in done {
            for (item, change, samples) in outcomes {
                match change {
                    Ok(Some(change)) => {
                        self.metrics.drift.with_label_values(&[kind_label(&change)]).inc();
                        let json = serde_json::to_string(&change).expect("a change serializes");
                        changes.push((item.capture, json));
                        announced.push(CaptureChange {
                            capture_id: item.capture,
                            endpoint_id: item.endpoint,
                            team_id: item.team,
                            kind: CaptureChangeKind::SchemaChanged,
                        });
                        changed_shape = true;
                        self.dirty.insert(key.clone());
                    }
                    Ok(None) => {
                        self.metrics.drift.with_label_values(&["unchanged"]).inc();
                        // The first sample of a type is no change, but the shape is new.
                        if samples == 1 {
                            changed_shape = true;
                        }
                        self.dirty.insert(key.clone());
                    }
                    // Not JSON after all, or too large: nothing learned.
                    Err(()) => self.metrics.drift.with_label_values(&["not_json"]).inc(),
                }
            }
            self.shapes.insert(key, shape);
        }
        // Changes first: a shape that says it has seen a capture never comes before its change.
        self.store.put_schema_changes(&changes).await?;
        // A shape that gained a field or type is stored now, so a restart does not report the
        // change again; counts alone wait for the next flush.
        self.flush(changed_shape).await?;
        self.announcer.capture_changes(&announced).await;
        if self.shapes.len() > CACHE {
            self.flush(true).await?;
            self.shapes.clear();
            self.types.clear();
        }
        Ok(())
    }
}

fn kind_label(change: &hookmetry_shape::Change) -> &'static str {
    match change.kind {
        hookmetry_shape::ChangeKind::Added => "added",
        hookmetry_shape::ChangeKind::Removed => "removed",
        hookmetry_shape::ChangeKind::Retyped => "retyped",
        hookmetry_shape::ChangeKind::Mixed => "mixed",
    }
}
