//! What one span costs the thread that makes it: `cargo test --release -p hookmetry-telemetry
//! --test telemetry span_cost -- --ignored --nocapture`. Not a pass/fail test.

use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

fn run(label: &str, sampler: Option<Sampler>) {
    let n = 200_000u32;
    let elapsed = match sampler {
        None => {
            let subscriber = tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_filter(tracing_subscriber::filter::LevelFilter::WARN),
            );
            tracing::subscriber::with_default(subscriber, || spans(n))
        }
        Some(sampler) => {
            let exporter = InMemorySpanExporter::default();
            let provider =
                SdkTracerProvider::builder().with_batch_exporter(exporter.clone()).with_sampler(sampler).build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("bench"))
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false)
                .with_context_activation(false)
                .with_filter(tracing_subscriber::filter::filter_fn(|m| m.is_span()));
            let subscriber = tracing_subscriber::registry().with(layer);
            let elapsed = tracing::subscriber::with_default(subscriber, || spans(n));
            let _ = provider.shutdown();
            elapsed
        }
    };
    println!("{label}: {:.0} ns per span", elapsed.as_nanos() as f64 / f64::from(n));
}

fn spans(n: u32) -> Duration {
    let id = "01a21dfc-2a70-7182-a3f8-4ffe64f0ea9d";
    let started = Instant::now();
    for i in 0..n {
        let span = tracing::info_span!(
            parent: None,
            "process capture",
            otel.kind = "consumer",
            partition = 0i64,
            offset = i64::from(i),
            capture_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        span.record("capture_id", tracing::field::display(id));
        let child = tracing::info_span!(parent: &span, "store write", batch_size = 1i64);
        drop(child);
        span.record("outcome", "stored");
    }
    started.elapsed() / 2
}

#[test]
#[ignore = "a measurement, run by hand"]
fn span_cost() {
    run("no trace layer", None);
    run("traced, not sampled", Some(Sampler::ParentBased(Box::new(Sampler::AlwaysOff))));
    run("traced, sampled (batch export to memory)", Some(Sampler::ParentBased(Box::new(Sampler::AlwaysOn))));
}
