//! Processor role: consumes the captures log, stores every capture idempotently by its id,
//! publishes a "capture stored" event, and only then commits the log offset.
//!
//! A failure to store is either transient (the store is unavailable or timed out: retried with
//! backoff until it succeeds) or permanent (this data will never be accepted). A batch that
//! fails permanently a few times is stored record by record, and a record that still fails
//! permanently on its own goes to the dead-letter topic with the reason, so one bad record
//! cannot stall the group or hold back the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookmetry_core::{
    CaptureId, CapturedRequest, Endpoint, EndpointId, TOPIC_CAPTURES, TOPIC_DEAD_LETTERS, Timestamp, Verification,
};
use hookmetry_log::{EventLog, GroupConsumer, LogError, NewRecord, Record};
use hookmetry_replay::{Announcer, Deliveries};
use hookmetry_store::Store;
use hookmetry_telemetry::{Metrics, TelemetryError};
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

mod backoff;
mod commit;
mod drift;
mod error;
mod metrics;

use backoff::Backoff;
use commit::PendingCommit;
pub use drift::{MAX_TYPES_PER_ENDPOINT, limits as drift_limits};
pub use error::{Failure, ProcessError};
use metrics::ProcessorMetrics;

/// Consumer group of processors on the captures log.
pub const GROUP: &str = "processor";

/// How often the lag gauge is refreshed.
const LAG_INTERVAL: Duration = Duration::from_secs(1);

/// Tries a batch, then each of its records alone, gets when it fails permanently, unless
/// [`Processor::with_permanent_attempts`] says otherwise.
pub const DEFAULT_PERMANENT_ATTEMPTS: u32 = 5;

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
    /// Learn each event type's JSON shape and record what captures change in it (docs/events.md).
    pub schema_drift: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("cannot join the captures log: {0}")]
    Log(#[from] LogError),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] TelemetryError),
}

pub struct Processor {
    log: Arc<dyn EventLog>,
    store: Arc<dyn Store>,
    deliveries: Deliveries,
    announcer: Announcer,
    settings: ProcessorSettings,
    metrics: Arc<ProcessorMetrics>,
    /// The schema drift queue, and its receiver until `run` starts the worker.
    drift: Option<DriftQueue>,
    /// Attempts a delivery made by a forwarding rule gets (`replay.max_attempts`).
    forward_max_attempts: u32,
    permanent_attempts: u32,
}

/// Attempts of a forwarded delivery unless [`Processor::with_forward_max_attempts`] says otherwise.
pub const DEFAULT_FORWARD_MAX_ATTEMPTS: u32 = 8;

/// The schema drift queue, and its receiver until `run` hands it to the worker.
type DriftQueue =
    (tokio::sync::mpsc::Sender<drift::Item>, std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<drift::Item>>>);

/// A polled batch, decoded: `captures[i]` came from `records[i]` and is processed in `spans[i]`.
struct Decoded {
    captures: Vec<CapturedRequest>,
    spans: Vec<Span>,
    records: Vec<Record>,
}

impl Processor {
    pub fn new(
        log: Arc<dyn EventLog>,
        store: Arc<dyn Store>,
        settings: ProcessorSettings,
        metrics: &Metrics,
    ) -> Result<Self, ProcessorError> {
        let deliveries = Deliveries::new(store.clone(), log.clone());
        let announcer = deliveries.announcer().clone();
        let drift = settings.schema_drift.then(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(drift::QUEUE);
            (tx, std::sync::Mutex::new(Some(rx)))
        });
        Ok(Self {
            log,
            store,
            deliveries,
            announcer,
            settings,
            metrics: Arc::new(ProcessorMetrics::register(metrics)?),
            drift,
            forward_max_attempts: DEFAULT_FORWARD_MAX_ATTEMPTS,
            permanent_attempts: DEFAULT_PERMANENT_ATTEMPTS,
        })
    }

    pub fn with_forward_max_attempts(mut self, attempts: u32) -> Self {
        self.forward_max_attempts = attempts.max(1);
        self
    }

    /// How many times a permanent failure is tried before the batch is split, and again before
    /// a record is dead-lettered.
    pub fn with_permanent_attempts(mut self, attempts: u32) -> Self {
        self.permanent_attempts = attempts.max(1);
        self
    }

    /// Runs until `shutdown` is cancelled; a batch in progress is finished first.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), ProcessorError> {
        let mut consumer = self.log.consumer(TOPIC_CAPTURES, GROUP).await?;
        if let Some(rx) = self.drift.as_ref().and_then(|(_, rx)| rx.lock().expect("not poisoned").take()) {
            let worker = drift::Worker::new(self.store.clone(), self.announcer.clone(), self.metrics.clone());
            tokio::spawn(worker.run(rx, shutdown.clone()));
        }
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
                let decoded = loop {
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
                // Nothing of the batch may be committed unless every record is stored or set
                // aside: skipping one would lose a capture ingest acknowledged.
                if !self.store_batch(&decoded, &mut backoff, &shutdown).await {
                    return Ok(());
                }
                drop(decoded);
                backoff.reset();
                pending.add(&batch);
                self.metrics.batch_seconds.observe(started.elapsed().as_secs_f64());
            }
            if pending.due(self.settings.commit_interval) {
                pending.commit(&mut *consumer, self.store.as_ref()).await;
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
        pending.commit(&mut *consumer, self.store.as_ref()).await;
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

    /// The batch's captures, each with its `process capture` span and its record. A record no
    /// version of us can read would stall the group forever: it is set aside, with the error and
    /// where it came from, and passed. Failing to set one aside fails the call and the caller
    /// retries it: dead letters are at least once.
    async fn decode(&self, batch: &[Record]) -> Result<Decoded, ProcessError> {
        let mut decoded = Decoded {
            captures: Vec::with_capacity(batch.len()),
            spans: Vec::with_capacity(batch.len()),
            records: Vec::new(),
        };
        for record in batch {
            let span = process_span(record);
            match hookmetry_proto::decode_capture(record.payload.clone()) {
                Ok(c) => {
                    span.record("capture_id", tracing::field::display(c.id));
                    span.record("endpoint_id", tracing::field::display(c.endpoint_id));
                    decoded.captures.push(c);
                    decoded.spans.push(span);
                    decoded.records.push(record.clone());
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
        Ok(decoded)
    }

    /// Processes the batch, retrying transient failures until they pass. After
    /// `permanent_attempts` permanent failures the records are tried one by one: one record the
    /// store refuses fails the whole batch's transaction, and must not take the others with it.
    /// `false` when shutdown came first.
    async fn store_batch(&self, batch: &Decoded, backoff: &mut Backoff, shutdown: &CancellationToken) -> bool {
        let mut permanent = 0;
        loop {
            let Err(e) = self.process(&batch.captures, &batch.spans).await else {
                for span in &batch.spans {
                    span.record("outcome", "stored");
                }
                return true;
            };
            let failure = self.count(&e);
            if failure == Failure::Permanent {
                permanent += 1;
                if permanent >= self.permanent_attempts {
                    tracing::warn!(error = %e, records = batch.captures.len(), "batch keeps failing; storing its records one by one");
                    return self.store_each(batch, shutdown).await;
                }
            }
            tracing::warn!(error = %e, kind = failure.as_str(), records = batch.captures.len(), "batch not stored; retrying");
            if shutdown.is_cancelled() {
                return false;
            }
            backoff.wait(shutdown).await;
        }
    }

    /// Processes each record of the batch alone; one that fails permanently `permanent_attempts`
    /// times goes to the dead-letter topic with the reason. `false` when shutdown came first.
    async fn store_each(&self, batch: &Decoded, shutdown: &CancellationToken) -> bool {
        let items = batch.captures.iter().zip(&batch.spans).zip(&batch.records);
        for ((capture, span), record) in items {
            let mut backoff = Backoff::default();
            let mut permanent = 0;
            loop {
                let Err(e) = self.process(std::slice::from_ref(capture), std::slice::from_ref(span)).await else {
                    span.record("outcome", "stored");
                    break;
                };
                let failure = self.count(&e);
                if failure == Failure::Permanent {
                    permanent += 1;
                    if permanent >= self.permanent_attempts {
                        if !self.dead_letter(capture, span, record, &e, shutdown).await {
                            return false;
                        }
                        break;
                    }
                }
                tracing::warn!(error = %e, kind = failure.as_str(), capture_id = %capture.id, "capture not stored; retrying");
                if shutdown.is_cancelled() {
                    return false;
                }
                backoff.wait(shutdown).await;
            }
        }
        true
    }

    fn count(&self, e: &ProcessError) -> Failure {
        let failure = e.failure();
        self.metrics.failures.with_label_values(&[failure.as_str()]).inc();
        failure
    }

    /// Sets aside a record that can never be stored, retrying until the log takes it: its offset
    /// is committed with the batch, so it must be kept somewhere first. `false` when shutdown
    /// came first.
    async fn dead_letter(
        &self,
        capture: &CapturedRequest,
        span: &Span,
        record: &Record,
        reason: &ProcessError,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut backoff = Backoff::default();
        let reason = reason.to_string();
        while let Err(e) = self.set_aside(record, &reason).instrument(span.clone()).await {
            tracing::warn!(error = %e, capture_id = %capture.id, "dead letter not written; retrying");
            if shutdown.is_cancelled() {
                return false;
            }
            backoff.wait(shutdown).await;
        }
        span.record("outcome", "dead_lettered");
        span.record("otel.status_code", "error");
        self.metrics.records.with_label_values(&["dead_lettered"]).inc();
        tracing::error!(
            error = %reason,
            capture_id = %capture.id,
            endpoint_id = %capture.endpoint_id,
            partition = record.partition,
            offset = record.offset,
            attempts = self.permanent_attempts,
            "capture cannot be stored; record dead-lettered"
        );
        true
    }

    /// Verifies, stores and forwards `captures`, then announces them; `spans[i]` is the
    /// `process capture` span of `captures[i]`.
    async fn process(&self, captures: &[CapturedRequest], spans: &[Span]) -> Result<(), ProcessError> {
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
            self.store.put_checked_captures(captures, &verifications).await.map_err(ProcessError::store("store"))
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
        self.count_redeliveries(captures, &verifications).await?;
        let event_types: HashMap<CaptureId, &str> =
            verifications.iter().filter_map(|(id, v)| v.event.kind.as_deref().map(|t| (*id, t))).collect();

        let forwarded = self
            .deliveries
            .forward(captures, &event_types, spans, self.forward_max_attempts)
            .await
            .map_err(ProcessError::store("forward"))?;
        self.metrics.forwarded.inc_by(forwarded.len() as u64);
        self.announcer.stored(captures, &forwarded).await;
        if let Some((tx, _)) = &self.drift {
            for item in drift::items(captures, &verifications) {
                if tx.try_send(item).is_err() {
                    self.metrics.drift.with_label_values(&["dropped"]).inc();
                }
            }
        }
        Ok(())
    }

    /// Counts the captures whose provider event an earlier capture of their endpoint carried, by
    /// why it came again. One indexed read per capture that names an event id; a batch the log
    /// delivers twice is counted twice (the captures are stored once).
    async fn count_redeliveries(
        &self,
        captures: &[CapturedRequest],
        verifications: &[(CaptureId, Verification)],
    ) -> Result<(), ProcessError> {
        let by_id: HashMap<CaptureId, &CapturedRequest> = captures.iter().map(|c| (c.id, c)).collect();
        let named: Vec<(CaptureId, &Verification, &CapturedRequest, &str)> = verifications
            .iter()
            .filter_map(|(id, v)| Some((*id, v, *by_id.get(id)?, v.event.id.as_deref()?)))
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        // One batch read: for each, the capture of its event just before it, and its answer.
        let keys: Vec<(EndpointId, String, CaptureId)> =
            named.iter().map(|(id, _, c, event_id)| (c.endpoint_id, event_id.to_string(), *id)).collect();
        let previous = self
            .store
            .previous_of_events(&keys)
            .await
            .map_err(ProcessError::store("read previous captures of events"))?;
        for ((id, v, c, _), previous) in named.into_iter().zip(previous) {
            let Some((previous_id, answered)) = previous else { continue };
            // The two captures that decide the kind, as `classify` reads a group.
            let member = |id: CaptureId, received_at, answered, event: Option<&hookmetry_core::CaptureEvent>| {
                hookmetry_core::GroupMember {
                    id,
                    received_at,
                    answered,
                    attempt: event.and_then(|e| e.attempt),
                    retry_reason: event.and_then(|e| e.retry_reason.clone()),
                }
            };
            let group = hookmetry_core::EventGroup {
                total: 2,
                members: vec![
                    member(previous_id, Timestamp::from_micros(0), answered, None),
                    member(id, c.received_at, c.answered.clone(), Some(&v.event)),
                ],
            };
            let kind = match hookmetry_core::classify(&group, id).map(|r| r.kind) {
                Some(hookmetry_core::RedeliveryKind::Retry) => "retry",
                Some(hookmetry_core::RedeliveryKind::Duplicate) => "duplicate",
                Some(hookmetry_core::RedeliveryKind::First) | None => continue,
            };
            self.metrics.redeliveries.with_label_values(&[provider_label(v.provider.as_deref()), kind]).inc();
        }
        Ok(())
    }

    /// Copies a record to the dead-letter topic with the reason it is there and where it came
    /// from. Failing here fails the batch (it is retried): the record must be kept somewhere
    /// before its offset may be committed.
    async fn set_aside(&self, record: &Record, error: &str) -> Result<(), LogError> {
        let mut copy = NewRecord::new(record.key.clone(), record.payload.clone())
            .with_header("error", error.to_string())
            .with_header("source-topic", TOPIC_CAPTURES)
            .with_header("source-partition", record.partition.to_string())
            .with_header("source-offset", record.offset.to_string());
        for (name, value) in &record.headers {
            copy = copy.with_header(format!("original-{name}"), value.clone());
        }
        self.log.append(TOPIC_DEAD_LETTERS, copy).await.map(drop)
    }

    /// Checks every capture against its endpoint's current settings, reading each endpoint once
    /// per batch so a changed secret applies from the next batch on.
    ///
    /// Checks against secrets run on a blocking thread: a body sent by anyone with a capture URL
    /// decides how long explaining a mismatch takes (bounded by `ExplainLimits`), and that time
    /// must not be taken from the async workers that ingest and every other team's processing
    /// share. Endpoints without secrets only get a guess from the headers, made here.
    async fn verify(
        &self,
        captures: &[CapturedRequest],
        spans: &[Span],
    ) -> Result<Vec<(CaptureId, Verification)>, ProcessError> {
        let mut endpoints: HashMap<EndpointId, Option<Arc<Endpoint>>> = HashMap::new();
        let (mut work, mut unchecked) = (Vec::new(), Vec::new());
        for (c, parent) in captures.iter().zip(spans) {
            let endpoint = match endpoints.entry(c.endpoint_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    self.store
                        .endpoint(c.endpoint_id)
                        .await
                        .map_err(ProcessError::store("read endpoint"))?
                        .map(Arc::new),
                ),
            };
            // A capture whose endpoint was deleted meanwhile is stored (and soon cleaned up) but
            // has nothing to be checked against.
            let Some(endpoint) = endpoint else { continue };
            if endpoint.verification.is_none() && c.body.len() <= INLINE_BODY {
                // Without secrets there is only a guess at the provider from the headers and the
                // event a small body names: cheap and bounded, so it runs here rather than being
                // copied to a blocking thread. A larger body's event is read there.
                unchecked.push((c, parent));
            } else {
                work.push((endpoint.clone(), c.clone(), parent.clone()));
            }
        }
        let base_url = self.settings.public_base_url.clone();
        let now = Timestamp::now();
        let check = move |endpoint: &Endpoint, c: &CapturedRequest, parent: &Span| {
            let span = tracing::info_span!(parent: parent, "verify", provider = Empty, verdict = Empty);
            let limits = hookmetry_verify::ExplainLimits::default();
            let v = span.in_scope(|| hookmetry_verify::verify_capture_with_limits(endpoint, c, &base_url, now, limits));
            (c.id, v, span)
        };
        let mut verified = Vec::with_capacity(captures.len());
        for (c, parent) in unchecked {
            let endpoint = endpoints.get(&c.endpoint_id).and_then(Option::as_ref).expect("looked up above");
            verified.push(check(endpoint, c, parent));
        }
        if !work.is_empty() {
            let check = check.clone();
            verified.extend(
                tokio::task::spawn_blocking(move || {
                    work.into_iter().map(|(endpoint, c, parent)| check(&endpoint, &c, &parent)).collect::<Vec<_>>()
                })
                .await?,
            );
        }
        let mut out = Vec::with_capacity(verified.len());
        for (id, v, span) in verified {
            let provider = provider_label(v.provider.as_deref());
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

/// Bodies up to this size have their event read on the async worker for endpoints without
/// secrets; parsing one takes microseconds.
const INLINE_BODY: usize = 16 * 1024;

/// The `provider` label of a result: a known provider's id, `none`, or `unknown`, so a label
/// value never comes from a request.
fn provider_label(provider: Option<&str>) -> &'static str {
    match provider {
        None => "none",
        Some(p) => hookmetry_verify::providers().iter().find(|i| i.id == p).map_or("unknown", |i| i.id),
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
