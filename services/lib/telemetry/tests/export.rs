//! `init` with an OTLP endpoint exports Hookmetry's spans to a collector (an in-process one here),
//! only those, and `Telemetry::shutdown` sends what is still queued. One test: the subscriber is
//! global to the process.

use std::time::{Duration, Instant};

use fake_opentelemetry_collector::FakeCollectorServer;
use hookmetry_telemetry::{LogFormat, TraceExport, TraceParent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hookmetry_spans_reach_the_collector_and_shutdown_flushes_them() {
    let mut collector = FakeCollectorServer::start().await.expect("collector");
    let export = TraceExport {
        endpoint: collector.endpoint(),
        sample_ratio: 1.0,
        service_name: "hookmetry-test".into(),
        service_version: "0.0.0".into(),
        roles: "ingest".into(),
    };
    let telemetry = hookmetry_telemetry::init(LogFormat::Text, "warn", Some(&export)).expect("init");
    assert!(telemetry.exports_spans());

    let trace_id = {
        let ingest = tracing::info_span!(target: "hookmetry_ingest", "ingest", capture_id = "c1", outcome = "accepted");
        let _entered = ingest.enter();
        let append = tracing::info_span!(target: "hookmetry_ingest", "log append");
        append.in_scope(|| tracing::warn!(target: "hookmetry_ingest", "an event is a log line, not a span"));
        drop(tracing::info_span!(target: "h2", "a library's span"));
        drop(tracing::debug_span!(target: "hookmetry_ingest", "below info"));
        TraceParent::of(&append).expect("an exported span has a context").trace_id()
    };

    // The batch exporter waits 5 s between exports by default; shutdown must not wait for that.
    let started = Instant::now();
    tokio::task::spawn_blocking(move || telemetry.shutdown()).await.unwrap();
    let spans = collector.exported_spans(2, Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_secs(4), "shutdown took {:?}", started.elapsed());

    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ingest", "log append"], "only Hookmetry's INFO spans, no events: {spans:#?}");
    let ingest = spans.iter().find(|s| s.name == "ingest").unwrap();
    let append = spans.iter().find(|s| s.name == "log append").unwrap();
    assert_eq!(ingest.trace_id, trace_id);
    assert_eq!(append.trace_id, trace_id);
    assert_eq!(ingest.parent_span_id, "", "ingest is a root span");
    assert_eq!(append.parent_span_id, ingest.span_id);
    assert_eq!(ingest.kind, "SPAN_KIND_INTERNAL");
    assert!(append.events.is_empty(), "log events are not copied into spans: {:?}", append.events);
    assert!(ingest.attributes.get("outcome").is_some_and(|v| v.contains("\"accepted\"")), "{:?}", ingest.attributes);
    for noise in ["code.file.path", "thread.id", "busy_ns", "level", "target"] {
        assert!(!ingest.attributes.contains_key(noise), "{noise} in {:?}", ingest.attributes);
    }
}
