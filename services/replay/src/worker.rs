//! The replay worker role: finds deliveries that are due, makes one attempt each, records it and
//! schedules the next one or finishes the delivery.
//!
//! The store is the source of truth. A record on the `deliveries` log only wakes a delivery
//! early; every `scan_interval` the worker also asks the store for pending deliveries that are
//! due, which is how a scheduled retry survives a restart (or SIGKILL) and how a delivery whose
//! record was lost is still sent. Delivery is at least once: an attempt that was sent but not yet
//! recorded when the process died is sent again, with the same number.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hookmetry_core::{Delivery, DeliveryId, DeliveryState, TOPIC_DELIVERIES, TOPIC_EVENTS, Timestamp};
use hookmetry_egress::Url;
use hookmetry_log::{EventLog, LogError, NewRecord, Record};
use hookmetry_proto::{DeliveryUpdate, Event};
use hookmetry_store::{DeliveryProgress, DeliveryStore, StoreError};
use hookmetry_telemetry::{Metrics, TelemetryError};
use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use crate::schedule::human;
use crate::{RetrySchedule, Sender, SenderError, SenderSettings, SettingError};
use hookmetry_egress::http1::host_port;

/// Consumer group of replay workers on the deliveries log.
pub const GROUP: &str = "replay";

/// Most records taken from the deliveries log at once.
const POLL_BATCH: usize = 64;

/// Shortest pause between two scans started because a busy target freed a slot: a scan reads
/// whole deliveries, bodies included, so a saturated target must not turn every finished attempt
/// into one.
const RESCAN_GAP: Duration = Duration::from_millis(100);

/// Longest `replay.scan_interval` accepted: a due retry can wait this long for the next scan.
const MAX_SCAN_INTERVAL: Duration = Duration::from_secs(600);

/// How the worker schedules its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// `replay.per_target_concurrency`: attempts in flight at once to one `host:port`.
    pub per_target_concurrency: usize,
    /// `replay.scan_interval`: how often the store is asked for due deliveries. A retry starts
    /// at most this long after it is due.
    pub scan_interval: Duration,
    /// Most due deliveries one scan reads (and the cap of the `due_deliveries` gauge).
    pub scan_limit: usize,
    /// Attempts in flight at once in this worker, whatever their target: a flood of deliveries
    /// cannot spawn unbounded tasks. The rest wait in the store for a later scan.
    pub max_in_flight: usize,
    /// How long one poll of the deliveries log waits for a record.
    pub poll_wait: Duration,
    /// On shutdown, how long attempts in flight may finish. Those still running after it are
    /// abandoned; their deliveries stay pending and are tried again after a restart.
    pub shutdown_grace: Duration,
    /// `replay.propagate_trace_context`: send a `traceparent` naming the attempt's span (in
    /// place of a captured one) when spans are exported.
    pub propagate_trace_context: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            per_target_concurrency: 4,
            scan_interval: Duration::from_secs(1),
            scan_limit: 256,
            max_in_flight: 256,
            poll_wait: Duration::from_millis(100),
            shutdown_grace: Duration::from_secs(10),
            propagate_trace_context: false,
        }
    }
}

impl WorkerSettings {
    /// Checks the values as configured; the error names the config key to fix.
    pub fn validate(&self) -> Result<(), SettingError> {
        if self.per_target_concurrency == 0 || self.per_target_concurrency > self.max_in_flight {
            return Err(SettingError::new(
                "replay.per_target_concurrency",
                format!("is {}; it must be between 1 and {}", self.per_target_concurrency, self.max_in_flight),
            ));
        }
        if self.scan_interval < Duration::from_millis(10) || self.scan_interval > MAX_SCAN_INTERVAL {
            return Err(SettingError::new(
                "replay.scan_interval",
                format!("is {}; it must be between 10ms and {}", human(self.scan_interval), human(MAX_SCAN_INTERVAL)),
            ));
        }
        // Not config keys: these are programming mistakes, named after the field.
        if self.scan_limit == 0 || self.max_in_flight == 0 || self.poll_wait.is_zero() {
            return Err(SettingError::new(
                "replay worker settings",
                "scan_limit, max_in_flight and poll_wait must be more than 0",
            ));
        }
        Ok(())
    }
}

/// Everything the worker needs to know, as built from the `replay.*` config keys.
#[derive(Debug, Clone)]
pub struct ReplaySettings {
    pub sender: SenderSettings,
    pub schedule: RetrySchedule,
    pub worker: WorkerSettings,
}

impl ReplaySettings {
    /// Checks every value; the error names the config key to fix.
    pub fn validate(&self) -> Result<(), SettingError> {
        self.sender.validate()?;
        self.schedule.validate()?;
        self.worker.validate()
    }
}

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

/// Buckets of one attempt, connect to last body byte: up to the longest `replay.total_timeout`.
const ATTEMPT_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 600.0];
/// Buckets of a whole delivery, created to finished: retries stretch it to hours or days.
const DELIVERY_BUCKETS: &[f64] =
    &[0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0, 24.0 * 3600.0, 7.0 * 24.0 * 3600.0];

struct ReplayMetrics {
    attempts: IntCounterVec,
    attempt_seconds: Histogram,
    finished: IntCounterVec,
    delivery_seconds: Histogram,
    due: IntGauge,
    in_flight: IntGauge,
    records: IntCounterVec,
}

impl ReplayMetrics {
    fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        let metrics = Self {
            attempts: m.register(IntCounterVec::new(
                Opts::new(
                    "hookmetry_replay_attempts_total",
                    "Delivery attempts, by outcome (success, or the error class: status, connect, timeout, reset, \
                     refused, tls, other).",
                ),
                &["outcome"],
            )?)?,
            attempt_seconds: m.register(Histogram::with_opts(
                HistogramOpts::new(
                    "hookmetry_replay_attempt_duration_seconds",
                    "Time of one delivery attempt, from sending until the answer was read or the attempt failed.",
                )
                .buckets(ATTEMPT_BUCKETS.to_vec()),
            )?)?,
            finished: m.register(IntCounterVec::new(
                Opts::new(
                    "hookmetry_replay_deliveries_finished_total",
                    "Deliveries this worker finished, by state (succeeded, dead_lettered).",
                ),
                &["state"],
            )?)?,
            delivery_seconds: m.register(Histogram::with_opts(
                HistogramOpts::new(
                    "hookmetry_replay_delivery_duration_seconds",
                    "Time from a delivery's creation until it succeeded or was dead-lettered, retries included.",
                )
                .buckets(DELIVERY_BUCKETS.to_vec()),
            )?)?,
            due: m.register(IntGauge::new(
                "hookmetry_replay_due_deliveries",
                "Pending deliveries that were due at the last scan (the retry backlog), at most the scan limit.",
            )?)?,
            in_flight: m.register(IntGauge::new(
                "hookmetry_replay_in_flight",
                "Delivery attempts this worker has in flight.",
            )?)?,
            records: m.register(IntCounterVec::new(
                Opts::new(
                    "hookmetry_replay_records_total",
                    "Deliveries-log records handled, by outcome (started, deferred: the target or the worker was \
                     busy and a scan starts it later, skipped: unknown, finished or not yet due, undecodable).",
                ),
                &["outcome"],
            )?)?,
        };
        // Both series exist at 0 from the start: `increase()` over a series that appears with its
        // first count misses that count, and the dead-letter alert would miss the first one.
        for state in ["succeeded", "dead_lettered"] {
            metrics.finished.with_label_values(&[state]);
        }
        Ok(metrics)
    }
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
        let shared =
            Shared { log, store, sender, schedule: settings.schedule, settings: settings.worker, metrics, admission };
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
            let mut handled = Vec::with_capacity(records.len());
            for record in records {
                if !self.wake(&record, &mut tasks, &shutdown).await {
                    break;
                }
                handled.push(record);
            }
            // A record is only a wake-up, and it is handled once its delivery's attempt has
            // started, been deferred or found unnecessary. A deferred or started delivery is
            // pending and due in the store until its attempt is recorded, so the scan finds it
            // again if this process dies: committing now loses nothing. A failed commit only
            // means the records come back, and waking a delivery twice starts one attempt.
            if !handled.is_empty()
                && let Err(e) = consumer.commit(&handled).await
            {
                tracing::warn!(error = %e, records = handled.len(), "deliveries log commit failed; the records may be read again");
            }
        }

        if !tasks.is_empty() {
            tracing::info!(attempts = tasks.len(), "replay worker stopping; waiting for attempts in flight");
        }
        let drained = tokio::time::timeout(settings.shutdown_grace, async {
            while let Some(r) = tasks.join_next().await {
                log_join(r);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                attempts = tasks.len(),
                "attempts still in flight at shutdown abandoned; their deliveries stay pending and are tried again"
            );
            tasks.shutdown().await;
        }
        tracing::info!("replay worker stopped");
        Ok(())
    }

    /// Handles one deliveries-log record; `false` when shutdown interrupted it (the record is
    /// then not committed).
    async fn wake(&self, record: &Record, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) -> bool {
        let shared = &self.shared;
        let id = match decode(record) {
            Ok(id) => id,
            Err(e) => {
                // Nothing to set aside: the record carries only an id, and any delivery it named
                // is still found by the scan while it is pending.
                tracing::warn!(error = %e, partition = record.partition, offset = record.offset, "undecodable delivery request skipped");
                shared.metrics.records.with_label_values(&["undecodable"]).inc();
                return true;
            }
        };
        let mut backoff = Backoff::default();
        let delivery = loop {
            match shared.store.delivery(id).await {
                Ok(d) => break d,
                Err(e) => {
                    tracing::warn!(delivery_id = %id, error = %e, "delivery not read; retrying");
                    tokio::select! {
                        () = backoff.wait() => {}
                        () = shutdown.cancelled() => return false,
                    }
                }
            }
        };
        let outcome = match delivery {
            // Deleted with its capture, or written to another store: nothing to send.
            None => Admitted::Skipped,
            Some(d) => self.admit(d, Timestamp::now(), tasks),
        };
        shared.metrics.records.with_label_values(&[outcome.as_str()]).inc();
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

    /// Starts an attempt of `d` in a task of its own if it is due and the limits allow.
    fn admit(&self, d: Delivery, now: Timestamp, tasks: &mut JoinSet<()>) -> Admitted {
        if !is_due(&d, now) {
            return Admitted::Skipped;
        }
        let target = target_of(&d.request.url);
        let slot = match Slot::take(&self.shared, d.id, &target) {
            Ok(slot) => slot,
            // The attempt in flight re-reads the delivery when it is recorded; nothing to add.
            Err(Busy::InFlight) => return Admitted::Skipped,
            Err(Busy::Full) => return Admitted::Deferred,
        };
        tasks.spawn(attempt(self.shared.clone(), d, target, slot));
        Admitted::Started
    }
}

/// What happened to a woken delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admitted {
    Started,
    /// Its target or the worker is at its limit; a later scan starts it.
    Deferred,
    /// Not pending, not due, unknown, or already in flight here.
    Skipped,
}

impl Admitted {
    fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Deferred => "deferred",
            Self::Skipped => "skipped",
        }
    }
}

/// A new delivery is due when its record arrives; a retry when its time has come.
fn is_due(d: &Delivery, now: Timestamp) -> bool {
    d.state == DeliveryState::Pending && (d.attempts == 0 || d.next_attempt_at.is_some_and(|t| t <= now))
}

fn decode(record: &Record) -> Result<DeliveryId, String> {
    if let Some(schema) = record.header(hookmetry_proto::SCHEMA_HEADER)
        && schema.as_ref() != hookmetry_proto::SCHEMA_DELIVERY_REQUEST.as_bytes()
    {
        return Err(format!(
            "schema `{}` is not {}",
            String::from_utf8_lossy(schema),
            hookmetry_proto::SCHEMA_DELIVERY_REQUEST
        ));
    }
    hookmetry_proto::decode_delivery_request(record.payload.clone()).map_err(|e| e.to_string())
}

/// `host:port` of a delivery's URL: what the per-target limit counts, and what logs name. Never
/// the full URL: paths and queries often carry tokens.
fn target_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(url) => host_port(&url),
        Err(_) => "invalid-url".to_string(),
    }
}

/// How much longer than the longest attempt (connect plus total timeout) a claim holds a
/// delivery: enough to record the attempt; a worker that died is replaced this much later.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// One attempt of `snapshot`'s delivery, recorded, announced, and the next one scheduled.
async fn attempt(shared: Arc<Shared>, snapshot: Delivery, target: String, slot: Slot) {
    let _slot = slot;
    // Read again: the snapshot (a scan's, say) may predate an attempt that finished since, or a
    // cancellation. Only the attempt after the ones the snapshot saw is made.
    let mut backoff = Backoff::default();
    let current = loop {
        match shared.store.delivery(snapshot.id).await {
            Ok(d) => break d,
            Err(e) => {
                tracing::warn!(delivery_id = %snapshot.id, error = %e, "delivery not read; retrying");
                backoff.wait().await;
            }
        }
    };
    let Some(d) = current.filter(|d| d.state == DeliveryState::Pending && d.attempts == snapshot.attempts) else {
        tracing::debug!(delivery_id = %snapshot.id, "delivery changed since it was woken; not attempted");
        return;
    };
    // Taken for this attempt, so other workers scanning the same store leave it alone; if this
    // process dies during the attempt, the delivery is due again when the lease ends.
    let settings = shared.sender.settings();
    let lease = settings.connect_timeout + settings.total_timeout + LEASE_MARGIN;
    let now = Timestamp::now();
    let until =
        Timestamp::from_micros(now.micros().saturating_add(i64::try_from(lease.as_micros()).unwrap_or(i64::MAX)));
    match shared.store.claim_delivery(d.id, d.attempts, now, until).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(delivery_id = %d.id, "delivery taken by another worker or no longer due; not attempted");
            return;
        }
        Err(e) => {
            // Left due: the next scan tries again.
            tracing::warn!(delivery_id = %d.id, error = %e, "delivery not claimed; the next scan retries");
            return;
        }
    }

    let number = d.attempts + 1;
    let span = attempt_span(&d, number, &target);
    make_attempt(shared, d, number, target, span.clone()).instrument(span).await;
}

/// The `delivery attempt` span of attempt `number` of `d`: in the trace `d` was made in (the
/// capture's, for a forwarding rule; the API request's, for a manual replay), whether a record
/// woke the delivery or a scan of the store found it. A root when `d` has no context.
fn attempt_span(d: &Delivery, number: u32, target: &str) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "delivery attempt",
        otel.kind = "client",
        delivery_id = %d.id,
        attempt = i64::from(number),
        target = %target,
        status = Empty,
        error = Empty,
        state = Empty,
        otel.status_code = Empty,
    );
    if let Some(parent) = d.trace_parent.as_deref().and_then(hookmetry_telemetry::TraceParent::parse) {
        parent.adopt(&span);
    }
    span
}

/// Sends attempt `number` of the claimed delivery `d` and records it.
async fn make_attempt(shared: Arc<Shared>, d: Delivery, number: u32, target: String, span: Span) {
    let started = Instant::now();
    let traced;
    let request = match shared.settings.propagate_trace_context.then(|| hookmetry_telemetry::TraceParent::of(&span)) {
        Some(Some(context)) => {
            traced = crate::with_traceparent(&d.request, &context.header());
            &traced
        }
        _ => &d.request,
    };
    let attempt = shared.sender.attempt(d.id, number, request).await;
    span.record("status", attempt.response_status.map(i64::from));
    if let Some(e) = attempt.error {
        span.record("error", e.as_str());
        span.record("otel.status_code", "error");
    }
    let m = &shared.metrics;
    m.attempt_seconds.observe(started.elapsed().as_secs_f64());
    let outcome = attempt.error.map_or("success", |e| e.as_str());
    m.attempts.with_label_values(&[outcome]).inc();

    let now = Timestamp::now();
    // The delivery's own limit: the one in force when it was created, which users were shown.
    let schedule = RetrySchedule {
        max_attempts: if d.max_attempts == 0 { shared.schedule.max_attempts } else { d.max_attempts },
        ..shared.schedule
    };
    let (state, next_attempt_at) = match attempt.error {
        None => (DeliveryState::Succeeded, None),
        Some(e) if e.is_retryable() => match schedule.next_attempt_at(now, number, &mut rand::rng()) {
            Some(at) => (DeliveryState::Pending, Some(at)),
            None => (DeliveryState::DeadLettered, None),
        },
        Some(_) => (DeliveryState::DeadLettered, None),
    };
    let progress = DeliveryProgress { state, attempts: number, next_attempt_at, updated_at: now };
    span.record("state", state.as_str());
    tracing::debug!(
        delivery_id = %d.id,
        attempt = number,
        target = %target,
        outcome,
        status = attempt.response_status,
        latency_ms = attempt.latency_ms,
        state = state.as_str(),
        "delivery attempt made"
    );

    // The attempt happened and must be recorded: retried until the store takes it. If the
    // process dies first, the delivery is still pending and due, so it is attempted again with
    // the same number (at least once).
    let mut backoff = Backoff::default();
    let applied = loop {
        match shared.store.record_attempt(&attempt, &progress).await {
            Ok(applied) => break applied,
            Err(StoreError::NotFound { .. }) => {
                tracing::debug!(delivery_id = %d.id, "delivery deleted during its attempt; attempt dropped");
                return;
            }
            Err(e) => {
                tracing::warn!(delivery_id = %d.id, attempt = number, error = %e, "attempt not recorded; retrying");
                backoff.wait().await;
            }
        }
    };
    if !applied {
        // Cancelled while the attempt was in flight: the attempt is kept, the delivery stays
        // cancelled, and whoever cancelled it announced that.
        tracing::debug!(delivery_id = %d.id, attempt = number, "delivery no longer pending; attempt kept");
        return;
    }

    if state.is_final() {
        m.finished.with_label_values(&[state.as_str()]).inc();
        let micros = now.micros().saturating_sub(d.created_at.micros()).max(0);
        m.delivery_seconds.observe(micros as f64 / 1e6);
    }
    if state == DeliveryState::DeadLettered {
        tracing::warn!(
            delivery_id = %d.id,
            target = %target,
            error = outcome,
            attempts = number,
            "delivery dead-lettered"
        );
    }

    let updated = Delivery { state, attempts: number, next_attempt_at, updated_at: now, ..d };
    let event = hookmetry_proto::event_record(&Event::DeliveryUpdated(DeliveryUpdate::of(&updated)));
    if let Err(e) = shared.log.append(TOPIC_EVENTS, event).await {
        // The attempt is recorded and readable; only the live notification is lost.
        tracing::warn!(delivery_id = %updated.id, error = %e, "delivery event not published");
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

/// Which deliveries are in flight here, and how many per target.
///
/// A delivery that cannot start because its target or the worker is at its limit is not queued
/// in memory: it is pending and due in the store, so a later scan starts it. A waiting task
/// would hold a slot of the global bound, and a slow target could fill them all and stall every
/// other target. Counts per target are removed when they reach zero, so the map holds only
/// targets with attempts in flight.
struct Admission {
    state: Mutex<AdmissionState>,
    per_target: usize,
    max_in_flight: usize,
    in_flight_gauge: IntGauge,
    /// Signalled whenever an attempt finishes.
    slot_freed: Notify,
}

#[derive(Default)]
struct AdmissionState {
    in_flight: HashSet<DeliveryId>,
    targets: HashMap<String, usize>,
    /// Something due was deferred since the last scan began.
    deferred: bool,
    /// A slot freed after a deferral: a scan now would find work for it.
    rescan: bool,
}

#[derive(Debug)]
enum Busy {
    /// This delivery's attempt is already in flight here.
    InFlight,
    /// Its target, or the worker, is at its limit.
    Full,
}

impl Admission {
    fn new(settings: &WorkerSettings, in_flight_gauge: IntGauge) -> Self {
        Self {
            state: Mutex::default(),
            per_target: settings.per_target_concurrency,
            max_in_flight: settings.max_in_flight,
            in_flight_gauge,
            slot_freed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AdmissionState> {
        // Nothing in the critical sections can panic half-way; a poisoned lock still holds
        // consistent counts.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves a place for `id`'s attempt to `target`.
    fn take(&self, id: DeliveryId, target: &str) -> Result<(), Busy> {
        let mut s = self.lock();
        if s.in_flight.contains(&id) {
            return Err(Busy::InFlight);
        }
        let busy = s.targets.get(target).copied().unwrap_or(0);
        if s.in_flight.len() >= self.max_in_flight || busy >= self.per_target {
            s.deferred = true;
            return Err(Busy::Full);
        }
        s.in_flight.insert(id);
        *s.targets.entry(target.to_string()).or_insert(0) += 1;
        self.in_flight_gauge.set(i64::try_from(s.in_flight.len()).unwrap_or(i64::MAX));
        Ok(())
    }

    fn release(&self, id: DeliveryId, target: &str) {
        let mut s = self.lock();
        s.in_flight.remove(&id);
        if let Some(n) = s.targets.get_mut(target) {
            *n -= 1;
            if *n == 0 {
                s.targets.remove(target);
            }
        }
        if s.deferred {
            s.rescan = true;
        }
        self.in_flight_gauge.set(i64::try_from(s.in_flight.len()).unwrap_or(i64::MAX));
        drop(s);
        self.slot_freed.notify_one();
    }

    fn full(&self) -> bool {
        self.lock().in_flight.len() >= self.max_in_flight
    }

    fn note_deferred(&self) {
        self.lock().deferred = true;
    }

    fn begin_scan(&self) {
        let mut s = self.lock();
        s.deferred = false;
        s.rescan = false;
    }

    fn rescan_wanted(&self) -> bool {
        self.lock().rescan
    }
}

/// One admitted attempt; dropping it (also when its task panics or is aborted) frees its place.
struct Slot {
    shared: Arc<Shared>,
    id: DeliveryId,
    target: String,
}

impl Slot {
    fn take(shared: &Arc<Shared>, id: DeliveryId, target: &str) -> Result<Self, Busy> {
        shared.admission.take(id, target)?;
        Ok(Self { shared: shared.clone(), id, target: target.to_string() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.admission.release(self.id, &self.target);
    }
}

/// Doubling pause between retries of a failed log or store call: 50ms up to 5s.
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    async fn wait(&mut self) {
        let ms = (50u64 << self.attempt.min(7)).min(5_000);
        self.attempt += 1;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The `deliveries`-log record that wakes a replay worker for `d`, written by whoever creates a
/// delivery (the API, the processor's forwarding rules). It is keyed by the target's host, so one
/// target's deliveries meet on one partition, and so on one worker, which holds the per-target
/// limit.
///
/// It carries the delivery's trace context (`traceparent`) in its headers too, for whoever reads
/// the log; the worker itself takes the context from the stored delivery, which a scan reads
/// the same way.
pub fn wake_record(d: &Delivery) -> NewRecord {
    let host = Url::parse(&d.request.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let mut record = NewRecord::new(host, hookmetry_proto::encode_delivery_request(d.id))
        .with_header(hookmetry_proto::SCHEMA_HEADER, hookmetry_proto::SCHEMA_DELIVERY_REQUEST);
    if let Some(parent) = d.trace_parent.as_deref().and_then(hookmetry_telemetry::TraceParent::parse) {
        parent.write_headers(&mut record.headers);
    }
    record
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn admission_limits_each_target_and_the_worker_and_forgets_idle_targets() {
        let settings = WorkerSettings { per_target_concurrency: 2, max_in_flight: 3, ..WorkerSettings::default() };
        let gauge = IntGauge::new("in_flight", "test").unwrap();
        let a = Admission::new(&settings, gauge.clone());
        let ids: Vec<DeliveryId> = (0..4).map(|_| DeliveryId::new()).collect();
        assert!(a.take(ids[0], "a:80").is_ok());
        assert!(matches!(a.take(ids[0], "a:80"), Err(Busy::InFlight)));
        assert!(a.take(ids[1], "a:80").is_ok());
        assert!(matches!(a.take(ids[2], "a:80"), Err(Busy::Full)), "target a is at its limit");
        assert!(a.take(ids[2], "b:443").is_ok());
        assert!(a.full());
        assert!(matches!(a.take(ids[3], "c:80"), Err(Busy::Full)), "the worker is at its limit");
        assert_eq!(gauge.get(), 3);

        a.begin_scan();
        assert!(!a.rescan_wanted());
        assert!(matches!(a.take(ids[3], "a:80"), Err(Busy::Full)));
        a.release(ids[0], "a:80");
        assert!(a.rescan_wanted(), "a deferred delivery can use the freed slot");
        a.release(ids[1], "a:80");
        a.release(ids[2], "b:443");
        let s = a.lock();
        assert!(s.in_flight.is_empty() && s.targets.is_empty(), "nothing is kept for idle targets");
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn worker_settings_name_the_key_to_fix() {
        let key = |s: WorkerSettings| s.validate().unwrap_err().key;
        assert_eq!(WorkerSettings::default().validate(), Ok(()));
        assert_eq!(
            key(WorkerSettings { per_target_concurrency: 0, ..Default::default() }),
            "replay.per_target_concurrency"
        );
        assert_eq!(
            key(WorkerSettings { per_target_concurrency: 257, ..Default::default() }),
            "replay.per_target_concurrency"
        );
        assert_eq!(
            key(WorkerSettings { scan_interval: Duration::from_millis(5), ..Default::default() }),
            "replay.scan_interval"
        );
        assert_eq!(
            key(WorkerSettings { scan_interval: Duration::from_secs(601), ..Default::default() }),
            "replay.scan_interval"
        );
    }

    #[test]
    fn the_wake_record_carries_the_delivery_trace_context() {
        let now = Timestamp::now();
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let d = Delivery {
            id: DeliveryId::new(),
            team_id: hookmetry_core::TeamId::new(),
            endpoint_id: hookmetry_core::EndpointId::new(),
            capture_id: hookmetry_core::CaptureId::new(),
            origin: hookmetry_core::DeliveryOrigin::Manual,
            request: hookmetry_core::OutgoingRequest {
                method: "POST".into(),
                url: "https://r.example/hook?token=x".into(),
                headers: vec![],
                body: Bytes::new(),
                body_sha256: [0; 32],
            },
            edited: false,
            resigned: false,
            state: DeliveryState::Pending,
            attempts: 0,
            max_attempts: 3,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
            trace_parent: Some(traceparent.into()),
        };
        let header = |r: &NewRecord, name: &str| r.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let traced = wake_record(&d);
        assert_eq!(traced.key, Bytes::from_static(b"r.example"));
        assert_eq!(header(&traced, "traceparent"), Some(Bytes::from_static(traceparent.as_bytes())));
        let untraced = wake_record(&Delivery { trace_parent: None, ..d.clone() });
        assert_eq!(untraced.headers.len(), 1, "the schema only: {:?}", untraced.headers);
        let garbled = wake_record(&Delivery { trace_parent: Some("not a traceparent".into()), ..d });
        assert_eq!(header(&garbled, "traceparent"), None, "a stored value that does not parse is not passed on");
    }

    #[test]
    fn targets_are_host_and_port_only() {
        assert_eq!(target_of("https://r.example/hook/tok_secret?key=1"), "r.example:443");
        assert_eq!(target_of("http://127.0.0.1:3000/x"), "127.0.0.1:3000");
        assert_eq!(target_of("not a url"), "invalid-url");
    }
}
