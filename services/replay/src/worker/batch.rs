//! Group commit: many attempt tasks' store writes in one transaction.
//!
//! Each caller queues its item and waits for its turn to lead. The leader takes everything
//! queued by then (its own item included, unless an earlier leader already wrote it) and writes
//! it in one call. While one write is running, the next batch gathers, so batches grow with the
//! load and a lone caller waits for no timer.

use std::sync::{Mutex, PoisonError};

use hookmetry_store::StoreError;
use tokio::sync::oneshot;

/// Most items one write takes: bounds how long one transaction holds the store's writer.
const MAX_BATCH: usize = 512;

type Answer<O> = Result<O, StoreError>;

pub(super) struct GroupCommit<I, O> {
    queued: Mutex<Vec<(I, oneshot::Sender<Answer<O>>)>>,
    /// Held by the leader for the length of its write.
    lead: tokio::sync::Mutex<()>,
}

impl<I, O> Default for GroupCommit<I, O> {
    fn default() -> Self {
        Self { queued: Mutex::new(Vec::new()), lead: tokio::sync::Mutex::new(()) }
    }
}

impl<I, O> GroupCommit<I, O> {
    /// Writes `item` with whatever else is queued, through `write` (which answers one output per
    /// item, in order). An error of the batch's write is every item's error.
    pub(super) async fn submit<F, Fut>(&self, item: I, write: F) -> Answer<O>
    where
        F: Fn(Vec<I>) -> Fut,
        Fut: Future<Output = Result<Vec<O>, StoreError>>,
    {
        let (tx, mut rx) = oneshot::channel();
        self.queue().push((item, tx));
        let _lead = self.lead.lock().await;
        loop {
            match rx.try_recv() {
                Ok(answer) => return answer,
                Err(oneshot::error::TryRecvError::Closed) => {
                    // A leader taken away mid-write (its task aborted at shutdown) dropped the
                    // batch: nothing is known to be written, which is what an error says.
                    return Err(StoreError::Unavailable("the batched write was abandoned".into()));
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let batch: Vec<_> = {
                let mut queued = self.queue();
                let n = queued.len().min(MAX_BATCH);
                queued.drain(..n).collect()
            };
            let (items, waiters): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
            match write(items).await {
                Ok(outs) if outs.len() == waiters.len() => {
                    for (waiter, out) in waiters.into_iter().zip(outs) {
                        let _ = waiter.send(Ok(out));
                    }
                }
                Ok(outs) => {
                    let e = format!("a batched write answered {} of {} items", outs.len(), waiters.len());
                    for waiter in waiters {
                        let _ = waiter.send(Err(StoreError::Backend(e.clone())));
                    }
                }
                Err(e) => {
                    let text = e.to_string();
                    for waiter in waiters {
                        let _ = waiter.send(Err(StoreError::Unavailable(text.clone())));
                    }
                }
            }
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<(I, oneshot::Sender<Answer<O>>)>> {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_items_share_writes_and_each_gets_its_own_answer() {
        let batches = Arc::new(AtomicUsize::new(0));
        let gc = Arc::new(GroupCommit::<u32, u32>::default());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200u32 {
            let (gc, batches) = (gc.clone(), batches.clone());
            tasks.spawn(async move {
                let answer = gc
                    .submit(i, |items| {
                        let batches = batches.clone();
                        async move {
                            batches.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
                            Ok(items.into_iter().map(|i| i * 2).collect())
                        }
                    })
                    .await;
                assert_eq!(answer.unwrap(), i * 2);
            });
        }
        while let Some(t) = tasks.join_next().await {
            t.unwrap();
        }
        let writes = batches.load(Ordering::Relaxed);
        assert!((1..=200).contains(&writes), "{writes} writes");
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_item_in_it() {
        let gc = GroupCommit::<u32, u32>::default();
        let answer = gc.submit(1, |_| async { Err::<Vec<u32>, _>(StoreError::Unavailable("disk full".into())) }).await;
        assert!(matches!(answer, Err(StoreError::Unavailable(m)) if m.contains("disk full")));
    }
}
