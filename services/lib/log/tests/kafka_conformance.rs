//! The shared `EventLog` conformance suite, and behaviour only a partitioned, clustered log has,
//! run against `KafkaLog` on a real Kafka-protocol broker.
//!
//! `HOOKMETRY_TEST_KAFKA` names the broker: `127.0.0.1:9092`, `host:port,host:port`, or a
//! `kafka://` URL with options. `eval "$(.ci/kafka-broker.sh start)"` runs tansu on 127.0.0.1 and
//! exports it, together with `HOOKMETRY_TEST_KAFKA_BROKER=tansu`, which tells these tests about
//! tansu's known defects (see [`Quirks`]). Without a broker the tests say loudly that they were
//! skipped, unless `HOOKMETRY_REQUIRE_EXTERNAL=1`, which turns the skip into a failure. Every run
//! uses fresh topic and group names, so runs can share a broker. The unreachable-broker tests and
//! the dead-member test (on librdkafka's mock cluster, in this process) need no broker and always
//! run.
#![cfg(feature = "kafka")]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use hookmetry_log::conformance::{self, LogHarness};
use hookmetry_log::{EventLog, GroupConsumer, KafkaLog, KafkaOptions, LogError, NewRecord, Record};
use rdkafka::mocking::MockCluster;
use tokio::io::{AsyncBufReadExt, BufReader};

const PATIENCE: Duration = Duration::from_secs(60);
const POLL_WAIT: Duration = Duration::from_millis(200);
/// The smallest session timeout a stock Kafka broker accepts (`group.min.session.timeout.ms`).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// Writes past the test harness's output capture, so a skip is seen even when the test passes.
/// One write, so other tests' output cannot land inside the line.
fn loud(message: &str) {
    let _ = std::io::stderr().write_all(format!("{message}\n").as_bytes());
}

/// The broker to test against, or `None` after announcing that `test` is skipped (a failure
/// under `HOOKMETRY_REQUIRE_EXTERNAL=1` unless `HOOKMETRY_UNAVAILABLE` lists `kafka`).
fn broker(test: &str) -> Option<String> {
    // CI runs this suite again with the clock a year ahead (HOOKMETRY_TEST_CLOCK_SHIFT_DAYS).
    hookmetry_core::clock::shift_from_env();
    match std::env::var("HOOKMETRY_TEST_KAFKA") {
        Ok(brokers) if !brokers.trim().is_empty() => Some(brokers.trim().to_owned()),
        _ => {
            hookmetry_core::external::skip(
                "kafka",
                &format!("kafka_conformance::{test}"),
                "HOOKMETRY_TEST_KAFKA is not set \
                 (e.g. `eval \"$(.ci/kafka-broker.sh start)\"`, then HOOKMETRY_TEST_KAFKA=127.0.0.1:PORT)",
            );
            None
        }
    }
}

/// A name part no other test or run uses.
fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    format!("{:x}{}{}", nanos & 0xffff_ffff_ffff, std::process::id() % 1000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// `HOOKMETRY_TEST_KAFKA` is `host:port[,host:port]` or a whole `kafka://` URL, whose query can
/// add librdkafka properties or `create_topics=false` (for a broker without `CreateTopics`).
fn options(brokers: &str) -> KafkaOptions {
    let base = if brokers.starts_with("kafka://") {
        KafkaOptions::from_url(brokers).expect("HOOKMETRY_TEST_KAFKA is not a valid kafka:// URL")
    } else {
        KafkaOptions { brokers: brokers.to_owned(), ..KafkaOptions::default() }
    };
    KafkaOptions {
        partitions: 3,
        replication_factor: 1,
        session_timeout: SESSION_TIMEOUT,
        append_timeout: Duration::from_secs(20),
        client_id: "hookmetry-test".into(),
        ..base
    }
}

async fn connect(options: KafkaOptions) -> Arc<KafkaLog> {
    KafkaLog::connect(options).await.expect("connect to kafka")
}

/// Every `open` is a new client on the same broker, which keeps the data: a process restart.
struct Harness {
    brokers: String,
    run: String,
}

impl Harness {
    fn new(brokers: String) -> Self {
        Self { brokers, run: unique() }
    }
}

#[async_trait]
impl LogHarness for Harness {
    async fn open(&self) -> Arc<dyn EventLog> {
        connect(options(&self.brokers)).await
    }

    fn topic(&self, base: &str) -> String {
        format!("hm.{base}.{}", self.run)
    }

    fn known_record_limit(&self) -> Option<usize> {
        quirks().record_limit
    }
}

/// Known defects of the broker under test, which `HOOKMETRY_TEST_KAFKA_BROKER` names (set by
/// `.ci/kafka-broker.sh`; unset or `kafka` for Apache Kafka, which has none). Each one shrinks
/// exactly one check, and says so loudly.
#[derive(Default)]
struct Quirks {
    /// tansu 0.6 caps a fetch response at 5 MiB and returns only records while the running sum
    /// of their key + value sizes stays below the cap, so a record of 5 MiB or more is never
    /// served (Kafka returns an oversized first batch whole, KIP-74).
    record_limit: Option<usize>,
}

fn quirks() -> Quirks {
    match std::env::var("HOOKMETRY_TEST_KAFKA_BROKER").unwrap_or_default().trim() {
        "" | "kafka" => Quirks::default(),
        "tansu" => Quirks { record_limit: Some((5 << 20) - 1) },
        other => panic!("HOOKMETRY_TEST_KAFKA_BROKER=`{other}` is not a broker these tests know: use kafka or tansu"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_run_all() {
    let Some(brokers) = broker("conformance_run_all") else { return };
    conformance::run_all(&Harness::new(brokers)).await;
}

/// Each case with fresh topic and group names on the broker, or skipped without one.
async fn with_broker<F, Fut>(case: &str, test: F)
where
    F: FnOnce(Arc<Harness>) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(brokers) = broker(&format!("conformance_case::{case}")) else { return };
    test(Arc::new(Harness::new(brokers))).await
}

/// Each case also on its own, so a failure is reported under the case's name.
mod conformance_case {
    hookmetry_log::log_conformance_tests!(super::with_broker, flavor = "multi_thread", worker_threads = 2);
}

// ---------------------------------------------------------------------------------------------
// Unreachable brokers: no broker needed.

/// Appends fail (never succeed) within the configured timeout when nothing listens at the
/// address, and `health` says so within its own timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_to_unreachable_broker_fails_within_timeout() {
    assert_appends_fail_in_time("127.0.0.1:1", "nothing listening").await;
}

/// The same against a "broker" that accepts connections and never answers: slow, not down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_to_silent_broker_fails_within_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            connections.push(socket);
        }
    });
    assert_appends_fail_in_time(&address.to_string(), "silent broker").await;
    held.abort();
}

/// With and without topic creation: creating them is one more request that must not wait
/// longer than the append does.
async fn assert_appends_fail_in_time(brokers: &str, what: &str) {
    for create_topics in [false, true] {
        let timeout = Duration::from_secs(2);
        let log = connect(KafkaOptions {
            brokers: brokers.into(),
            create_topics,
            append_timeout: timeout,
            request_timeout: Duration::from_secs(1),
            health_timeout: Duration::from_millis(500),
            ..KafkaOptions::default()
        })
        .await;
        assert_fails_in_time(&*log, timeout, &format!("{what}, create_topics={create_topics}")).await;
    }
}

async fn assert_fails_in_time(log: &dyn EventLog, timeout: Duration, what: &str) {
    let margin = Duration::from_millis(1500);
    let started = Instant::now();
    let appended = log.append("unreachable", NewRecord::new("k", "v")).await;
    let took = started.elapsed();
    assert!(matches!(appended, Err(LogError::Unavailable(_))), "{what}: append gave {appended:?}");
    assert!(took < timeout + margin, "{what}: append failed only after {took:?} (timeout {timeout:?})");

    let started = Instant::now();
    let batch = log.append_batch("unreachable", vec![NewRecord::new("k", "1"), NewRecord::new("j", "2")]).await;
    let took = started.elapsed();
    assert!(matches!(batch, Err(LogError::Unavailable(_))), "{what}: append_batch gave {batch:?}");
    assert!(took < timeout + margin, "{what}: append_batch failed only after {took:?} (timeout {timeout:?})");

    let started = Instant::now();
    let health = log.health().await;
    let took = started.elapsed();
    assert!(matches!(health, Err(LogError::Unavailable(_))), "{what}: health gave {health:?}");
    assert!(took < Duration::from_millis(500) + margin, "{what}: health answered after {took:?}");
}

// ---------------------------------------------------------------------------------------------
// Against the broker.

/// Schema version and W3C trace context travel as Kafka headers, in order, duplicates, binary
/// and empty values included; the group consumer and the tail both return them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_round_trip() {
    let Some(brokers) = broker("headers_round_trip") else { return };
    let log = connect(options(&brokers)).await;
    let topic = format!("hm.headers.{}", unique());
    let mut tail = log.tail(&topic).await.expect("tail");
    let record = NewRecord::new("endpoint-1", "{}")
        .with_header("schema-version", &b"\x00\x01"[..])
        .with_header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .with_header("tracestate", "vendor=value")
        .with_header("traceparent", "duplicate keeps its place")
        .with_header("empty", Bytes::new())
        .with_header("binary", &b"\xff\xfe\x00\x80"[..]);
    let position = log.append(&topic, record.clone()).await.expect("append");

    let mut consumer = log.consumer(&topic, &format!("{topic}.g")).await.expect("consumer");
    let got = poll_until(&mut *consumer, 1).await;
    assert_eq!((got[0].partition, got[0].offset), (position.partition, position.offset));
    assert_eq!(got[0].headers, record.headers, "headers from the group consumer");
    assert_eq!(got[0].header("traceparent").unwrap(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

    let deadline = Instant::now() + PATIENCE;
    let mut tailed = Vec::new();
    while tailed.is_empty() {
        assert!(Instant::now() < deadline, "the tail did not see the record");
        tailed = tail.next_batch(10, POLL_WAIT).await.expect("tail");
    }
    assert_eq!(tailed[0].headers, record.headers, "headers from the tail");
    assert_eq!(tailed[0].key, "endpoint-1");
}

/// Many keys over several partitions, appended concurrently and in mixed batches: each key
/// stays in one partition and in append order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_order_holds_across_partitions() {
    const KEYS: usize = 24;
    const EACH: usize = 30;
    let Some(brokers) = broker("per_key_order_holds_across_partitions") else { return };
    let log = connect(KafkaOptions { partitions: 4, ..options(&brokers) }).await;
    let topic = format!("hm.order.{}", unique());
    // Half the keys by single appends from concurrent tasks, half by batches mixing keys.
    let mut tasks = Vec::new();
    for key in 0..KEYS / 2 {
        let (log, topic) = (log.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            for seq in 0..EACH {
                log.append(&topic, NewRecord::new(format!("ep-{key}"), format!("ep-{key}/{seq}"))).await.unwrap();
            }
        }));
    }
    for seq in 0..EACH {
        let batch =
            (KEYS / 2..KEYS).map(|key| NewRecord::new(format!("ep-{key}"), format!("ep-{key}/{seq}"))).collect();
        log.append_batch(&topic, batch).await.expect("append_batch");
    }
    for task in tasks {
        task.await.expect("append task");
    }

    let mut consumer = log.consumer(&topic, &format!("{topic}.g")).await.expect("consumer");
    let got = poll_until(&mut *consumer, KEYS * EACH).await;
    let mut next: HashMap<String, (u32, usize)> = HashMap::new();
    for record in &got {
        let payload = std::str::from_utf8(&record.payload).unwrap();
        let (key, seq) = payload.split_once('/').unwrap();
        assert_eq!(record.key, key, "key of {payload}");
        let seq: usize = seq.parse().unwrap();
        let entry = next.entry(key.to_owned()).or_insert((record.partition, 0));
        assert_eq!(entry.0, record.partition, "key {key} moved partition");
        assert_eq!(entry.1, seq, "order of key {key}");
        entry.1 += 1;
    }
    assert_eq!(next.len(), KEYS);
    assert!(next.values().all(|&(_, n)| n == EACH), "every record exactly once");
    let partitions: HashSet<u32> = next.values().map(|&(p, _)| p).collect();
    assert!(partitions.len() > 1, "{KEYS} keys all landed in one partition: {partitions:?}");
}

/// Two members of one group split the partitions; when one leaves, the other takes its
/// partitions over from their last commit: nothing is lost and the only records delivered twice
/// are ones the leaver had not committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_split_partitions_and_survivor_takes_over() {
    let Some(brokers) = broker("group_members_split_partitions_and_survivor_takes_over") else { return };
    let log = connect(KafkaOptions { partitions: 4, ..options(&brokers) }).await;
    let topic = format!("hm.split.{}", unique());
    let group = format!("{topic}.g");
    let mut a = log.consumer(&topic, &group).await.expect("consumer a");
    let mut b = log.consumer(&topic, &group).await.expect("consumer b");

    warm_up(&*log, &topic, &mut *a, &mut *b).await;

    // Both are members now: a wave of records is split between them without duplicates.
    let wave = append_wave(&*log, &topic, "wave", 40, 5).await;
    let (got_a, got_b) = read_between(&mut *a, &mut *b, &wave).await;
    let parts_a: BTreeSet<u32> = got_a.iter().map(|r| r.partition).collect();
    let parts_b: BTreeSet<u32> = got_b.iter().map(|r| r.partition).collect();
    assert!(!parts_a.is_empty() && !parts_b.is_empty(), "both members read: a {parts_a:?}, b {parts_b:?}");
    assert!(parts_a.is_disjoint(&parts_b), "a partition read by both members: a {parts_a:?}, b {parts_b:?}");
    assert_eq!(got_a.len() + got_b.len(), wave.len(), "a stable group delivers each record once");

    // a commits everything; b only the first half of each of its partitions, then leaves.
    a.commit(&got_a).await.expect("commit a");
    let mut committed_b = Vec::new();
    let mut uncommitted_b = HashSet::new();
    for partition in &parts_b {
        let mine: Vec<&Record> = got_b.iter().filter(|r| r.partition == *partition).collect();
        let half = mine.len() / 2;
        committed_b.extend(mine[..half].iter().map(|r| (*r).clone()));
        uncommitted_b.extend(mine[half..].iter().map(|r| (r.partition, r.offset)));
    }
    b.commit(&committed_b).await.expect("commit b");
    drop(b);

    // a takes b's partitions over and gets exactly b's uncommitted records, plus new ones.
    let after = append_wave(&*log, &topic, "after", 40, 1).await;
    let mut expected: HashSet<(u32, u64)> = after.iter().copied().collect();
    expected.extend(&uncommitted_b);
    let started = Instant::now();
    let got = read_positions(&mut *a, &expected, "survivor after the other member left").await;
    let committed: HashSet<(u32, u64)> = got_a.iter().chain(&committed_b).map(|r| (r.partition, r.offset)).collect();
    for record in &got {
        let at = (record.partition, record.offset);
        assert!(!committed.contains(&at), "committed record {at:?} delivered again");
        assert!(expected.contains(&at), "unexpected record {at:?}");
    }
    loud(&format!("group takeover after a member left: {:?}", started.elapsed()));
    a.commit(&got).await.expect("commit");
    assert_eq!(a.lag().await.expect("lag"), 0, "everything committed");
}

/// A member that dies without leaving (SIGKILL) is noticed after the session timeout; the
/// survivor then receives every record the dead one had not committed.
///
/// Against librdkafka's mock cluster (`rdkafka::mocking::MockCluster`): librdkafka's own
/// implementation of the Kafka protocol, hosted in this process on 127.0.0.1, which like Apache
/// Kafka rebalances a group when a member misses its session timeout. It needs no broker, so the
/// test runs everywhere, CI included; on tansu, CI's broker, it could not fail, since tansu never
/// hands a dead member's partitions to the survivor. The mock has no `CreateTopics`, so the test
/// creates the topic and both members run with `create_topics` off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_member_is_replaced_after_session_timeout() {
    hookmetry_core::clock::shift_from_env();
    let mock = MockCluster::new(1).expect("librdkafka mock cluster");
    let brokers = mock.bootstrap_servers();
    let log = connect(KafkaOptions { partitions: 4, create_topics: false, ..options(&brokers) }).await;
    let topic = format!("hm.dead.{}", unique());
    mock.create_topic(&topic, 4, 1).expect("create the topic on the mock cluster");
    let group = format!("{topic}.g");
    let mut a = log.consumer(&topic, &group).await.expect("consumer a");

    // The other member runs in a child process (this test binary, running `child_group_member`).
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["kafka_conformance::child_group_member", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("HOOKMETRY_KAFKA_CHILD", format!("{brokers} {topic} {group}"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the child member");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            // The test harness may have printed `test child_group_member ... ` on the same line.
            let Some((_, record)) = line.split_once("RECORD ") else { continue };
            let mut words = record.split_whitespace();
            if let (Some(p), Some(o)) = (words.next(), words.next()) {
                let _ = seen_tx.send((p.parse::<u32>().unwrap(), o.parse::<u64>().unwrap()));
            }
        }
    });

    // Until both members hold partitions, records may move between them; a commits all it reads.
    let mut child_got: HashSet<(u32, u64)> = HashSet::new();
    let mut a_committed: HashSet<(u32, u64)> = HashSet::new();
    let deadline = Instant::now() + PATIENCE;
    let wave = loop {
        assert!(Instant::now() < deadline, "the two members never both received records");
        let probe = append_wave(&*log, &topic, "probe", 16, 1).await;
        let mut a_read = false;
        let mut child_read = false;
        let probe_end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < probe_end {
            let got = a.poll(100, POLL_WAIT).await.expect("poll a");
            a_read |= got.iter().any(|r| probe.contains(&(r.partition, r.offset)));
            // While the membership settles a commit may meet a rebalance (RebalanceInProgress), as
            // the processor's do; what was not committed is simply read again by someone.
            if a.commit(&got).await.is_ok() {
                a_committed.extend(got.iter().map(|r| (r.partition, r.offset)));
            }
            while let Ok(at) = seen_rx.try_recv() {
                child_read |= probe.contains(&at);
                child_got.insert(at);
            }
        }
        if a_read && child_read {
            break append_wave(&*log, &topic, "wave", 40, 3).await;
        }
    };

    // Read the wave between the two members.
    let wave_set: HashSet<(u32, u64)> = wave.iter().copied().collect();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = a.poll(100, POLL_WAIT).await.expect("poll a");
        a.commit(&got).await.expect("commit a");
        a_committed.extend(got.iter().map(|r| (r.partition, r.offset)));
        while let Ok(at) = seen_rx.try_recv() {
            child_got.insert(at);
        }
        if wave_set.iter().all(|at| a_committed.contains(at) || child_got.contains(at)) {
            break;
        }
        assert!(Instant::now() < deadline, "the wave was not read by the two members in time");
    }
    let child_wave: HashSet<(u32, u64)> = wave_set.iter().filter(|at| !a_committed.contains(at)).copied().collect();
    assert!(!child_wave.is_empty(), "the child member read none of the wave");
    let child_partitions: BTreeSet<u32> = child_wave.iter().map(|&(p, _)| p).collect();
    eprintln!(
        "killing the child member, which read {} wave records in partitions {child_partitions:?}",
        child_wave.len()
    );

    child.kill().await.expect("kill the child member");
    let killed = Instant::now();
    let got = read_positions(&mut *a, &child_wave, "survivor after the other member died").await;
    let took = killed.elapsed();
    for record in &got {
        let at = (record.partition, record.offset);
        assert!(!a_committed.contains(&at), "record {at:?} committed by the survivor delivered again");
        assert!(child_got.contains(&at), "record {at:?} was never read by the dead member");
    }
    loud(&format!("group takeover after a member died: {took:?} (session timeout {SESSION_TIMEOUT:?})"));
    assert!(took < SESSION_TIMEOUT + Duration::from_secs(30), "takeover took {took:?}");
}

/// The other member of `dead_member_is_replaced_after_session_timeout`: joins the group, prints
/// every record it reads, never commits, and runs until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by dead_member_is_replaced_after_session_timeout as a child process"]
async fn child_group_member() {
    let Ok(args) = std::env::var("HOOKMETRY_KAFKA_CHILD") else {
        loud(
            "SKIPPED kafka_conformance::child_group_member: runs only as the child process of \
             dead_member_is_replaced_after_session_timeout (HOOKMETRY_KAFKA_CHILD is not set)",
        );
        return;
    };
    let [brokers, topic, group] = args.split_whitespace().collect::<Vec<_>>()[..] else {
        panic!("HOOKMETRY_KAFKA_CHILD must be `brokers topic group`")
    };
    let log = connect(KafkaOptions { partitions: 4, create_topics: false, ..options(brokers) }).await;
    let mut consumer = log.consumer(topic, group).await.expect("child consumer");
    loop {
        for record in consumer.poll(100, POLL_WAIT).await.expect("child poll") {
            let mut out = std::io::stdout().lock();
            writeln!(out, "RECORD {} {}", record.partition, record.offset).unwrap();
            out.flush().unwrap();
        }
    }
}

/// Appends `keys` × `each` records (keys `endpoint-N`) and returns their positions.
async fn append_wave(log: &dyn EventLog, topic: &str, name: &str, keys: usize, each: usize) -> Vec<(u32, u64)> {
    let records = (0..each)
        .flat_map(|i| (0..keys).map(move |k| NewRecord::new(format!("endpoint-{k}"), format!("{name}-{k}-{i}"))));
    let positions = log.append_batch(topic, records.collect()).await.expect("append wave");
    positions.iter().map(|p| (p.partition, p.offset)).collect()
}

/// Lets two fresh members of one group settle: appends probes until both have read records,
/// then both commit what they read.
async fn warm_up(log: &dyn EventLog, topic: &str, a: &mut dyn GroupConsumer, b: &mut dyn GroupConsumer) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "the two members never both received records");
        let probe = append_wave(log, topic, "probe", 16, 1).await;
        let (got_a, got_b) = read_between(a, b, &probe).await;
        a.commit(&got_a).await.expect("commit a");
        b.commit(&got_b).await.expect("commit b");
        if !got_a.is_empty() && !got_b.is_empty() {
            // A last quiet round, so neither holds a record the other re-reads later.
            let more_a = a.poll(100, POLL_WAIT).await.expect("poll a");
            let more_b = b.poll(100, POLL_WAIT).await.expect("poll b");
            if more_a.is_empty() && more_b.is_empty() {
                return;
            }
            a.commit(&more_a).await.expect("commit a");
            b.commit(&more_b).await.expect("commit b");
        }
    }
}

/// Polls both members until the records at `positions` have all been read by one of them.
/// Returns what each read of them (records moved by a rebalance may show up in both).
async fn read_between(
    a: &mut dyn GroupConsumer,
    b: &mut dyn GroupConsumer,
    positions: &[(u32, u64)],
) -> (Vec<Record>, Vec<Record>) {
    let wanted: HashSet<(u32, u64)> = positions.iter().copied().collect();
    let mut seen = HashSet::new();
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + PATIENCE;
    while !wanted.iter().all(|at| seen.contains(at)) {
        assert!(Instant::now() < deadline, "read {} of {} records in time", seen.len(), wanted.len());
        for record in a.poll(1000, POLL_WAIT).await.expect("poll a") {
            if seen_wanted(&wanted, &mut seen, &record) {
                got_a.push(record);
            }
        }
        for record in b.poll(1000, POLL_WAIT).await.expect("poll b") {
            if seen_wanted(&wanted, &mut seen, &record) {
                got_b.push(record);
            }
        }
    }
    (got_a, got_b)
}

fn seen_wanted(wanted: &HashSet<(u32, u64)>, seen: &mut HashSet<(u32, u64)>, record: &Record) -> bool {
    let at = (record.partition, record.offset);
    wanted.contains(&at) && {
        seen.insert(at);
        true
    }
}

/// Polls until every position in `expected` was read; returns everything read meanwhile.
async fn read_positions(consumer: &mut dyn GroupConsumer, expected: &HashSet<(u32, u64)>, what: &str) -> Vec<Record> {
    let mut got = Vec::new();
    let mut seen = HashSet::new();
    let deadline = Instant::now() + SESSION_TIMEOUT + PATIENCE;
    while !expected.iter().all(|at| seen.contains(at)) {
        assert!(
            Instant::now() < deadline,
            "{what}: read {} of {} expected records in time",
            expected.iter().filter(|at| seen.contains(*at)).count(),
            expected.len()
        );
        for record in consumer.poll(1000, POLL_WAIT).await.expect("poll") {
            seen.insert((record.partition, record.offset));
            got.push(record);
        }
    }
    got
}

async fn poll_until(consumer: &mut dyn GroupConsumer, n: usize) -> Vec<Record> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(Instant::now() < deadline, "read {} of {n} records in time", got.len());
        got.extend(consumer.poll(n - got.len(), POLL_WAIT).await.expect("poll"));
    }
    got
}
