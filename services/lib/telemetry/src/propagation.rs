//! Trace context across the log, the store and (optionally) forwarded requests, as W3C Trace
//! Context (`traceparent`, `tracestate`).
//!
//! - ingest writes its `log append` span's context into the captured record's headers
//!   ([`inject`]); the processor continues the trace from them ([`TraceParent::from_headers`]);
//! - a delivery keeps the `traceparent` of the span that created it ([`TraceParent::header`]), so
//!   every attempt, also one started by a scan of the store long after, continues that trace
//!   ([`TraceParent::parse`]);
//! - a webhook provider's own `traceparent` is never read: the request is untrusted input, and a
//!   capture starts a new trace (docs/tracing.md).
//!
//! Without span export nothing is written: an untraced span has no context to propagate.

use bytes::Bytes;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C header (and log record header) that carries the trace id, parent span id and flags.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C header that carries vendor-specific trace state along with `traceparent`.
pub const TRACESTATE: &str = "tracestate";

/// The context of a span that work elsewhere (another process, a later attempt) continues.
/// Only valid contexts exist: malformed or all-zero ids give none.
#[derive(Clone)]
pub struct TraceParent {
    cx: Context,
}

impl std::fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TraceParent").field(&self.header()).finish()
    }
}

impl PartialEq for TraceParent {
    fn eq(&self, other: &Self) -> bool {
        self.span_context() == other.span_context()
    }
}

impl TraceParent {
    /// The context of `span`; `None` when spans are not exported (or `span` is disabled).
    pub fn of(span: &Span) -> Option<Self> {
        Self::valid(span.context())
    }

    /// The context in log record headers (`traceparent`, with `tracestate` when present).
    /// Names match in any case. `None` when there is none or it does not parse.
    pub fn from_headers(headers: &[(String, Bytes)]) -> Option<Self> {
        let headers = RecordHeaders(headers);
        // The propagator accepts ids shorter than W3C's fixed widths; the record must not.
        if !headers.get(TRACEPARENT).is_some_and(well_formed) {
            return None;
        }
        Self::valid(TraceContextPropagator::new().extract(&headers))
    }

    /// A `traceparent` value such as [`TraceParent::header`] returns. `None` when it does not
    /// parse as W3C Trace Context version 00 (or a later version's compatible prefix).
    pub fn parse(traceparent: &str) -> Option<Self> {
        let headers = [(TRACEPARENT.to_string(), Bytes::copy_from_slice(traceparent.as_bytes()))];
        Self::from_headers(&headers)
    }

    /// The `traceparent` value: `00-<trace id>-<span id>-<flags>`.
    pub fn header(&self) -> String {
        let mut out = Vec::new();
        TraceContextPropagator::new().inject_context(&self.cx, &mut RecordHeadersMut(&mut out));
        out.into_iter()
            .find(|(name, _)| name == TRACEPARENT)
            .map(|(_, value)| String::from_utf8_lossy(&value).into_owned())
            .unwrap_or_default()
    }

    /// Appends `traceparent` (and `tracestate` when not empty) to record headers.
    pub fn write_headers(&self, headers: &mut Vec<(String, Bytes)>) {
        TraceContextPropagator::new().inject_context(&self.cx, &mut RecordHeadersMut(headers));
    }

    /// Makes this context the parent of `span`, which must not have been entered or have had
    /// children yet (its parent is then fixed). Does nothing when spans are not exported.
    pub fn adopt(&self, span: &Span) {
        // Fails only when the span is disabled (no export) or already started: then there is
        // nothing to change, and the span keeps the parent it has.
        let _ = span.set_parent(self.cx.clone());
    }

    /// The trace id, 32 lower-case hex digits.
    pub fn trace_id(&self) -> String {
        self.span_context().trace_id().to_string()
    }

    /// The id of the span this context continues, 16 lower-case hex digits.
    pub fn span_id(&self) -> String {
        self.span_context().span_id().to_string()
    }

    /// Whether the trace is recorded (the `sampled` flag).
    pub fn is_sampled(&self) -> bool {
        self.span_context().is_sampled()
    }

    fn span_context(&self) -> SpanContext {
        self.cx.span().span_context().clone()
    }

    fn valid(cx: Context) -> Option<Self> {
        cx.span().span_context().is_valid().then_some(Self { cx })
    }
}

/// `vv-<32 hex>-<16 hex>-ff`, lower-case, optionally followed by `-…` (what a later version may
/// add; the propagator accepts that for versions above 00 only).
fn well_formed(traceparent: &str) -> bool {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let mut parts = traceparent.trim().splitn(5, '-');
    let mut next = |len: usize| parts.next().is_some_and(|p| hex(p, len));
    next(2) && next(32) && next(16) && next(2)
}

/// Appends the context of `span` to record headers; adds nothing when `span` is not exported.
pub fn inject(span: &Span, headers: &mut Vec<(String, Bytes)>) {
    if let Some(parent) = TraceParent::of(span) {
        parent.write_headers(headers);
    }
}

struct RecordHeaders<'a>(&'a [(String, Bytes)]);

impl Extractor for RecordHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

struct RecordHeadersMut<'a>(&'a mut Vec<(String, Bytes)>);

impl Injector for RecordHeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator writes `tracestate` even when it is empty; W3C says to leave it out.
        if !value.is_empty() {
            self.0.push((key.to_string(), Bytes::from(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Runs `f` under a subscriber that exports to memory with `ratio` sampling, and returns the
    /// finished spans.
    fn traced(ratio: f64, f: impl FnOnce()) -> Vec<SpanData> {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_sampler(crate::traces::sampler(ratio))
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")).with_context_activation(false));
        tracing::subscriber::with_default(subscriber, f);
        provider.force_flush().unwrap();
        exporter.get_finished_spans().unwrap()
    }

    fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span `{name}` in {spans:?}"))
    }

    #[test]
    fn headers_written_by_one_span_make_the_parent_of_the_next() {
        let spans = traced(1.0, || {
            let append = tracing::info_span!("log append");
            let mut headers = vec![("schema".to_string(), Bytes::from_static(b"captured-request/1"))];
            inject(&append, &mut headers);
            drop(append);

            assert_eq!(headers.len(), 2, "{headers:?}");
            assert_eq!(headers[1].0, TRACEPARENT);
            let value = std::str::from_utf8(&headers[1].1).unwrap();
            let parts: Vec<&str> = value.split('-').collect();
            assert_eq!(parts.len(), 4, "{value}");
            assert_eq!((parts[0], parts[1].len(), parts[2].len(), parts[3]), ("00", 32, 16, "01"), "{value}");

            // Another process: a span with no tracing parent, continued from the record.
            let parent = TraceParent::from_headers(&headers).expect("a parent from the headers");
            let process = tracing::info_span!(parent: None, "process capture");
            parent.adopt(&process);
            let _entered = process.enter();
            let store = tracing::info_span!("store write");
            drop(store);
        });
        let (append, process, store) =
            (named(&spans, "log append"), named(&spans, "process capture"), named(&spans, "store write"));
        assert_eq!(process.span_context.trace_id(), append.span_context.trace_id(), "one trace across the log");
        assert_eq!(process.parent_span_id, append.span_context.span_id(), "the appending span is the parent");
        assert!(process.parent_span_is_remote, "a parent from headers is remote");
        assert_eq!(store.parent_span_id, process.span_context.span_id());
        assert_eq!(store.span_context.trace_id(), append.span_context.trace_id());
    }

    #[test]
    fn a_stored_traceparent_round_trips_and_parents_a_later_span() {
        let spans = traced(1.0, || {
            let create = tracing::info_span!("create delivery");
            let stored = TraceParent::of(&create).expect("an exported span has a context").header();
            drop(create);
            let parsed = TraceParent::parse(&stored).expect("a stored traceparent parses");
            assert_eq!(parsed.header(), stored);
            assert!(parsed.is_sampled());
            let attempt = tracing::info_span!(parent: None, "delivery attempt");
            parsed.adopt(&attempt);
            assert_eq!(TraceParent::of(&attempt).unwrap().trace_id(), parsed.trace_id());
            drop(attempt);
        });
        let (create, attempt) = (named(&spans, "create delivery"), named(&spans, "delivery attempt"));
        assert_eq!(attempt.parent_span_id, create.span_context.span_id());
        assert_eq!(attempt.span_context.trace_id(), create.span_context.trace_id());
    }

    #[test]
    fn malformed_or_missing_headers_give_no_parent() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let span = "00f067aa0ba902b7";
        let cases: Vec<(&str, Vec<(String, Bytes)>)> = vec![
            ("no headers", vec![]),
            ("other headers only", vec![("schema".into(), Bytes::from_static(b"event/1"))]),
            ("empty", vec![(TRACEPARENT.into(), Bytes::new())]),
            ("garbage", vec![(TRACEPARENT.into(), Bytes::from_static(b"not a traceparent"))]),
            ("version ff", vec![(TRACEPARENT.into(), Bytes::from(format!("ff-{trace}-{span}-01")))]),
            ("zero trace id", vec![(TRACEPARENT.into(), Bytes::from(format!("00-{}-{span}-01", "0".repeat(32))))]),
            ("zero span id", vec![(TRACEPARENT.into(), Bytes::from(format!("00-{trace}-{}-01", "0".repeat(16))))]),
            ("short trace id", vec![(TRACEPARENT.into(), Bytes::from(format!("00-{}-{span}-01", &trace[1..])))]),
            (
                "upper-case hex",
                vec![(TRACEPARENT.into(), Bytes::from(format!("00-{}-{span}-01", trace.to_uppercase())))],
            ),
            ("not utf-8", vec![(TRACEPARENT.into(), Bytes::from_static(b"00-\xff\xfe-00f067aa0ba902b7-01"))]),
            ("extra field in version 00", vec![(TRACEPARENT.into(), Bytes::from(format!("00-{trace}-{span}-01-xx")))]),
        ];
        for (what, headers) in cases {
            assert!(TraceParent::from_headers(&headers).is_none(), "{what}: {headers:?}");
        }
        assert!(TraceParent::parse("").is_none());
        assert!(TraceParent::parse(&format!("00-{trace}-{span}")).is_none(), "flags missing");

        // The well-formed value these cases break, in a header name of any case.
        let good = vec![("TraceParent".to_string(), Bytes::from(format!("00-{trace}-{span}-01")))];
        let parent = TraceParent::from_headers(&good).expect("a well-formed traceparent");
        assert_eq!((parent.trace_id(), parent.span_id()), (trace.to_string(), span.to_string()));
    }

    #[test]
    fn without_export_nothing_is_written() {
        // No subscriber: the span is disabled, as when no OTLP endpoint is configured.
        let span = tracing::info_span!("log append");
        let mut headers = Vec::new();
        inject(&span, &mut headers);
        assert!(headers.is_empty(), "{headers:?}");
        assert!(TraceParent::of(&span).is_none());
        assert!(TraceParent::of(&Span::none()).is_none());
    }

    #[test]
    fn children_follow_their_parent_whatever_the_ratio() {
        let sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let unsampled = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        // Ratio 0: no new trace is kept, but a sampled parent's child is.
        let spans = traced(0.0, || {
            drop(tracing::info_span!(parent: None, "ingest"));
            let child = tracing::info_span!(parent: None, "process capture");
            TraceParent::parse(sampled).unwrap().adopt(&child);
            drop(child);
        });
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["process capture"]);
        // Ratio 1: every new trace is kept, but an unsampled parent's child is not; its context
        // still propagates (flags 00), so the trace stays dropped downstream too.
        let spans = traced(1.0, || {
            drop(tracing::info_span!(parent: None, "ingest"));
            let child = tracing::info_span!(parent: None, "process capture");
            TraceParent::parse(unsampled).unwrap().adopt(&child);
            let propagated = TraceParent::of(&child).expect("an unsampled span still has a context");
            assert!(!propagated.is_sampled());
            assert_eq!(propagated.trace_id(), "5bf92f3577b34da6a3ce929d0e0e4736");
            drop(child);
        });
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["ingest"]);
    }
}
