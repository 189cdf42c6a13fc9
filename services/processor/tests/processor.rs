//! The processor against the real embedded log and SQLite store: captures are stored byte-exact,
//! a "capture stored" event follows each, undecodable records are passed, and a restart stores
//! nothing twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookmetry_core::{
    CaptureId, CapturedRequest, Endpoint, EndpointId, Header, TOPIC_CAPTURES, TOPIC_EVENTS, Team, TeamId, Timestamp,
};
use hookmetry_log::{EmbeddedLog, EmbeddedLogOptions, EventLog, NewRecord};
use hookmetry_processor::{Processor, ProcessorSettings};
use hookmetry_proto::Event;
use hookmetry_store::{CapturePage, CaptureStore, DeliveryStore, EndpointStore, SqliteStore, TeamStore};
use hookmetry_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<EmbeddedLog>,
    store: Arc<SqliteStore>,
    endpoint: Endpoint,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(dir.path().join("log"), EmbeddedLogOptions::default()).await.unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("db")).await.unwrap());
    let team = Team { id: TeamId::new(), name: "t".into(), retention_days: 1, created_at: Timestamp::now() };
    store.create_team(&team).await.unwrap();
    let endpoint = Endpoint {
        id: EndpointId::new(),
        team_id: team.id,
        name: "e".into(),
        token: "0123456789abcdef0123456789abcdef".into(),
        response: None,
        verification: None,
        handshakes: false,
        created_at: Timestamp::now(),
    };
    store.create_endpoint(&endpoint).await.unwrap();
    Fixture { _dir: dir, log, store, endpoint }
}

fn capture(ep: &Endpoint, body: &'static [u8]) -> CapturedRequest {
    CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: ep.id,
        team_id: ep.team_id,
        method: "POST".into(),
        path: "/x".into(),
        query: Some("a=1&a=2".into()),
        headers: vec![Header::new("x-dup", &b"1"[..]), Header::new("x-dup", &b"\xff"[..])],
        body: Bytes::from_static(body),
        body_sha256: [1; 32],
        remote_addr: "127.0.0.1:1".into(),
        http_version: "HTTP/1.1".into(),
        received_at: Timestamp::now(),
    }
}

async fn append(log: &EmbeddedLog, ep: &Endpoint, payload: Bytes) {
    log.append(TOPIC_CAPTURES, NewRecord::new(Bytes::copy_from_slice(ep.id.as_bytes()), payload)).await.unwrap();
}

fn start(f: &Fixture, metrics: &Metrics) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let settings = ProcessorSettings {
        batch_size: 64,
        poll_wait: Duration::from_millis(20),
        commit_interval: Duration::from_millis(50),
        batch_linger: Duration::from_millis(1),
        public_base_url: "http://127.0.0.1:8080".into(),
    };
    let processor = Processor::new(f.log.clone(), f.store.clone(), settings, metrics).unwrap();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { processor.run(token).await.unwrap() });
    (shutdown, task)
}

async fn stored(f: &Fixture, n: usize) -> Vec<CapturedRequest> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = f.store.captures(f.endpoint.id, &CapturePage { limit: 100, ..Default::default() }).await.unwrap();
        if page.items.len() >= n || Instant::now() > deadline {
            return page.items;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn stores_each_capture_exactly_and_then_announces_it() {
    let f = fixture().await;
    let mut events = f.log.tail(TOPIC_EVENTS).await.unwrap();
    let sent = [capture(&f.endpoint, b"\x00one"), capture(&f.endpoint, b""), capture(&f.endpoint, b"three")];
    for c in &sent {
        append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(c)).await;
    }
    let (shutdown, task) = start(&f, &Metrics::new());

    let mut stored = stored(&f, 3).await;
    stored.reverse();
    assert_eq!(stored, sent, "stored byte for byte, in order");

    let mut announced = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while announced.len() < 3 && Instant::now() < deadline {
        for r in events.next_batch(10, Duration::from_millis(100)).await.unwrap() {
            assert_eq!(r.header(hookmetry_proto::SCHEMA_HEADER).map(|v| v.as_ref()), Some(&b"event/1"[..]));
            match hookmetry_proto::decode_event(r.payload).unwrap() {
                Some(Event::CaptureStored(s)) => announced.push(s),
                other => panic!("the processor announces stored captures only, got {other:?}"),
            }
        }
    }
    let summaries: Vec<_> = sent.iter().map(CapturedRequest::summary).collect();
    assert_eq!(announced, summaries);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn an_undecodable_record_is_set_aside_and_counted() {
    let f = fixture().await;
    let metrics = Metrics::new();
    append(&f.log, &f.endpoint, Bytes::from_static(b"\xff\xff\xff not protobuf")).await;
    let good = capture(&f.endpoint, b"after the bad one");
    append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(&good)).await;
    let (shutdown, task) = start(&f, &metrics);
    assert_eq!(stored(&f, 1).await, vec![good]);
    shutdown.cancel();
    task.await.unwrap();
    let text = metrics.render();
    assert!(text.contains("hookmetry_processor_records_total{outcome=\"undecodable\"} 1"), "{text}");
    // Set aside, byte for byte, with where it came from and why, for an operator to inspect.
    let mut dead = f.log.consumer(hookmetry_core::TOPIC_DEAD_LETTERS, "inspect").await.unwrap();
    let set_aside = dead.poll(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(set_aside.len(), 1);
    assert_eq!(set_aside[0].payload.as_ref(), b"\xff\xff\xff not protobuf");
    assert_eq!(set_aside[0].key.as_ref(), f.endpoint.id.as_bytes());
    assert_eq!(set_aside[0].header("source-topic").map(|v| v.as_ref()), Some(&b"captures"[..]));
    assert_eq!(set_aside[0].header("source-offset").map(|v| v.as_ref()), Some(&b"0"[..]));
    assert!(set_aside[0].header("error").is_some_and(|e| !e.is_empty()));
    assert!(text.contains("hookmetry_processor_records_total{outcome=\"stored\"} 1"), "{text}");
}

#[tokio::test]
async fn a_restart_resumes_after_the_commit_and_stores_nothing_twice() {
    let f = fixture().await;
    let first = capture(&f.endpoint, b"first");
    append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(&first)).await;
    let m1 = Metrics::new();
    let (shutdown, task) = start(&f, &m1);
    stored(&f, 1).await;
    shutdown.cancel();
    task.await.unwrap();

    let second = capture(&f.endpoint, b"second");
    append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(&second)).await;
    let m2 = Metrics::new();
    let (shutdown, task) = start(&f, &m2);
    let all = stored(&f, 2).await;
    assert_eq!(all, vec![second, first]);
    shutdown.cancel();
    task.await.unwrap();
    let text = m2.render();
    assert!(text.contains("hookmetry_processor_records_total{outcome=\"stored\"} 1"), "{text}");
    assert!(!text.contains("outcome=\"duplicate\"} 1"), "the committed capture was not read again: {text}");
}

#[tokio::test]
async fn every_capture_is_verified_against_its_endpoint_settings_and_counted() {
    let f = fixture().await;
    let metrics = Metrics::new();
    let mut configured = Endpoint {
        id: EndpointId::new(),
        token: "fedcba9876543210fedcba9876543210".into(),
        name: "github".into(),
        verification: Some(hookmetry_core::VerificationSettings {
            provider: "github".into(),
            secrets: vec![hookmetry_core::SigningSecret::new("current", "It's a Secret to Everybody")],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        }),
        ..f.endpoint.clone()
    };
    f.store.create_endpoint(&configured).await.unwrap();
    let target = configured.clone();
    let signed = |body: &'static [u8]| CapturedRequest {
        headers: vec![Header::new(
            "X-Hub-Signature-256",
            &b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"[..],
        )],
        ..capture(&target, body)
    };
    let good = signed(b"Hello, World!");
    let bad = signed(b"Hello, World?");
    let unconfigured = CapturedRequest {
        headers: vec![Header::new("Stripe-Signature", &b"t=1,v1=00"[..])],
        ..capture(&f.endpoint, b"{}")
    };
    for c in [&good, &bad, &unconfigured] {
        append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(c)).await;
    }
    let (shutdown, task) = start(&f, &metrics);
    stored(&f, 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.store.verification(unconfigured.id).await.unwrap().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let v = f.store.verification(good.id).await.unwrap().expect("verified");
    assert_eq!(
        (v.verdict, v.secret_label.as_deref(), v.reason.as_str()),
        (hookmetry_core::Verdict::Valid, Some("current"), "matches secret `current`")
    );
    let v = f.store.verification(bad.id).await.unwrap().expect("verified");
    assert_eq!(v.verdict, hookmetry_core::Verdict::InvalidSignature);
    assert!(v.reason.contains("no secret matches the signature in `X-Hub-Signature-256`"), "{}", v.reason);
    let v = f.store.verification(unconfigured.id).await.unwrap().expect("verified");
    assert_eq!(v.verdict, hookmetry_core::Verdict::NotConfigured);
    assert_eq!(v.reason, "looks like Stripe (`Stripe-Signature` present); no secret configured");
    assert_eq!(v.provider.as_deref(), Some("stripe"));

    // A secret change applies to the next batch.
    configured.verification.as_mut().unwrap().secrets[0].value = "rotated away".into();
    f.store.update_endpoint(&configured).await.unwrap();
    let after = signed(b"Hello, World!");
    append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(&after)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.store.verification(after.id).await.unwrap().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        f.store.verification(after.id).await.unwrap().unwrap().verdict,
        hookmetry_core::Verdict::InvalidSignature
    );
    shutdown.cancel();
    task.await.unwrap();

    let text = metrics.render();
    for line in [
        "hookmetry_verifications_total{provider=\"github\",verdict=\"VALID\"} 1",
        "hookmetry_verifications_total{provider=\"github\",verdict=\"INVALID_SIGNATURE\"} 2",
        "hookmetry_verifications_total{provider=\"stripe\",verdict=\"NOT_CONFIGURED\"} 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

/// Forwarding rules: each new capture that matches a rule becomes one pending delivery to the
/// rule's target, a replay worker is woken for it, and a capture handled again (redelivered
/// after a crash) makes no second delivery.
#[tokio::test]
async fn matching_captures_become_one_delivery_per_rule_even_when_handled_twice() {
    use hookmetry_core::{DeliveryId, DeliveryOrigin, DeliveryState, ForwardingRule, TOPIC_DELIVERIES};
    let f = fixture().await;
    let rules = vec![
        ForwardingRule {
            id: "all".into(),
            target: "http://127.0.0.1:3000/in".into(),
            method: None,
            path_prefix: None,
            header: None,
        },
        ForwardingRule {
            id: "puts".into(),
            target: "https://staging.example.com".into(),
            method: Some("PUT".into()),
            path_prefix: None,
            header: None,
        },
    ];
    f.store.set_forwarding_rules(f.endpoint.id, &rules).await.unwrap();
    let mut wakes = f.log.tail(TOPIC_DELIVERIES).await.unwrap();
    let post = capture(&f.endpoint, b"post body");
    let put = CapturedRequest { method: "PUT".into(), ..capture(&f.endpoint, b"put body") };
    for c in [&post, &put] {
        append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(c)).await;
    }
    let metrics = Metrics::new();
    let (shutdown, task) = start(&f, &metrics);
    stored(&f, 2).await;

    let mut woken = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while woken.len() < 3 && Instant::now() < deadline {
        for r in wakes.next_batch(10, Duration::from_millis(100)).await.unwrap() {
            woken.push(hookmetry_proto::decode_delivery_request(r.payload).unwrap());
        }
    }
    let expected = [
        DeliveryId::for_rule(post.id, "all"),
        DeliveryId::for_rule(put.id, "all"),
        DeliveryId::for_rule(put.id, "puts"),
    ];
    woken.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(woken, want, "one wake-up per matching rule and capture");

    let d = f.store.delivery(DeliveryId::for_rule(put.id, "puts")).await.unwrap().unwrap();
    assert_eq!(d.origin, DeliveryOrigin::Rule { rule_id: "puts".into() });
    assert_eq!(d.state, DeliveryState::Pending);
    assert_eq!(d.request.url, "https://staging.example.com/x?a=1&a=2");
    assert_eq!(d.request.body, put.body, "the captured bytes");
    assert_eq!(d.request.body_sha256, put.body_sha256);
    assert!(f.store.delivery(DeliveryId::for_rule(post.id, "puts")).await.unwrap().is_none(), "POST does not match");
    shutdown.cancel();
    task.await.unwrap();

    // The same captures again, as after a crash before the commit: no new delivery.
    let before = f.store.delivery(DeliveryId::for_rule(post.id, "all")).await.unwrap().unwrap();
    for c in [&post, &put] {
        append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(c)).await;
    }
    let metrics = Metrics::new();
    let (shutdown, task) = start(&f, &metrics);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !metrics.render().contains("hookmetry_processor_records_total{outcome=\"duplicate\"} 2") {
        assert!(Instant::now() < deadline, "redelivered captures not handled:\n{}", metrics.render());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(f.store.deliveries_for_capture(post.id, usize::MAX).await.unwrap().len(), 1);
    assert_eq!(f.store.deliveries_for_capture(put.id, usize::MAX).await.unwrap().len(), 2);
    assert_eq!(f.store.delivery(before.id).await.unwrap().unwrap(), before, "the first write stands");
}
