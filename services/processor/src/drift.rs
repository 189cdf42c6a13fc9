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
/// Shapes kept in memory; beyond it the cache is emptied (every shape is stored).
const CACHE: usize = 2_048;

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
    /// Known event types per endpoint, loaded once per endpoint.
    types: HashMap<EndpointId, usize>,
}

impl Worker {
    pub(crate) fn new(store: Arc<dyn Store>, announcer: Announcer, metrics: Arc<ProcessorMetrics>) -> Self {
        Worker { store, announcer, metrics, shapes: HashMap::new(), types: HashMap::new() }
    }

    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Item>, shutdown: CancellationToken) {
        let mut round = Vec::with_capacity(ROUND);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut round, ROUND) => if n == 0 { return },
                () = shutdown.cancelled() => return,
            }
            if let Err(e) = self.round(std::mem::take(&mut round)).await {
                // Nothing to retry: the analysis is at most once, and the next captures go on.
                tracing::warn!(error = %e, "schema drift round failed; its captures are not analysed");
                self.shapes.clear();
                self.types.clear();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    async fn round(&mut self, items: Vec<Item>) -> Result<(), hookmetry_store::StoreError> {
        // Shapes this round needs, from the store when not cached; types past the bound skipped.
        let mut work = Vec::with_capacity(items.len());
        for item in items {
            let key = (item.endpoint, item.event_type.clone());
            if !self.shapes.contains_key(&key) {
                if !self.types.contains_key(&item.endpoint) {
                    let known = self.store.event_shapes(item.endpoint, MAX_TYPES_PER_ENDPOINT + 1).await?.len();
                    self.types.insert(item.endpoint, known);
                }
                let stored = self.store.event_shape(item.endpoint, &item.event_type).await?;
                let shape = match stored {
                    Some(s) => serde_json::from_str::<Shape>(&s.shape).unwrap_or_else(|e| {
                        tracing::warn!(endpoint_id = %item.endpoint, event_type = %item.event_type, error = %e, "stored shape unreadable; learning it again");
                        Shape::default()
                    }),
                    None => {
                        let known = self.types.entry(item.endpoint).or_default();
                        if *known >= MAX_TYPES_PER_ENDPOINT {
                            self.metrics.drift.with_label_values(&["type_limit"]).inc();
                            continue;
                        }
                        *known += 1;
                        Shape::default()
                    }
                };
                self.shapes.insert(key.clone(), shape);
            }
            let shape = self.shapes.remove(&key).expect("inserted above");
            work.push((item, shape));
        }
        // Inference and comparison are CPU work on bodies anyone can send: a blocking thread.
        let limits = limits();
        let done = tokio::task::spawn_blocking(move || {
            work.into_iter()
                .map(|(item, mut shape)| {
                    let change = match Shape::of(&item.body, &limits) {
                        Ok(seen) => Ok(shape.observe(&seen, &limits)),
                        Err(e) => Err(e),
                    };
                    (item, shape, change)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| hookmetry_store::StoreError::Backend(format!("schema drift task failed: {e}")))?;

        let now = Timestamp::now();
        let mut changes = Vec::new();
        let mut announced = Vec::new();
        let mut touched: HashMap<(EndpointId, String), ()> = HashMap::new();
        for (item, shape, change) in done {
            let key = (item.endpoint, item.event_type.clone());
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
                    touched.insert(key.clone(), ());
                }
                Ok(None) => {
                    self.metrics.drift.with_label_values(&["unchanged"]).inc();
                    touched.insert(key.clone(), ());
                }
                // Not JSON after all, or too large: nothing learned.
                Err(_) => self.metrics.drift.with_label_values(&["not_json"]).inc(),
            }
            self.shapes.insert(key, shape);
        }
        let shapes: Vec<EventShape> = touched
            .into_keys()
            .filter_map(|key| {
                let shape = self.shapes.get(&key)?;
                Some(EventShape {
                    endpoint_id: key.0,
                    event_type: key.1,
                    shape: serde_json::to_string(shape).expect("a shape serializes"),
                    samples: shape.samples(),
                    updated_at: now,
                })
            })
            .collect();
        // Changes first: a shape that says it has seen a capture never comes before its change.
        self.store.put_schema_changes(&changes).await?;
        self.store.put_event_shapes(&shapes).await?;
        self.announcer.capture_changes(&announced).await;
        if self.shapes.len() > CACHE {
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
