//! `hookmetry-bench`: ingest throughput and latency of `hookmetry serve` (durable acknowledgement)
//! against a bare axum handler that reads the body and answers 200, measured in one run with the
//! same load generator, so the ratio means something on a shared, noisy machine.
//!
//! Both servers run as child processes; the load comes from this process over loopback.
//! Usage: `cargo build --release -p hookmetry -p hookmetry-bench && target/release/hookmetry-bench`
//!
//! `--subscription-latency N` measures instead how long a capture takes from the start of its
//! HTTP request to its arrival at a `captureReceived` subscriber, over N captures sent at
//! `--rate` per second (open loop: sends never wait for receipts).

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
    /// Measure capture → subscriber latency over this many captures instead of throughput.
    #[arg(long)]
    subscription_latency: Option<usize>,
    /// Captures per second in the latency run.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Kafka mode: compare `hookmetry run --roles ingest,processor,api` on this broker
    /// (`host:port`) with a raw rdkafka producer (same acks=all idempotent settings, same
    /// concurrency and record size), and report the processor's lag under the load.
    #[arg(long)]
    kafka: Option<String>,
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
    if let Some(brokers) = args.kafka.clone() {
        let report = kafka_mode(&args, &hookmetry, &brokers).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Some(n) = args.subscription_latency {
        let report = subscription_latency(&hookmetry, n, args.rate, args.body_bytes).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }

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

/// Capture → subscriber latency on a fresh embedded server, measured from just before the HTTP
/// request starts to the subscription message being read.
async fn subscription_latency(
    hookmetry: &std::path::Path,
    n: usize,
    rate: u32,
    body_bytes: usize,
) -> anyhow::Result<serde_json::Value> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};

    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let client = server.client();
    let ep = client.create_endpoint("latency").await?;
    let mut ws = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(client.token.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sub = "subscription($e: ID!) { captureReceived(endpointId: $e) { id } }";
    ws.subscribe(sub, serde_json::json!({ "e": ep.id })).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/hook", ep.url);
    // The protocol does not say when the server has registered a subscription: probe until one
    // capture comes through, then drain the rest of the probes.
    let mut live = false;
    for _ in 0..100 {
        http.post(&url).body("probe").send().await?.error_for_status()?;
        if let Some(WsMessage::Next { .. }) = ws.next_message(Duration::from_millis(100)).await? {
            live = true;
            break;
        }
    }
    if !live {
        bail!("the subscription never delivered a probe capture");
    }
    while let Some(WsMessage::Next { .. }) = ws.next_message(Duration::from_millis(500)).await? {}

    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let sender = {
        let sent_at = sent_at.clone();
        let body = vec![b'{'; body_bytes];
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            let mut tasks = Vec::with_capacity(n);
            for _ in 0..n {
                tick.tick().await;
                let (http, url, body, sent_at) = (http.clone(), url.clone(), body.clone(), sent_at.clone());
                tasks.push(tokio::spawn(async move {
                    let start = Instant::now();
                    let resp = http.post(&url).body(body).send().await?.error_for_status()?;
                    let v: serde_json::Value = resp.json().await?;
                    let id = v["id"].as_str().context("capture id in the answer")?.to_string();
                    sent_at.lock().unwrap().insert(id, start);
                    anyhow::Ok(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            anyhow::Ok(())
        })
    };
    let mut received: Vec<(String, Instant)> = Vec::with_capacity(n);
    while received.len() < n {
        match ws.next_message(Duration::from_secs(30)).await? {
            Some(WsMessage::Next { payload, .. }) => {
                let id = payload["data"]["captureReceived"]["id"].as_str().context("capture id")?.to_string();
                received.push((id, Instant::now()));
            }
            other => bail!("subscription ended after {} captures: {other:?}", received.len()),
        }
    }
    sender.await??;
    let sent_at = std::mem::take(&mut *sent_at.lock().unwrap());
    let mut lat_us: Vec<u64> = received
        .iter()
        .map(|(id, at)| sent_at.get(id).map(|s| at.duration_since(*s).as_micros() as u64).context("unknown capture"))
        .collect::<anyhow::Result<_>>()?;
    lat_us.sort_unstable();
    let pct = |p: f64| (lat_us[((lat_us.len() - 1) as f64 * p).round() as usize] as f64 / 10.0).round() / 100.0;
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(serde_json::json!({
        "captures": n,
        "rate_per_s": rate,
        "body_bytes": body_bytes,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    }))
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
/// Closed-loop produce with `args.connections` concurrent senders, each waiting for the
/// broker's ack before its next record: the same shape of load as the HTTP generator.
async fn raw_producer(args: &Args, brokers: &str) -> anyhow::Result<LoadResult> {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .context("raw producer")?;
    let topic = format!("bench-raw-{}", std::process::id());
    // Created up front with the partitions hookmetry's topics get, so neither side waits for
    // auto-creation inside the measured window.
    let admin: rdkafka::admin::AdminClient<_> =
        rdkafka::ClientConfig::new().set("bootstrap.servers", brokers).create().context("admin client")?;
    let new_topic = rdkafka::admin::NewTopic::new(&topic, 12, rdkafka::admin::TopicReplication::Fixed(1));
    admin.create_topics([&new_topic], &rdkafka::admin::AdminOptions::new()).await.context("create topic")?;
    let body = vec![b'{'; args.body_bytes];
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let (producer, topic, body) = (producer.clone(), topic.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(100_000));
            let key = format!("endpoint-{c}");
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                let r = producer.send(FutureRecord::to(&topic).key(&key).payload(&body), Duration::from_secs(10)).await;
                if start >= warmup {
                    if r.is_ok() {
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

/// Kafka mode: the raw producer first, then one `hookmetry run` node with every role on the same
/// broker (an SQLite store in a temp dir), loaded over HTTP while its lag is sampled.
async fn kafka_mode(args: &Args, hookmetry: &std::path::Path, brokers: &str) -> anyhow::Result<serde_json::Value> {
    let raw = raw_producer(args, brokers).await?;
    let dir = tempfile_dir()?;
    let store = format!("sqlite://{}", dir.join("db").display());
    let out = tokio::process::Command::new(hookmetry)
        .args(["migrate", "--store", &store, "--data-dir"])
        .arg(&dir)
        .output()
        .await?;
    if !out.status.success() {
        bail!("migrate failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let token = std::fs::read_to_string(dir.join("admin-token"))?.trim().to_string();
    let log = format!("kafka://{brokers}");
    let node_dir = dir.join("node");
    let node_args = [
        "run",
        "--roles",
        "ingest,processor,api",
        "--log",
        &log,
        "--store",
        &store,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        node_dir.to_str().context("dir")?,
        "--set",
        "log.kafka_replication_factor=1",
    ];
    let mut node = hookmetry_testkit::ChildServer::spawn(hookmetry, &node_args, token).await?;
    let ep = node.client().create_endpoint("bench").await?;
    let metrics_url = format!("{}/metrics", node.base_url);
    let max_lag = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = max_lag.clone();
    let sampling = tokio::spawn(async move {
        loop {
            if let Ok(r) = reqwest::get(&metrics_url).await
                && let Ok(text) = r.text().await
                && let Some(v) = text
                    .lines()
                    .find(|l| l.starts_with("hookmetry_processor_lag_records "))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
            {
                seen.fetch_max(v as u64, std::sync::atomic::Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let ingest = load(args, &format!("{}/h/{}/hook", node.base_url, ep.token)).await?;
    let drain = Instant::now();
    node.client().wait_for_captures(&ep.id, ingest.ok as usize, Duration::from_secs(600)).await?;
    let drain_s = drain.elapsed().as_secs_f64();
    sampling.abort();
    let max_lag = max_lag.load(std::sync::atomic::Ordering::Relaxed);
    node.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    let ratio = ingest.rps() / raw.rps();
    Ok(serde_json::json!({
        "connections": args.connections,
        "seconds": args.seconds,
        "body_bytes": args.body_bytes,
        "raw_rdkafka_producer": raw.json(None),
        "hookmetry_ingest_on_kafka": ingest.json(None),
        "throughput_ratio": (ratio * 1000.0).round() / 1000.0,
        "processor_drain_after_load_s": (drain_s * 100.0).round() / 100.0,
        "processor_lag_max_records_sampled": max_lag,
    }))
}

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
