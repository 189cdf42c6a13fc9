use std::time::Duration;

use hookmetry_telemetry::{LATENCY_BUCKETS, Metrics, TelemetryError};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts};

/// Ingest's metrics. Outcome labels are the fixed codes of `IngestError::outcome` plus `accepted`.
pub(crate) struct IngestMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    pub append_seconds: Histogram,
}

impl IngestMetrics {
    pub fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        Ok(Self {
            requests: m.register(IntCounterVec::new(
                Opts::new(
                    "hookmetry_ingest_requests_total",
                    "Capture requests by outcome (accepted, unknown_endpoint, body_too_large, …).",
                ),
                &["outcome"],
            )?)?,
            duration: m.register(HistogramVec::new(
                HistogramOpts::new(
                    "hookmetry_ingest_request_duration_seconds",
                    "Time from request start to answer, by outcome; accepted includes the durable log append.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["outcome"],
            )?)?,
            append_seconds: m.register(Histogram::with_opts(
                HistogramOpts::new(
                    "hookmetry_log_append_duration_seconds",
                    "Time for the captures log to confirm a durable append.",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
            )?)?,
        })
    }

    pub fn observe(&self, outcome: &str, elapsed: Duration) {
        self.requests.with_label_values(&[outcome]).inc();
        self.duration.with_label_values(&[outcome]).observe(elapsed.as_secs_f64());
    }
}
