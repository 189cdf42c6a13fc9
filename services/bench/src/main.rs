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
//!
//! Other modes, each printing JSON: `--kafka`, `--deliveries N`, `--listen-latency N`,
//! `--traces RATIO` and `--reverify N` (see their flags and `docs/benchmarks.md`).

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
    /// Captures per second in the latency run and in the Kafka mode's sustained-load phase.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Kafka mode: compare `hookmetry run --roles ingest,processor,api` on this broker
    /// (`host:port`) with a raw rdkafka producer (same acks=all idempotent settings, same
    /// concurrency and record size), and report the processor's lag under the load.
    #[arg(long)]
    kafka: Option<String>,
    /// Replay mode: how many deliveries per second `hookmetry serve` makes to a local sink that
    /// answers 200, over this many deliveries, against a bare reqwest client sending the same
    /// requests to the same sink with `--connections` in flight.
    #[arg(long)]
    deliveries: Option<usize>,
    /// Listen mode: capture → local server latency through `hookmetry listen`, over this many
    /// captures sent at `--rate` per second (open loop).
    #[arg(long)]
    listen_latency: Option<usize>,
    /// Ingest mode with span export on: `hookmetry serve` sends its traces over OTLP/gRPC to a
    /// collector in this process that counts and drops them (`telemetry.otlp_endpoint`), at
    /// `telemetry.trace_sample_ratio` = this value (0.0 to 1.0).
    #[arg(long)]
    traces: Option<f64>,
    /// Re-verification mode: stores this many Stripe captures signed with a secret the endpoint
    /// lacks, then times `reverifyCaptures` over all of them twice: with nothing changed, and
    /// after a secret is added (every reason changes, so every capture is announced through
    /// `captureChanged`).
    #[arg(long)]
    reverify: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.bare_server {
        return bare_server().await;
    }
    if let Some(url) = &args.target {
        let r = load(&args, std::slice::from_ref(url)).await?;
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
    if let Some(n) = args.listen_latency {
        let report = listen_latency(&hookmetry, n, args.rate, args.body_bytes).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Some(n) = args.reverify {
        let report = reverify_mode(&args, &hookmetry, n).await?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Some(n) = args.deliveries {
        let report = deliveries_mode(&args, &hookmetry, &me, n).await?;
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
    let bare_result = load(&args, &[format!("{bare_url}/hook")]).await?;
    let bare_rss = peak_rss_kib(bare.id().context("bare pid")?);
    bare.kill().await?;

    let dir = tempfile_dir()?;
    let sink = match args.traces {
        Some(ratio) => Some(SpanSink::start(ratio).await?),
        None => None,
    };
    let server_args: Vec<&str> = sink.as_ref().map_or_else(Vec::new, |s| s.args.iter().map(String::as_str).collect());
    let mut server = hookmetry_testkit::ChildServer::start(&hookmetry, &dir, &server_args).await?;
    let ep = server.client().create_endpoint("bench").await?;
    let pid = server.child.id().context("hookmetry pid")?;
    let cpu_before = cpu_seconds(pid);
    let ingest_result = load(&args, &[format!("{}/h/{}/hook", server.base_url, ep.token)]).await?;
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
        "connections": args.connections,
        "seconds": args.seconds,
        "body_bytes": args.body_bytes,
        "traces_sample_ratio": args.traces,
        "spans_received": spans,
        "bare_axum": bare_result.json(bare_rss),
        "hookmetry_ingest": ingest_result.json(ingest_rss),
        "throughput_ratio": (ratio * 1000.0).round() / 1000.0,
        "processor_drain_after_load_s": (drain_s * 100.0).round() / 100.0,
        "server_cpu_us_per_capture": cpu_us_per_capture,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// An OTLP/gRPC receiver in this process that counts the spans it is sent and keeps nothing,
/// so the bench measures what exporting costs the server, not what storing costs a collector.
struct SpanSink {
    /// `--set` flags that point `hookmetry serve` at it.
    args: Vec<String>,
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

struct CountingTraceService(std::sync::Arc<std::sync::atomic::AtomicU64>);

#[tonic::async_trait]
impl opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceService for CountingTraceService {
    async fn export(
        &self,
        request: tonic::Request<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest>,
    ) -> Result<
        tonic::Response<opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse>,
        tonic::Status,
    > {
        let spans: usize =
            request.get_ref().resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        self.0.fetch_add(spans as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(tonic::Response::new(Default::default()))
    }
}

impl SpanSink {
    async fn start(ratio: f64) -> anyhow::Result<Self> {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::TraceServiceServer;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let service = TraceServiceServer::new(CountingTraceService(received.clone()));
        let task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            if let Err(e) = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await
            {
                eprintln!("span sink stopped: {e}");
            }
        });
        let args = vec![
            "--set".to_string(),
            format!("telemetry.otlp_endpoint=http://{address}"),
            "--set".to_string(),
            format!("telemetry.trace_sample_ratio={ratio}"),
        ];
        Ok(Self { args, received, task })
    }

    async fn stop(self) -> u64 {
        self.task.abort();
        self.received.load(std::sync::atomic::Ordering::Relaxed)
    }
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

/// Kafka mode, on one broker, in three phases:
/// 1. a raw rdkafka producer (closed loop, one key per sender);
/// 2. a `hookmetry run --roles ingest` node under the same closed-loop load over HTTP, one
///    endpoint per connection so records spread over partitions as the raw producer's keys do.
///    Processors are not running yet: in cluster mode they are other processes, usually on other
///    machines, and here they would take CPU from the broker and ingest;
/// 3. a processor node joins, drains what phase 2 left (its catch-up rate), then an open-loop
///    load at `--rate` per second runs for `--seconds` while its lag gauge is sampled.
async fn kafka_mode(args: &Args, hookmetry: &std::path::Path, brokers: &str) -> anyhow::Result<serde_json::Value> {
    eprintln!("kafka mode: raw producer for {} s", args.seconds);
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
    let node = |roles: &'static str| {
        let node_dir = dir.join(roles);
        let (hookmetry, log, store, token) = (hookmetry.to_path_buf(), log.clone(), store.clone(), token.clone());
        async move {
            let node_dir = node_dir.to_str().context("dir")?.to_string();
            let node_args = [
                "run",
                "--roles",
                roles,
                "--log",
                &log,
                "--store",
                &store,
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                &node_dir,
                "--set",
                "log.kafka_replication_factor=1",
            ];
            hookmetry_testkit::ChildServer::spawn(&hookmetry, &node_args, token).await
        }
    };
    let mut api = node("api").await?;
    let mut ingest_node = node("ingest").await?;
    let client = api.client();
    let mut endpoints = Vec::new();
    for i in 0..args.connections.max(1) {
        endpoints.push(client.create_endpoint(&format!("bench-{i}")).await?);
    }
    let urls: Vec<String> =
        endpoints.iter().map(|ep| format!("{}/h/{}/hook", ingest_node.base_url, ep.token)).collect();
    eprintln!("kafka mode: ingest node for {} s", args.seconds);
    let ingest = load(args, &urls).await?;
    eprintln!("kafka mode: processor catching up on {} captures", ingest.ok);

    let mut processor = node("processor").await?;
    // Counted from the processor's own counter: paging every capture through the API while it
    // works would load the same store the processor writes to.
    let stored_url = format!("{}/metrics", processor.base_url);
    let count_stored = || async {
        // Absent until the first capture is stored.
        anyhow::Ok(gauge(&stored_url, "hookmetry_processor_records_total{outcome=\"stored\"}").await.unwrap_or(0))
    };
    let drain = Instant::now();
    let backlog = wait_for_stored(&count_stored, ingest.ok, Duration::from_secs(600)).await?;
    let catch_up_s = drain.elapsed().as_secs_f64();

    let metrics_url = format!("{}/metrics", processor.base_url);
    let lags = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let sampling = {
        let lags = lags.clone();
        tokio::spawn(async move {
            loop {
                if let Some(v) = gauge(&metrics_url, "hookmetry_processor_lag_records").await {
                    lags.lock().unwrap().push(v);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    eprintln!("kafka mode: {} captures/s for {} s with the processor running", args.rate, args.seconds);
    let sustained = paced_load(&urls, args.rate, args.seconds, args.body_bytes).await?;
    let settle = Instant::now();
    wait_for_stored(&count_stored, backlog + sustained.ok, Duration::from_secs(600)).await?;
    let settle_s = settle.elapsed().as_secs_f64();
    sampling.abort();
    let mut lags = std::mem::take(&mut *lags.lock().unwrap());
    lags.sort_unstable();
    let lag_pct = |p: f64| lags.get(((lags.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(0);
    for n in [&mut processor, &mut ingest_node, &mut api] {
        n.kill9().await?;
    }
    std::fs::remove_dir_all(&dir).ok();
    let ratio = ingest.rps() / raw.rps();
    Ok(serde_json::json!({
        "connections": args.connections,
        "seconds": args.seconds,
        "body_bytes": args.body_bytes,
        "raw_rdkafka_producer": raw.json(None),
        "hookmetry_ingest_on_kafka": ingest.json(None),
        "throughput_ratio": (ratio * 1000.0).round() / 1000.0,
        "processor_catch_up": {
            "captures": backlog,
            "seconds": (catch_up_s * 100.0).round() / 100.0,
            "captures_per_s": (backlog as f64 / catch_up_s).round(),
        },
        "sustained_load": {
            "rate_per_s": args.rate,
            "seconds": args.seconds,
            "load": sustained.json(None),
            "lag_samples": lags.len(),
            "lag_p50_records": lag_pct(0.5),
            "lag_p99_records": lag_pct(0.99),
            "lag_max_records": lag_pct(1.0),
            "all_stored_s_after_load": (settle_s * 100.0).round() / 100.0,
        },
    }))
}

/// Replay throughput: `n` captures on a fresh embedded server, replayed in bulk to a bare sink,
/// timed from the first `replayCaptures` call to the last successful attempt (the worker's own
/// counter); then a bare reqwest client sends the same number of requests to the same sink.
async fn deliveries_mode(
    args: &Args,
    hookmetry: &std::path::Path,
    me: &std::path::Path,
    n: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut sink =
        tokio::process::Command::new(me).arg("--bare-server").stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
    let sink_url = format!("{}/hook", read_line_with_prefix(&mut sink, "listening on ").await?);
    let dir = tempfile_dir()?;
    let concurrency = args.connections.to_string();
    let per_target = format!("replay.per_target_concurrency={concurrency}");
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &["--set", &per_target]).await?;
    let client = server.client();
    let ep = client.create_endpoint("deliveries").await?;
    let http = reqwest::Client::new();
    let body = vec![b'{'; args.body_bytes];
    for _ in 0..n {
        http.post(&ep.url).body(body.clone()).send().await?.error_for_status()?;
    }
    client.wait_for_captures(&ep.id, n, Duration::from_secs(300)).await?;
    let metrics = format!("{}/metrics", server.base_url);
    let succeeded = "hookmetry_replay_attempts_total{outcome=\"success\"}";
    let started = Instant::now();
    let mut before: Option<String> = None;
    let mut made = 0;
    while made < n {
        let limit = (n - made).min(1000);
        let filter = match &before {
            None => serde_json::json!({}),
            Some(t) => serde_json::json!({ "receivedUntil": t }),
        };
        let out = client
            .graphql(
                "mutation($input: ReplayCapturesInput!) { replayCaptures(input: $input) { deliveries { capture { receivedAt } } } }",
                serde_json::json!({ "input": { "endpointId": ep.id, "target": sink_url, "limit": limit, "filter": filter } }),
            )
            .await?;
        let deliveries = out["replayCaptures"]["deliveries"].as_array().context("deliveries")?;
        if deliveries.is_empty() {
            bail!("replayCaptures made no delivery after {made}");
        }
        made += deliveries.len();
        before = deliveries.last().and_then(|d| d["capture"]["receivedAt"].as_str()).map(str::to_owned);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while gauge(&metrics, succeeded).await.unwrap_or(0) < n as u64 {
        if Instant::now() > deadline {
            bail!("deliveries not all made within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replay_s = started.elapsed().as_secs_f64();
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();

    // The same requests from a bare client: the ceiling this sink and machine allow.
    let started = Instant::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(args.connections.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = semaphore.clone().acquire_owned().await?;
        let (http, url, body) = (http.clone(), sink_url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = http.post(&url).body(body).send().await.and_then(|r| r.error_for_status());
            drop(permit);
            r.map(drop)
        }));
    }
    for t in tasks {
        t.await??;
    }
    let bare_s = started.elapsed().as_secs_f64();
    sink.kill().await?;
    let rate = |s: f64| (n as f64 / s).round();
    Ok(serde_json::json!({
        "deliveries": n,
        "per_target_concurrency": args.connections,
        "body_bytes": args.body_bytes,
        "hookmetry_replay": { "seconds": (replay_s * 100.0).round() / 100.0, "deliveries_per_s": rate(replay_s) },
        "bare_reqwest": { "seconds": (bare_s * 100.0).round() / 100.0, "requests_per_s": rate(bare_s) },
        "ratio": ((bare_s / replay_s) * 1000.0).round() / 1000.0,
    }))
}

async fn reverify_mode(args: &Args, hookmetry: &std::path::Path, n: usize) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let client = server.client();
    let ep = client.create_endpoint("reverify").await?;
    client
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: {provider: \"stripe\", secrets: [{label: \"a\", value: \"whsec_a\"}]}}) { id } }",
            serde_json::json!({ "id": ep.id }),
        )
        .await?;
    let http = reqwest::Client::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(args.connections.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = semaphore.clone().acquire_owned().await?;
        let req = http.post(&ep.url).header("stripe-signature", "t=1,v1=00").body(r#"{"type":"charge.succeeded"}"#);
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.and_then(|r| r.error_for_status());
            drop(permit);
            r.map(drop)
        }));
    }
    for t in tasks {
        t.await??;
    }
    client.wait_for_captures(&ep.id, n, Duration::from_secs(300)).await?;
    // Every capture has its first verdict before the timed passes.
    let verified = || async {
        let page = client
            .graphql(
                "query($e: ID!) { captures(endpointId: $e, first: 1, filter: {verdict: INVALID_SIGNATURE}) { edges { node { id } } } }",
                serde_json::json!({ "e": ep.id }),
            )
            .await?;
        anyhow::Ok(!page["captures"]["edges"].as_array().context("edges")?.is_empty())
    };
    while !verified().await? {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pass = || async {
        let started = Instant::now();
        let (mut count, mut after) = (0, serde_json::Value::Null);
        loop {
            let r = client
                .graphql(
                    "mutation($e: ID!, $a: String) { reverifyCaptures(input: {endpointId: $e, since: \"2000-01-01T00:00:00Z\", after: $a}) { count hasMore endCursor } }",
                    serde_json::json!({ "e": ep.id, "a": after }),
                )
                .await?;
            let r = &r["reverifyCaptures"];
            count += r["count"].as_u64().context("count")?;
            if r["hasMore"] != true {
                break;
            }
            after = r["endCursor"].clone();
        }
        anyhow::Ok((started.elapsed().as_secs_f64(), count))
    };
    let (unchanged_s, unchanged) = pass().await?;
    client
        .graphql(
            "mutation($id: ID!) { addVerificationSecret(input: {endpointId: $id, label: \"b\", value: \"whsec_b\"}) { id } }",
            serde_json::json!({ "id": ep.id }),
        )
        .await?;
    let (changed_s, changed) = pass().await?;
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    let report = |s: f64, count: u64| serde_json::json!({ "captures": count, "seconds": (s * 1000.0).round() / 1000.0, "captures_per_s": (count as f64 / s).round() });
    Ok(serde_json::json!({
        "unchanged": report(unchanged_s, unchanged),
        "all_changed_and_announced": report(changed_s, changed),
    }))
}

/// Capture → local server latency through `hookmetry listen`: from just before the capture's
/// HTTP request starts to the local server (in this process) reading the forwarded request.
/// Bodies carry a sequence number so each arrival is matched to its send.
async fn listen_latency(
    hookmetry: &std::path::Path,
    n: usize,
    rate: u32,
    body_bytes: usize,
) -> anyhow::Result<serde_json::Value> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let ep = server.client().create_endpoint("listen").await?;

    // The local server: reads one request per connection or keep-alive turn, notes when the
    // body's sequence number arrived, answers 200.
    let arrived: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_url = format!("http://{}/", sink.local_addr()?);
    let seen = arrived.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = sink.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Bodies are `seq=<n>;` then padding, and fit in one read after the head.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        let body = buf[end + 4..end + 4 + len].to_vec();
                        buf.drain(..end + 4 + len);
                        if let Some(seq) = std::str::from_utf8(&body)
                            .ok()
                            .and_then(|b| b.strip_prefix("seq="))
                            .and_then(|b| b.split(';').next())
                            .and_then(|v| v.parse::<usize>().ok())
                        {
                            seen.lock().unwrap().entry(seq).or_insert_with(Instant::now);
                        }
                        if socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });

    let mut listener = tokio::process::Command::new(hookmetry)
        .args(["listen", &ep.id, "--forward-to", &sink_url, "--url", &server.base_url, "--token", &server.admin_token])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let body = |seq: usize| {
        let mut b = format!("seq={seq};").into_bytes();
        b.resize(body_bytes.max(b.len()), b'x');
        b
    };
    // The listener is live once a probe comes through.
    let probe = usize::MAX / 2;
    let ready = Instant::now() + Duration::from_secs(30);
    let mut next_probe = probe;
    while !arrived.lock().unwrap().keys().any(|k| *k >= probe) {
        if Instant::now() > ready {
            bail!("hookmetry listen forwarded no probe within 30 s");
        }
        http.post(&ep.url).body(body(next_probe)).send().await?.error_for_status()?;
        next_probe += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut sent_at = vec![Instant::now(); n];
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut tasks = Vec::with_capacity(n);
    for (seq, at) in sent_at.iter_mut().enumerate() {
        tick.tick().await;
        *at = Instant::now();
        let (http, url, b) = (http.clone(), ep.url.clone(), body(seq));
        tasks.push(tokio::spawn(async move { http.post(&url).body(b).send().await?.error_for_status().map(drop) }));
    }
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (0..n).any(|s| !arrived.lock().unwrap().contains_key(&s)) {
        if Instant::now() > deadline {
            let got = (0..n).filter(|s| arrived.lock().unwrap().contains_key(s)).count();
            bail!("{got} of {n} captures reached the local server within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived = arrived.lock().unwrap().clone();
    let mut lat_us: Vec<u64> = (0..n).map(|s| arrived[&s].duration_since(sent_at[s]).as_micros() as u64).collect();
    lat_us.sort_unstable();
    let pct = |p: f64| (lat_us[((lat_us.len() - 1) as f64 * p).round() as usize] as f64 / 10.0).round() / 100.0;
    listener.kill().await?;
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

/// Waits until `count` reaches `want`; returns the count.
async fn wait_for_stored<F, Fut>(count: &F, want: u64, timeout: Duration) -> anyhow::Result<u64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<u64>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let n = count().await?;
        if n >= want {
            return Ok(n);
        }
        if Instant::now() >= deadline {
            bail!("{n} of {want} captures stored after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One sample's value from a Prometheus text page, by its name with labels as printed.
async fn gauge(url: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(name))?;
    line.split_whitespace().nth(1)?.parse::<f64>().ok().map(|v| v as u64)
}

/// Open-loop load: `rate` requests per second for `seconds`, spread over `urls`, each sent on
/// schedule whether or not earlier ones were answered.
async fn paced_load(urls: &[String], rate: u32, seconds: u64, body_bytes: usize) -> anyhow::Result<LoadResult> {
    let http = reqwest::Client::new();
    let body = vec![b'{'; body_bytes];
    let n = u64::from(rate) * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut tasks = Vec::with_capacity(n as usize);
    let started = Instant::now();
    for i in 0..n {
        tick.tick().await;
        let (http, url, body) = (http.clone(), urls[i as usize % urls.len()].clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let ok = matches!(http.post(&url).body(body).send().await, Ok(r) if r.status().is_success());
            (ok, start.elapsed().as_micros() as u64)
        }));
    }
    let mut result = LoadResult { ok: 0, errors: 0, elapsed: started.elapsed(), latencies_us: vec![] };
    for t in tasks {
        let (ok, us) = t.await?;
        if ok {
            result.ok += 1;
            result.latencies_us.push(us);
        } else {
            result.errors += 1;
        }
    }
    result.latencies_us.sort_unstable();
    Ok(result)
}

/// Closed-loop load: each connection sends the next request when the previous one is answered.
/// Connection i loads `urls[i % urls.len()]`.
async fn load(args: &Args, urls: &[String]) -> anyhow::Result<LoadResult> {
    let body = vec![b'{'; args.body_bytes];
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        let url = urls[c % urls.len()].clone();
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

/// CPU time (user + system) a process has used, in seconds; Linux counts it in 1/100 s ticks.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after it are separated by single spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("hookmetry-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
