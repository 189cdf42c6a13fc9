use std::time::Duration;

use hookmetry_telemetry::{LATENCY_BUCKETS, Metrics, TelemetryError};
use prometheus::{Histogram, HistogramVec, IntCounterVec};

/// Ingest's metrics. Outcome labels are the fixed codes of `IngestError::outcome` plus `accepted`.
pub(crate) struct IngestMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    pub append_seconds: Histogram,
    /// Bodies of accepted captures, as received.
    pub body_bytes: Histogram,
}

/// ×4 from 256 B to 256 MiB: webhooks are mostly a few KiB, and `ingest.max_body_bytes` can be
/// raised far above the default.
const BODY_BUCKETS: [f64; 11] = [
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
];

impl IngestMetrics {
    pub fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        Ok(Self {
            requests: m.counter_vec(
                "hookmetry_ingest_requests_total",
                "Capture requests by outcome (accepted, unknown_endpoint, body_too_large, …).",
                &["outcome"],
            )?,
            duration: m.histogram_vec(
                "hookmetry_ingest_request_duration_seconds",
                "Time from request start to answer, by outcome; accepted includes the durable log append.",
                LATENCY_BUCKETS,
                &["outcome"],
            )?,
            append_seconds: m.histogram(
                "hookmetry_log_append_duration_seconds",
                "Time for the captures log to confirm a durable append.",
                LATENCY_BUCKETS,
            )?,
            body_bytes: m.histogram(
                "hookmetry_ingest_request_body_bytes",
                "Body size of accepted captures, in bytes as received.",
                &BODY_BUCKETS,
            )?,
        })
    }

    pub fn observe(&self, outcome: &str, elapsed: Duration) {
        self.requests.with_label_values(&[outcome]).inc();
        self.duration.with_label_values(&[outcome]).observe(elapsed.as_secs_f64());
    }
}
