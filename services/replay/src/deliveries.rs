//! Creating deliveries, shared by every entry point that makes one: a manual or bulk replay (the
//! API), a forwarding rule (the processor) and `hookmetry listen` (the API). Each is built from
//! its capture the same way, stored, and, when a worker is to send it, announced to the replay
//! workers through the `deliveries` log.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use hookmetry_core::{
    Attempt, CaptureId, CapturedRequest, Delivery, DeliveryId, DeliveryOrigin, DeliveryState, EndpointId,
    ForwardingRule, OutgoingRequest, TOPIC_DELIVERIES, Timestamp,
};
use hookmetry_egress::Url;
use hookmetry_egress::http1::host_port;
use hookmetry_log::EventLog;
use hookmetry_store::{DeliveryProgress, Store, StoreError};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use crate::resign::{ResignError, resign};
use crate::{Announcer, Prepared, outgoing_request, wake_record};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Resign(#[from] ResignError),
}

/// Why a listener's report was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("this delivery already has {attempts} attempts, its maxAttempts; report the last one with `last: true`")]
    AttemptsExhausted { attempts: u32 },
}

/// What a delivery is made of besides its capture.
struct Draft {
    id: DeliveryId,
    origin: DeliveryOrigin,
    request: OutgoingRequest,
    edited: bool,
    resigned: bool,
    max_attempts: u32,
    /// `false` for a listener's delivery, which no worker sends.
    due: bool,
    trace_parent: Option<String>,
    retry_like: Option<hookmetry_core::RetryLike>,
}

impl Draft {
    fn of(self, capture: &CapturedRequest, now: Timestamp) -> Delivery {
        Delivery {
            id: self.id,
            team_id: capture.team_id,
            endpoint_id: capture.endpoint_id,
            capture_id: capture.id,
            origin: self.origin,
            request: self.request,
            edited: self.edited,
            resigned: self.resigned,
            state: DeliveryState::Pending,
            attempts: 0,
            max_attempts: self.max_attempts,
            next_attempt_at: self.due.then_some(now),
            created_at: now,
            updated_at: now,
            trace_parent: self.trace_parent,
            retry_like: self.retry_like,
        }
    }
}

/// Creates deliveries: stores them, wakes a replay worker and announces them.
#[derive(Clone)]
pub struct Deliveries {
    store: Arc<dyn Store>,
    log: Arc<dyn EventLog>,
    announcer: Announcer,
}

impl Deliveries {
    pub fn new(store: Arc<dyn Store>, log: Arc<dyn EventLog>) -> Self {
        let announcer = Announcer::new(log.clone());
        Self { store, log, announcer }
    }

    pub fn announcer(&self) -> &Announcer {
        &self.announcer
    }

    /// Records a manual replay of `capture` as a new pending delivery due now, re-signed first
    /// when asked, then wakes a worker and announces it. It is made in a `create delivery` span
    /// whose context the delivery keeps for its attempts. With `retry_like` it retries on that
    /// provider's schedule, as many times as the provider would, instead of `max_attempts`.
    pub async fn replay(
        &self,
        capture: &CapturedRequest,
        prepared: Prepared,
        resign: bool,
        max_attempts: u32,
        retry_like: Option<hookmetry_core::RetryLike>,
    ) -> Result<Delivery, DeliveryError> {
        let max_attempts = retry_like.as_ref().and_then(crate::schedule::retry_like_attempts).unwrap_or(max_attempts);
        let Prepared { request, edited } = prepared;
        let id = DeliveryId::new();
        let target = Url::parse(&request.url).map(|u| host_port(&u)).unwrap_or_else(|_| "invalid-url".into());
        let span = tracing::info_span!("create delivery", delivery_id = %id, target = %target);
        let trace_parent = hookmetry_telemetry::TraceParent::of(&span).map(|p| p.header());
        let draft = Draft {
            id,
            origin: DeliveryOrigin::Manual,
            request,
            edited,
            resigned: resign,
            max_attempts,
            due: true,
            trace_parent,
            retry_like,
        };
        self.record_replay(capture, draft).instrument(span).await
    }

    /// A bulk replay: each capture as captured to `target`, newest first as given. The
    /// deliveries are stored in one write, the workers woken with one append and the changes
    /// announced with another, so a bulk replay costs a few fsyncs, not a few per capture. A
    /// re-signing failure stops it there, keeping the deliveries of the captures before.
    pub async fn replay_each(
        &self,
        captures: &[CapturedRequest],
        target: &Url,
        resign: bool,
        max_attempts: u32,
        retry_like: Option<hookmetry_core::RetryLike>,
    ) -> Result<Vec<Delivery>, DeliveryError> {
        let max_attempts = retry_like.as_ref().and_then(crate::schedule::retry_like_attempts).unwrap_or(max_attempts);
        let now = Timestamp::now();
        let mut endpoints = HashMap::new();
        let mut made = Vec::with_capacity(captures.len());
        let mut failed = None;
        for capture in captures {
            let request = outgoing_request(capture, target);
            let id = DeliveryId::new();
            let span = tracing::info_span!("create delivery", delivery_id = %id, target = %host_port(target));
            let trace_parent = hookmetry_telemetry::TraceParent::of(&span).map(|p| p.header());
            let mut draft = Draft {
                id,
                origin: DeliveryOrigin::Manual,
                request,
                edited: false,
                resigned: resign,
                max_attempts,
                due: true,
                trace_parent,
                retry_like: retry_like.clone(),
            };
            if resign && let Err(e) = self.resign_draft(&mut endpoints, capture, &mut draft, now).await {
                failed = Some(e);
                break;
            }
            made.push(draft.of(capture, now));
        }
        self.store.put_deliveries(&made).await?;
        if !made.is_empty()
            && let Err(e) = self.log.append_batch(TOPIC_DELIVERIES, made.iter().map(wake_record).collect()).await
        {
            // Stored as due now: a worker's scan finds them within `replay.scan_interval`.
            tracing::warn!(error = %e, deliveries = made.len(), "replay workers not woken; their scan will pick the deliveries up");
        }
        self.announcer.deliveries(&made).await;
        match failed {
            Some(e) => Err(e),
            None => Ok(made),
        }
    }

    /// Re-signs `draft` with its endpoint's current secret, reading each endpoint once.
    async fn resign_draft(
        &self,
        endpoints: &mut HashMap<EndpointId, hookmetry_core::Endpoint>,
        capture: &CapturedRequest,
        draft: &mut Draft,
        now: Timestamp,
    ) -> Result<(), DeliveryError> {
        let endpoint = match endpoints.entry(capture.endpoint_id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(
                self.store.endpoint(capture.endpoint_id).await?.ok_or(StoreError::NotFound { entity: "endpoint" })?,
            ),
        };
        resign(endpoint, &mut draft.request, now)?;
        Ok(())
    }

    async fn record_replay(&self, capture: &CapturedRequest, mut draft: Draft) -> Result<Delivery, DeliveryError> {
        let now = Timestamp::now();
        if draft.resigned {
            let endpoint =
                self.store.endpoint(capture.endpoint_id).await?.ok_or(StoreError::NotFound { entity: "endpoint" })?;
            resign(&endpoint, &mut draft.request, now)?;
        }
        let delivery = draft.of(capture, now);
        self.store.put_delivery(&delivery).await?;
        if let Err(e) = self.log.append(TOPIC_DELIVERIES, wake_record(&delivery)).await {
            // Stored as due now: a worker's scan finds it within `replay.scan_interval`.
            tracing::warn!(error = %e, delivery_id = %delivery.id, "replay worker not woken; its scan will pick the delivery up");
        }
        self.announcer.delivery(&delivery).await;
        Ok(delivery)
    }

    /// Makes a delivery of every capture for each forwarding rule of its endpoint that matches
    /// it, and wakes the replay workers; announcing them is left to the caller, which does it
    /// with its captures' own events. A capture handled twice (redelivered after a crash) makes
    /// the same delivery ids, which the store keeps once: it is forwarded once.
    ///
    /// Each delivery is made in a `create delivery` span under its capture's span (`spans[i]`
    /// belongs to `captures[i]`), whose context the delivery keeps: every attempt of it
    /// continues the capture's trace.
    pub async fn forward(
        &self,
        captures: &[CapturedRequest],
        event_types: &HashMap<CaptureId, &str>,
        spans: &[Span],
        max_attempts: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut rules: HashMap<EndpointId, Vec<ForwardingRule>> = HashMap::new();
        let mut made = Vec::new();
        let mut made_in = Vec::new();
        let now = Timestamp::now();
        for (c, parent) in captures.iter().zip(spans) {
            let rules = match rules.entry(c.endpoint_id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(self.store.forwarding_rules(c.endpoint_id).await?),
            };
            let event_type = event_types.get(&c.id).copied();
            for rule in rules.iter().filter(|r| r.matches(c, event_type)) {
                // Rules are validated when set; one that no longer parses is skipped, not retried.
                let Ok(target) = Url::parse(&rule.target) else {
                    tracing::warn!(endpoint_id = %c.endpoint_id, rule = %rule.id, "forwarding rule target does not parse; skipped");
                    continue;
                };
                let id = DeliveryId::for_rule(c.id, &rule.id);
                let span = tracing::info_span!(
                    parent: parent,
                    "create delivery",
                    delivery_id = %id,
                    target = %host_port(&target),
                    otel.status_code = Empty,
                );
                let draft = Draft {
                    id,
                    origin: DeliveryOrigin::Rule { rule_id: rule.id.clone() },
                    request: outgoing_request(c, &target),
                    edited: false,
                    resigned: false,
                    max_attempts,
                    due: true,
                    trace_parent: hookmetry_telemetry::TraceParent::of(&span).map(|p| p.header()),
                    retry_like: None,
                };
                made.push(draft.of(c, now));
                made_in.push(span);
            }
        }
        // One write for the batch: a capture batch's deliveries cost one fsync, not one each.
        if let Err(e) = self.store.put_deliveries(&made).await {
            for span in &made_in {
                span.record("otel.status_code", "error");
            }
            return Err(e);
        }
        drop(made_in);
        let wakes: Vec<_> = made.iter().map(wake_record).collect();
        if !wakes.is_empty()
            && let Err(e) = self.log.append_batch(TOPIC_DELIVERIES, wakes).await
        {
            // Stored as due now: a replay worker's scan of the store picks them up.
            tracing::warn!(error = %e, deliveries = made.len(), "replay workers not woken; their scan will find the deliveries");
        }
        Ok(made)
    }

    /// Records one attempt a listener made to forward `capture`, in the listener's delivery of
    /// it (made on the first report). Attempts are numbered in the order reported: a 2xx answer
    /// succeeds the delivery, a failure with `last` dead-letters it. A durable listener's cursor
    /// moves to `report.cursor`, or to the capture once its delivery is finished. A report
    /// repeated after a lost answer changes nothing. The delivery as it now is is announced.
    pub async fn report_listener_attempt(
        &self,
        capture: &CapturedRequest,
        listener: ListenerDelivery<'_>,
        report: ListenerReport,
    ) -> Result<Delivery, ListenerError> {
        let (name, now) = (listener.name, listener.now);
        let delivery = self.for_listener(capture, listener).await?;
        let id = delivery.id;
        let finished = if delivery.state.is_final() {
            true
        } else if delivery.attempts >= delivery.max_attempts {
            return Err(ListenerError::AttemptsExhausted { attempts: delivery.attempts });
        } else {
            let number = delivery.attempts + 1;
            let state = match (&report.attempt.error, report.last) {
                (None, _) => DeliveryState::Succeeded,
                (Some(_), true) => DeliveryState::DeadLettered,
                (Some(_), false) => DeliveryState::Pending,
            };
            let started_at = report.started_at.unwrap_or(now);
            let attempt = Attempt { delivery_id: id, number, started_at, ..report.attempt };
            let progress = DeliveryProgress { state, attempts: number, next_attempt_at: None, updated_at: now };
            self.store.record_attempt(&attempt, &progress).await?;
            state.is_final()
        };
        if report.durable {
            // The listener says how far everything is finished (later captures may finish
            // before an earlier one that is still being retried); without it, this capture.
            match report.cursor {
                Some(c) => self.store.advance_listener(capture.endpoint_id, name, c, now).await?,
                None if finished => self.store.advance_listener(capture.endpoint_id, name, capture.id, now).await?,
                None => {}
            }
        }
        let delivery = self.store.delivery(id).await?.ok_or(StoreError::NotFound { entity: "delivery" })?;
        self.announcer.delivery(&delivery).await;
        Ok(delivery)
    }

    /// The delivery of `capture` by the listener `name`, made on its first report. It is never
    /// due (the listener sends, on the developer's machine, not a worker), is not traced, and
    /// references the capture's body instead of storing a copy.
    async fn for_listener(
        &self,
        capture: &CapturedRequest,
        listener: ListenerDelivery<'_>,
    ) -> Result<Delivery, StoreError> {
        let id = DeliveryOrigin::listener_delivery_id(capture.id, listener.name);
        if let Some(d) = self.store.delivery(id).await? {
            return Ok(d);
        }
        let draft = Draft {
            id,
            origin: DeliveryOrigin::Listener { name: listener.name.to_owned(), missed: listener.missed },
            request: OutgoingRequest {
                method: capture.method.clone(),
                url: listener.target.to_string(),
                headers: hookmetry_core::forwarded_headers(&capture.headers),
                // Referenced, not copied: the listener sent the capture's own body, and the API
                // reads a listener delivery's body from its capture.
                body: bytes::Bytes::new(),
                body_sha256: capture.body_sha256,
            },
            edited: false,
            resigned: false,
            max_attempts: listener.max_attempts,
            due: false,
            trace_parent: None,
            retry_like: None,
        };
        let d = draft.of(capture, listener.now);
        // First write wins: two reports racing for a new delivery store one.
        self.store.put_delivery(&d).await?;
        Ok(self.store.delivery(id).await?.unwrap_or(d))
    }
}

/// One attempt a listener reports.
pub struct ListenerReport {
    /// As it is stored, but for its delivery and number, which are given here, and its start
    /// time when `started_at` is `None` (then the time of the report).
    pub attempt: Attempt,
    pub started_at: Option<Timestamp>,
    /// The listener gives up on the capture if this attempt failed.
    pub last: bool,
    /// The listener keeps a cursor where it resumes after being offline.
    pub durable: bool,
    /// The newest capture up to which the listener finished everything.
    pub cursor: Option<CaptureId>,
}

/// Which listener reports, and the delivery its first report makes.
#[derive(Clone, Copy)]
pub struct ListenerDelivery<'a> {
    pub name: &'a str,
    /// The capture was delivered after the listener came back from being offline.
    pub missed: bool,
    pub target: &'a Url,
    pub max_attempts: u32,
    pub now: Timestamp,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use hookmetry_core::{Header, TOPIC_EVENTS, Team, TeamId};
    use hookmetry_log::{EmbeddedLog, EmbeddedLogOptions};
    use hookmetry_proto::Event;
    use hookmetry_store::{DeliveryStore, SqliteStore, TeamStore};

    use super::*;

    #[tokio::test]
    async fn a_replay_is_stored_due_woken_and_announced_and_a_listener_delivery_is_never_due() {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(dir.path().join("log"), EmbeddedLogOptions::default()).await.unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("db")).await.unwrap());
        let team = Team { id: TeamId::new(), name: "t".into(), retention_days: 1, created_at: Timestamp::now() };
        store.create_team(&team).await.unwrap();
        let capture = CapturedRequest {
            id: hookmetry_core::CaptureId::new(),
            // No such endpoint: enough for deliveries, which only the team constrains.
            endpoint_id: EndpointId::new(),
            team_id: team.id,
            method: "POST".into(),
            path: "/hook".into(),
            query: None,
            headers: vec![Header::new("content-type", "application/json")],
            body_sha256: [7; 32],
            body: Bytes::from_static(b"{}"),
            remote_addr: "203.0.113.9:4000".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::now(),
            answered: None,
        };
        let mut events = log.tail(TOPIC_EVENTS).await.unwrap();
        let deliveries = Deliveries::new(store.clone(), log.clone());
        let target = Url::parse("https://r.example/in").unwrap();
        let prepared = || Prepared { request: outgoing_request(&capture, &target), edited: false };

        let d = deliveries.replay(&capture, prepared(), false, 3, None).await.unwrap();
        assert_eq!((d.state, d.origin.clone(), d.max_attempts), (DeliveryState::Pending, DeliveryOrigin::Manual, 3));
        assert_eq!(d.next_attempt_at, Some(d.created_at), "due at once");
        assert_eq!(store.delivery(d.id).await.unwrap(), Some(d.clone()));
        let mut wakes = log.consumer(TOPIC_DELIVERIES, "test").await.unwrap();
        let woken = wakes.poll(10, Duration::from_secs(2)).await.unwrap();
        assert_eq!(woken.iter().map(|r| crate::wake::decode(r).unwrap()).collect::<Vec<_>>(), vec![d.id]);
        let announced = events.next_batch(10, Duration::from_secs(2)).await.unwrap();
        match hookmetry_proto::decode_event(announced[0].payload.clone()).unwrap() {
            Some(Event::DeliveryUpdated(u)) => assert_eq!(u.delivery_id, d.id),
            other => panic!("a new delivery is announced, got {other:?}"),
        }

        // No endpoint to sign with: refused before anything is stored.
        let err = deliveries.replay(&capture, prepared(), true, 3, None).await.unwrap_err();
        assert!(matches!(err, DeliveryError::Store(StoreError::NotFound { entity: "endpoint" })), "{err:?}");
        assert_eq!(store.deliveries_for_capture(capture.id, 10).await.unwrap().len(), 1);

        let listener = |max_attempts| ListenerDelivery {
            name: "laptop",
            missed: true,
            target: &target,
            max_attempts,
            now: Timestamp::now(),
        };
        let l = deliveries.for_listener(&capture, listener(2)).await.unwrap();
        assert_eq!(l.origin, DeliveryOrigin::Listener { name: "laptop".into(), missed: true });
        assert_eq!(l.next_attempt_at, None, "no worker sends a listener's delivery");
        assert!(l.request.body.is_empty(), "the capture's body is referenced, not copied");
        assert_eq!(l.request.body_sha256, capture.body_sha256);
        let again = deliveries.for_listener(&capture, listener(9)).await.unwrap();
        assert_eq!(again, l, "the first report's delivery is kept");
    }
}
