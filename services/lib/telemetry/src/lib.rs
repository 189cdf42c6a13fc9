//! Logs, metrics and traces shared by every role: one tracing subscriber per process (log lines,
//! and spans exported over OTLP when configured), one Prometheus registry that each role
//! registers its metrics into, and the trace context that crosses the log and the store.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

mod propagation;
mod traces;

pub use propagation::{TRACEPARENT, TRACESTATE, TraceParent, inject};
pub use traces::{LogFormat, Telemetry, TraceExport, init};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter `{filter}`: {message}")]
    Filter { filter: String, message: String },
    #[error("metric registration failed: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot set up the OTLP trace exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
}

/// The process's metrics. Cloning shares the registry.
#[derive(Clone, Default)]
pub struct Metrics {
    registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self { registry: Registry::new() }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a collector; registering the same metric twice is a programming error reported
    /// as `Metrics`.
    pub fn register<C: prometheus::core::Collector + Clone + 'static>(&self, c: C) -> Result<C, TelemetryError> {
        self.registry.register(Box::new(c.clone()))?;
        Ok(c)
    }

    pub fn counter(&self, name: &str, help: &str) -> Result<IntCounter, TelemetryError> {
        self.register(IntCounter::new(name, help)?)
    }

    /// Every series of a vector appears only once a label value is used; callers that alert on
    /// `increase()` touch their known values right away.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, TelemetryError> {
        self.register(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    pub fn gauge(&self, name: &str, help: &str) -> Result<IntGauge, TelemetryError> {
        self.register(IntGauge::new(name, help)?)
    }

    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec, TelemetryError> {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }

    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Result<Histogram, TelemetryError> {
        self.register(Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?)
    }

    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        buckets: &[f64],
        labels: &[&str],
    ) -> Result<HistogramVec, TelemetryError> {
        self.register(HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels)?)
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Latency buckets in seconds for request-scale work (100µs … 10s).
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new();
        let c = m.register(prometheus::IntCounter::new("hookmetry_test_total", "a test counter").unwrap()).unwrap();
        c.inc();
        let text = m.render();
        assert!(text.contains("# TYPE hookmetry_test_total counter"), "{text}");
        assert!(text.contains("hookmetry_test_total 1"), "{text}");
        assert!(m.register(c).is_err(), "double registration must fail");
    }
}
