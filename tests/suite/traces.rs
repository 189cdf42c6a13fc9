//! Traces, end to end: `hookmetry serve` (a child process, embedded log and store) exports spans
//! over OTLP to an in-process collector, and one trace runs from the provider's request through
//! the log to the stored capture and on to every delivery attempt of a forwarding rule, with
//! parent/child links intact across the log and across the store.
//!
//! The receiver of the forwarded requests is a raw TCP server on 127.0.0.1, so the tests see
//! exactly which `traceparent` headers went out.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;

use common::read_request;
use fake_opentelemetry_collector::{ExportedSpan, FakeCollectorServer};
use hookmetry_testkit::{ChildServer, TestEndpoint};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

/// What a provider might send: its own trace context, which must not become ours.
const PROVIDER_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PROVIDER_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const PROVIDER_TRACESTATE: &str = "provider=t61rcWkgMzE";
/// In the body, to show that no span attribute carries it.
const BODY_MARKER: &str = "body-marker-7c1e";

/// How long the tests wait for spans or requests before failing.
const PATIENCE: Duration = Duration::from_secs(15);

/// What the receiver does with the n-th request it reads.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Never answer; keep the connection open until the sender closes it.
    Hold,
}

/// A raw HTTP/1.1 receiver that keeps the head of every request it read, in order.
struct Receiver {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    /// Answers `script[n]` to request n, and 200 after the script.
    async fn start(script: Vec<Answer>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/in?token=not-an-attribute", listener.local_addr().unwrap());
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = heads.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let (seen, script) = (seen.clone(), script.clone());
                tokio::spawn(async move {
                    while let Some(head) = read_request(&mut stream).await {
                        let n = {
                            let mut seen = seen.lock().unwrap();
                            seen.push(head);
                            seen.len() - 1
                        };
                        match script.get(n).copied().unwrap_or(Answer::Status(200)) {
                            Answer::Status(status) => {
                                let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                                if stream.write_all(response.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            Answer::Hold => {
                                let mut rest = [0u8; 64];
                                while !matches!(stream.read(&mut rest).await, Ok(0) | Err(_)) {}
                                return;
                            }
                        }
                    }
                });
            }
        });
        Self { url, heads }
    }

    /// The heads of the first `n` requests, waiting for them up to [`PATIENCE`].
    async fn requests(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let heads = self.heads.lock().unwrap().clone();
            if heads.len() >= n {
                return heads;
            }
            assert!(Instant::now() < deadline, "the receiver got {} of {n} requests: {heads:#?}", heads.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Values of the header `name` (any case) in a request head, in order.
fn header_values(head: &str, name: &str) -> Vec<String> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

/// `hookmetry serve` exporting every trace to `collector`, quickly (the batch exporter's default
/// is every 5 s).
async fn serve(collector: &FakeCollectorServer, dir: &Path, extra: &[&str]) -> ChildServer {
    let endpoint = format!("telemetry.otlp_endpoint={}", collector.endpoint());
    let mut args = vec!["--set", &endpoint, "--set", "telemetry.trace_sample_ratio=1.0"];
    args.extend_from_slice(extra);
    ChildServer::start_with_env(binary(), dir, &args, &[("OTEL_BSP_SCHEDULE_DELAY", "100")]).await.unwrap()
}

/// An endpoint whose forwarding rule sends every capture to `target`.
async fn forwarding_endpoint(server: &ChildServer, target: &str) -> TestEndpoint {
    let client = server.client();
    let ep = client.create_endpoint("traced").await.unwrap();
    client
        .graphql(
            "mutation($e: ID!, $t: String!) { setForwardingRules(input: {endpointId: $e, rules: [{id: \"r\", target: $t}]}) { id } }",
            json!({ "e": ep.id, "t": target }),
        )
        .await
        .unwrap();
    ep
}

/// Sends a capture carrying the provider's trace context; returns its id.
async fn send_capture(ep: &TestEndpoint) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/orders/7", ep.url))
        .header("content-type", "application/json")
        .header("traceparent", PROVIDER_TRACEPARENT)
        .header("tracestate", PROVIDER_TRACESTATE)
        .body(format!("{{\"marker\":\"{BODY_MARKER}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// Every span the collector has received, read until `done` holds for them or [`PATIENCE`]
/// passes (then the test fails, showing what came).
struct Spans {
    all: Vec<ExportedSpan>,
}

impl Spans {
    fn new() -> Self {
        Self { all: Vec::new() }
    }

    async fn until(&mut self, collector: &mut FakeCollectorServer, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            assert!(Instant::now() < deadline, "{what}: not there after {PATIENCE:?}; spans: {:#?}", self.all);
            self.all.extend(collector.exported_spans(1, Duration::from_millis(100)).await);
        }
    }

    /// The capture's trace id: that of the `ingest` span with its capture id.
    fn trace_of_capture(&self, capture_id: &str) -> Option<String> {
        self.all
            .iter()
            .find(|s| s.name == "ingest" && attr(s, "capture_id").as_deref() == Some(capture_id))
            .map(|s| s.trace_id.clone())
    }

    fn in_trace<'a>(&'a self, trace_id: &str, name: &str) -> impl Iterator<Item = &'a ExportedSpan> + 'a {
        let (trace_id, name) = (trace_id.to_string(), name.to_string());
        self.all.iter().filter(move |s| s.trace_id == trace_id && s.name == name)
    }

    /// The one span called `name` in the trace.
    fn one(&self, trace_id: &str, name: &str) -> &ExportedSpan {
        let found: Vec<&ExportedSpan> = self.in_trace(trace_id, name).collect();
        assert_eq!(found.len(), 1, "one `{name}` span in trace {trace_id}: {:#?}", self.all);
        found[0]
    }

    fn has(&self, trace_id: &str, names: &[&str]) -> bool {
        names.iter().all(|name| self.in_trace(trace_id, name).next().is_some())
    }
}

/// An attribute's value as text: `IntValue(200)` → `200`, `StringValue("x")` → `x`.
fn attr(span: &ExportedSpan, key: &str) -> Option<String> {
    let raw = span.attributes.get(key)?;
    let inner = raw.strip_prefix("Some(AnyValue { value: Some(")?.strip_suffix(") })")?;
    let (_, value) = inner.split_once('(')?;
    Some(value.strip_suffix(')')?.trim_matches('"').to_string())
}

/// Asserts `child` is a child of `parent` in the same trace.
fn assert_child(child: &ExportedSpan, parent: &ExportedSpan) {
    assert_eq!(child.trace_id, parent.trace_id, "`{}` is not in the trace of `{}`", child.name, parent.name);
    assert_eq!(
        child.parent_span_id, parent.span_id,
        "the parent of `{}` is not `{}`:\nchild: {child:#?}\nparent: {parent:#?}",
        child.name, parent.name
    );
}

const PIPELINE: [&str; 7] =
    ["ingest", "log append", "process capture", "store write", "verify", "create delivery", "delivery attempt"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_the_provider_request_through_the_log_to_the_delivery() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let receiver = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(&collector, dir.path(), &[]).await;
    let ep = forwarding_endpoint(&server, &receiver.url).await;
    let capture_id = send_capture(&ep).await;
    let forwarded = receiver.requests(1).await;

    let mut spans = Spans::new();
    spans
        .until(&mut collector, "the capture's whole trace", |s| {
            s.trace_of_capture(&capture_id).is_some_and(|t| s.has(&t, &PIPELINE))
        })
        .await;
    let trace = spans.trace_of_capture(&capture_id).unwrap();

    // A capture starts a new trace: the provider's `traceparent` is data, not our parent.
    let ingest = spans.one(&trace, "ingest");
    assert_eq!(ingest.parent_span_id, "", "ingest is a root span: {ingest:#?}");
    assert_ne!(trace, PROVIDER_TRACE_ID, "the provider's trace must not be continued");
    assert!(spans.all.iter().all(|s| s.trace_id != PROVIDER_TRACE_ID), "a span joined the provider's trace");
    assert_eq!(ingest.kind, "SPAN_KIND_SERVER");
    assert_eq!(attr(ingest, "endpoint_id").as_deref(), Some(ep.id.as_str()));
    assert_eq!(attr(ingest, "outcome").as_deref(), Some("accepted"));
    assert_eq!(attr(ingest, "status").as_deref(), Some("200"));

    // Across the log: the processor's span continues the one that appended the record.
    let append = spans.one(&trace, "log append");
    assert_child(append, ingest);
    assert_eq!(append.kind, "SPAN_KIND_PRODUCER");
    let process = spans.one(&trace, "process capture");
    assert_child(process, append);
    assert_eq!(process.kind, "SPAN_KIND_CONSUMER");
    assert_eq!(attr(process, "capture_id").as_deref(), Some(capture_id.as_str()));
    assert_eq!(attr(process, "outcome").as_deref(), Some("stored"));
    assert_child(spans.one(&trace, "store write"), process);
    let verify = spans.one(&trace, "verify");
    assert_child(verify, process);
    assert_eq!(attr(verify, "provider").as_deref(), Some("none"), "{verify:#?}");
    assert!(attr(verify, "verdict").is_some(), "{verify:#?}");

    // Across the store: the attempt continues the span that made the delivery.
    let create = spans.one(&trace, "create delivery");
    assert_child(create, process);
    let attempt = spans.one(&trace, "delivery attempt");
    assert_child(attempt, create);
    assert_eq!(attempt.kind, "SPAN_KIND_CLIENT");
    let target = receiver.url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    assert_eq!(attr(attempt, "target"), Some(target), "host:port only");
    assert_eq!(attr(attempt, "attempt").as_deref(), Some("1"));
    assert_eq!(attr(attempt, "status").as_deref(), Some("200"));
    assert_eq!(attr(attempt, "state").as_deref(), Some("succeeded"));
    assert_eq!(attr(create, "delivery_id"), attr(attempt, "delivery_id"));

    // Bounded attributes only: no token, URL path or query, body.
    for span in spans.all.iter().filter(|s| s.trace_id == trace) {
        for (key, value) in &span.attributes {
            for secret in [ep.token.as_str(), "/hooks/in", "not-an-attribute", BODY_MARKER, "/orders/7"] {
                assert!(!value.contains(secret), "`{}` attribute {key} carries `{secret}`: {value}", span.name);
            }
        }
    }

    // Forwarding stays byte-exact by default: the captured trace headers, and no other.
    assert_eq!(header_values(&forwarded[0], "traceparent"), [PROVIDER_TRACEPARENT], "{}", forwarded[0]);
    assert_eq!(header_values(&forwarded[0], "tracestate"), [PROVIDER_TRACESTATE], "{}", forwarded[0]);
    server.kill9().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_propagation_each_attempt_sends_its_own_span_as_traceparent() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    // The first attempt fails; the retry is found by the worker's scan of the store (the log
    // record that woke the delivery was read for the first attempt).
    let receiver = Receiver::start(vec![Answer::Status(503)]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = [
        "--set",
        "replay.propagate_trace_context=true",
        "--set",
        "replay.retry_initial=100ms",
        "--set",
        "replay.retry_max_delay=100ms",
        "--set",
        "replay.scan_interval=50ms",
    ];
    let mut server = serve(&collector, dir.path(), &extra).await;
    let ep = forwarding_endpoint(&server, &receiver.url).await;
    let capture_id = send_capture(&ep).await;
    let forwarded = receiver.requests(2).await;

    let mut spans = Spans::new();
    spans
        .until(&mut collector, "two attempts in the capture's trace", |s| {
            s.trace_of_capture(&capture_id).is_some_and(|t| s.in_trace(&t, "delivery attempt").count() == 2)
        })
        .await;
    let trace = spans.trace_of_capture(&capture_id).unwrap();
    let create = spans.one(&trace, "create delivery");
    let mut attempts: Vec<&ExportedSpan> = spans.in_trace(&trace, "delivery attempt").collect();
    attempts.sort_by_key(|s| attr(s, "attempt"));
    assert_eq!(attr(attempts[0], "attempt").as_deref(), Some("1"));
    assert_eq!(attr(attempts[0], "status").as_deref(), Some("503"));
    assert_eq!(attr(attempts[0], "error").as_deref(), Some("status"));
    assert_eq!(attempts[0].status.as_ref().map(|s| s.code.as_str()), Some("STATUS_CODE_ERROR"));
    assert_eq!(attr(attempts[1], "attempt").as_deref(), Some("2"));
    assert_eq!(attr(attempts[1], "status").as_deref(), Some("200"));

    for (head, attempt) in forwarded.iter().zip(&attempts) {
        // Both attempts continue the capture's trace, the retry as much as the first.
        assert_child(attempt, create);
        // The receiver is told which attempt span sent it: in place of the provider's context.
        let sent = format!("00-{trace}-{}-01", attempt.span_id);
        assert_eq!(header_values(head, "traceparent"), [sent], "{head}");
        assert!(header_values(head, "tracestate").is_empty(), "the provider's tracestate is dropped: {head}");
    }
    server.kill9().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_found_by_the_store_scan_after_a_restart_stays_in_the_capture_trace() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    // The first attempt is never answered: the server is killed while it is in flight, and the
    // delivery is due again when its claim lapses (connect + total timeout + 5 s).
    let receiver = Receiver::start(vec![Answer::Hold]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--set", "replay.connect_timeout=1s", "--set", "replay.total_timeout=1s"];
    let mut first = serve(&collector, dir.path(), &extra).await;
    let ep = forwarding_endpoint(&first, &receiver.url).await;
    let capture_id = send_capture(&ep).await;
    receiver.requests(1).await;

    let mut spans = Spans::new();
    let made = ["ingest", "log append", "process capture", "create delivery"];
    spans
        .until(&mut collector, "the trace up to the delivery", |s| {
            s.trace_of_capture(&capture_id).is_some_and(|t| s.has(&t, &made))
        })
        .await;
    first.kill9().await.unwrap();
    let trace = spans.trace_of_capture(&capture_id).unwrap();
    assert_eq!(spans.in_trace(&trace, "delivery attempt").count(), 0, "the killed attempt never ended");
    let made_by_first = spans.one(&trace, "create delivery").clone();

    // A new process on the same store: only its scan can find the delivery.
    let mut second = serve(&collector, dir.path(), &extra).await;
    receiver.requests(2).await;
    spans
        .until(&mut collector, "the retry's attempt in the capture's trace", |s| {
            s.in_trace(&trace, "delivery attempt").next().is_some()
        })
        .await;
    let attempt = spans.one(&trace, "delivery attempt");
    // The stored delivery keeps the context of the span that made it in the first process. (If
    // the captures-log offset was not yet committed at the kill, the second process processes
    // the capture again, in the same trace, and makes the same delivery, which the store keeps
    // once: first write wins, trace context included.)
    assert_child(attempt, &made_by_first);
    assert_eq!(attr(attempt, "status").as_deref(), Some("200"));
    // At least once: the attempt that was never recorded is made again under its number.
    assert_eq!(attr(attempt, "attempt").as_deref(), Some("1"));
    second.kill9().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_replay_is_traced_from_the_api_request_to_its_attempt() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let receiver = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = serve(&collector, dir.path(), &[]).await;
    let client = server.client();
    let ep = client.create_endpoint("replayed").await.unwrap();
    let capture_id = send_capture(&ep).await;
    client.wait_for_capture(&capture_id, PATIENCE).await.unwrap();
    let replayed = client
        .graphql(
            "mutation($c: ID!, $t: String!) { replayCapture(input: {captureId: $c, target: $t}) { id } }",
            json!({ "c": capture_id, "t": receiver.url }),
        )
        .await
        .unwrap();
    let delivery_id = replayed["replayCapture"]["id"].as_str().unwrap().to_string();
    receiver.requests(1).await;

    let mut spans = Spans::new();
    let attempt_of = |s: &Spans| {
        s.all
            .iter()
            .find(|s| s.name == "delivery attempt" && attr(s, "delivery_id").as_deref() == Some(&delivery_id))
            .cloned()
    };
    spans
        .until(&mut collector, "the replay's attempt and the capture's ingest", |s| {
            attempt_of(s).is_some() && s.trace_of_capture(&capture_id).is_some()
        })
        .await;
    let attempt = attempt_of(&spans).unwrap();
    let trace = attempt.trace_id.clone();
    let request = spans.one(&trace, "replay request");
    assert_eq!(request.parent_span_id, "", "a replay starts its own trace: {request:#?}");
    assert_eq!(attr(request, "operation").as_deref(), Some("replayCapture"));
    assert_eq!(attr(request, "deliveries").as_deref(), Some("1"));
    let create = spans.one(&trace, "create delivery");
    assert_child(create, request);
    assert_child(&attempt, create);
    assert_eq!(attr(&attempt, "status").as_deref(), Some("200"));
    assert_ne!(Some(trace), spans.trace_of_capture(&capture_id), "not the capture's trace");
    server.kill9().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_still_queued_at_a_graceful_shutdown_are_sent() {
    let mut collector = FakeCollectorServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Batches every 60 s: only the shutdown can send these spans within the test.
    let endpoint = format!("telemetry.otlp_endpoint={}", collector.endpoint());
    let env = [("OTEL_BSP_SCHEDULE_DELAY", "60000")];
    let mut server = ChildServer::start_with_env(binary(), dir.path(), &["--set", &endpoint], &env).await.unwrap();
    let ep = server.client().create_endpoint("shutdown").await.unwrap();
    let capture_id = send_capture(&ep).await;
    server.client().wait_for_capture(&capture_id, PATIENCE).await.unwrap();
    assert!(collector.exported_spans(1, Duration::from_millis(500)).await.is_empty(), "nothing sent before shutdown");

    let pid = server.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(PATIENCE, server.child.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(exit.success(), "{exit:?}");
    let spans = collector.exported_spans(3, Duration::from_secs(2)).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in ["ingest", "log append", "process capture"] {
        assert!(names.contains(&name), "`{name}` not sent at shutdown: {names:?}");
    }
}
