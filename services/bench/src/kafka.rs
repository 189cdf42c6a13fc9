//! `kafka`: `hookmetry run` on a Kafka broker against a raw rdkafka producer.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::load::{LoadOptions, LoadResult, closed_loop, closed_loop_of, open_loop};
use crate::support::{gauge, tempfile_dir};

/// Closed-loop produce with `load.connections` concurrent senders, each waiting for the
/// broker's ack before its next record: the same shape of load as the HTTP generator.
async fn raw_producer(load: &LoadOptions, brokers: &str) -> anyhow::Result<LoadResult> {
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
    let body: Arc<[u8]> = vec![b'{'; load.body_bytes].into();
    let topic: Arc<str> = topic.into();
    closed_loop_of(load, |c| {
        let (producer, topic, body) = (producer.clone(), topic.clone(), body.clone());
        let key: Arc<str> = format!("endpoint-{c}").into();
        Ok(move || {
            let (producer, topic, key, body) = (producer.clone(), topic.clone(), key.clone(), body.clone());
            async move {
                let record = FutureRecord::to(&topic).key(&*key).payload(&*body);
                producer.send(record, Duration::from_secs(10)).await.is_ok()
            }
        })
    })
    .await
}

/// Kafka mode, on one broker, in three phases:
/// 1. a raw rdkafka producer (closed loop, one key per sender);
/// 2. a `hookmetry run --roles ingest` node under the same closed-loop load over HTTP, one
///    endpoint per connection so records spread over partitions as the raw producer's keys do.
///    Processors are not running yet: in cluster mode they are other processes, usually on other
///    machines, and here they would take CPU from the broker and ingest;
/// 3. a processor node joins, drains what phase 2 left (its catch-up rate), then an open-loop
///    load at `--rate` per second runs for `--seconds` while its lag gauge is sampled.
pub(crate) async fn run(load: &LoadOptions, hookmetry: &Path, brokers: &str) -> anyhow::Result<serde_json::Value> {
    eprintln!("kafka mode: raw producer for {} s", load.seconds);
    let raw = raw_producer(load, brokers).await?;
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
    for i in 0..load.connections.max(1) {
        endpoints.push(client.create_endpoint(&format!("bench-{i}")).await?);
    }
    let urls: Vec<String> =
        endpoints.iter().map(|ep| format!("{}/h/{}/hook", ingest_node.base_url, ep.token)).collect();
    eprintln!("kafka mode: ingest node for {} s", load.seconds);
    let ingest = closed_loop(load, &urls).await?;
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
    eprintln!("kafka mode: {} captures/s for {} s with the processor running", load.rate, load.seconds);
    let sustained = open_loop(&urls, load.rate, load.seconds, load.body_bytes).await?;
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
        "connections": load.connections,
        "seconds": load.seconds,
        "body_bytes": load.body_bytes,
        "raw_rdkafka_producer": raw.json(None),
        "hookmetry_ingest_on_kafka": ingest.json(None),
        "throughput_ratio": (ratio * 1000.0).round() / 1000.0,
        "processor_catch_up": {
            "captures": backlog,
            "seconds": (catch_up_s * 100.0).round() / 100.0,
            "captures_per_s": (backlog as f64 / catch_up_s).round(),
        },
        "sustained_load": {
            "rate_per_s": load.rate,
            "seconds": load.seconds,
            "load": sustained.json(None),
            "lag_samples": lags.len(),
            "lag_p50_records": lag_pct(0.5),
            "lag_p99_records": lag_pct(0.99),
            "lag_max_records": lag_pct(1.0),
            "all_stored_s_after_load": (settle_s * 100.0).round() / 100.0,
        },
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
