//! The replay worker role: finds deliveries that are due, makes one attempt each, records it and
//! schedules the next one or finishes the delivery.
//!
//! Each target (`host:port`) is served by up to `per_target_concurrency` lanes, tasks that send
//! its deliveries one after the other over the egress client's kept-alive connections, taking
//! them from a short queue per target. Claims and attempt records of all lanes are written in
//! batches (group commit, `batch.rs`): one transaction, one fsync, for all that are waiting.
//!
//! The store is the source of truth. A record on the `deliveries` log only wakes a delivery
//! early; every `scan_interval` the worker also asks the store for pending deliveries that are
//! due, which is how a scheduled retry survives a restart (or SIGKILL) and how a delivery whose
//! record was lost is still sent. Delivery is at least once: an attempt that was sent but not yet
//! recorded when the process died is sent again, with the same number.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookmetry_core::{Delivery, DeliveryState, TOPIC_DELIVERIES, Timestamp};
use hookmetry_egress::Url;
use hookmetry_egress::http1::host_port;
use hookmetry_log::{EventLog, LogError, Record};
use hookmetry_store::DeliveryStore;
use hookmetry_telemetry::{Metrics, TelemetryError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::schedule::human;
use crate::{Announcer, RetrySchedule, Sender, SenderError, SettingError};

mod admission;
mod attempt;
mod backoff;
mod batch;
mod metrics;
mod settings;

use admission::{Admission, Admit, Busy, Lane};
use attempt::lane;
use backoff::Backoff;
use batch::GroupCommit;
use metrics::ReplayMetrics;
pub use settings::{ReplaySettings, WorkerSettings};

/// Consumer group of replay workers on the deliveries log.
pub const GROUP: &str = "replay";

/// Most records taken from the deliveries log at once.
const POLL_BATCH: usize = 64;

/// Longest a poll waits for a busy target to take a delivery before leaving it to a scan.
const WAKE_WAIT: Duration = Duration::from_millis(100);

/// Shortest pause between two scans started because a busy target freed a slot: a scan reads
/// whole deliveries, bodies included, so a saturated target must not turn every finished attempt
/// into one.
const RESCAN_GAP: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Setting(#[from] SettingError),
    #[error(transparent)]
    Sender(#[from] SenderError),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] TelemetryError),
    #[error("cannot join the deliveries log: {0}")]
    Log(#[from] LogError),
}

/// What the worker shares with its attempt tasks.
struct Shared {
    log: Arc<dyn EventLog>,
    store: Arc<dyn DeliveryStore>,
    sender: Sender,
    schedule: RetrySchedule,
    settings: WorkerSettings,
    metrics: ReplayMetrics,
    admission: Admission,
    announcer: Announcer,
    /// Claims of deliveries about to be sent, `(id, attempts seen)`, written together.
    claims: GroupCommit<(hookmetry_core::DeliveryId, u32), bool>,
    /// Attempts made, written together with their deliveries' next state.
    records: GroupCommit<(hookmetry_core::Attempt, hookmetry_store::DeliveryProgress), Option<bool>>,
    /// The tasks recording attempts, which outlive their lanes.
    finishing: TaskTracker,
}

/// The replay worker. Several may run against one log and store (`hookmetry run --roles
/// replay` on several nodes): the log's consumer group spreads the records among them.
pub struct ReplayWorker {
    shared: Arc<Shared>,
}

impl ReplayWorker {
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Arc<dyn DeliveryStore>,
        settings: ReplaySettings,
        metrics: &Metrics,
    ) -> Result<Self, ReplayError> {
        settings.validate()?;
        let sender = Sender::new(settings.sender)?;
        let metrics = ReplayMetrics::register(metrics)?;
        let admission = Admission::new(&settings.worker, metrics.in_flight.clone());
        let announcer = Announcer::new(log.clone());
        let shared = Shared {
            log,
            store,
            sender,
            schedule: settings.schedule,
            settings: settings.worker,
            metrics,
            admission,
            announcer,
            claims: GroupCommit::default(),
            records: GroupCommit::default(),
            finishing: TaskTracker::new(),
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    /// Runs until `shutdown` is cancelled, then lets attempts in flight finish for up to
    /// `shutdown_grace`.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ReplayError> {
        let shared = &self.shared;
        let settings = &shared.settings;
        let mut consumer = shared.log.consumer(TOPIC_DELIVERIES, GROUP).await?;
        tracing::info!(
            group = GROUP,
            per_target_concurrency = settings.per_target_concurrency,
            scan_interval = %human(settings.scan_interval),
            "replay worker started"
        );
        let mut tasks = JoinSet::new();
        let mut backoff = Backoff::default();
        let mut last_scan: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            reap(&mut tasks);
            let since_scan = last_scan.map(|t| t.elapsed());
            let scan_due = since_scan.is_none_or(|e| e >= settings.scan_interval)
                || (since_scan.is_some_and(|e| e >= RESCAN_GAP.min(settings.scan_interval))
                    && shared.admission.rescan_wanted());
            if scan_due {
                last_scan = Some(Instant::now());
                self.scan(&mut tasks).await;
            }
            let until_scan = settings.scan_interval.saturating_sub(last_scan.map_or(Duration::ZERO, |t| t.elapsed()));
            if shared.admission.full() {
                // Every record would be deferred: wait for a slot or the next scan instead.
                tokio::select! {
                    () = shared.admission.slot_freed.notified() => {}
                    () = tokio::time::sleep(until_scan) => {}
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
            let records = match consumer.poll(POLL_BATCH, settings.poll_wait.min(until_scan)).await {
                Ok(records) => records,
                Err(e) => {
                    tracing::warn!(error = %e, "deliveries log poll failed; retrying");
                    tokio::select! {
                        () = backoff.wait() => {}
                        () = shutdown.cancelled() => {}
                    }
                    continue;
                }
            };
            backoff.reset();
            let handled = self.wake(records, &mut tasks, &shutdown).await;
            // A record is only a wake-up, and it is handled once its delivery has been started,
            // queued, deferred or found unnecessary. Such a delivery is pending and due in the
            // store until its attempt is recorded, so the scan finds it again if this process
            // dies: committing now loses nothing. A failed commit only means the records come
            // back, and waking a delivery twice starts one attempt.
            if !handled.is_empty()
                && let Err(e) = consumer.commit(&handled).await
            {
                tracing::warn!(error = %e, records = handled.len(), "deliveries log commit failed; the records may be read again");
            }
        }

        if !tasks.is_empty() {
            tracing::info!(attempts = tasks.len(), "replay worker stopping; waiting for attempts in flight");
        }
        let finishing = &shared.finishing;
        let drained = tokio::time::timeout(settings.shutdown_grace, async {
            while let Some(r) = tasks.join_next().await {
                log_join(r);
            }
            finishing.close();
            finishing.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                lanes = tasks.len(),
                recording = finishing.len(),
                "attempts still in flight at shutdown abandoned; their deliveries stay pending and are tried again"
            );
            tasks.shutdown().await;
        }
        tracing::info!("replay worker stopped");
        Ok(())
    }

    /// Handles a poll's records, reading their deliveries at once; answers the records handled
    /// (all, unless shutdown interrupted: the rest are then not committed).
    ///
    /// A delivery whose target has no room waits for a lane or queue place for up to
    /// [`WAKE_WAIT`] (once per target and poll): a burst of deliveries to one target then flows
    /// through its queue instead of being deferred to scans, and a stalled target holds up the
    /// others for at most that long.
    async fn wake(&self, records: Vec<Record>, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) -> Vec<Record> {
        let shared = &self.shared;
        let mut ids = Vec::with_capacity(records.len());
        for record in &records {
            match crate::wake::decode(record) {
                Ok(id) => ids.push(Some(id)),
                Err(e) => {
                    // Nothing to set aside: the record carries only an id, and any delivery it
                    // named is still found by the scan while it is pending.
                    tracing::warn!(error = %e, partition = record.partition, offset = record.offset, "undecodable delivery request skipped");
                    shared.metrics.records.with_label_values(&["undecodable"]).inc();
                    ids.push(None);
                }
            }
        }
        let wanted: Vec<_> = ids.iter().flatten().copied().collect();
        let mut backoff = Backoff::default();
        let found = loop {
            match shared.store.deliveries(&wanted).await {
                Ok(found) => break found,
                Err(e) => {
                    tracing::warn!(deliveries = wanted.len(), error = %e, "deliveries not read; retrying");
                    tokio::select! {
                        () = backoff.wait() => {}
                        () = shutdown.cancelled() => return Vec::new(),
                    }
                }
            }
        };
        let mut found = found.into_iter();
        let mut stalled: Vec<String> = Vec::new();
        for id in &ids {
            if id.is_none() {
                continue;
            }
            let outcome = match found.next().flatten() {
                // Deleted with its capture, or written to another store: nothing to send.
                None => Admitted::Skipped,
                Some(d) => {
                    let target = target_of(&d.request.url);
                    if !stalled.contains(&target) && !self.wait_for_room(&target, shutdown).await {
                        stalled.push(target);
                    }
                    self.admit(d, Timestamp::now(), tasks)
                }
            };
            shared.metrics.records.with_label_values(&[outcome.as_str()]).inc();
        }
        records
    }

    /// Waits up to [`WAKE_WAIT`] for `target` to have room; `false` if it still has none.
    async fn wait_for_room(&self, target: &str, shutdown: &CancellationToken) -> bool {
        let admission = &self.shared.admission;
        let deadline = tokio::time::Instant::now() + WAKE_WAIT;
        while !admission.has_room(target) {
            tokio::select! {
                () = admission.slot_freed.notified() => {}
                () = tokio::time::sleep_until(deadline) => return admission.has_room(target),
                () = shutdown.cancelled() => return false,
            }
        }
        true
    }

    /// Starts the attempts of pending deliveries that are due, earliest first, as far as the
    /// limits allow; the rest wait for the next scan.
    async fn scan(&self, tasks: &mut JoinSet<()>) {
        let shared = &self.shared;
        shared.admission.begin_scan();
        let now = Timestamp::now();
        let due = match shared.store.due_deliveries(now, shared.settings.scan_limit).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "due deliveries not read; retrying at the next scan");
                return;
            }
        };
        shared.metrics.due.set(i64::try_from(due.len()).unwrap_or(i64::MAX));
        for d in due {
            if shared.admission.full() {
                shared.admission.note_deferred();
                break;
            }
            self.admit(d, now, tasks);
        }
    }

    /// Starts `d` on a new lane of its target, or queues it for a running one, if it is due and
    /// the limits allow.
    fn admit(&self, d: Delivery, now: Timestamp, tasks: &mut JoinSet<()>) -> Admitted {
        if !is_due(&d, now) {
            return Admitted::Skipped;
        }
        let target = target_of(&d.request.url);
        match self.shared.admission.take(&d, &target) {
            Ok(Admit::Lane) => {
                let lane_of = Lane::new(&self.shared, target);
                tasks.spawn(lane(self.shared.clone(), d, lane_of));
                Admitted::Started
            }
            Ok(Admit::Queued) => Admitted::Queued,
            // The attempt in flight re-reads the delivery when it is recorded; nothing to add.
            Err(Busy::InFlight) => Admitted::Skipped,
            Err(Busy::Full) => Admitted::Deferred,
        }
    }
}

/// What happened to a woken delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admitted {
    Started,
    /// Queued for a lane of its target.
    Queued,
    /// Its target or the worker is at its limit; a later scan starts it.
    Deferred,
    /// Not pending, not due, unknown, or already in flight here.
    Skipped,
}

impl Admitted {
    fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Queued => "queued",
            Self::Deferred => "deferred",
            Self::Skipped => "skipped",
        }
    }
}

/// A new delivery is due when its record arrives; a retry when its time has come.
fn is_due(d: &Delivery, now: Timestamp) -> bool {
    d.state == DeliveryState::Pending && (d.attempts == 0 || d.next_attempt_at.is_some_and(|t| t <= now))
}

/// `host:port` of a delivery's URL: what the per-target limit counts, and what logs name. Never
/// the full URL: paths and queries often carry tokens.
fn target_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(url) => host_port(&url),
        Err(_) => "invalid-url".to_string(),
    }
}

/// Collects finished attempt tasks so the set does not grow.
fn reap(tasks: &mut JoinSet<()>) {
    while let Some(result) = tasks.try_join_next() {
        log_join(result);
    }
}

fn log_join(result: Result<(), tokio::task::JoinError>) {
    if let Err(e) = result
        && e.is_panic()
    {
        // The delivery stays pending (nothing was recorded) and the next scan tries it again.
        tracing::error!(error = %e, "delivery attempt panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_host_and_port_only() {
        assert_eq!(target_of("https://r.example/hook/tok_secret?key=1"), "r.example:443");
        assert_eq!(target_of("http://127.0.0.1:3000/x"), "127.0.0.1:3000");
        assert_eq!(target_of("not a url"), "invalid-url");
    }
}
