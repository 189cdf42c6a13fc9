//! A target's lane: its deliveries one after the other, each claimed, sent, then recorded with
//! its next state and announced while the lane already sends the next one.

use std::sync::Arc;
use std::time::Instant;

use hookmetry_core::{Attempt, Delivery, DeliveryState, Timestamp};
use hookmetry_store::DeliveryProgress;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use super::admission::{Lane, Slot};
use super::{Backoff, Shared};
use crate::RetrySchedule;

/// How much longer than the longest attempt (connect plus total timeout) a claim holds a
/// delivery: enough to record the attempt; a worker that died is replaced this much later.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs a lane of `lane.target()`, starting with `first`, until its queue is empty.
pub(super) async fn lane(shared: Arc<Shared>, first: Delivery, mut lane: Lane) {
    let mut next = Some(first);
    while let Some(d) = next {
        let slot = Slot::new(&shared, d.id);
        attempt(&shared, d, lane.target(), slot).await;
        next = lane.next();
    }
}

/// One attempt of `snapshot`'s delivery: claimed, sent, and handed to a task of its own to be
/// recorded, announced and its next attempt scheduled.
async fn attempt(shared: &Arc<Shared>, snapshot: Delivery, target: &str, slot: Slot) {
    // The snapshot (a scan's, say) may predate an attempt that finished since, or a
    // cancellation: the claim only takes the delivery while it is pending, due, and has had the
    // attempts the snapshot saw, so only the attempt after those is made. Taken for this
    // attempt, other workers scanning the same store leave it alone; if this process dies during
    // the attempt, the delivery is due again when the lease ends.
    let settings = shared.sender.settings();
    let lease = settings.connect_timeout + settings.total_timeout + LEASE_MARGIN;
    let lease = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
    let store = &shared.store;
    let claimed = shared
        .claims
        .submit((snapshot.id, snapshot.attempts), |claims| async move {
            let now = Timestamp::now();
            let until = Timestamp::from_micros(now.micros().saturating_add(lease));
            store.claim_deliveries(&claims, now, until).await
        })
        .await;
    match claimed {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(delivery_id = %snapshot.id, "delivery taken by another worker, changed or no longer due; not attempted");
            return;
        }
        Err(e) => {
            // Left due: the next scan tries again.
            tracing::warn!(delivery_id = %snapshot.id, error = %e, "delivery not claimed; the next scan retries");
            return;
        }
    }

    let d = snapshot;
    let number = d.attempts + 1;
    let span = attempt_span(&d, number, target);
    let made = send(shared, &d, number, &span).instrument(span.clone()).await;
    // The lane moves on to its next delivery while this one is recorded: the record waits for a
    // group commit, the target's connection does not.
    shared.finishing.spawn(record(shared.clone(), d, made, target.to_string(), span.clone(), slot).instrument(span));
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

/// Sends attempt `number` of the claimed delivery `d`.
async fn send(shared: &Shared, d: &Delivery, number: u32, span: &Span) -> Made {
    let started = Instant::now();
    let traced;
    let request = match shared.settings.propagate_trace_context.then(|| hookmetry_telemetry::TraceParent::of(span)) {
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
    Made { attempt, number }
}

/// When `d`'s next attempt is due after `number` attempts: on its provider's schedule when it
/// retries like one, else on the instance's backoff; `None` once it is exhausted.
fn next_attempt_at(d: &Delivery, schedule: &RetrySchedule, now: Timestamp, number: u32) -> Option<Timestamp> {
    match &d.retry_like {
        // The delivery's own limit still holds: it was set from the profile when it was made.
        Some(like) if number < schedule.max_attempts => crate::schedule::retry_like_next_attempt_at(like, now, number),
        Some(_) => None,
        None => schedule.next_attempt_at(now, number, &mut rand::rng()),
    }
}

/// An attempt sent, not yet recorded.
struct Made {
    attempt: Attempt,
    number: u32,
}

/// Records attempt `made` of `d` with the delivery's next state, then announces it; `slot` is
/// held until then, so the delivery is not started again meanwhile.
async fn record(shared: Arc<Shared>, d: Delivery, made: Made, target: String, span: Span, slot: Slot) {
    let _slot = slot;
    let Made { attempt, number } = made;
    let outcome = attempt.error.map_or("success", |e| e.as_str());
    let now = Timestamp::now();
    // The delivery's own limit: the one in force when it was created, which users were shown.
    let schedule = RetrySchedule {
        max_attempts: if d.max_attempts == 0 { shared.schedule.max_attempts } else { d.max_attempts },
        ..shared.schedule
    };
    let (state, next_attempt_at) = match attempt.error {
        None => (DeliveryState::Succeeded, None),
        Some(e) if e.is_retryable() => match next_attempt_at(&d, &schedule, now, number) {
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

    // The attempt happened and must be recorded: retried until the store takes it. The delivery
    // is marked finished in the same transaction that keeps the attempt, never before. If the
    // process dies first, the delivery is still pending and due (when its lease ends), so it is
    // attempted again with the same number (at least once).
    let mut backoff = Backoff::default();
    let store = &shared.store;
    let mut item = Some((attempt, progress));
    let applied = loop {
        let pair = item.take().expect("put back after every failed write");
        let kept = pair.clone();
        match shared.records.submit(pair, |batch| async move { store.record_attempts(&batch).await }).await {
            Ok(Some(applied)) => break applied,
            Ok(None) => {
                tracing::debug!(delivery_id = %d.id, "delivery deleted during its attempt; attempt dropped");
                return;
            }
            Err(e) => {
                tracing::warn!(delivery_id = %d.id, attempt = number, error = %e, "attempt not recorded; retrying");
                item = Some(kept);
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

    let m = &shared.metrics;
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
    shared.announcer.delivery(&updated).await;
}
