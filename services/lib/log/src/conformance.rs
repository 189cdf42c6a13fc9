//! Behaviour every `EventLog` backend must show, written once and run against each backend.
//!
//! A backend's tests implement [`LogHarness`], call [`run_all`] and expand
//! [`log_conformance_tests!`](crate::log_conformance_tests), which makes one test per case, so a
//! failure is reported under the case's name. Both come from the one list of cases below, so no
//! backend can leave a case out. Cases never assume offsets start at 0 or are dense, and only rely
//! on order between records of one key, so a partitioned backend passes too.
//!
//! Compiled only with the `testsuite` feature, which only dev-dependencies turn on.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{EventLog, GroupConsumer, LogError, NewRecord, Record, Tail};

#[async_trait::async_trait]
pub trait LogHarness: Send + Sync {
    /// Opens the backend under test. Calling it again must open the SAME durable data (simulating
    /// a process restart); the previous handle has been dropped first.
    async fn open(&self) -> Arc<dyn EventLog>;
    /// A topic name unique to this test run (Kafka runs share a broker), derived from `base`.
    /// Cases also use it for group names.
    fn topic(&self, base: &str) -> String;
    /// The largest record (key plus payload) the system under test can hand back, when that is
    /// below the 5 MiB [`large_payload_round_trips`] uses. Only for a known limit of a test-only
    /// stand-in (such as a broker that never serves a record of 5 MiB or more); the case then
    /// uses that size and says so loudly. A real backend leaves this `None`.
    fn known_record_limit(&self) -> Option<usize> {
        None
    }
}

/// How long a case waits for records it expects before failing.
const PATIENCE: Duration = Duration::from_secs(30);
const POLL_WAIT: Duration = Duration::from_millis(500);
/// Wait used to show that nothing more arrives.
const QUIET: Duration = Duration::from_millis(300);

// The one list of cases: `run_all`, [`CASES`] and every backend's tests are expanded from it.
crate::log_conformance_tests! { @cases @run_all }

/// One `#[tokio::test]` per conformance case, each named after its case, so every backend runs
/// every case and a failure is reported under the case's name. `$run` is an async function that
/// is given the case's name and the case as a closure taking an `Arc` of the backend's
/// [`LogHarness`]; it makes a fresh harness, or says loudly why it cannot (its backend is
/// missing) and returns. Further arguments go to `#[tokio::test(…)]`:
///
/// ```ignore
/// async fn each_case<F, Fut>(_case: &str, test: F)
/// where
///     F: FnOnce(Arc<Harness>) -> Fut,
///     Fut: Future<Output = ()>,
/// {
///     test(Arc::new(Harness::new())).await
/// }
///
/// mod conformance_case {
///     hookmetry_log::log_conformance_tests!(super::each_case, flavor = "multi_thread");
/// }
/// ```
#[macro_export]
macro_rules! log_conformance_tests {
    (@cases $($then:tt)*) => {
        $crate::log_conformance_tests! { $($then)* [
            health_is_ok,
            append_read_back_is_byte_exact,
            consumer_reads_everything_in_order,
            commit_then_reopen_resumes_after_commit,
            groups_are_independent,
            tail_sees_only_later_records,
            trace_headers_reach_tails_and_survive_a_restart,
            poll_with_nothing_returns_empty_after_wait,
            concurrent_appends_get_distinct_positions,
            append_batch_keeps_order,
            large_payload_round_trips,
            invalid_names_are_rejected,
        ] }
    };
    (@run_all [$($case:ident,)*]) => {
        /// Runs every case in turn against one log.
        pub async fn run_all(h: &dyn LogHarness) {
            $($case(h).await;)*
        }

        /// The name of every case, in the order [`run_all`] runs them.
        pub const CASES: &[&str] = &[$(stringify!($case)),*];
    };
    (@tests ($run:expr) $attr:tt [$($case:ident,)*]) => {
        $(
            #[::tokio::test $attr]
            async fn $case() {
                ($run)(stringify!($case), |h| async move { $crate::conformance::$case(&*h).await }).await;
            }
        )*
    };
    ($run:expr $(, $($attr:tt)*)?) => {
        $crate::log_conformance_tests! { @cases @tests ($run) ($($($attr)*)?) }
    };
}

pub async fn health_is_ok(h: &dyn LogHarness) {
    let log = h.open().await;
    log.health().await.unwrap_or_else(|e| panic!("a freshly opened log is unhealthy: {e}"));
}

pub async fn append_read_back_is_byte_exact(h: &dyn LogHarness) {
    let log = h.open().await;
    let topic = h.topic("exact");
    let started = now_micros();
    let sent = vec![
        NewRecord::new(&b"key-1"[..], &b"\0\xff\xfe{\"not\":\"utf8\"}\0"[..])
            .with_header("b-first", &b"1"[..])
            .with_header("a-second", &b"\0\xff"[..])
            .with_header("b-first", &b"repeated"[..]),
        NewRecord::new(&b"key-1"[..], Bytes::new()),
        NewRecord::new(Bytes::new(), &b"no key"[..]).with_header("empty", Bytes::new()),
    ];
    let mut offsets = Vec::new();
    for record in &sent {
        let position = log.append(&topic, record.clone()).await.expect("append");
        offsets.push(position);
    }
    assert!(
        offsets.windows(2).all(|w| w[0].partition != w[1].partition || w[0].offset < w[1].offset),
        "offsets must increase within a partition: {offsets:?}"
    );

    let mut consumer = join(&*log, &topic, &h.topic("exact-g")).await;
    let got = collect(&mut *consumer, sent.len(), "byte-exact read-back").await;
    // The keyless record may sit in another partition than the `key-1` ones, and a consumer
    // interleaves partitions freely: match each record by its position, not by arrival order.
    let got: Vec<Record> = offsets
        .iter()
        .map(|position| {
            let at = |r: &&Record| (r.partition, r.offset) == (position.partition, position.offset);
            got.iter().find(at).cloned().unwrap_or_else(|| panic!("no record read back at {position:?}: {got:?}"))
        })
        .collect();
    for ((record, sent), position) in got.iter().zip(&sent).zip(&offsets) {
        assert_eq!(record.topic, topic, "topic of record at {position:?}");
        assert_eq!((record.partition, record.offset), (position.partition, position.offset));
        assert_eq!(record.key, sent.key, "key of record at {position:?}");
        assert_eq!(record.payload, sent.payload, "payload of record at {position:?}");
        assert_eq!(record.headers, sent.headers, "headers (in order) at {position:?}");
        assert!(
            record.timestamp_micros >= started - 60_000_000 && record.timestamp_micros <= now_micros() + 60_000_000,
            "timestamp {} is not the append time (about {started})",
            record.timestamp_micros
        );
    }
    assert_eq!(got[0].header("a-second").map(|v| &v[..]), Some(&b"\0\xff"[..]));
    assert_eq!(got[0].header("b-first").map(|v| &v[..]), Some(&b"1"[..]));
}

pub async fn consumer_reads_everything_in_order(h: &dyn LogHarness) {
    let log = h.open().await;
    let topic = h.topic("in-order");
    let sent = payloads("in-order", 25);
    for payload in &sent {
        log.append(&topic, NewRecord::new("k", payload.clone())).await.expect("append");
    }
    let mut consumer = join(&*log, &topic, &h.topic("in-order-g")).await;
    // Small polls, so order must also hold across batches.
    let mut got = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while got.len() < sent.len() {
        assert!(Instant::now() < deadline, "read {} of {} records", got.len(), sent.len());
        got.extend(consumer.poll(7, POLL_WAIT).await.expect("poll"));
        assert!(got.len() <= sent.len(), "poll returned more records than appended");
    }
    assert_eq!(payloads_of(&got), sent, "records must come back in append order");
    assert_nothing_more(&mut *consumer, "after reading everything").await;
}

pub async fn commit_then_reopen_resumes_after_commit(h: &dyn LogHarness) {
    let topic = h.topic("resume");
    let group = h.topic("resume-g");
    let sent = payloads("resume", 10);
    {
        let log = h.open().await;
        for payload in &sent {
            log.append(&topic, NewRecord::new("k", payload.clone())).await.expect("append");
        }
        let mut consumer = join(&*log, &topic, &group).await;
        let got = collect(&mut *consumer, 10, "first run").await;
        assert_eq!(payloads_of(&got), sent);
        consumer.commit(&got[..4]).await.expect("commit");
        assert_eq!(consumer.lag().await.expect("lag"), 6, "lag after committing 4 of 10");
    }

    let log = h.open().await;
    let mut consumer = join(&*log, &topic, &group).await;
    let got = collect(&mut *consumer, 6, "after restart").await;
    assert_eq!(payloads_of(&got), sent[4..], "uncommitted records must be re-delivered, committed ones not");
    assert_nothing_more(&mut *consumer, "after restart").await;
    consumer.commit(&got).await.expect("commit");
    assert_eq!(consumer.lag().await.expect("lag"), 0, "lag after committing everything");
    drop(consumer);
    drop(log);

    let log = h.open().await;
    let mut consumer = join(&*log, &topic, &group).await;
    assert_nothing_more(&mut *consumer, "after committing everything and restarting").await;
}

pub async fn groups_are_independent(h: &dyn LogHarness) {
    let log = h.open().await;
    let topic = h.topic("groups");
    let sent = payloads("groups", 5);
    for payload in &sent {
        log.append(&topic, NewRecord::new("k", payload.clone())).await.expect("append");
    }
    let mut a = join(&*log, &topic, &h.topic("groups-a")).await;
    let mut b = join(&*log, &topic, &h.topic("groups-b")).await;

    let got_a = collect(&mut *a, 5, "group a").await;
    a.commit(&got_a).await.expect("commit a");
    assert_eq!(a.lag().await.expect("lag a"), 0);
    assert_eq!(b.lag().await.expect("lag b"), 5, "group a's commit must not count for group b");

    let got_b = collect(&mut *b, 5, "group b after a committed").await;
    assert_eq!(payloads_of(&got_b), sent, "group b reads everything regardless of group a");

    let extra = Bytes::from_static(b"groups-extra");
    log.append(&topic, NewRecord::new("k", extra.clone())).await.expect("append");
    let got_a = collect(&mut *a, 1, "group a, new record").await;
    assert_eq!(payloads_of(&got_a), std::slice::from_ref(&extra));
    let got_b = collect(&mut *b, 1, "group b, new record").await;
    assert_eq!(payloads_of(&got_b), [extra]);
}

pub async fn tail_sees_only_later_records(h: &dyn LogHarness) {
    let log = h.open().await;
    let topic = h.topic("tail");
    let old = payloads("tail-old", 3);
    for payload in &old {
        log.append(&topic, NewRecord::new("k", payload.clone())).await.expect("append");
    }
    let mut tail = log.tail(&topic).await.expect("tail");
    let early = tail.next_batch(10, QUIET).await.expect("tail next_batch");
    assert!(early.is_empty(), "tail returned records appended before it opened: {early:?}");

    let new = payloads("tail-new", 3);
    for payload in &new {
        log.append(&topic, NewRecord::new("k", payload.clone())).await.expect("append");
    }
    let got = collect_tail(&mut *tail, 3).await;
    assert_eq!(payloads_of(&got), new, "tail must return exactly the later records");

    // A tail commits nothing: a group still starts at the beginning.
    let mut consumer = join(&*log, &topic, &h.topic("tail-g")).await;
    let all = collect(&mut *consumer, 6, "group after tail").await;
    assert_eq!(payloads_of(&all), [old, new].concat());
}

/// Trace context rides in record headers (docs/tracing.md): a tail gets them as appended, and a
/// group reads them back after the log was reopened (a restart).
pub async fn trace_headers_reach_tails_and_survive_a_restart(h: &dyn LogHarness) {
    let topic = h.topic("trace-headers");
    let traceparent = &b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"[..];
    let traced = NewRecord::new("k", &b"traced"[..])
        .with_header("schema", &b"captured-request/1"[..])
        .with_header("traceparent", traceparent)
        .with_header("tracestate", &b"vendor=t61rcWkgMzE,other=1"[..]);
    {
        let log = h.open().await;
        log.append(&topic, NewRecord::new("k", &b"before the tail"[..])).await.expect("append");
        let mut tail = log.tail(&topic).await.expect("tail");
        log.append(&topic, traced.clone()).await.expect("append");
        let got = collect_tail(&mut *tail, 1).await;
        assert_eq!(got[0].payload, traced.payload);
        assert_eq!(got[0].headers, traced.headers, "a tail gets the headers as appended");
    }
    let log = h.open().await;
    let mut consumer = join(&*log, &topic, &h.topic("trace-headers-g")).await;
    let got = collect(&mut *consumer, 2, "after reopening").await;
    assert_eq!(got[1].payload, traced.payload);
    assert_eq!(got[1].headers, traced.headers, "headers survive a restart");
    assert_eq!(got[1].header("traceparent").map(|v| &v[..]), Some(traceparent));
    assert!(got[0].headers.is_empty(), "a record without headers gets none: {:?}", got[0].headers);
}

pub async fn poll_with_nothing_returns_empty_after_wait(h: &dyn LogHarness) {
    let log = h.open().await;
    let topic = h.topic("empty");
    let mut consumer = join(&*log, &topic, &h.topic("empty-g")).await;
    let wait = Duration::from_millis(400);
    for attempt in 0..2 {
        let started = Instant::now();
        let got = consumer.poll(10, wait).await.expect("poll");
        let took = started.elapsed();
        assert!(got.is_empty(), "poll of an empty topic returned {got:?}");
        // The first poll may also join the group; later ones must not busy-loop.
        if attempt > 0 {
            assert!(took >= wait / 2, "poll returned after {took:?}, not waiting {wait:?}");
        }
        assert!(took < wait + Duration::from_secs(5), "poll took {took:?} for a wait of {wait:?}");
    }
    let mut tail = log.tail(&topic).await.expect("tail");
    let started = Instant::now();
    assert!(tail.next_batch(10, wait).await.expect("tail").is_empty());
    assert!(started.elapsed() < wait + Duration::from_secs(5), "tail did not return in time");
}

pub async fn concurrent_appends_get_distinct_positions(h: &dyn LogHarness) {
    const TASKS: usize = 50;
    const EACH: usize = 20;
    let log = h.open().await;
    let topic = h.topic("concurrent");
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (log, topic) = (log.clone(), topic.clone());
            tokio::spawn(async move {
                let mut positions = Vec::with_capacity(EACH);
                for i in 0..EACH {
                    let record = NewRecord::new(format!("task-{task}"), format!("{task}/{i}"));
                    positions.push(log.append(&topic, record).await.expect("concurrent append"));
                }
                positions
            })
        })
        .collect();
    let mut positions = HashSet::new();
    for task in tasks {
        for position in task.await.expect("append task panicked") {
            assert!(positions.insert(position), "position {position:?} handed out twice");
        }
    }
    assert_eq!(positions.len(), TASKS * EACH);

    let mut consumer = join(&*log, &topic, &h.topic("concurrent-g")).await;
    let got = collect(&mut *consumer, TASKS * EACH, "concurrent appends").await;
    let mut next_per_task: HashMap<String, usize> = HashMap::new();
    for record in &got {
        let payload = String::from_utf8(record.payload.to_vec()).expect("utf-8 payload");
        let (task, i) = payload.split_once('/').expect("task/i payload");
        let expected = next_per_task.entry(task.to_owned()).or_default();
        assert_eq!(i.parse::<usize>().unwrap(), *expected, "order within task {task}");
        *expected += 1;
    }
    assert_eq!(next_per_task.len(), TASKS);
    assert!(next_per_task.values().all(|&n| n == EACH), "every record read exactly once");
    assert_nothing_more(&mut *consumer, "after the concurrent appends").await;
}

pub async fn append_batch_keeps_order(h: &dyn LogHarness) {
    let log = h.open().await;
    let topic = h.topic("batch");
    let sent = payloads("batch", 100);
    let records = sent.iter().map(|p| NewRecord::new("k", p.clone())).collect();
    let positions = log.append_batch(&topic, records).await.expect("append_batch");
    assert_eq!(positions.len(), sent.len(), "one position per record");
    assert!(
        positions.windows(2).all(|w| w[0].partition == w[1].partition && w[0].offset < w[1].offset),
        "one key, so one partition and increasing offsets: {positions:?}"
    );
    assert!(log.append_batch(&topic, Vec::new()).await.expect("empty batch").is_empty());

    let mut consumer = join(&*log, &topic, &h.topic("batch-g")).await;
    let got = collect(&mut *consumer, sent.len(), "batch").await;
    assert_eq!(payloads_of(&got), sent);
    let offsets: Vec<_> = got.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, positions.iter().map(|p| p.offset).collect::<Vec<_>>());
}

pub async fn large_payload_round_trips(h: &dyn LogHarness) {
    let log = h.open().await;
    let topic = h.topic("large");
    const KEY: &str = "big";
    let mut size = 5 << 20;
    if let Some(limit) = h.known_record_limit().filter(|&limit| limit < size + KEY.len()) {
        size = limit.saturating_sub(KEY.len());
        // Past the test harness's output capture: this must be seen even when the case passes.
        let _ = writeln!(
            std::io::stderr(),
            "WARNING large_payload_round_trips: the system under test declares a record limit of {limit} bytes; \
             testing {size} bytes instead of 5 MiB"
        );
    }
    // Not all zeroes, so a backend that compresses or pads cannot hide a mistake.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let payload: Bytes = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into();
    log.append(&topic, NewRecord::new(KEY, payload.clone())).await.expect("append 5 MiB");
    log.append(&topic, NewRecord::new(KEY, "after")).await.expect("append after");
    let mut consumer = join(&*log, &topic, &h.topic("large-g")).await;
    let got = collect(&mut *consumer, 2, "large payload").await;
    assert_eq!(got[0].payload.len(), payload.len(), "size of the 5 MiB payload");
    assert!(got[0].payload == payload, "the 5 MiB payload changed on the way");
    assert_eq!(got[1].payload, "after");
}

pub async fn invalid_names_are_rejected(h: &dyn LogHarness) {
    let log = h.open().await;
    let good = h.topic("names");
    let long = "x".repeat(65);
    for bad in ["", "bad/topic", "a b", "..", "topic\0", "ü", long.as_str()] {
        let appended = log.append(bad, NewRecord::new("k", "v")).await;
        assert!(matches!(appended, Err(LogError::InvalidName(_))), "append to {bad:?}: {appended:?}");
        let batch = log.append_batch(bad, vec![NewRecord::new("k", "v")]).await;
        assert!(matches!(batch, Err(LogError::InvalidName(_))), "batch to {bad:?}: {batch:?}");
        assert_invalid(log.consumer(bad, "group").await.err(), &format!("consumer topic {bad:?}"));
        assert_invalid(log.consumer(&good, bad).await.err(), &format!("consumer group {bad:?}"));
        assert_invalid(log.tail(bad).await.err(), &format!("tail topic {bad:?}"));
    }
}

fn assert_invalid(err: Option<LogError>, what: &str) {
    assert!(matches!(err, Some(LogError::InvalidName(_))), "{what}: expected InvalidName, got {err:?}");
}

async fn join(log: &dyn EventLog, topic: &str, group: &str) -> Box<dyn GroupConsumer> {
    log.consumer(topic, group).await.unwrap_or_else(|e| panic!("consumer for topic {topic} group {group}: {e}"))
}

/// Polls until exactly `n` records arrived.
async fn collect(consumer: &mut dyn GroupConsumer, n: usize, what: &str) -> Vec<Record> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        assert!(Instant::now() < deadline, "{what}: read {} of {n} records in time", got.len());
        let batch = consumer.poll(n - got.len(), POLL_WAIT).await;
        got.extend(batch.unwrap_or_else(|e| panic!("{what}: poll: {e}")));
    }
    assert_eq!(got.len(), n, "{what}: poll returned more than asked for");
    got
}

async fn collect_tail(tail: &mut dyn Tail, n: usize) -> Vec<Record> {
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        assert!(Instant::now() < deadline, "tail: read {} of {n} records in time", got.len());
        got.extend(tail.next_batch(n - got.len(), POLL_WAIT).await.expect("tail next_batch"));
    }
    got
}

async fn assert_nothing_more(consumer: &mut dyn GroupConsumer, when: &str) {
    let more = consumer.poll(100, QUIET).await.expect("poll");
    assert!(more.is_empty(), "{when}: unexpected records {:?}", payloads_of(&more));
}

fn payloads(prefix: &str, n: usize) -> Vec<Bytes> {
    (0..n).map(|i| Bytes::from(format!("{prefix}-{i}"))).collect()
}

fn payloads_of(records: &[Record]) -> Vec<Bytes> {
    records.iter().map(|r| r.payload.clone()).collect()
}

/// The product's clock, which the log stamps records with (moved in the clock-shifted CI run).
fn now_micros() -> i64 {
    hookmetry_core::Timestamp::now().micros()
}
