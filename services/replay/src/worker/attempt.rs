//! One attempt of a delivery: read it again, claim it, send, record the outcome with the next
//! state, announce the change.

use std::sync::Arc;
use std::time::Instant;

use hookmetry_core::{Delivery, DeliveryState, Timestamp};
use hookmetry_store::{DeliveryProgress, StoreError};
use tracing::field::Empty;
use tracing::{Instrument as _, Span};

use super::{Backoff, Shared, Slot};
use crate::RetrySchedule;

/// How much longer than the longest attempt (connect plus total timeout) a claim holds a
/// delivery: enough to record the attempt; a worker that died is replaced this much later.
const LEASE_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// One attempt of `snapshot`'s delivery, recorded, announced, and the next one scheduled.
pub(super) async fn attempt(shared: Arc<Shared>, snapshot: Delivery, target: String, slot: Slot) {
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
    shared.announcer.delivery(&updated).await;
}
