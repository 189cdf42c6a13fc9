//! The processor's metrics (documented in docs/metrics.md).

use hookmetry_telemetry::{LATENCY_BUCKETS, Metrics, TelemetryError};
use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge};

use crate::error::Failure;

pub(crate) struct ProcessorMetrics {
    pub(crate) records: IntCounterVec,
    pub(crate) forwarded: IntCounter,
    pub(crate) verifications: IntCounterVec,
    pub(crate) redeliveries: IntCounterVec,
    pub(crate) drift: IntCounterVec,
    pub(crate) lag: IntGauge,
    pub(crate) batch_seconds: Histogram,
    pub(crate) failures: IntCounterVec,
}

impl ProcessorMetrics {
    pub(crate) fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        let metrics = Self {
            records: m.counter_vec(
                "hookmetry_processor_records_total",
                "Captures-log records handled, by outcome (stored, duplicate, undecodable, dead_lettered).",
                &["outcome"],
            )?,
            forwarded: m.counter(
                "hookmetry_processor_forwarded_deliveries_total",
                "Deliveries made by endpoints' forwarding rules (a capture handled twice counts twice; it is delivered once).",
            )?,
            verifications: m.counter_vec(
                "hookmetry_verifications_total",
                "Signature checks of captures, by provider (`none` when unconfigured and unrecognised) and verdict.",
                &["provider", "verdict"],
            )?,
            redeliveries: m.counter_vec(
                "hookmetry_event_redeliveries_total",
                "Captures whose provider event id an earlier capture of the endpoint already carried, by provider \
                 and kind (retry: the provider retried an unacknowledged delivery; duplicate: sent again although \
                 acknowledged).",
                &["provider", "kind"],
            )?,
            drift: m.counter_vec(
                "hookmetry_schema_drift_captures_total",
                "Captures analysed for schema drift, by outcome: the change they made (added, removed, retyped, \
                 mixed), unchanged, not_json, type_limit (the endpoint has 100 event types already) or dropped \
                 (the analysis queue was full).",
                &["outcome"],
            )?,
            lag: m.gauge(
                "hookmetry_processor_lag_records",
                "Records in the captures log not yet committed by the processor group.",
            )?,
            batch_seconds: m.histogram(
                "hookmetry_processor_batch_duration_seconds",
                "Time to store, publish and commit one batch.",
                LATENCY_BUCKETS,
            )?,
            failures: m.counter_vec(
                "hookmetry_processor_failures_total",
                "Failed tries to store a batch or one record of it, by kind (transient: retried until it \
                 succeeds, permanent: the record is dead-lettered after a few tries).",
                &["kind"],
            )?,
        };
        // Both series exist at 0 from the start, so a rate or an alert sees the first failure.
        for kind in [Failure::Transient, Failure::Permanent] {
            metrics.failures.with_label_values(&[kind.as_str()]);
        }
        for outcome in ["added", "removed", "retyped", "mixed", "unchanged", "not_json", "type_limit", "dropped"] {
            metrics.drift.with_label_values(&[outcome]);
        }
        // Exported before the first redelivery, so the metric is there to alert on.
        for kind in ["retry", "duplicate"] {
            metrics.redeliveries.with_label_values(&["none", kind]);
        }
        Ok(metrics)
    }
}
