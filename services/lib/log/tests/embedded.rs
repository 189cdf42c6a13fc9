//! Behaviour specific to `EmbeddedLog`: files on disk, recovery, retention, group commit.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookmetry_log::{EmbeddedLog, EmbeddedLogOptions, EventLog, LogError, NewRecord, Record};
use tempfile::TempDir;

const WAIT: Duration = Duration::from_millis(200);

async fn open(dir: &TempDir, options: EmbeddedLogOptions) -> Arc<EmbeddedLog> {
    // CI runs these tests again with the clock a year ahead (HOOKMETRY_TEST_CLOCK_SHIFT_DAYS).
    hookmetry_core::clock::shift_from_env();
    EmbeddedLog::open(dir.path(), options).await.expect("open log")
}

fn small_segments() -> EmbeddedLogOptions {
    EmbeddedLogOptions { segment_bytes: 1024, ..EmbeddedLogOptions::default() }
}

fn record(i: usize) -> NewRecord {
    NewRecord::new("k", format!("record-{i:04}-{}", "x".repeat(80)))
}

async fn append_n(log: &EmbeddedLog, topic: &str, n: usize) {
    for i in 0..n {
        log.append(topic, record(i)).await.expect("append");
    }
}

/// Everything a fresh group reads, until a poll comes back empty.
async fn read_all(log: &EmbeddedLog, topic: &str, group: &str) -> Vec<Record> {
    let mut consumer = log.consumer(topic, group).await.expect("consumer");
    let mut records = Vec::new();
    loop {
        let batch = consumer.poll(1000, WAIT).await.expect("poll");
        if batch.is_empty() {
            return records;
        }
        records.extend(batch);
    }
}

fn offsets(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.offset).collect()
}

fn segment_files(dir: &TempDir, topic: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir.path().join(topic))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

fn topic_bytes(dir: &TempDir, topic: &str) -> u64 {
    segment_files(dir, topic).iter().map(|p| fs::metadata(p).unwrap().len()).sum()
}

fn append_to_file(path: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

/// Three records, then the log is dropped; returns the path of its only segment.
async fn three_records(dir: &TempDir) -> PathBuf {
    let log = open(dir, EmbeddedLogOptions::default()).await;
    append_n(&log, "t", 3).await;
    drop(log);
    segment_files(dir, "t").pop().unwrap()
}

async fn assert_recovered_to(dir: &TempDir, good: u64) {
    let log = open(dir, EmbeddedLogOptions::default()).await;
    let records = read_all(&log, "t", "g").await;
    assert_eq!(offsets(&records), (0..good).collect::<Vec<_>>());
    assert_eq!(records[0].payload, record(0).payload);
    let next = log.append("t", record(9)).await.expect("append after recovery");
    assert_eq!(next.offset, good, "the next append continues after the last good record");
    log.health().await.expect("healthy after recovery");
    drop(log);
    let log = open(dir, EmbeddedLogOptions::default()).await;
    assert_eq!(read_all(&log, "t", "g2").await.len() as u64, good + 1);
}

#[tokio::test]
async fn garbage_after_the_last_record_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let segment = three_records(&dir).await;
    let good_len = fs::metadata(&segment).unwrap().len();
    append_to_file(&segment, &[0x5a; 37]);

    assert_recovered_to(&dir, 3).await;
    assert!(fs::metadata(&segment).unwrap().len() > good_len, "the new record was appended");
}

#[tokio::test]
async fn zeroed_space_written_ahead_survives_a_crash_as_end_of_data() {
    // A SIGKILL leaves the active segment with the zeros the writer wrote ahead of its data.
    let dir = tempfile::tempdir().unwrap();
    let segment = three_records(&dir).await;
    let good_len = fs::metadata(&segment).unwrap().len();
    append_to_file(&segment, &vec![0; 256 << 10]);

    assert_recovered_to(&dir, 3).await;
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    let records = read_all(&log, "t", "g2").await;
    assert_eq!(offsets(&records), vec![0, 1, 2, 3], "the record appended after recovery overwrote the zeros");
    drop(log);
    let len = fs::metadata(&segment).unwrap().len();
    assert!(len > good_len && len < good_len + 4096, "a clean close trims the zeros: {len} bytes");
}

#[tokio::test]
async fn appends_write_ahead_so_the_file_rarely_grows() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    append_n(&log, "t", 5).await;
    let segment = segment_files(&dir, "t").pop().unwrap();
    let len = fs::metadata(&segment).unwrap().len();
    assert!(len >= 4 << 20, "4 MiB of zeroed space is written ahead of the data: {len} bytes");
    drop(log);
}

#[tokio::test]
async fn record_cut_mid_write_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let segment = three_records(&dir).await;
    let len = fs::metadata(&segment).unwrap().len();
    OpenOptions::new().write(true).open(&segment).unwrap().set_len(len - 5).unwrap();

    assert_recovered_to(&dir, 2).await;
}

#[tokio::test]
async fn crc_mismatch_in_the_last_record_is_truncated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let segment = three_records(&dir).await;
    let mut bytes = fs::read(&segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&segment, &bytes).unwrap();

    assert_recovered_to(&dir, 2).await;
}

#[tokio::test]
async fn corruption_in_a_closed_segment_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments()).await;
    append_n(&log, "t", 30).await;
    drop(log);
    let first = segment_files(&dir, "t").remove(0);
    let mut bytes = fs::read(&first).unwrap();
    bytes[150] ^= 0xff;
    fs::write(&first, &bytes).unwrap();

    let err = EmbeddedLog::open(dir.path(), small_segments()).await.err().expect("open must fail");
    let LogError::Corrupt(message) = &err else { panic!("expected Corrupt, got {err:?}") };
    assert!(message.contains("00000000000000000000.log"), "names the file: {message}");
    assert!(message.contains("at byte"), "names the position: {message}");
}

#[tokio::test]
async fn segments_roll_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments()).await;
    append_n(&log, "t", 50).await;

    let files = segment_files(&dir, "t");
    assert!(files.len() >= 5, "1 KiB segments of ~120-byte records: {files:?}");
    let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names[0], "00000000000000000000.log");
    assert!(names.iter().all(|n| n.len() == 24), "zero-padded base offsets: {names:?}");
    for file in &files[..files.len() - 1] {
        let len = fs::metadata(file).unwrap().len();
        assert!((1024..1024 + 200).contains(&len), "closed segment {file:?} has {len} bytes");
    }

    let records = read_all(&log, "t", "g").await;
    assert_eq!(offsets(&records), (0..50).collect::<Vec<_>>());
    assert!(records.iter().enumerate().all(|(i, r)| r.payload == record(i).payload));
    drop(log);

    let log = open(&dir, small_segments()).await;
    let records = read_all(&log, "t", "g2").await;
    assert_eq!(offsets(&records), (0..50).collect::<Vec<_>>(), "after reopening");
    assert_eq!(log.append("t", record(50)).await.unwrap().offset, 50);
}

#[tokio::test]
async fn consumed_closed_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, small_segments()).await;
    let mut consumer = log.consumer("t", "g").await.unwrap();
    append_n(&log, "t", 50).await;
    let before = segment_files(&dir, "t");

    let mut records = consumer.poll(30, WAIT).await.unwrap();
    consumer.commit(&records).await.unwrap();
    let after_partial = segment_files(&dir, "t");
    assert!(after_partial.len() < before.len(), "segments below the commit are deleted");
    let first_base: u64 = after_partial[0].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    assert!(first_base > 0 && first_base <= 30, "first retained segment starts at {first_base}");

    records.extend(consumer.poll(100, WAIT).await.unwrap());
    assert_eq!(offsets(&records), (0..50).collect::<Vec<_>>());
    consumer.commit(&records).await.unwrap();
    assert!(segment_files(&dir, "t").len() <= 2, "only the active segment (and maybe the last closed one) remain");
    drop(consumer);
    drop(log);

    let log = open(&dir, small_segments()).await;
    assert!(read_all(&log, "t", "g").await.is_empty(), "everything was committed");
    let fresh = read_all(&log, "t", "late").await;
    let earliest = fresh.first().map_or(50, |r| r.offset);
    assert!(earliest > 0, "a new group starts at the earliest retained record");
    assert_eq!(offsets(&fresh), (earliest..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn topic_without_groups_keeps_its_size_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedLogOptions { max_unconsumed_bytes: 4096, ..small_segments() };
    let log = open(&dir, options).await;
    let mut tail = log.tail("events").await.unwrap();
    for i in 0..200 {
        log.append("events", record(i)).await.expect("a topic without groups is never full");
    }
    let bytes = topic_bytes(&dir, "events");
    assert!(bytes <= 4096 + 2 * 1200, "old segments are deleted: {bytes} bytes left");
    assert!(segment_files(&dir, "events").len() >= 3, "recent segments are kept");

    let seen = tail.next_batch(1000, WAIT).await.unwrap();
    assert!(!seen.is_empty(), "a tail that fell behind skips to the earliest record");
    let last = seen.last().unwrap().offset;
    assert!(offsets(&seen).windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(last, 199);
}

#[tokio::test]
async fn full_until_the_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedLogOptions { max_unconsumed_bytes: 1000, ..EmbeddedLogOptions::default() };
    let log = open(&dir, options).await;
    let mut consumer = log.consumer("t", "g").await.unwrap();

    let mut accepted = 0;
    let err = loop {
        match log.append("t", record(accepted)).await {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "the log never became full");
    };
    assert!(matches!(&err, LogError::Full { topic, limit_bytes: 1000 } if topic == "t"), "expected Full, got {err:?}");
    assert!((8..=10).contains(&accepted), "~120-byte records under a 1000-byte limit: {accepted}");

    // Reading is not enough: only a commit frees space.
    let records = consumer.poll(1000, WAIT).await.unwrap();
    assert_eq!(records.len(), accepted);
    assert!(matches!(log.append("t", record(0)).await, Err(LogError::Full { .. })));
    consumer.commit(&records).await.unwrap();
    log.append("t", record(0)).await.expect("append after the group committed");
    assert_eq!(consumer.lag().await.unwrap(), 1);
}

#[tokio::test]
async fn group_commit_shares_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    let before = log.sync_count();
    let appends = (0..200).map(|i| {
        let log = log.clone();
        async move { log.append("t", record(i)).await.expect("append") }
    });
    let positions = futures::future::join_all(appends).await;
    let syncs = log.sync_count() - before;
    assert_eq!(positions.len(), 200);
    assert!(syncs < 50, "200 concurrent appends took {syncs} fsyncs");
    assert_eq!(read_all(&log, "t", "g").await.len(), 200);

    let before = log.sync_count();
    let batch = (0..100).map(record).collect();
    log.append_batch("t", batch).await.unwrap();
    assert_eq!(log.sync_count() - before, 1, "one batch, one fsync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.append("t", record(i)).await.expect("append") })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let syncs = log.sync_count();
    assert!(syncs < 200, "200 concurrent appends took {syncs} fsyncs");
}

#[tokio::test]
async fn record_too_large_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedLogOptions { max_record_bytes: 1024, ..EmbeddedLogOptions::default() };
    let log = open(&dir, options).await;
    let big = NewRecord::new("k", vec![7u8; 2000]);
    let err = log.append("t", big.clone()).await.unwrap_err();
    assert!(matches!(err, LogError::RecordTooLarge { size, limit: 1024 } if size > 2000), "got {err:?}");
    let err = log.append_batch("t", vec![record(0), big]).await.unwrap_err();
    assert!(matches!(err, LogError::RecordTooLarge { .. }), "got {err:?}");
    assert!(read_all(&log, "t", "g").await.is_empty(), "nothing of the refused batch is stored");
    assert_eq!(log.append("t", record(1)).await.unwrap().offset, 0);
}

#[tokio::test]
async fn poll_wakes_up_when_a_record_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    let mut consumer = log.consumer("t", "g").await.unwrap();
    let mut tail = log.tail("t").await.unwrap();
    let appender = {
        let log = log.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            log.append("t", record(0)).await.unwrap();
        })
    };
    let started = Instant::now();
    let (polled, tailed) =
        tokio::join!(consumer.poll(10, Duration::from_secs(20)), tail.next_batch(10, Duration::from_secs(20)));
    assert!(started.elapsed() < Duration::from_secs(5), "waiters woke up on the append");
    assert_eq!(polled.unwrap().len(), 1);
    assert_eq!(tailed.unwrap().len(), 1);
    appender.await.unwrap();
}

#[tokio::test]
async fn segment_file_matches_the_documented_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    let sent = NewRecord::new("key", "payload").with_header("h1", "v1").with_header("h2", "");
    log.append("t", sent.clone()).await.unwrap();
    let stamp = read_all(&log, "t", "g").await[0].timestamp_micros;
    drop(log);

    let bytes = fs::read(dir.path().join("t").join("00000000000000000000.log")).unwrap();
    let mut expected_body = Vec::new();
    expected_body.extend_from_slice(&0u64.to_le_bytes());
    expected_body.extend_from_slice(&stamp.to_le_bytes());
    expected_body.extend_from_slice(&3u32.to_le_bytes());
    expected_body.extend_from_slice(b"key");
    expected_body.extend_from_slice(&2u32.to_le_bytes());
    for (name, value) in [("h1", "v1"), ("h2", "")] {
        expected_body.extend_from_slice(&(name.len() as u32).to_le_bytes());
        expected_body.extend_from_slice(name.as_bytes());
        expected_body.extend_from_slice(&(value.len() as u32).to_le_bytes());
        expected_body.extend_from_slice(value.as_bytes());
    }
    expected_body.extend_from_slice(b"payload");
    assert_eq!(&bytes[0..4], &(expected_body.len() as u32).to_le_bytes(), "len");
    assert_eq!(&bytes[4..8], &crc32fast::hash(&expected_body).to_le_bytes(), "crc");
    assert_eq!(&bytes[8..], &expected_body[..], "body");
}

#[tokio::test]
async fn commits_are_durable_files_and_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    append_n(&log, "t", 5).await;
    let mut consumer = log.consumer("t", "g").await.unwrap();
    let records = consumer.poll(10, WAIT).await.unwrap();
    consumer.commit(&records).await.unwrap();
    consumer.commit(&records[..2]).await.unwrap();
    let mut foreign = records[0].clone();
    foreign.topic = "other".into();
    foreign.offset = 1000;
    consumer.commit(&[foreign]).await.unwrap();
    let file = dir.path().join("t").join("groups").join("g.offset");
    assert_eq!(fs::read_to_string(&file).unwrap().trim(), "5");
    assert_eq!(consumer.lag().await.unwrap(), 0);
    drop(consumer);
    drop(log);

    // A commit interrupted before its rename leaves a temp file behind; it must be ignored.
    fs::write(file.with_extension("offset.tmp"), "2").unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    log.append("t", record(5)).await.unwrap();
    let records = read_all(&log, "t", "g").await;
    assert_eq!(offsets(&records), [5]);
}

fn writer_threads(name: &str) -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

#[tokio::test]
async fn dropping_the_log_stops_its_writers() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    append_n(&log, "dropstop", 1).await;
    let mut tail = log.tail("dropstop").await.unwrap();
    assert_eq!(writer_threads("log-dropstop"), 1, "one writer thread per topic");
    drop(log);

    let deadline = Instant::now() + Duration::from_secs(5);
    while writer_threads("log-dropstop") > 0 {
        assert!(Instant::now() < deadline, "the writer thread outlived the log");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A tail that outlives the log simply sees nothing new.
    assert!(tail.next_batch(10, Duration::from_millis(10)).await.unwrap().is_empty());

    let log = open(&dir, EmbeddedLogOptions::default()).await;
    assert_eq!(log.append("dropstop", record(1)).await.unwrap().offset, 1);
    assert_eq!(read_all(&log, "dropstop", "g").await[1].payload, record(1).payload);
}

#[tokio::test]
async fn write_failure_fails_the_batch_and_poisons_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedLogOptions { segment_bytes: 100, ..EmbeddedLogOptions::default() };
    let log = open(&dir, options.clone()).await;
    log.append("t", record(0)).await.unwrap();
    // The next batch must roll to segment 1; a directory in its place makes creating it fail.
    let blocker = dir.path().join("t").join("00000000000000000001.log");
    fs::create_dir(&blocker).unwrap();

    let appends = (1..10).map(|i| log.append("t", record(i)));
    for result in futures::future::join_all(appends).await {
        assert!(matches!(result, Err(LogError::Unavailable(_))), "append in a failed batch: {result:?}");
    }
    let health = log.health().await;
    assert!(
        matches!(&health, Err(LogError::Unavailable(reason)) if reason.contains("00000000000000000001.log")),
        "health names the failure: {health:?}"
    );
    assert!(matches!(log.append("t", record(10)).await, Err(LogError::Unavailable(_))), "topic stays poisoned");
    assert_eq!(offsets(&read_all(&log, "t", "g").await), [0], "durable records stay readable");
    log.append("other", record(0)).await.expect("other topics are unaffected");
    drop(log);

    fs::remove_dir(&blocker).unwrap();
    let log = open(&dir, options).await;
    log.health().await.expect("healthy after restart");
    assert_eq!(log.append("t", record(1)).await.unwrap().offset, 1);
}

#[tokio::test]
async fn damage_below_a_committed_offset_is_refused_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, EmbeddedLogOptions::default()).await;
    append_n(&log, "t", 3).await;
    let records = read_all(&log, "t", "g").await;
    let mut consumer = log.consumer("t", "g").await.unwrap();
    consumer.commit(&records).await.unwrap();
    drop(consumer);
    drop(log);

    // Flip a byte inside the middle record: not a torn write, since it was consumed.
    let segment = segment_files(&dir, "t").pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&segment, &bytes).unwrap();

    let err = match EmbeddedLog::open(dir.path(), EmbeddedLogOptions::default()).await {
        Ok(_) => panic!("a log missing consumed records must not open"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("refusing to drop acknowledged records"), "{err}");
    assert_eq!(fs::read(&segment).unwrap(), bytes, "nothing was truncated");
}
