//! The worker's metrics (documented in docs/metrics.md).

use hookmetry_telemetry::{Metrics, TelemetryError};
use prometheus::{Histogram, IntCounterVec, IntGauge};

/// Buckets of one attempt, connect to last body byte: up to the longest `replay.total_timeout`.
const ATTEMPT_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 600.0];
/// Buckets of a whole delivery, created to finished: retries stretch it to hours or days.
const DELIVERY_BUCKETS: &[f64] =
    &[0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0, 24.0 * 3600.0, 7.0 * 24.0 * 3600.0];

pub(super) struct ReplayMetrics {
    pub(super) attempts: IntCounterVec,
    pub(super) attempt_seconds: Histogram,
    pub(super) finished: IntCounterVec,
    pub(super) delivery_seconds: Histogram,
    pub(super) due: IntGauge,
    pub(super) in_flight: IntGauge,
    pub(super) records: IntCounterVec,
}

impl ReplayMetrics {
    pub(super) fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        let metrics = Self {
            attempts: m.counter_vec(
                "hookmetry_replay_attempts_total",
                "Delivery attempts, by outcome (success, or the error class: status, connect, timeout, reset, \
                 refused, tls, other).",
                &["outcome"],
            )?,
            attempt_seconds: m.histogram(
                "hookmetry_replay_attempt_duration_seconds",
                "Time of one delivery attempt, from sending until the answer was read or the attempt failed.",
                ATTEMPT_BUCKETS,
            )?,
            finished: m.counter_vec(
                "hookmetry_replay_deliveries_finished_total",
                "Deliveries this worker finished, by state (succeeded, dead_lettered).",
                &["state"],
            )?,
            delivery_seconds: m.histogram(
                "hookmetry_replay_delivery_duration_seconds",
                "Time from a delivery's creation until it succeeded or was dead-lettered, retries included.",
                DELIVERY_BUCKETS,
            )?,
            due: m.gauge(
                "hookmetry_replay_due_deliveries",
                "Pending deliveries that were due at the last scan (the retry backlog), at most the scan limit.",
            )?,
            in_flight: m.gauge(
                "hookmetry_replay_in_flight",
                "Delivery attempts this worker has started and not yet recorded.",
            )?,
            records: m.counter_vec(
                "hookmetry_replay_records_total",
                "Deliveries-log records handled, by outcome (started, queued: for a running lane of its target, \
                 deferred: the target or the worker was busy and a scan starts it later, skipped: unknown, \
                 finished, not yet due or already in flight, undecodable).",
                &["outcome"],
            )?,
        };
        // Both series exist at 0 from the start: `increase()` over a series that appears with its
        // first count misses that count, and the dead-letter alert would miss the first one.
        for state in ["succeeded", "dead_lettered"] {
            metrics.finished.with_label_values(&[state]);
        }
        Ok(metrics)
    }
}
