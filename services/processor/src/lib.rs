//! Processor role: consumes the captures log, stores every capture idempotently by its id,
//! publishes a "capture stored" event, and only then commits the log offset.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookmetry_core::{
    CaptureId, CapturedRequest, Delivery, DeliveryId, DeliveryOrigin, DeliveryState, Endpoint, EndpointId,
    ForwardingRule, TOPIC_CAPTURES, TOPIC_DEAD_LETTERS, TOPIC_DELIVERIES, TOPIC_EVENTS, Timestamp, Verification,
};
use hookmetry_log::{EventLog, GroupConsumer, LogError, NewRecord, Record};
use hookmetry_proto::Event;
use hookmetry_store::Store;
use hookmetry_telemetry::{LATENCY_BUCKETS, Metrics, TelemetryError};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

/// Consumer group of processors on the captures log.
pub const GROUP: &str = "processor";

/// How often the lag gauge is refreshed.
const LAG_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    pub batch_size: usize,
    pub poll_wait: Duration,
    /// Longest time a stored batch waits for its offset commit.
    pub commit_interval: Duration,
    /// How long a batch waits for more records after its first one arrived.
    pub batch_linger: Duration,
    /// The server's public base URL: the signed URL of URL-bound schemes (Twilio, Square,
    /// HubSpot) when an endpoint has no `publicUrl` of its own.
    pub public_base_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("cannot join the captures log: {0}")]
    Log(#[from] LogError),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] TelemetryError),
}

struct ProcessorMetrics {
    records: IntCounterVec,
    forwarded: IntCounter,
    verifications: IntCounterVec,
    lag: IntGauge,
    batch_seconds: Histogram,
}

impl ProcessorMetrics {
    fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        Ok(Self {
            records: m.register(IntCounterVec::new(
                Opts::new(
                    "hookmetry_processor_records_total",
                    "Captures-log records handled, by outcome (stored, duplicate, undecodable).",
                ),
                &["outcome"],
            )?)?,
            forwarded: m.register(IntCounter::new(
                "hookmetry_processor_forwarded_deliveries_total",
                "Deliveries made by endpoints' forwarding rules (a capture handled twice counts twice; it is delivered once).",
            )?)?,
            verifications: m.register(IntCounterVec::new(
                Opts::new(
                    "hookmetry_verifications_total",
                    "Signature checks of captures, by provider (`none` when unconfigured and unrecognised) and verdict.",
                ),
                &["provider", "verdict"],
            )?)?,
            lag: m.register(IntGauge::new(
                "hookmetry_processor_lag_records",
                "Records in the captures log not yet committed by the processor group.",
            )?)?,
            batch_seconds: m.register(Histogram::with_opts(
                HistogramOpts::new(
                    "hookmetry_processor_batch_duration_seconds",
                    "Time to store, publish and commit one batch.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?)?,
        })
    }
}

pub struct Processor {
    log: Arc<dyn EventLog>,
    store: Arc<dyn Store>,
    settings: ProcessorSettings,
    metrics: ProcessorMetrics,
    /// Attempts a delivery made by a forwarding rule gets (`replay.max_attempts`).
    forward_max_attempts: u32,
}

/// Attempts of a forwarded delivery unless [`Processor::with_forward_max_attempts`] says otherwise.
pub const DEFAULT_FORWARD_MAX_ATTEMPTS: u32 = 8;

impl Processor {
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Arc<dyn Store>,
        settings: ProcessorSettings,
        metrics: &Metrics,
    ) -> Result<Self, ProcessorError> {
        Ok(Self {
            log,
            store,
            settings,
            metrics: ProcessorMetrics::register(metrics)?,
            forward_max_attempts: DEFAULT_FORWARD_MAX_ATTEMPTS,
        })
    }

    pub fn with_forward_max_attempts(mut self, attempts: u32) -> Self {
        self.forward_max_attempts = attempts.max(1);
        self
    }

    /// Runs until `shutdown` is cancelled; a batch in progress is finished first.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ProcessorError> {
        let mut consumer = self.log.consumer(TOPIC_CAPTURES, GROUP).await?;
        tracing::info!(group = GROUP, "processor started");
        let mut backoff = Backoff::default();
        let mut pending = PendingCommit::default();
        let mut previous_len = 0;
        let mut lag_read: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            let batch = match self.next_batch(&mut *consumer, previous_len).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "captures log poll failed; retrying");
                    backoff.wait(&shutdown).await;
                    continue;
                }
            };
            if !batch.is_empty() {
                previous_len = batch.len();
                let started = Instant::now();
                // Decoded once: an undecodable record is set aside once, not again on every
                // retry of a batch whose store write failed.
                let (captures, spans) = loop {
                    match self.decode(&batch).await {
                        Ok(decoded) => break decoded,
                        Err(e) => {
                            tracing::warn!(error = %e, records = batch.len(), "batch not decoded; retrying");
                            if shutdown.is_cancelled() {
                                return Ok(());
                            }
                            backoff.wait(&shutdown).await;
                        }
                    }
                };
                // Retries until stored: skipping a batch would lose acknowledged captures.
                while let Err(e) = self.process(&captures, &spans).await {
                    tracing::warn!(error = %e, records = batch.len(), "batch not stored; retrying");
                    if shutdown.is_cancelled() {
                        return Ok(());
                    }
                    backoff.wait(&shutdown).await;
                }
                for span in &spans {
                    span.record("outcome", "stored");
                }
                drop(spans);
                backoff.reset();
                pending.add(&batch);
                self.metrics.batch_seconds.observe(started.elapsed().as_secs_f64());
            }
            if pending.due(self.settings.commit_interval) {
                pending.commit(&mut *consumer).await;
            }
            // Reading lag costs broker round trips: under load once a second is enough for a
            // scraped gauge; when idle it is read at once so it drops to 0 as soon as all is stored.
            let idle = batch.is_empty() && self.metrics.lag.get() != 0;
            if idle || lag_read.is_none_or(|t| t.elapsed() >= LAG_INTERVAL) {
                lag_read = Some(Instant::now());
                if let Ok(lag) = consumer.lag().await {
                    // Stored but not yet committed is not lag: those captures are readable.
                    let lag = lag.saturating_sub(pending.records);
                    self.metrics.lag.set(i64::try_from(lag).unwrap_or(i64::MAX));
                }
            }
        }
        pending.commit(&mut *consumer).await;
        tracing::info!("processor stopped");
        Ok(())
    }

    /// A batch of records. Under load, once the first arrives, waits `batch_linger` for more: one
    /// store transaction (one fsync) then carries hundreds of captures instead of a handful.
    /// "Under load" means this poll or the previous batch found more than one record waiting;
    /// a lone capture at a quiet time is stored at once, so live subscribers see it sooner.
    async fn next_batch(&self, consumer: &mut dyn GroupConsumer, previous_len: usize) -> Result<Vec<Record>, LogError> {
        let max = self.settings.batch_size;
        let mut batch = consumer.poll(max, self.settings.poll_wait).await?;
        let busy = batch.len() > 1 || previous_len > 1;
        if busy && batch.len() < max && !self.settings.batch_linger.is_zero() {
            tokio::time::sleep(self.settings.batch_linger).await;
            match consumer.poll(max - batch.len(), Duration::ZERO).await {
                Ok(more) => batch.extend(more),
                // The first records are already taken from the consumer: they must be stored,
                // not dropped with the error. The next poll retries the rest.
                Err(e) => tracing::warn!(error = %e, "topping up the batch failed; storing what was read"),
            }
        }
        Ok(batch)
    }

    /// The batch's captures, each with its `process capture` span. A record no version of us can
    /// read would stall the group forever: it is set aside, with the error and where it came
    /// from, and passed. Failing to set one aside fails the call and the caller retries it: dead
    /// letters are at least once.
    async fn decode(&self, batch: &[Record]) -> Result<(Vec<CapturedRequest>, Vec<Span>), String> {
        let mut captures: Vec<CapturedRequest> = Vec::with_capacity(batch.len());
        let mut spans = Vec::with_capacity(batch.len());
        for record in batch {
            let span = process_span(record);
            match hookmetry_proto::decode_capture(record.payload.clone()) {
                Ok(c) => {
                    span.record("capture_id", tracing::field::display(c.id));
                    span.record("endpoint_id", tracing::field::display(c.endpoint_id));
                    captures.push(c);
                    spans.push(span);
                }
                Err(e) => {
                    span.record("outcome", "undecodable");
                    span.record("otel.status_code", "error");
                    self.set_aside(record, &e.to_string()).instrument(span).await?;
                    tracing::error!(error = %e, partition = record.partition, offset = record.offset, "undecodable capture record set aside");
                    self.metrics.records.with_label_values(&["undecodable"]).inc();
                }
            }
        }
        Ok((captures, spans))
    }

    /// Verifies, stores and forwards `captures`; `spans[i]` is the `process capture` span of
    /// `captures[i]`.
    async fn process(&self, captures: &[CapturedRequest], spans: &[Span]) -> Result<(), String> {
        let verifications = self.verify(captures, spans).await?;
        // One store transaction for the batch, shown as a `store write` in each capture's trace.
        let writes: Vec<Span> = spans
            .iter()
            .map(|parent| {
                tracing::info_span!(
                    parent: parent,
                    "store write",
                    batch_size = i64::try_from(captures.len()).unwrap_or(i64::MAX),
                    otel.status_code = Empty,
                )
            })
            .collect();
        let stored = async {
            let new = self.store.put_captures(captures).await.map_err(|e| format!("store: {e}"))?;
            // Written after the captures they describe; both writes are idempotent, so a crash
            // between them is healed by the redelivery.
            self.store.put_verifications(&verifications).await.map_err(|e| format!("store verifications: {e}"))?;
            Ok::<_, String>(new)
        }
        .await;
        if stored.is_err() {
            for span in &writes {
                span.record("otel.status_code", "error");
            }
        }
        drop(writes);
        let new = stored?;
        self.metrics.records.with_label_values(&["stored"]).inc_by(new as u64);
        self.metrics.records.with_label_values(&["duplicate"]).inc_by((captures.len() - new) as u64);

        let forwarded = self.forward(captures, spans).await?;

        // Events go out for the whole batch, redelivered ones included: a subscriber that missed
        // them during a crash still hears of them, and subscribers deduplicate by capture id.
        let mut events: Vec<NewRecord> =
            captures.iter().map(|c| hookmetry_proto::event_record(&Event::CaptureStored(c.summary()))).collect();
        events.extend(
            forwarded.iter().map(|d| {
                hookmetry_proto::event_record(&Event::DeliveryUpdated(hookmetry_proto::DeliveryUpdate::of(d)))
            }),
        );
        if !events.is_empty()
            && let Err(e) = self.log.append_batch(TOPIC_EVENTS, events).await
        {
            // Captures are stored and readable; only the live notification is lost.
            tracing::warn!(error = %e, "capture events not published");
        }

        Ok(())
    }
}

impl Processor {
    /// Makes a delivery of every capture for each forwarding rule of its endpoint that matches
    /// it, and wakes the replay workers. A capture handled twice (redelivered after a crash) makes
    /// the same delivery ids, which the store keeps once: it is forwarded once.
    ///
    /// Each delivery is made in a `create delivery` span in its capture's trace, whose context
    /// the delivery keeps: every attempt of it continues the capture's trace.
    async fn forward(&self, captures: &[CapturedRequest], spans: &[Span]) -> Result<Vec<Delivery>, String> {
        let mut rules: HashMap<EndpointId, Vec<ForwardingRule>> = HashMap::new();
        let mut made = Vec::new();
        let mut made_in = Vec::new();
        let now = Timestamp::now();
        for (c, parent) in captures.iter().zip(spans) {
            let rules = match rules.entry(c.endpoint_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    self.store
                        .forwarding_rules(c.endpoint_id)
                        .await
                        .map_err(|e| format!("read forwarding rules: {e}"))?,
                ),
            };
            for rule in rules.iter().filter(|r| r.matches(c)) {
                // Rules are validated when set; one that no longer parses is skipped, not retried.
                let Ok(target) = hookmetry_egress::Url::parse(&rule.target) else {
                    tracing::warn!(endpoint_id = %c.endpoint_id, rule = %rule.id, "forwarding rule target does not parse; skipped");
                    continue;
                };
                let id = DeliveryId::for_rule(c.id, &rule.id);
                let span = tracing::info_span!(
                    parent: parent,
                    "create delivery",
                    delivery_id = %id,
                    target = %hookmetry_egress::http1::host_port(&target),
                    otel.status_code = Empty,
                );
                made.push(Delivery {
                    id,
                    team_id: c.team_id,
                    endpoint_id: c.endpoint_id,
                    capture_id: c.id,
                    origin: DeliveryOrigin::Rule { rule_id: rule.id.clone() },
                    request: hookmetry_replay::outgoing_request(c, &target),
                    edited: false,
                    resigned: false,
                    state: DeliveryState::Pending,
                    attempts: 0,
                    max_attempts: self.forward_max_attempts,
                    next_attempt_at: Some(now),
                    created_at: now,
                    updated_at: now,
                    trace_parent: hookmetry_telemetry::TraceParent::of(&span).map(|p| p.header()),
                });
                made_in.push(span);
            }
        }
        let mut wakes = Vec::with_capacity(made.len());
        for (d, span) in made.iter().zip(&made_in) {
            if let Err(e) = self.store.put_delivery(d).instrument(span.clone()).await {
                span.record("otel.status_code", "error");
                return Err(format!("store forwarded delivery: {e}"));
            }
            wakes.push(hookmetry_replay::wake_record(d));
        }
        drop(made_in);
        self.metrics.forwarded.inc_by(made.len() as u64);
        if !wakes.is_empty()
            && let Err(e) = self.log.append_batch(TOPIC_DELIVERIES, wakes).await
        {
            // Stored as due now: a replay worker's scan of the store picks them up.
            tracing::warn!(error = %e, deliveries = made.len(), "replay workers not woken; their scan will find the deliveries");
        }
        Ok(made)
    }

    /// Copies an undecodable record to the dead-letter topic. Failing here fails the batch (it
    /// is retried): the record must be kept somewhere before its offset may be committed.
    async fn set_aside(&self, record: &Record, error: &str) -> Result<(), String> {
        let mut copy = NewRecord::new(record.key.clone(), record.payload.clone())
            .with_header("error", error.to_string())
            .with_header("source-topic", TOPIC_CAPTURES)
            .with_header("source-partition", record.partition.to_string())
            .with_header("source-offset", record.offset.to_string());
        for (name, value) in &record.headers {
            copy = copy.with_header(format!("original-{name}"), value.clone());
        }
        self.log
            .append(TOPIC_DEAD_LETTERS, copy)
            .await
            .map(drop)
            .map_err(|e| format!("set aside undecodable record: {e}"))
    }

    /// Checks every capture against its endpoint's current settings, reading each endpoint once
    /// per batch so a changed secret applies from the next batch on.
    ///
    /// The checks run on a blocking thread: a body sent by anyone with a capture URL decides how
    /// long explaining a mismatch takes (bounded by `ExplainLimits`), and that time must not be
    /// taken from the async workers that ingest and every other team's processing share.
    async fn verify(
        &self,
        captures: &[CapturedRequest],
        spans: &[Span],
    ) -> Result<Vec<(CaptureId, Verification)>, String> {
        let mut endpoints: HashMap<EndpointId, Option<Arc<Endpoint>>> = HashMap::new();
        let mut work = Vec::with_capacity(captures.len());
        for (c, parent) in captures.iter().zip(spans) {
            let endpoint = match endpoints.entry(c.endpoint_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    self.store.endpoint(c.endpoint_id).await.map_err(|e| format!("read endpoint: {e}"))?.map(Arc::new),
                ),
            };
            // A capture whose endpoint was deleted meanwhile is stored (and soon cleaned up) but
            // has nothing to be checked against.
            let Some(endpoint) = endpoint else { continue };
            work.push((endpoint.clone(), c.clone(), parent.clone()));
        }
        let base_url = self.settings.public_base_url.clone();
        let now = Timestamp::now();
        let verified = tokio::task::spawn_blocking(move || {
            let limits = hookmetry_verify::ExplainLimits::default();
            work.into_iter()
                .map(|(endpoint, c, parent)| {
                    let span = tracing::info_span!(parent: &parent, "verify", provider = Empty, verdict = Empty);
                    let v = span.in_scope(|| {
                        hookmetry_verify::verify_capture_with_limits(&endpoint, &c, &base_url, now, limits)
                    });
                    (c.id, v, span)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| format!("verification task failed: {e}"))?;
        let mut out = Vec::with_capacity(verified.len());
        for (id, v, span) in verified {
            let provider = match v.provider.as_deref() {
                None => "none",
                Some(p) if hookmetry_verify::providers().iter().any(|i| i.id == p) => p,
                Some(_) => "unknown",
            };
            self.metrics.verifications.with_label_values(&[provider, v.verdict.as_str()]).inc();
            span.record("provider", provider);
            span.record("verdict", v.verdict.as_str());
            drop(span);
            tracing::debug!(capture_id = %id, provider, verdict = %v.verdict, reason = %v.reason, "capture verified");
            out.push((id, v));
        }
        Ok(out)
    }
}

/// The `process capture` span of one captures-log record: a root in this process, continuing the
/// trace whose context ingest wrote into the record's headers (none when ingest did not export
/// spans, or the headers do not parse: then the capture's processing starts a trace of its own).
fn process_span(record: &Record) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "process capture",
        otel.kind = "consumer",
        topic = TOPIC_CAPTURES,
        partition = i64::from(record.partition),
        offset = i64::try_from(record.offset).unwrap_or(i64::MAX),
        capture_id = Empty,
        endpoint_id = Empty,
        outcome = Empty,
        otel.status_code = Empty,
    );
    if let Some(parent) = hookmetry_telemetry::TraceParent::from_headers(&record.headers) {
        parent.adopt(&span);
    }
    span
}

/// The newest stored record per partition, not yet committed.
///
/// Persist, then commit: a record enters here only after its capture is stored, and every store
/// write is idempotent on the capture id assigned at ingest. So committing late (at most every
/// `commit_interval`) or not at all before a crash only means those captures are stored again,
/// harmlessly; it saves several fsyncs per batch under load.
#[derive(Default)]
struct PendingCommit {
    last: std::collections::BTreeMap<u32, Record>,
    since: Option<Instant>,
    records: u64,
}

impl PendingCommit {
    fn add(&mut self, batch: &[Record]) {
        for r in batch {
            self.last.insert(r.partition, r.clone());
        }
        self.records += batch.len() as u64;
        self.since.get_or_insert_with(Instant::now);
    }

    fn due(&self, interval: Duration) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= interval)
    }

    async fn commit(&mut self, consumer: &mut dyn GroupConsumer) {
        if self.last.is_empty() {
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

#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    async fn wait(&mut self, shutdown: &CancellationToken) {
        let ms = (50u64 << self.attempt.min(6)).min(5_000);
        self.attempt += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    fn reset(&mut self) {
        self.attempt = 0;
    }
}
