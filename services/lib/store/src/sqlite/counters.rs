//! Counter bumps committed in groups. Every request a counting scenario rule or a capture cap
//! answers bumps a counter, and a durable commit costs an fsync: one transaction per bump held
//! ingest to a fifth of its rate (docs/benchmarks.md). Bumps that arrive while a commit is under
//! way wait for the next one, which applies them all in arrival order and commits once; each still
//! gets its own value, and none is answered before its commit is durable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hookmetry_core::EndpointId;
use tokio::sync::oneshot;

use super::SqliteStore;
use super::endpoints::endpoint_exists;
use crate::{Result, StoreError};

/// Most bumps one transaction applies; a longer queue is taken in turns.
const MAX_GROUP: usize = 512;

/// The new value, or `None` when the endpoint does not exist.
type Reply = oneshot::Sender<Result<Option<u64>>>;

#[derive(Default)]
pub(super) struct CounterQueue {
    pending: Mutex<Vec<(EndpointId, String, Reply)>>,
    /// Whether a drain task is running; only it takes from `pending`.
    draining: AtomicBool,
}

impl SqliteStore {
    /// Queues a bump and waits for the commit that applies it.
    pub(super) async fn bump_in_group(&self, endpoint: EndpointId, key: &str) -> Result<Option<u64>> {
        let (reply, answer) = oneshot::channel();
        let queue = &self.counters;
        queue.pending.lock().unwrap_or_else(|e| e.into_inner()).push((endpoint, key.to_owned(), reply));
        if !queue.draining.swap(true, Ordering::AcqRel) {
            // A task of its own: a caller that stops waiting (its client went away) must not
            // stop the others' commit.
            tokio::spawn(self.clone().drain());
        }
        answer.await.map_err(|_| StoreError::Unavailable("the counter writer stopped".into()))?
    }

    async fn drain(self) {
        let queue = self.counters.clone();
        loop {
            let group: Vec<_> = {
                let mut pending = queue.pending.lock().unwrap_or_else(|e| e.into_inner());
                let n = pending.len().min(MAX_GROUP);
                pending.drain(..n).collect()
            };
            if group.is_empty() {
                queue.draining.store(false, Ordering::Release);
                // A bump queued between the take above and the store saw a drain running and
                // spawned none: take it on, unless another drain already has.
                let more = !queue.pending.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
                if more && !queue.draining.swap(true, Ordering::AcqRel) {
                    continue;
                }
                return;
            }
            let keys: Vec<(EndpointId, String)> = group.iter().map(|(e, k, _)| (*e, k.clone())).collect();
            let values = self
                .write("endpoint", "bump endpoint counters", move |tx| {
                    let mut bump = tx.prepare_cached(
                        "INSERT INTO endpoint_counters (endpoint_id, key, n) VALUES (?1, ?2, 1) \
                         ON CONFLICT (endpoint_id, key) DO UPDATE SET n = n + 1 RETURNING n",
                    )?;
                    keys.iter()
                        .map(|(endpoint, key)| {
                            if !endpoint_exists(tx, *endpoint)? {
                                return Ok(None);
                            }
                            let n: i64 = bump.query_row((endpoint.as_bytes(), key), |r| r.get(0))?;
                            Ok(Some(n.max(0) as u64))
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .await;
            match values {
                Ok(values) => {
                    for ((_, _, reply), value) in group.into_iter().zip(values) {
                        let _ = reply.send(Ok(value));
                    }
                }
                Err(e) => {
                    for (_, _, reply) in group {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

impl CounterQueue {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}
