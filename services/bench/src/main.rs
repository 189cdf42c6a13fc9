//! `hookmetry-bench`: ingest throughput and latency of `hookmetry serve` (durable acknowledgement)
//! against a bare axum handler that reads the body and answers 200, measured in one run with the
//! same load generator, so the ratio means something on a shared, noisy machine.
//!
//! Both servers run as child processes; the load comes from this process over loopback.
//! Usage: `cargo build --release -p hookmetry -p hookmetry-bench && target/release/hookmetry-bench`

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Parser)]
struct Args {
    /// Run only the bare handler (used internally as the comparison child process).
    #[arg(long, hide = true)]
    bare_server: bool,
    /// The hookmetry binary; defaults to the one next to this executable.
    #[arg(long)]
    hookmetry: Option<PathBuf>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of load per server (after 1 s of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Only load this URL and print the result (for profiling a server started by hand).
    #[arg(long)]
    target: Option<String>,
    /// Request body size in bytes.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.bare_server {
        return bare_server().await;
    }
    if let Some(url) = &args.target {
        let r = load(&args, url).await?;
        println!("{}", serde_json::to_string_pretty(&r.json(None))?);
        return Ok(());
    }
    let me = std::env::current_exe()?;
    let hookmetry = args.hookmetry.clone().unwrap_or_else(|| me.with_file_name("hookmetry"));

    let mut bare =
        tokio::process::Command::new(&me).arg("--bare-server").stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
    let bare_url = read_line_with_prefix(&mut bare, "listening on ").await?;
    let bare_result = load(&args, &format!("{bare_url}/hook")).await?;
    let bare_rss = peak_rss_kib(bare.id().context("bare pid")?);
    bare.kill().await?;

    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(&hookmetry, &dir, &[]).await?;
    let ep = server.client().create_endpoint("bench").await?;
    let ingest_result = load(&args, &format!("{}/h/{}/hook", server.base_url, ep.token)).await?;
    let ingest_rss = peak_rss_kib(server.child.id().context("hookmetry pid")?);
    // Every acknowledged capture must reach the store; report how long the processor needed.
    let drain = Instant::now();
    server.client().wait_for_captures(&ep.id, ingest_result.ok as usize, Duration::from_secs(300)).await?;
    let drain_s = drain.elapsed().as_secs_f64();
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();

    let ratio = ingest_result.rps() / bare_result.rps();
    let report = serde_json::json!({
        "connections": args.connections,
        "seconds": args.seconds,
        "body_bytes": args.body_bytes,
        "bare_axum": bare_result.json(bare_rss),
        "hookmetry_ingest": ingest_result.json(ingest_rss),
        "throughput_ratio": (ratio * 1000.0).round() / 1000.0,
        "processor_drain_after_load_s": (drain_s * 100.0).round() / 100.0,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

struct LoadResult {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl LoadResult {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    fn json(&self, rss_kib: Option<u64>) -> serde_json::Value {
        serde_json::json!({
            "requests_ok": self.ok,
            "errors": self.errors,
            "requests_per_s": self.rps().round(),
            "p50_ms": (self.pct(0.50) * 100.0).round() / 100.0,
            "p99_ms": (self.pct(0.99) * 100.0).round() / 100.0,
            "max_ms": (self.pct(1.0) * 100.0).round() / 100.0,
            "peak_rss_mib": rss_kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0),
        })
    }
}

/// Closed-loop load: each connection sends the next request when the previous one is answered.
async fn load(args: &Args, url: &str) -> anyhow::Result<LoadResult> {
    let body = vec![b'{'; args.body_bytes];
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        let url = url.to_string();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(100_000));
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                let r = client.post(&url).body(body.clone()).send().await;
                let good = matches!(&r, Ok(resp) if resp.status().is_success());
                if let Ok(resp) = r {
                    let _ = resp.bytes().await;
                }
                if start >= warmup {
                    if good {
                        ok += 1;
                        lat.push(start.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
            }
            (ok, errors, lat)
        }));
    }
    let mut result = LoadResult { ok: 0, errors: 0, elapsed: Duration::from_secs(args.seconds), latencies_us: vec![] };
    for t in tasks {
        let (ok, errors, lat) = t.await?;
        result.ok += ok;
        result.errors += errors;
        result.latencies_us.extend(lat);
    }
    result.latencies_us.sort_unstable();
    Ok(result)
}

async fn bare_server() -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(|body: axum::body::Bytes| async move { format!("{{\"len\":{}}}", body.len()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn read_line_with_prefix(child: &mut tokio::process::Child, prefix: &str) -> anyhow::Result<String> {
    let out = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(out).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok(rest.trim().to_string());
        }
    }
    bail!("child exited before printing `{prefix}`")
}

/// Peak resident set (VmHWM) of a process, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hookmetry-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
