//! A processor SIGKILLed mid-stream: the other processor of the group takes over its partitions
//! and every acknowledged capture is stored exactly once, each endpoint's in the order sent.
//!
//! Cluster mode as in `cluster.rs` (two ingest nodes, two processors in one consumer group, one
//! API node, each its own `hookmetry run` process, one SQLite store), but the broker is
//! librdkafka's mock cluster (`rdkafka::mocking::MockCluster`) hosted in this test process
//! instead of tansu. tansu 0.6, the broker of `cluster.rs`, hands a crashed member's partitions
//! to the others only sometimes (its coordinator keeps the group's generation; even a
//! replacement member joining left a partition unread in 1 run of 4), so on tansu this test
//! failed for the broker's reason.
//!
//! The mock cluster is not a mock of our code: it is librdkafka's own implementation of the
//! Kafka protocol (produce and fetch, idempotent producers, offsets, classic consumer groups
//! with session timeouts and rebalances), listening on real 127.0.0.1 ports. The nodes reach it
//! with an ordinary `kafka://` URL and run exactly the code they run against Apache Kafka. It
//! has no admin API (CreateTopics), so the test creates the topics and the nodes run with
//! `log.kafka_create_topics=false`. Like Apache Kafka, it rebalances a group when a member
//! misses its session timeout, then waits up to a further session timeout (less 1 s) for the
//! members to rejoin before assigning.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use cluster_support::{capture_url, endpoint_key, migrate, processor_records, produce, producer, send, spawn_node};
use hookmetry_core::{TOPIC_CAPTURES, TOPIC_DEAD_LETTERS, TOPIC_EVENTS};
use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};
use hookmetry_testkit::{ChildServer, TestEndpoint};
use rdkafka::mocking::MockCluster;
use serde_json::json;

use crate::cluster_support;

/// Partitions of every topic; the group's two processors get two each.
const PARTITIONS: i32 = 4;
/// Holds the records that tell which partition an endpoint's captures go to.
const PROBE_TOPIC: &str = "partition-probe";

/// `hookmetry_processor_records_total{outcome="stored"}` of each processor.
async fn stored_by(http: &reqwest::Client, processors: &[&ChildServer]) -> Vec<u64> {
    let mut out = Vec::new();
    for p in processors {
        out.push(processor_records(http, p, "stored").await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_a_processor_mid_stream_hands_its_partitions_over_and_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let mock = MockCluster::new(1).expect("librdkafka mock cluster");
    for topic in [TOPIC_CAPTURES, TOPIC_EVENTS, TOPIC_DEAD_LETTERS, PROBE_TOPIC] {
        mock.create_topic(topic, PARTITIONS, 1).unwrap();
    }
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let (store, token) = migrate(dir.path()).await;
    let no_create = ["--set", "log.kafka_create_topics=false"];
    // Commits at most every 2 s (default 500 ms): the killed processor leaves more stored but
    // uncommitted captures behind, which the survivor is handed again and must not duplicate.
    let processor_extra = [no_create[0], no_create[1], "--set", "processor.commit_interval=2s"];
    let (api, _) = spawn_node(dir.path(), &bootstrap, &store, &token, "api", "api", &no_create).await;
    let mut processors = Vec::new();
    for i in 0..2 {
        let name = format!("processor-{i}");
        processors
            .push(spawn_node(dir.path(), &bootstrap, &store, &token, "processor", &name, &processor_extra).await.0);
    }
    let mut ingest = Vec::new();
    for i in 0..2 {
        let name = format!("ingest-{i}");
        ingest.push(spawn_node(dir.path(), &bootstrap, &store, &token, "ingest", &name, &no_create).await.0);
    }
    let client = api.client();
    let http = reqwest::Client::new();

    // Endpoints until every partition has at least one, so whichever two partitions a processor
    // is given, it has captures to store. A probe record keyed like the endpoint's captures,
    // through the same partitioner, tells where they go.
    let probe = producer(&bootstrap);
    let mut endpoints: Vec<(TestEndpoint, i32)> = Vec::new();
    while endpoints.iter().map(|(_, p)| p).collect::<BTreeSet<_>>().len() < PARTITIONS as usize || endpoints.len() < 8 {
        assert!(endpoints.len() < 64, "64 endpoints and still not every partition used: {endpoints:?}");
        let ep = client.create_endpoint(&format!("e{}", endpoints.len())).await.unwrap();
        let (partition, _) = produce(&probe, PROBE_TOPIC, &endpoint_key(&ep.id), b"probe", &[]).await;
        endpoints.push((ep, partition));
    }

    // One live subscriber per endpoint, on one connection, to see the order captures are
    // stored in.
    let mut ws = WsClient::connect(&api.base_url, Protocol::TransportWs, Auth::Init(token.clone())).await.unwrap();
    let mut subscription_of: HashMap<String, usize> = HashMap::new();
    for (i, (ep, _)) in endpoints.iter().enumerate() {
        let id = ws
            .subscribe(
                "subscription($e: ID!) { captureReceived(endpointId: $e) { id bodyText } }",
                json!({ "e": ep.id }),
            )
            .await
            .unwrap();
        subscription_of.insert(id, i);
    }
    // Give the API node's tail a moment to be positioned before the first capture.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // What was sent and acknowledged: capture ids, and each endpoint's bodies in send order.
    let mut ids: Vec<String> = Vec::new();
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); endpoints.len()];
    let mut seq = 0usize;
    let mut send_to = async |e: usize, via: &ChildServer, ids: &mut Vec<String>| -> String {
        let body = format!("capture-{seq}");
        seq += 1;
        let id = send(&http, &capture_url(&endpoints[e].0.url, &via.base_url), body.clone()).await;
        sent[e].push(body);
        ids.push(id.clone());
        id
    };

    // Which processor owns which partition, by storing one capture per partition and seeing
    // whose counter moves. Until the group has settled (the second processor joined), one may
    // own them all: repeated until both own some, so the test cannot pass with one processor
    // doing the work from the start.
    let first_on: BTreeMap<i32, usize> =
        endpoints.iter().enumerate().rev().map(|(i, (_, p))| (*p, i)).collect::<BTreeMap<_, _>>();
    let deadline = Instant::now() + Duration::from_secs(60);
    let owner_of: BTreeMap<i32, usize> = loop {
        let mut owners = BTreeMap::new();
        for (&partition, &e) in &first_on {
            let before = stored_by(&http, &[&processors[0], &processors[1]]).await;
            let id = send_to(e, &ingest[partition as usize % 2], &mut ids).await;
            client.wait_for_capture(&id, Duration::from_secs(30)).await.unwrap();
            // The counter moves just after the capture becomes readable.
            let counted = Instant::now() + Duration::from_secs(10);
            let after = loop {
                let after = stored_by(&http, &[&processors[0], &processors[1]]).await;
                if after.iter().sum::<u64>() > before.iter().sum::<u64>() {
                    break after;
                }
                assert!(Instant::now() < counted, "capture {id} stored but counted by no processor");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let movers: Vec<usize> = (0..2).filter(|&i| after[i] > before[i]).collect();
            assert_eq!(movers.len(), 1, "one capture stored by {movers:?}: {before:?} -> {after:?}");
            owners.insert(partition, movers[0]);
        }
        if owners.values().collect::<BTreeSet<_>>().len() == 2 {
            break owners;
        }
        assert!(Instant::now() < deadline, "after 60 s one processor still owns every partition: {owners:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let doomed: BTreeSet<i32> = owner_of.iter().filter(|&(_, &o)| o == 0).map(|(&p, _)| p).collect();
    eprintln!("partition owners before the kill: {owner_of:?} (processor 0 is killed)");

    // The stream: round robin over the endpoints and both ingest nodes; processor 0 is killed a
    // third of the way through and not replaced. After the kill the stream is paced so that it
    // goes on through the takeover (about two session timeouts) and past it.
    let n = 240;
    let mut killed_at = None;
    let mut survivor_stored_at_kill = 0;
    let mut sent_after_kill = 0u64;
    let mut takeover = None;
    for i in 0..n {
        if i == n / 3 {
            processors[0].kill9().await.unwrap();
            killed_at = Some(Instant::now());
            survivor_stored_at_kill = processor_records(&http, &processors[1], "stored").await;
        }
        let e = i % endpoints.len();
        let id = send_to(e, &ingest[i % 2], &mut ids).await;
        if let Some(killed_at) = killed_at {
            sent_after_kill += 1;
            // The first capture for one of the dead processor's partitions: once it is stored,
            // the survivor has taken those partitions over.
            if takeover.is_none() && doomed.contains(&endpoints[e].1) {
                let client = client.clone();
                takeover = Some(tokio::spawn(async move {
                    client.wait_for_capture(&id, Duration::from_secs(60)).await.map(|_| killed_at.elapsed())
                }));
            }
            tokio::time::sleep(Duration::from_millis(80)).await;
        }
    }
    let takeover = takeover.expect("a capture was sent to a partition of the killed processor").await.unwrap();
    let takeover = takeover.expect("the survivor took over the killed processor's partitions within 60 s");
    eprintln!("the survivor stored the killed processor's next capture {takeover:?} after the SIGKILL");

    // Every acknowledged capture stored, exactly once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (stored, total) = loop {
        let mut stored: HashSet<String> = HashSet::new();
        let mut total = 0;
        for (ep, _) in &endpoints {
            for c in client.all_captures(&ep.id).await.unwrap() {
                total += 1;
                stored.insert(c["id"].as_str().unwrap().to_string());
            }
        }
        if stored.len() >= ids.len() || Instant::now() >= deadline {
            break (stored, total);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let missing: Vec<&String> = ids.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged captures never stored, e.g. {:?}",
        missing.len(),
        ids.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(total, ids.len(), "each capture stored once");
    assert_eq!(stored, ids.iter().cloned().collect::<HashSet<_>>(), "nothing stored that was not sent");

    // Everything sent after the kill was stored by the survivor.
    let survivor_stored = processor_records(&http, &processors[1], "stored").await - survivor_stored_at_kill;
    assert!(
        survivor_stored >= sent_after_kill,
        "the survivor stored {survivor_stored} captures after the kill, {sent_after_kill} were sent"
    );
    let redelivered = processor_records(&http, &processors[1], "duplicate").await;

    // Each endpoint's captures were stored in the order they were sent: the live stream, where
    // redelivered captures show again, first shows each in send order.
    let mut live: Vec<Vec<String>> = vec![Vec::new(); endpoints.len()];
    let deadline = Instant::now() + Duration::from_secs(30);
    while live.iter().zip(&sent).any(|(l, s)| l.len() < s.len()) && Instant::now() < deadline {
        match ws.next_message(Duration::from_secs(5)).await.unwrap() {
            Some(WsMessage::Next { id, payload }) => {
                let e = subscription_of[&id];
                let body = payload["data"]["captureReceived"]["bodyText"].as_str().unwrap().to_string();
                if !live[e].contains(&body) {
                    live[e].push(body);
                }
            }
            Some(other) => panic!("unexpected message {other:?}"),
            None => {}
        }
    }
    for (e, (l, s)) in live.iter().zip(&sent).enumerate() {
        assert_eq!(l, s, "endpoint {e} (partition {}): live captures in send order", endpoints[e].1);
    }
    eprintln!(
        "{} captures stored once each; {redelivered} handed to the survivor again after the killed processor had stored them; test took {:?}",
        ids.len(),
        started.elapsed()
    );
}
