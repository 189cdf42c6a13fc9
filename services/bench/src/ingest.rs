//! The default mode: ingest throughput of `hookmetry serve` (durable acknowledgement) against a
//! bare axum handler that reads the body and answers 200.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::bare;
use crate::load::{LoadOptions, closed_loop};
use crate::spans::SpanSink;
use crate::support::{cpu_seconds, peak_rss_kib, tempfile_dir};

/// `--traces`: also export spans, to a sink in this process.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct IngestArgs {
    /// Export spans: `hookmetry serve` sends its traces over OTLP/gRPC to a collector in this
    /// process that counts and drops them (`telemetry.otlp_endpoint`), at
    /// `telemetry.trace_sample_ratio` = this value (0.0 to 1.0).
    #[arg(long)]
    pub traces: Option<f64>,
}

/// Throughput and latency of `hookmetry serve` against the bare handler, same load, same run.
pub(crate) async fn run(
    load: &LoadOptions,
    args: &IngestArgs,
    hookmetry: &Path,
    me: &Path,
) -> anyhow::Result<serde_json::Value> {
    let (mut bare, bare_url) = bare::spawn(me).await?;
    let bare_pid = bare.id().context("bare pid")?;
    let bare_cpu = cpu_seconds(bare_pid);
    let bare_result = closed_loop(load, &[format!("{bare_url}/hook")]).await?;
    let bare_cpu_us = bare_cpu.zip(cpu_seconds(bare_pid)).map(|(before, after)| {
        // Warm-up included, as for ingest below.
        ((after - before) * 1e6 / bare_result.ok.max(1) as f64).round()
    });
    let bare_rss = peak_rss_kib(bare_pid);
    bare.kill().await?;

    let dir = tempfile_dir()?;
    let sink = match args.traces {
        Some(ratio) => Some(SpanSink::start(ratio).await?),
        None => None,
    };
    let server_args: Vec<&str> = sink.as_ref().map_or_else(Vec::new, |s| s.args.iter().map(String::as_str).collect());
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &server_args).await?;
    let ep = server.client().create_endpoint("bench").await?;
    let pid = server.child.id().context("hookmetry pid")?;
    let cpu_before = cpu_seconds(pid);
    let ingest_result = closed_loop(load, &[format!("{}/h/{}/hook", server.base_url, ep.token)]).await?;
    let ingest_rss = peak_rss_kib(server.child.id().context("hookmetry pid")?);
    // Every acknowledged capture must reach the store; report how long the processor needed.
    let drain = Instant::now();
    server.client().wait_for_captures(&ep.id, ingest_result.ok as usize, Duration::from_secs(300)).await?;
    let drain_s = drain.elapsed().as_secs_f64();
    // Ingest and processor together, warm-up included, until every capture was stored.
    let cpu_us_per_capture = cpu_before.zip(cpu_seconds(pid)).map(|(before, after)| {
        let captures = ingest_result.ok.max(1) as f64;
        ((after - before) * 1e6 / captures).round()
    });
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();

    let spans = match sink {
        Some(sink) => Some(sink.stop().await),
        None => None,
    };

    let ratio = ingest_result.rps() / bare_result.rps();
    let report = serde_json::json!({
        "connections": load.connections,
        "seconds": load.seconds,
        "body_bytes": load.body_bytes,
        "traces_sample_ratio": args.traces,
        "spans_received": spans,
        "bare_axum": bare_result.json(bare_rss),
        "hookmetry_ingest": ingest_result.json(ingest_rss),
        "throughput_ratio": (ratio * 1000.0).round() / 1000.0,
        "processor_drain_after_load_s": (drain_s * 100.0).round() / 100.0,
        "server_cpu_us_per_capture": cpu_us_per_capture,
        "bare_cpu_us_per_request": bare_cpu_us,
    });
    Ok(report)
}
