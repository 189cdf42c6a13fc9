//! Cluster mode with each role in its own process, on a real Kafka-protocol broker (`tansu`)
//! and an SQLite store shared by every process on this host: two ingest nodes, two processors in
//! one consumer group, one API node.
//!
//! The broker is started by each test (so a test can stop and restart it) from the `tansu`
//! binary: `HOOKMETRY_TANSU`, else `tansu` on PATH or in ~/.cargo/bin. Without it the suite says
//! loudly that it was skipped, and fails instead when `HOOKMETRY_REQUIRE_EXTERNAL=1` (CI).
//!
//! A processor killed mid-stream is tested in `cluster_takeover.rs`, on librdkafka's mock cluster:
//! tansu 0.6 does not reliably hand a crashed group member's partitions to the others.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cluster_support::{
    APPEND_TIMEOUT_SECS, NodeLog, capture_url, endpoint_key, migrate, processor_records, produce, producer, read_topic,
    send, spawn_node,
};
use hookmetry_testkit::ChildServer;
use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};
use serde_json::{Value, json};

use crate::cluster_support;

fn tansu_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("HOOKMETRY_TANSU") {
        return Some(PathBuf::from(p));
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("tansu")).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/tansu"));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// The broker binary, or `None` after saying loudly why `test` is skipped (a failure under
/// `HOOKMETRY_REQUIRE_EXTERNAL=1` unless `HOOKMETRY_UNAVAILABLE` lists `tansu`).
fn tansu_or_skip(test: &str) -> Option<PathBuf> {
    let found = tansu_binary();
    if found.is_none() {
        hookmetry_core::external::skip(
            "tansu",
            &format!("cluster::{test}"),
            "no `tansu` broker binary; install it (.ci/kafka-broker.sh install) or set HOOKMETRY_TANSU",
        );
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A tansu broker on 127.0.0.1 with its data in an SQLite file, reached through a TCP proxy the
/// test can cut and restore.
///
/// Cutting the proxy is how a test stops the broker: to clients it is the same (connections
/// refused and reset), while killing tansu itself loses its idempotent-producer state, and a
/// restarted tansu 0.6 then panics on the producer's next message instead of answering
/// `UNKNOWN_PRODUCER_ID` as Kafka does.
struct Broker {
    _child: tokio::process::Child,
    proxy_port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>,
}

impl Broker {
    async fn start(binary: PathBuf, dir: &Path) -> Broker {
        let (port, proxy_port) = (free_port(), free_port());
        let listen = format!("tcp://127.0.0.1:{port}");
        // Clients learn the broker's address from metadata: advertise the proxy.
        let advertised = format!("tcp://127.0.0.1:{proxy_port}");
        let child = tokio::process::Command::new(binary)
            .args(["broker", "--storage-engine", "sqlite://tansu.db"])
            .args(["--listener-url", &listen, "--advertised-listener-url", &advertised])
            // tansu reads `sqlite://tansu.db` relative to its working directory.
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tansu starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "broker not accepting connections on port {port} within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(tokio::task::JoinSet::new()));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", proxy_port)).await.unwrap();
        let (up2, conns) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                conns.lock().unwrap().spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Broker { _child: child, proxy_port, up, connections }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.proxy_port)
    }

    /// The broker becomes unreachable: open connections are cut, new ones are closed at once.
    async fn stop(&mut self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.connections.lock().unwrap().abort_all();
    }

    async fn restart(&mut self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Cluster {
    dir: tempfile::TempDir,
    broker: Broker,
    store: String,
    token: String,
    ingest: Vec<ChildServer>,
    processors: Vec<ChildServer>,
    /// What each processor logged, in the order of `processors`.
    processor_logs: Vec<NodeLog>,
    api: ChildServer,
}

impl Cluster {
    async fn start(tansu: PathBuf) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start(tansu, dir.path()).await;
        let (store, token) = migrate(dir.path()).await;
        let (api, _) = spawn_node(dir.path(), &broker.address(), &store, &token, "api", "api", &[]).await;
        let mut c = Cluster {
            broker,
            store,
            token,
            ingest: Vec::new(),
            processors: Vec::new(),
            processor_logs: Vec::new(),
            api,
            dir,
        };
        for i in 0..2 {
            let (n, log) = c.node_with("processor", &format!("processor-{i}"), &[]).await;
            c.processors.push(n);
            c.processor_logs.push(log);
        }
        for i in 0..2 {
            let (n, _) = c.node_with("ingest", &format!("ingest-{i}"), &[]).await;
            c.ingest.push(n);
        }
        c
    }

    async fn node_with(&self, roles: &str, name: &str, extra: &[&str]) -> (ChildServer, NodeLog) {
        spawn_node(self.dir.path(), &self.broker.address(), &self.store, &self.token, roles, name, extra).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_through_two_ingest_nodes_are_stored_once_in_order_and_reach_a_subscriber() {
    let Some(tansu) =
        tansu_or_skip("captures_through_two_ingest_nodes_are_stored_once_in_order_and_reach_a_subscriber")
    else {
        return;
    };
    let cluster = Cluster::start(tansu).await;
    let client = cluster.api.client();
    let endpoints = [client.create_endpoint("a").await.unwrap(), client.create_endpoint("b").await.unwrap()];

    let mut ws = WsClient::connect(&cluster.api.base_url, Protocol::TransportWs, Auth::Init(cluster.token.clone()))
        .await
        .unwrap();
    ws.subscribe(
        "subscription($e: ID!) { captureReceived(endpointId: $e) { id endpointId bodyText } }",
        json!({ "e": endpoints[0].id }),
    )
    .await
    .unwrap();
    // Give the API node's tail a moment to be positioned before the first capture.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let http = reqwest::Client::new();
    let n = 60;
    let mut sent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..n {
        let ep = &endpoints[i % 2];
        let ingest = &cluster.ingest[(i / 2) % 2];
        let body = format!("{}-{i}", ep.id);
        send(&http, &capture_url(&ep.url, &ingest.base_url), body.clone()).await;
        sent.entry(ep.id.clone()).or_default().push(body);
    }

    for ep in &endpoints {
        let stored = client.wait_for_captures(&ep.id, n / 2, Duration::from_secs(60)).await.unwrap();
        assert_eq!(stored.len(), n / 2, "exactly once: {} stored for {}", stored.len(), ep.id);
        let ids: HashSet<&str> = stored.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), n / 2, "no duplicate ids");
    }

    // The subscriber on the API node sees endpoint a's captures, each once, in the order sent.
    let mut live = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while live.len() < n / 2 && Instant::now() < deadline {
        match ws.next_message(Duration::from_secs(5)).await.unwrap() {
            Some(WsMessage::Next { payload, .. }) => {
                let c = &payload["data"]["captureReceived"];
                let body = c["bodyText"].as_str().unwrap().to_string();
                if !live.contains(&body) {
                    live.push(body);
                }
            }
            Some(other) => panic!("unexpected message {other:?}"),
            None => {}
        }
    }
    assert_eq!(live, sent[&endpoints[0].id], "live captures in send order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_gives_503_within_the_timeout_and_ingest_recovers_by_itself() {
    let Some(tansu) = tansu_or_skip("a_stopped_broker_gives_503_within_the_timeout_and_ingest_recovers_by_itself")
    else {
        return;
    };
    let mut cluster = Cluster::start(tansu).await;
    let client = cluster.api.client();
    let ep = client.create_endpoint("outage").await.unwrap();
    // tansu 0.6 panics (and stops serving groups) when an idempotent producer goes on after a
    // message it gave up on (`idempotent_message_check`: "more or less than one row"), where
    // Kafka answers OUT_OF_ORDER_SEQUENCE or UNKNOWN_PRODUCER_ID and the producer recovers. This
    // ingest node turns idempotence off through the pass-through properties; against Apache
    // Kafka the default (idempotent, acks=all) is what runs.
    let (ingest, _) = cluster
        .node_with("ingest", "ingest-outage", &["--set", "log.kafka_properties=enable.idempotence=false,acks=all"])
        .await;
    let url = capture_url(&ep.url, &ingest.base_url);
    let http = reqwest::Client::new();
    let before = send(&http, &url, "before".into()).await;

    cluster.broker.stop().await;
    let started = Instant::now();
    let resp = http.post(&url).body("during").send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 503, "{}", resp.text().await.unwrap());
    assert!(
        elapsed < Duration::from_secs(APPEND_TIMEOUT_SECS + 2),
        "503 after {elapsed:?}; ingest.append_timeout is {APPEND_TIMEOUT_SECS}s"
    );
    let ready = reqwest::get(format!("{}/readyz", ingest.base_url)).await.unwrap();
    assert_eq!(ready.status(), 503, "readiness reflects the log being down");

    cluster.broker.restart().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let resp = http.post(&url).body("after").send().await.unwrap();
        if resp.status() == 200 {
            break serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
        }
        assert!(Instant::now() < deadline, "ingest did not recover within 60 s of the broker's return");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let stored = client.wait_for_captures(&ep.id, 2, Duration::from_secs(60)).await.unwrap();
    let ids: HashSet<&str> = stored.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(before.as_str()) && ids.contains(after.as_str()), "{stored:?}");
    // The capture refused while the broker was down was never acknowledged, and the producer
    // gave it up when ingest answered (its delivery timeout is the append timeout), so it is not
    // stored later either. A retry refused while the broker was coming back may have been in
    // flight when its timeout struck, and librdkafka cannot tell whether the broker kept it: a
    // 503 promises nothing either way (only a 2xx does), so extra copies of "after" may be stored.
    let during = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"during"));
    assert!(!stored.iter().any(|c| c["bodySha256"] == during.as_str()), "{stored:?}");
    let after_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"after"));
    assert!(stored.iter().all(|c| c["bodySha256"] == after_sha.as_str() || c["id"] == before.as_str()), "{stored:?}");
}

/// A record on `captures` that no processor can decode (a foreign producer, a corrupt write) is
/// copied to `captures-undecodable` with the error and where it came from, counted, logged, and
/// passed: the captures behind it on its partition are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_record_is_set_aside_with_its_origin_and_does_not_block_its_partition() {
    let Some(tansu) =
        tansu_or_skip("an_undecodable_record_is_set_aside_with_its_origin_and_does_not_block_its_partition")
    else {
        return;
    };
    let cluster = Cluster::start(tansu).await;
    let client = cluster.api.client();
    let ep = client.create_endpoint("poison").await.unwrap();
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..4 {
        let url = capture_url(&ep.url, &cluster.ingest[i % 2].base_url);
        ids.push(send(&http, &url, format!("before-{i}")).await);
    }
    client.wait_for_captures(&ep.id, 4, Duration::from_secs(60)).await.unwrap();

    // Keyed like the endpoint's captures, so it lands on their partition, in front of the
    // captures sent next; with the schema header ingest writes, so only the payload is wrong.
    let key = endpoint_key(&ep.id);
    let poison: &[u8] = b"\x00not a capture";
    let schema = hookmetry_proto::SCHEMA_CAPTURED_REQUEST.as_bytes();
    let (partition, offset) = produce(
        &producer(&cluster.broker.address()),
        hookmetry_core::TOPIC_CAPTURES,
        &key,
        poison,
        &[(hookmetry_proto::SCHEMA_HEADER, schema)],
    )
    .await;

    for i in 0..6 {
        let url = capture_url(&ep.url, &cluster.ingest[i % 2].base_url);
        ids.push(send(&http, &url, format!("after-{i}")).await);
    }
    let stored = client.wait_for_captures(&ep.id, ids.len(), Duration::from_secs(60)).await.unwrap();
    let stored: Vec<&str> = stored.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(stored.len(), ids.len(), "each capture stored once: {stored:?}");
    assert_eq!(stored.iter().copied().collect::<HashSet<_>>(), ids.iter().map(String::as_str).collect());

    // The premise: the captures did share the poison's partition, before and after it.
    let log = read_topic(
        &cluster.broker.address(),
        hookmetry_core::TOPIC_CAPTURES,
        Duration::from_secs(30),
        Duration::ZERO,
        {
            let n = ids.len() + 1;
            move |read| read.len() >= n
        },
    )
    .await;
    let keyed: Vec<(i32, i64)> = log.iter().filter(|r| r.key == key).map(|r| (r.partition, r.offset)).collect();
    assert_eq!(keyed.len(), ids.len() + 1, "{keyed:?}");
    assert!(keyed.iter().all(|&(p, _)| p == partition), "all on partition {partition}: {keyed:?}");
    assert!(keyed.iter().any(|&(_, o)| o > offset), "captures behind the poison at {offset}: {keyed:?}");

    // Set aside once, whole, with where it came from.
    let dead = read_topic(
        &cluster.broker.address(),
        hookmetry_core::TOPIC_DEAD_LETTERS,
        Duration::from_secs(30),
        Duration::from_secs(2),
        |read| !read.is_empty(),
    )
    .await;
    // At least once, like every record: a processor that set it aside but had not committed when the
    // group rebalanced (two processors joining under load) leaves it to the next owner, which sets it
    // aside again. Copies are identical, so the source headers identify them.
    assert!(!dead.is_empty(), "a dead letter");
    assert!(
        dead.iter().all(|c| c.payload == dead[0].payload && c.key == dead[0].key && c.headers == dead[0].headers),
        "every copy is the same record: {dead:?}"
    );
    let copies = dead.len() as u64;
    let d = &dead[0];
    assert_eq!(d.payload, poison);
    assert_eq!(d.key, key);
    assert!(d.header_str("error").is_some_and(|e| !e.is_empty()), "{d:?}");
    assert_eq!(d.header_str("source-topic"), Some(hookmetry_core::TOPIC_CAPTURES), "{d:?}");
    assert_eq!(d.header_str("source-partition"), Some(partition.to_string().as_str()), "{d:?}");
    assert_eq!(d.header_str("source-offset"), Some(offset.to_string().as_str()), "{d:?}");
    let original = format!("original-{}", hookmetry_proto::SCHEMA_HEADER);
    assert_eq!(d.header(&original), Some(schema), "{d:?}");

    // Counted once per copy over both processors, next to every capture stored once.
    let mut undecodable = 0;
    let mut stored_total = 0;
    for p in &cluster.processors {
        undecodable += processor_records(&http, p, "undecodable").await;
        stored_total += processor_records(&http, p, "stored").await;
    }
    assert_eq!(
        undecodable, copies,
        "hookmetry_processor_records_total{{outcome=\"undecodable\"}} over both processors"
    );
    assert_eq!(stored_total, ids.len() as u64, "hookmetry_processor_records_total{{outcome=\"stored\"}}");

    // Logged at error level by the processor that owned the partition, with where it was.
    let lines: Vec<String> = cluster
        .processor_logs
        .iter()
        .flat_map(|l| {
            l.text()
                .lines()
                .filter(|l| l.contains("undecodable capture record set aside"))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(lines.len() as u64, copies, "one log line per copy: {lines:?}");
    for line in &lines {
        assert!(line.contains("ERROR"), "{line}");
        let at = line.contains(&format!("partition={partition}")) && line.contains(&format!("offset={offset}"));
        assert!(at, "{line}");
    }
}

/// One trace from the ingest node, through a Kafka record's headers, to the processor node: the
/// processor's `process capture` span is the child of the ingest node's `log append` span, and
/// the record on the broker carries exactly that span's `traceparent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_crosses_processes_in_kafka_record_headers() {
    let Some(tansu) = tansu_or_skip("one_trace_crosses_processes_in_kafka_record_headers") else { return };
    let mut collector = fake_opentelemetry_collector::FakeCollectorServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(tansu, dir.path()).await;
    let (store, token) = migrate(dir.path()).await;
    let traced = format!("telemetry.otlp_endpoint={}", collector.endpoint());
    let traced = ["--set", traced.as_str()];
    let spawn = |roles: &'static str, extra: &'static [&'static str]| {
        let extra: Vec<&str> = traced.iter().chain(extra).copied().collect();
        let (dir, broker, store, token) = (dir.path().to_path_buf(), broker.address(), store.clone(), token.clone());
        async move { spawn_node(&dir, &broker, &store, &token, roles, roles, &extra).await.0 }
    };
    let api = spawn("api", &[]).await;
    let ingest = spawn("ingest", &[]).await;
    let processor = spawn("processor", &[]).await;
    let ep = api.client().create_endpoint("traced").await.unwrap();
    let provider = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let response = reqwest::Client::new()
        .post(capture_url(&ep.url, &ingest.base_url))
        .header("traceparent", provider)
        .body("traced")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id =
        serde_json::from_str::<Value>(&response.text().await.unwrap()).unwrap()["id"].as_str().unwrap().to_string();
    api.client().wait_for_capture(&id, Duration::from_secs(30)).await.unwrap();

    // Spans leave each node every 5 s (the batch exporter's default).
    let mut spans: Vec<fake_opentelemetry_collector::ExportedSpan> = Vec::new();
    let attr =
        |s: &fake_opentelemetry_collector::ExportedSpan, k: &str| s.attributes.get(k).cloned().unwrap_or_default();
    let find = |spans: &[fake_opentelemetry_collector::ExportedSpan], name: &str, trace: &str| {
        spans.iter().find(|s| s.name == name && s.trace_id == trace).cloned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ingest_span, append, process) = loop {
        spans.extend(collector.exported_spans(1, Duration::from_millis(200)).await);
        let ingest_span = spans.iter().find(|s| s.name == "ingest" && attr(s, "capture_id").contains(&id)).cloned();
        if let Some(i) = ingest_span
            && let (Some(a), Some(p)) =
                (find(&spans, "log append", &i.trace_id), find(&spans, "process capture", &i.trace_id))
        {
            break (i, a, p);
        }
        assert!(Instant::now() < deadline, "no trace from ingest to the processor in 30 s: {spans:#?}");
    };
    assert_eq!(ingest_span.parent_span_id, "", "the provider's traceparent is not continued");
    assert_ne!(ingest_span.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(append.parent_span_id, ingest_span.span_id);
    assert_eq!(process.parent_span_id, append.span_id, "the processor continues the record's context");
    assert!(attr(&process, "capture_id").contains(&id), "{process:#?}");

    let records =
        read_topic(&broker.address(), hookmetry_core::TOPIC_CAPTURES, Duration::from_secs(30), Duration::ZERO, |r| {
            !r.is_empty()
        })
        .await;
    assert_eq!(records.len(), 1, "{records:?}");
    let sent = format!("00-{}-{}-01", append.trace_id, append.span_id);
    assert_eq!(records[0].header_str("traceparent"), Some(sent.as_str()), "{:?}", records[0].headers);
    drop((api, ingest, processor));
}
