//! The processor against the real embedded log and SQLite store: captures are stored byte-exact,
//! a "capture stored" event follows each, undecodable records are passed, and a restart stores
//! nothing twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookmetry_core::{
    CaptureId, CapturedRequest, Endpoint, EndpointId, Header, TOPIC_CAPTURES, TOPIC_EVENTS, Timestamp,
};
use hookmetry_log::{EmbeddedLog, EventLog, NewRecord};
use hookmetry_processor::{Processor, ProcessorSettings};
use hookmetry_proto::Event;
use hookmetry_store::{CapturePage, CaptureStore, DeliveryStore, EndpointStore};
use hookmetry_telemetry::Metrics;
use hookmetry_testkit::fixtures::{Embedded as Fixture, embedded as fixture};
use tokio_util::sync::CancellationToken;

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
        answered: None,
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
        schema_drift: true,
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
            event_types: Vec::new(),
        },
        ForwardingRule {
            id: "puts".into(),
            target: "https://staging.example.com".into(),
            method: Some("PUT".into()),
            path_prefix: None,
            header: None,
            event_types: Vec::new(),
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

/// A SQLite store that refuses some captures for good (as a store refuses data it will never
/// accept) and is unavailable for a while when told to.
mod failing {
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hookmetry_core::{
        ApiToken, Attempt, CaptureId, CapturedRequest, Delivery, DeliveryId, Endpoint, EndpointId, ForwardingRule,
        Team, TeamId, Timestamp, TokenHash, TokenId, Verification,
    };
    use hookmetry_store::{
        CaptureList, CapturePage, CaptureStore, DeliveryProgress, DeliveryStore, EndpointStore, LeaseOutcome,
        ListenerClaim, ListenerCursor, ListenerLease, ListenerStore, Result, SqliteStore, StoreError, StoreHealth,
        TeamStore,
    };

    pub struct FailingStore {
        pub inner: std::sync::Arc<SqliteStore>,
        /// Captures the store refuses in every write that holds them.
        pub refused: Mutex<HashSet<CaptureId>>,
        /// How many capture writes still fail as unavailable.
        pub outages: AtomicUsize,
        pub writes: AtomicUsize,
        /// Whether `sync_captures` fails, and how often it was called.
        pub sync_fails: std::sync::atomic::AtomicBool,
        pub syncs: AtomicUsize,
    }

    impl FailingStore {
        pub fn new(inner: std::sync::Arc<SqliteStore>) -> Self {
            Self {
                inner,
                refused: Mutex::default(),
                outages: AtomicUsize::new(0),
                writes: AtomicUsize::new(0),
                sync_fails: Default::default(),
                syncs: AtomicUsize::new(0),
            }
        }
    }

    #[async_trait::async_trait]
    impl TeamStore for FailingStore {
        async fn create_team(&self, team: &Team) -> Result<()> {
            self.inner.create_team(team).await
        }
        async fn team(&self, id: TeamId) -> Result<Option<Team>> {
            self.inner.team(id).await
        }
        async fn teams(&self) -> Result<Vec<Team>> {
            self.inner.teams().await
        }
        async fn set_retention(&self, team: TeamId, days: u32) -> Result<()> {
            self.inner.set_retention(team, days).await
        }
        async fn create_token(&self, token: &ApiToken) -> Result<()> {
            self.inner.create_token(token).await
        }
        async fn token_by_hash(&self, hash: &TokenHash) -> Result<Option<ApiToken>> {
            self.inner.token_by_hash(hash).await
        }
        async fn tokens(&self, team: TeamId) -> Result<Vec<ApiToken>> {
            self.inner.tokens(team).await
        }
        async fn touch_token(&self, id: TokenId, at: Timestamp) -> Result<()> {
            self.inner.touch_token(id, at).await
        }
        async fn token(&self, id: TokenId) -> Result<Option<ApiToken>> {
            self.inner.token(id).await
        }
        async fn revoke_token(&self, id: TokenId) -> Result<()> {
            self.inner.revoke_token(id).await
        }
        async fn has_tokens(&self) -> Result<bool> {
            self.inner.has_tokens().await
        }
    }

    #[async_trait::async_trait]
    impl EndpointStore for FailingStore {
        async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
            self.inner.create_endpoint(endpoint).await
        }
        async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
            self.inner.update_endpoint(endpoint).await
        }
        async fn delete_endpoint(&self, id: EndpointId) -> Result<()> {
            self.inner.delete_endpoint(id).await
        }
        async fn endpoint(&self, id: EndpointId) -> Result<Option<Endpoint>> {
            self.inner.endpoint(id).await
        }
        async fn endpoint_by_token(&self, token: &str) -> Result<Option<Endpoint>> {
            self.inner.endpoint_by_token(token).await
        }
        async fn endpoints(&self, team: TeamId) -> Result<Vec<Endpoint>> {
            self.inner.endpoints(team).await
        }
        async fn set_forwarding_rules(&self, endpoint: EndpointId, rules: &[ForwardingRule]) -> Result<()> {
            self.inner.set_forwarding_rules(endpoint, rules).await
        }
        async fn forwarding_rules(&self, endpoint: EndpointId) -> Result<Vec<ForwardingRule>> {
            self.inner.forwarding_rules(endpoint).await
        }
        async fn bump_counter(&self, endpoint: EndpointId, key: &str) -> Result<u64> {
            self.inner.bump_counter(endpoint, key).await
        }
        async fn counters(&self, endpoint: EndpointId) -> Result<Vec<(String, u64)>> {
            self.inner.counters(endpoint).await
        }
        async fn reset_counters(&self, endpoint: EndpointId, prefix: &str) -> Result<()> {
            self.inner.reset_counters(endpoint, prefix).await
        }
        async fn expired_endpoints(&self, now: Timestamp, limit: usize) -> Result<Vec<Endpoint>> {
            self.inner.expired_endpoints(now, limit).await
        }
    }

    #[async_trait::async_trait]
    impl CaptureStore for FailingStore {
        async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            if self.outages.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                return Err(StoreError::Unavailable("timed out".into()));
            }
            let refused = self.refused.lock().unwrap().clone();
            if let Some(c) = captures.iter().find(|c| refused.contains(&c.id)) {
                return Err(StoreError::Backend(format!("capture {} rejected by a constraint", c.id)));
            }
            self.inner.put_captures(captures).await
        }
        async fn capture(&self, id: CaptureId) -> Result<Option<CapturedRequest>> {
            self.inner.capture(id).await
        }
        async fn captures(&self, endpoint: EndpointId, page: &CapturePage) -> Result<CaptureList> {
            self.inner.captures(endpoint, page).await
        }
        async fn put_verifications(&self, results: &[(CaptureId, Verification)]) -> Result<()> {
            self.inner.put_verifications(results).await
        }
        async fn sync_captures(&self) -> Result<()> {
            self.syncs.fetch_add(1, Ordering::SeqCst);
            if self.sync_fails.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("disk gone".into()));
            }
            self.inner.sync_captures().await
        }
        async fn verification(&self, id: CaptureId) -> Result<Option<Verification>> {
            self.inner.verification(id).await
        }
        async fn verifications(&self, ids: &[CaptureId]) -> Result<std::collections::HashMap<CaptureId, Verification>> {
            self.inner.verifications(ids).await
        }
        async fn event_group(
            &self,
            endpoint: EndpointId,
            event_id: &str,
            limit: usize,
        ) -> Result<hookmetry_core::EventGroup> {
            self.inner.event_group(endpoint, event_id, limit).await
        }
        async fn newest_event_before(
            &self,
            endpoint: EndpointId,
            resource: &str,
            before: CaptureId,
        ) -> Result<Option<(CaptureId, Timestamp)>> {
            self.inner.newest_event_before(endpoint, resource, before).await
        }
        async fn delete_capture(&self, id: CaptureId) -> Result<()> {
            self.inner.delete_capture(id).await
        }
        async fn expire_captures(&self, now: Timestamp) -> Result<u64> {
            self.inner.expire_captures(now).await
        }
    }

    #[async_trait::async_trait]
    impl hookmetry_store::ShapeStore for FailingStore {
        async fn event_shape(
            &self,
            endpoint: EndpointId,
            event_type: &str,
        ) -> Result<Option<hookmetry_core::EventShape>> {
            self.inner.event_shape(endpoint, event_type).await
        }
        async fn event_shapes(&self, endpoint: EndpointId, limit: usize) -> Result<Vec<hookmetry_core::EventShape>> {
            self.inner.event_shapes(endpoint, limit).await
        }
        async fn put_event_shapes(&self, shapes: &[hookmetry_core::EventShape]) -> Result<()> {
            self.inner.put_event_shapes(shapes).await
        }
        async fn put_schema_changes(&self, changes: &[(CaptureId, String)]) -> Result<()> {
            self.inner.put_schema_changes(changes).await
        }
        async fn schema_change(&self, capture: CaptureId) -> Result<Option<String>> {
            self.inner.schema_change(capture).await
        }
    }

    #[async_trait::async_trait]
    impl DeliveryStore for FailingStore {
        async fn put_delivery(&self, delivery: &Delivery) -> Result<()> {
            self.inner.put_delivery(delivery).await
        }
        async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
            self.inner.delivery(id).await
        }
        async fn deliveries_for_capture(&self, capture: CaptureId, limit: usize) -> Result<Vec<Delivery>> {
            self.inner.deliveries_for_capture(capture, limit).await
        }
        async fn record_attempt(&self, attempt: &Attempt, progress: &DeliveryProgress) -> Result<bool> {
            self.inner.record_attempt(attempt, progress).await
        }
        async fn claim_delivery(
            &self,
            id: DeliveryId,
            attempts: u32,
            now: Timestamp,
            until: Timestamp,
        ) -> Result<bool> {
            self.inner.claim_delivery(id, attempts, now, until).await
        }
        async fn attempts(&self, delivery: DeliveryId) -> Result<Vec<Attempt>> {
            self.inner.attempts(delivery).await
        }
        async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<Delivery>> {
            self.inner.due_deliveries(now, limit).await
        }
        async fn cancel_delivery(&self, id: DeliveryId, at: Timestamp) -> Result<bool> {
            self.inner.cancel_delivery(id, at).await
        }
    }

    #[async_trait::async_trait]
    impl ListenerStore for FailingStore {
        async fn listener_cursor(&self, endpoint: EndpointId, name: &str) -> Result<Option<ListenerCursor>> {
            self.inner.listener_cursor(endpoint, name).await
        }
        async fn advance_listener(
            &self,
            endpoint: EndpointId,
            name: &str,
            capture: CaptureId,
            at: Timestamp,
        ) -> Result<()> {
            self.inner.advance_listener(endpoint, name, capture, at).await
        }
        async fn claim_listener(
            &self,
            endpoint: EndpointId,
            name: &str,
            owner: TokenId,
            limit: usize,
            at: Timestamp,
        ) -> Result<ListenerClaim> {
            self.inner.claim_listener(endpoint, name, owner, limit, at).await
        }
        async fn lease_listener(
            &self,
            endpoint: EndpointId,
            name: &str,
            lease: &ListenerLease,
            now: Timestamp,
            takeover: bool,
        ) -> Result<LeaseOutcome> {
            self.inner.lease_listener(endpoint, name, lease, now, takeover).await
        }
        async fn release_listener(&self, endpoint: EndpointId, name: &str, holder: &str) -> Result<()> {
            self.inner.release_listener(endpoint, name, holder).await
        }
    }

    #[async_trait::async_trait]
    impl StoreHealth for FailingStore {
        async fn health(&self) -> Result<()> {
            self.inner.health().await
        }
    }
}

fn start_on(
    f: &Fixture,
    store: Arc<dyn hookmetry_store::Store>,
    metrics: &Metrics,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let settings = ProcessorSettings {
        batch_size: 64,
        poll_wait: Duration::from_millis(20),
        commit_interval: Duration::from_millis(50),
        batch_linger: Duration::from_millis(20),
        public_base_url: "http://127.0.0.1:8080".into(),
        schema_drift: true,
    };
    let processor = Processor::new(f.log.clone(), store, settings, metrics).unwrap().with_permanent_attempts(2);
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move { processor.run(token).await.unwrap() });
    (shutdown, task)
}

#[tokio::test]
async fn a_record_the_store_never_accepts_is_dead_lettered_with_its_reason_and_the_others_are_stored() {
    let f = fixture().await;
    let metrics = Metrics::new();
    let store = Arc::new(failing::FailingStore::new(f.store.clone()));
    let sent = [capture(&f.endpoint, b"one"), capture(&f.endpoint, b"bad"), capture(&f.endpoint, b"three")];
    store.refused.lock().unwrap().insert(sent[1].id);
    for c in &sent {
        append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(c)).await;
    }
    let (shutdown, task) = start_on(&f, store.clone(), &metrics);

    let mut dead = f.log.consumer(hookmetry_core::TOPIC_DEAD_LETTERS, "inspect").await.unwrap();
    let mut set_aside = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while set_aside.is_empty() && Instant::now() < deadline {
        set_aside = dead.poll(10, Duration::from_millis(200)).await.unwrap();
    }
    let mut kept = stored(&f, 2).await;
    kept.reverse();
    assert_eq!(kept, vec![sent[0].clone(), sent[2].clone()], "the good records are stored");
    assert_eq!(set_aside.len(), 1, "only the refused record is set aside");
    assert_eq!(hookmetry_proto::decode_capture(set_aside[0].payload.clone()).unwrap(), sent[1]);
    assert_eq!(set_aside[0].header("source-offset").map(|v| v.as_ref()), Some(&b"1"[..]));
    let reason = String::from_utf8_lossy(set_aside[0].header("error").unwrap()).into_owned();
    assert!(reason.contains("rejected by a constraint"), "the reason is kept: {reason}");

    // Committed past it: a restart does not try the bad record again.
    shutdown.cancel();
    task.await.unwrap();
    let writes = store.writes.load(std::sync::atomic::Ordering::SeqCst);
    let (shutdown, task) = start_on(&f, store.clone(), &Metrics::new());
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    task.await.unwrap();
    assert_eq!(store.writes.load(std::sync::atomic::Ordering::SeqCst), writes, "nothing is left to store");

    let text = metrics.render();
    assert!(text.contains("hookmetry_processor_records_total{outcome=\"dead_lettered\"} 1"), "{text}");
    assert!(text.contains("hookmetry_processor_records_total{outcome=\"stored\"} 2"), "{text}");
    assert!(text.contains("hookmetry_processor_failures_total{kind=\"transient\"} 0"), "{text}");
    // Twice as a batch, then twice alone.
    assert!(text.contains("hookmetry_processor_failures_total{kind=\"permanent\"} 4"), "{text}");
}

#[tokio::test]
async fn a_store_outage_is_retried_until_the_batch_is_stored() {
    let f = fixture().await;
    let metrics = Metrics::new();
    let store = Arc::new(failing::FailingStore::new(f.store.clone()));
    // More outages than permanent failures are tolerated: transient ones are never given up on.
    store.outages.store(4, std::sync::atomic::Ordering::SeqCst);
    let sent = [capture(&f.endpoint, b"one"), capture(&f.endpoint, b"two")];
    for c in &sent {
        append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(c)).await;
    }
    let (shutdown, task) = start_on(&f, store.clone(), &metrics);
    let mut kept = stored(&f, 2).await;
    kept.reverse();
    assert_eq!(kept, sent, "stored once the store is back");
    shutdown.cancel();
    task.await.unwrap();

    let mut dead = f.log.consumer(hookmetry_core::TOPIC_DEAD_LETTERS, "inspect").await.unwrap();
    assert!(dead.poll(10, Duration::from_millis(200)).await.unwrap().is_empty(), "nothing is dead-lettered");
    let text = metrics.render();
    assert!(text.contains("hookmetry_processor_failures_total{kind=\"transient\"} 4"), "{text}");
    assert!(text.contains("hookmetry_processor_failures_total{kind=\"permanent\"} 0"), "{text}");
    assert!(!text.contains("outcome=\"dead_lettered\""), "{text}");
}

/// Captures written but not yet synced could be lost with the machine: while the store cannot
/// sync, no offset is committed, so a restarted processor reads the captures again.
#[tokio::test]
async fn offsets_wait_for_the_store_to_sync_what_it_wrote() {
    use std::sync::atomic::Ordering;
    let f = fixture().await;
    let store = Arc::new(failing::FailingStore::new(f.store.clone()));
    store.sync_fails.store(true, Ordering::SeqCst);
    let sent = capture(&f.endpoint, b"unsynced");
    append(&f.log, &f.endpoint, hookmetry_proto::encode_capture(&sent)).await;
    let (shutdown, task) = start_on(&f, store.clone(), &Metrics::new());
    assert_eq!(stored(&f, 1).await, vec![sent.clone()]);
    // Two commit attempts refused, and the one at shutdown.
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.syncs.load(Ordering::SeqCst) < 2 && Instant::now() < deadline {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.syncs.load(Ordering::SeqCst) >= 2, "the processor tried to commit");
    shutdown.cancel();
    task.await.unwrap();

    let again = Metrics::new();
    let (shutdown, task) = start(&f, &again);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !again.render().contains("hookmetry_processor_records_total{outcome=\"duplicate\"} 1")
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    task.await.unwrap();
    let text = again.render();
    assert!(text.contains("hookmetry_processor_records_total{outcome=\"duplicate\"} 1"), "read again: {text}");
    assert_eq!(stored(&f, 1).await, vec![sent], "stored once");
}
