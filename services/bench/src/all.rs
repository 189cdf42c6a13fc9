//! `all`: every benchmark behind the performance targets in docs/benchmarks.md, in one run, with
//! a table of the results against the targets (on stderr) and every report (JSON, on stdout).
//! `--quick` shrinks each to a smoke case that only shows the benchmarks still run.

use std::path::Path;

use serde_json::{Value, json};

use crate::deliveries::{self, DeliveriesArgs};
use crate::fan_out::{self, FanOutArgs};
use crate::ingest::{self, IngestArgs};
use crate::load::LoadOptions;
use crate::overload::{self, OverloadArgs};
use crate::read_path::{self, ReadPathArgs};

#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct AllArgs {
    /// Tiny versions of every benchmark (seconds, not minutes): for CI, not for numbers.
    #[arg(long)]
    pub quick: bool,
}

/// One row of the table: what was measured, the result, and the target.
struct Row {
    what: String,
    result: String,
    target: &'static str,
}

pub(crate) async fn run(load: &LoadOptions, args: &AllArgs, hookmetry: &Path, me: &Path) -> anyhow::Result<Value> {
    let seconds = if args.quick { 1 } else { load.seconds.max(1) };
    let mut rows = Vec::new();
    let mut reports = serde_json::Map::new();

    let connections: &[usize] = if args.quick { &[8] } else { &[32, 64, 128, 256] };
    let mut ingest_reports = Vec::new();
    for &c in connections {
        eprintln!("all: ingest, {c} connections");
        let l = LoadOptions { connections: c, seconds, ..load.clone() };
        let r = ingest::run(&l, &IngestArgs::default(), hookmetry, me).await?;
        rows.push(Row {
            what: format!("ingest, {c} connections: ratio to bare axum (req/s), p99"),
            result: format!(
                "{} ({} vs {}), p99 {} ms, RSS {} MiB, drain {} s",
                r["throughput_ratio"],
                r["hookmetry_ingest"]["requests_per_s"],
                r["bare_axum"]["requests_per_s"],
                r["hookmetry_ingest"]["p99_ms"],
                r["hookmetry_ingest"]["peak_rss_mib"],
                r["processor_drain_after_load_s"],
            ),
            target: "≥ 0.5, p99 < 10 ms, RSS < 200 MiB, drain < 1 s",
        });
        ingest_reports.push(r);
    }
    reports.insert("ingest".into(), Value::Array(ingest_reports));

    eprintln!("all: overload");
    let overload_args = if args.quick {
        OverloadArgs { overload_connections: 32, slow_senders: 2, slow_bytes: 1 << 20, slow_seconds: 1 }
    } else {
        OverloadArgs { overload_connections: 1024, slow_senders: 64, slow_bytes: 10 << 20, slow_seconds: 8 }
    };
    let l = LoadOptions { connections: 64, seconds, ..load.clone() };
    let r = overload::run(&l, &overload_args, hookmetry).await?;
    rows.push(Row {
        what: format!(
            "overload: {} connections + {} slow uploads of {} MiB",
            overload_args.overload_connections,
            overload_args.slow_senders,
            overload_args.slow_bytes >> 20
        ),
        result: format!(
            "{} answers outside 2xx/429/503+Retry-After, peak RSS {} MiB, back to 90 % after {} s",
            r["overload"]["outside_contract"].as_u64().unwrap_or(0)
                + r["slow_uploads"]["outside_contract"].as_u64().unwrap_or(0),
            r["peak_rss_mib"],
            r["recovery"]["back_to_90_percent_after_s"],
        ),
        target: "0 outside, RSS < 512 MiB, back within 2 s",
    });
    reports.insert("overload".into(), r);

    eprintln!("all: deliveries");
    let count = if args.quick { 50 } else { 20_000 };
    let r = deliveries::run(load, &DeliveriesArgs { count, per_target_concurrency: None }, hookmetry, me).await?;
    rows.push(Row {
        what: format!("replay: {count} deliveries to a keep-alive sink, default settings"),
        result: format!(
            "{} deliveries/s; plain hyper client {} req/s (ratio {})",
            r["hookmetry_replay"]["deliveries_per_s"], r["plain_hyper"]["requests_per_s"], r["ratio"],
        ),
        target: "≥ 5,000 deliveries/s",
    });
    reports.insert("deliveries".into(), r);

    eprintln!("all: fan-out");
    let fan = if args.quick {
        FanOutArgs { subscribers: 6, endpoints: 3, rate: 20, seconds: 1 }
    } else {
        FanOutArgs { subscribers: 1000, endpoints: 100, rate: 500, seconds: 20 }
    };
    let r = fan_out::run(&fan, load.body_bytes, hookmetry).await?;
    rows.push(Row {
        what: format!(
            "live fan-out: {} subscriptions over {} endpoints at {}/s",
            fan.subscribers, fan.endpoints, fan.rate
        ),
        result: format!(
            "p99 {} ms, {} subscribers ended early, {} deliveries missed, server RSS {} MiB",
            r["p99_ms"], r["subscribers_ended_early"], r["deliveries_missed"], r["server_peak_rss_mib"]["end"],
        ),
        target: "p99 < 100 ms, none dropped, RSS reported",
    });
    reports.insert("fan_out".into(), r);

    eprintln!("all: read path");
    let read = ReadPathArgs { captures: if args.quick { 300 } else { 1_000_000 }, page: 50 };
    let l = LoadOptions { connections: if args.quick { 2 } else { 16 }, seconds, ..load.clone() };
    let r = read_path::run(&l, &read, hookmetry).await?;
    for case in ["first_page", "method_get", "path_prefix", "deep_cursor"] {
        let q = &r["queries"][case];
        rows.push(Row {
            what: format!("read path: `{case}` on {} captures, 50 per page, no bodies", read.captures),
            result: format!("{} queries/s, p99 {} ms", q["requests_per_s"], q["p99_ms"]),
            target: "queries/s and p99 reported; no body bytes read",
        });
    }
    reports.insert("read_path".into(), r);

    eprintln!("\n| benchmark | result | target |\n|---|---|---|");
    for row in &rows {
        eprintln!("| {} | {} | {} |", row.what, row.result, row.target);
    }
    Ok(json!(reports))
}
