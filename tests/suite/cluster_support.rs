//! Helpers of the cluster suites (`cluster.rs` on tansu, `cluster_takeover.rs` on librdkafka's
//! mock cluster), `crate::cluster_support`: `hookmetry run` nodes as child processes
//! on a Kafka-protocol broker and a shared SQLite store, captures, metrics, and a raw rdkafka
//! producer and reader for what the nodes write.
#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookmetry_testkit::ChildServer;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

pub const APPEND_TIMEOUT_SECS: u64 = 3;

/// Prepares the shared store `dir/shared.db`; returns its URL and the admin token.
pub async fn migrate(dir: &Path) -> (String, String) {
    let store = format!("sqlite://{}", dir.join("shared.db").display());
    let out = tokio::process::Command::new(binary())
        .args(["migrate", "--store", &store, "--data-dir", dir.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = std::fs::read_to_string(dir.join("admin-token")).unwrap().trim().to_string();
    (store, token)
}

/// What a node wrote to stderr so far (its log, at `warn` and above). It is passed on to this
/// process's stderr as well, line by line, prefixed with the node's name.
#[derive(Clone, Default)]
pub struct NodeLog(Arc<Mutex<String>>);

impl NodeLog {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// `line` without its terminal colour codes (`ESC [ … m`), which the nodes write to a pipe too.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One `hookmetry run` node with `roles` on the broker and the shared store.
pub async fn spawn_node(
    dir: &Path,
    broker: &str,
    store: &str,
    token: &str,
    roles: &str,
    name: &str,
    extra: &[&str],
) -> (ChildServer, NodeLog) {
    let data = dir.join(name);
    let log = format!("kafka://{broker}");
    let timeout = format!("ingest.append_timeout={APPEND_TIMEOUT_SECS}s");
    let args = [
        "run",
        "--roles",
        roles,
        "--log",
        &log,
        "--store",
        store,
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--set",
        "log.kafka_replication_factor=1",
        "--set",
        "log.kafka_partitions=4",
        "--set",
        "log.kafka_session_timeout=6s",
        "--set",
        &timeout,
    ];
    let args: Vec<&str> = args.iter().chain(extra).copied().collect();
    // As `ChildServer::spawn`, but with stderr kept for the test to read.
    let mut child = tokio::process::Command::new(binary())
        .args(&args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    let node_log = NodeLog::default();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let (sink, prefix) = (node_log.clone(), name.to_string());
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            eprintln!("[{prefix}] {line}");
            let mut text = sink.0.lock().unwrap();
            text.push_str(&strip_ansi(&line));
            text.push('\n');
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base_url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("hookmetry is listening on ") {
                return url.trim().to_string();
            }
        }
        panic!("{name} exited before listening:\n{}", node_log.text())
    })
    .await
    .unwrap_or_else(|_| panic!("{name} did not start within 30 s:\n{}", node_log.text()));
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (ChildServer { child, base_url, admin_token: token.to_string() }, node_log)
}

/// Sends one capture to `ingest` and returns its id; panics on anything but 200.
pub async fn send(http: &reqwest::Client, url: &str, body: String) -> String {
    let resp = http.post(url).body(body).send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().unwrap().to_string()
}

pub fn capture_url(api_url: &str, ingest_base: &str) -> String {
    // The API prints URLs with its own base; captures go to the ingest nodes.
    let path = api_url.split_once("/h/").map(|(_, t)| t).unwrap();
    format!("{ingest_base}/h/{path}")
}

/// `hookmetry_processor_records_total{outcome="…"}` on a node's `/metrics` (0 until counted).
pub async fn processor_records(http: &reqwest::Client, node: &ChildServer, outcome: &str) -> u64 {
    let text = http.get(format!("{}/metrics", node.base_url)).send().await.unwrap().text().await.unwrap();
    let series = format!("hookmetry_processor_records_total{{outcome=\"{outcome}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |v| v.trim().parse().unwrap_or_else(|_| panic!("{series} is not a count: {v}")))
}

/// The bytes the nodes key an endpoint's records with (`EndpointId::as_bytes`: the UUID's 16).
pub fn endpoint_key(endpoint_id: &str) -> Vec<u8> {
    endpoint_id.parse::<hookmetry_core::EndpointId>().unwrap().as_bytes().to_vec()
}

/// A producer as the nodes configure theirs: idempotent, `acks=all`, and the Java-compatible
/// murmur2 partitioner, so a key lands where the nodes' records with that key land.
pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap()
}

/// Produces one record; returns its partition and offset.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &[u8],
    payload: &[u8],
    headers: &[(&str, &[u8])],
) -> (i32, i64) {
    let mut owned = rdkafka::message::OwnedHeaders::new();
    for (name, value) in headers {
        owned = owned.insert(rdkafka::message::Header { key: name, value: Some(*value) });
    }
    let record = FutureRecord::to(topic).key(key).payload(payload).headers(owned);
    let delivery = producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).unwrap();
    (delivery.partition, delivery.offset)
}

/// A record as read back from the broker.
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ReadRecord {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| &v[..])
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).map(|v| std::str::from_utf8(v).unwrap())
    }
}

/// Every record of `topic` from its start, read without a group (nothing is committed), until
/// `done` holds for what was read or `within` is over; then `settle` longer, so a record that
/// should not be there has a chance to show. Runs on a blocking thread.
pub async fn read_topic(
    bootstrap: &str,
    topic: &str,
    within: Duration,
    settle: Duration,
    done: impl Fn(&[ReadRecord]) -> bool + Send + 'static,
) -> Vec<ReadRecord> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            // `assign` never joins this group; it is only what librdkafka wants to have.
            .set("group.id", format!("cluster-test-reader-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .unwrap();
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10)).unwrap();
        let partitions: Vec<i32> = metadata.topics()[0].partitions().iter().map(|p| p.id()).collect();
        assert!(!partitions.is_empty(), "topic `{topic}` has no partitions");
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(&topic, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + within;
        let mut settled: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if settled.is_some_and(|s| now >= s) || (settled.is_none() && now >= deadline) {
                return out;
            }
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let copy = |b: Option<&[u8]>| b.map(<[u8]>::to_vec).unwrap_or_default();
                let headers = m
                    .headers()
                    .map(|h| h.iter().map(|h| (h.key.to_string(), copy(h.value))).collect())
                    .unwrap_or_default();
                out.push(ReadRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: copy(m.key()),
                    payload: copy(m.payload()),
                    headers,
                });
            }
            if settled.is_none() && done(&out) {
                settled = Some(Instant::now() + settle);
            }
        }
    })
    .await
    .unwrap()
}
