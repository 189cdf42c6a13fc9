//! The process's tracing subscriber: log lines (text or JSON) and, when an OTLP endpoint is
//! configured, spans exported to an OpenTelemetry collector.
//!
//! Two layers share one registry, each with its own filter:
//!
//! - the log layer prints events as before: `RUST_LOG` or `telemetry.log_filter` decides which.
//!   It does not see Hookmetry's spans, so log lines look the same whether tracing is on or off;
//! - the OpenTelemetry layer sees only Hookmetry's own spans (targets `hookmetry*`, level INFO
//!   and above), never events and never spans of libraries (the gRPC client that exports spans
//!   would otherwise trace itself). It exists only when an endpoint is set; without it no layer
//!   wants Hookmetry's spans and creating one costs a cached callsite check.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Metadata;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::TelemetryError;

/// How long [`Telemetry::shutdown`] waits for the last spans to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one export call may take before the batch is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where spans go and which are kept: the `telemetry.*` trace keys, plus what the binary knows
/// about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceExport {
    /// OTLP over gRPC, `http://host:port` (`telemetry.otlp_endpoint`).
    pub endpoint: String,
    /// Share of new traces recorded, 0.0 to 1.0 (`telemetry.trace_sample_ratio`). A span with a
    /// parent follows the parent's decision, so a trace is kept or dropped whole.
    pub sample_ratio: f64,
    /// `service.name` (`telemetry.service_name`).
    pub service_name: String,
    /// `service.version`: the binary's version.
    pub service_version: String,
    /// `hookmetry.roles`: the roles this process runs, e.g. `ingest,processor,api,replay`.
    pub roles: String,
}

/// Keeps span export running; [`Telemetry::shutdown`] (or dropping it) sends the spans still
/// queued. Keep it until the process ends, and shut it down while the tokio runtime that
/// [`init`] ran in is still running: the gRPC client lives on it.
#[must_use = "dropping the telemetry guard stops span export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").field("exporting_spans", &self.provider.is_some()).finish()
    }
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_spans(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans still queued (waiting at most 5 s for the collector) and stops export.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            tracing::warn!(error = %e, "spans not all exported at shutdown");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Installs the global tracing subscriber: log lines by `format` and `filter` (`RUST_LOG` wins
/// when set), and span export when `traces` is given. Must run inside a tokio runtime when
/// `traces` is given (the gRPC client starts its connection task there).
///
/// A second call in one process (tests starting several servers) keeps the first subscriber and
/// exports nothing.
pub fn init(format: LogFormat, filter: &str, traces: Option<&TraceExport>) -> Result<Telemetry, TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => f,
        _ => filter.to_string(),
    };
    let env_filter = EnvFilter::try_new(&filter)
        .map_err(|e| TelemetryError::Filter { filter: filter.clone(), message: e.to_string() })?;
    // Hookmetry's spans are for the trace exporter; log lines stay as they were without them.
    let log_filter = env_filter.and(filter_fn(|meta| !is_exported_span(meta)));
    let log_layer = match format {
        LogFormat::Json => {
            tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr).boxed()
        }
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
    }
    .with_filter(log_filter);

    let Some(traces) = traces else {
        let _ = tracing_subscriber::registry().with(log_layer).try_init();
        return Ok(Telemetry { provider: None });
    };
    let provider = provider(traces)?;
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("hookmetry"))
        // Only the fields each span declares: no code paths, thread names or busy/idle times.
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_level(false)
        .with_target(false)
        // Parents come from the tracing span tree and from propagated contexts, never from
        // OpenTelemetry's thread-local context, so entering a span need not attach one.
        .with_context_activation(false)
        .with_filter(filter_fn(is_exported_span));
    if tracing_subscriber::registry().with(log_layer).with(otel_layer).try_init().is_err() {
        // Another subscriber was installed first: nothing would reach this exporter.
        let _ = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        return Ok(Telemetry { provider: None });
    }
    tracing::info!(
        endpoint = %traces.endpoint,
        sample_ratio = traces.sample_ratio,
        service_name = %traces.service_name,
        "exporting traces over OTLP/gRPC"
    );
    Ok(Telemetry { provider: Some(provider) })
}

/// Hookmetry's own spans at INFO and above: what the OpenTelemetry layer exports.
fn is_exported_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with("hookmetry") && *meta.level() <= tracing::Level::INFO
}

/// The tracer provider: OTLP/gRPC batch export, parent-based ratio sampling, the resource that
/// names this process.
fn provider(traces: &TraceExport) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(traces.endpoint.clone())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TelemetryError::Exporter { endpoint: traces.endpoint.clone(), message: e.to_string() })?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler(traces.sample_ratio))
        .with_resource(resource(traces))
        .build())
}

/// New traces are kept with probability `ratio` (decided on the trace id, so every process
/// decides alike); a span with a parent, local or propagated, follows the parent.
pub(crate) fn sampler(ratio: f64) -> Sampler {
    let root = if ratio >= 1.0 {
        Sampler::AlwaysOn
    } else if ratio <= 0.0 {
        Sampler::AlwaysOff
    } else {
        Sampler::TraceIdRatioBased(ratio)
    };
    Sampler::ParentBased(Box::new(root))
}

/// `service.name`, `service.version`, `service.instance.id` (`<host>:<pid>`: a pod name in
/// Kubernetes), `host.name`, `process.pid` and `hookmetry.roles`, over the SDK's defaults
/// (which read `OTEL_RESOURCE_ATTRIBUTES`).
fn resource(traces: &TraceExport) -> Resource {
    let pid = std::process::id();
    let host = host_name();
    let mut attributes = vec![
        KeyValue::new("service.version", traces.service_version.clone()),
        KeyValue::new("process.pid", i64::from(pid)),
        KeyValue::new("hookmetry.roles", traces.roles.clone()),
    ];
    match &host {
        Some(host) => {
            attributes.push(KeyValue::new("service.instance.id", format!("{host}:{pid}")));
            attributes.push(KeyValue::new("host.name", host.clone()));
        }
        None => attributes.push(KeyValue::new("service.instance.id", format!("pid:{pid}"))),
    }
    Resource::builder().with_service_name(traces.service_name.clone()).with_attributes(attributes).build()
}

fn host_name() -> Option<String> {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_kernel = || std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_env.or_else(from_kernel).map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
}
