//! Replay end to end on `hookmetry serve`: a capture sent over HTTP, replayed through GraphQL to
//! receivers on 127.0.0.1 that record the exact bytes they get, with retries, re-signing,
//! cancellation, bulk replay, live updates, response comparison and the CLI.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hookmetry_config::HumanDuration;
use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};
use hookmetry_testkit::{Client, TestServer};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(20);

const DELIVERY: &str = "id state target method edited resigned bodySha256 bodyBase64 attemptCount maxAttempts \
    nextAttemptAt headers { name value } \
    attempts { number responseStatus responseBodyText responseTruncated latencyMs error errorMessage succeeded }";

/// An HTTP/1.1 receiver on 127.0.0.1 that answers the n-th request with `script[n]` (the last
/// entry repeats) and records every request exactly.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<(u16, &'static str)>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let Some(req) = read_received(&mut socket).await else { return };
                    let n = {
                        let mut all = seen.lock().unwrap();
                        all.push(req);
                        all.len() - 1
                    };
                    let (status, body) = script[n.min(script.len() - 1)];
                    let answer = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-type: text/plain\r\nx-attempt: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        n + 1,
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// Retries a few tens of milliseconds apart, so retry tests take well under a second.
fn fast_retries(c: &mut hookmetry_config::Config) {
    c.replay.retry_initial = HumanDuration(Duration::from_millis(50));
    c.replay.retry_max_delay = HumanDuration(Duration::from_millis(200));
    c.replay.scan_interval = HumanDuration(Duration::from_millis(50));
    c.replay.max_attempts = 4;
}

async fn replay(client: &Client, input: Value) -> Result<Value, (String, Value)> {
    let q = format!("mutation($input: ReplayCaptureInput!) {{ replayCapture(input: $input) {{ {DELIVERY} }} }}");
    let (_, body) = client.graphql_raw(&q, json!({ "input": input })).await.unwrap();
    match body["errors"].get(0) {
        Some(e) => Err((e["message"].as_str().unwrap_or_default().to_string(), e["extensions"].clone())),
        None => Ok(body["data"]["replayCapture"].clone()),
    }
}

async fn delivery(client: &Client, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ delivery(id: $id) {{ {DELIVERY} }} }}");
    client.graphql(&q, json!({ "id": id })).await.unwrap()["delivery"].clone()
}

/// Polls until the delivery is no longer pending.
async fn finished(client: &Client, id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let d = delivery(client, id).await;
        if d["state"] != "PENDING" {
            return d;
        }
        assert!(Instant::now() < deadline, "delivery {id} still pending after {WAIT:?}: {d}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn capture_sha(client: &Client, id: &str) -> String {
    let c = client.graphql("query($id: ID!) { capture(id: $id) { bodySha256 } }", json!({ "id": id })).await.unwrap();
    c["capture"]["bodySha256"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_replay_sends_the_captured_bytes_and_records_the_answer() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("replay").await.unwrap();
    let body: &[u8] = b"{\"amount\":100}\xff\x00 not utf-8\r\n";
    let id = capture(
        &ep,
        "/stripe/events?live=1",
        &[("X-Trace", b"abc \xfe"), ("x-dup", b"one"), ("Connection", b"keep-alive"), ("x-dup", b"two")],
        body,
    )
    .await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let receiver = Receiver::start(vec![(200, "thanks")]).await;

    let created =
        replay(&server.admin, json!({ "captureId": id, "target": format!("{}/hooks", receiver.url) })).await.unwrap();
    assert_eq!(created["state"], "PENDING");
    assert_eq!(created["edited"], false);
    assert_eq!(created["target"], format!("{}/hooks/stripe/events?live=1", receiver.url));
    let done = finished(&server.admin, created["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    assert_eq!(done["attemptCount"], 1);
    assert_eq!(done["nextAttemptAt"], Value::Null);
    let attempt = &done["attempts"][0];
    assert_eq!((attempt["number"].clone(), attempt["responseStatus"].clone()), (json!(1), json!(200)));
    assert_eq!(attempt["responseBodyText"], "thanks");
    assert_eq!((attempt["error"].clone(), attempt["succeeded"].clone()), (Value::Null, json!(true)));

    let got = receiver.received();
    assert_eq!(got.len(), 1, "exactly one request");
    let r = &got[0];
    assert_eq!(r.request_line, "POST /hooks/stripe/events?live=1 HTTP/1.1");
    assert_eq!(r.body, body, "the body is the captured bytes");
    assert_eq!(sha256_hex(&r.body), capture_sha(&server.admin, &id).await);
    assert_eq!(done["bodySha256"].as_str().unwrap(), sha256_hex(body), "the delivery records the sent body's hash");
    assert_eq!(r.header("x-trace"), Some(&b"abc \xfe"[..]), "values byte for byte");
    let dups: Vec<&[u8]> =
        r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("x-dup")).map(|(_, v)| v.as_slice()).collect();
    assert_eq!(dups, vec![&b"one"[..], &b"two"[..]], "duplicates kept in order");
    assert_ne!(r.header("connection"), Some(&b"keep-alive"[..]), "hop-by-hop headers are not forwarded");

    let listed = server
        .admin
        .graphql("query($id: ID!) { capture(id: $id) { deliveries { id state } } }", json!({ "id": id }))
        .await
        .unwrap();
    assert_eq!(listed["capture"]["deliveries"], json!([{ "id": created["id"], "state": "SUCCEEDED" }]));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_answers_and_subscribers_see_every_change() {
    let server = TestServer::start_with(fast_retries).await.unwrap();
    let ep = server.admin.create_endpoint("retries").await.unwrap();
    let id = capture(&ep, "/", &[("content-type", b"application/json")], b"{\"n\":1}").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let receiver =
        Receiver::start(vec![(503, "{\"ok\":false,\"error\":\"db down\"}"), (500, "oops"), (200, "{\"ok\":true}")])
            .await;

    let mut ws = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(server.admin.token.clone()))
        .await
        .unwrap();
    ws.subscribe(
        "subscription($c: ID!) { deliveryUpdated(captureId: $c) { id state attemptCount } }",
        json!({ "c": id }),
    )
    .await
    .unwrap();
    // The subscription is registered when the server has read the subscribe message; a short
    // pause keeps the first change from racing it.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let created = replay(&server.admin, json!({ "captureId": id, "target": receiver.url })).await.unwrap();
    let delivery_id = created["id"].as_str().unwrap().to_string();
    let done = finished(&server.admin, &delivery_id).await;
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    let statuses: Vec<Value> =
        done["attempts"].as_array().unwrap().iter().map(|a| a["responseStatus"].clone()).collect();
    assert_eq!(statuses, vec![json!(503), json!(500), json!(200)]);
    assert_eq!(done["attempts"][0]["error"], "STATUS");
    assert_eq!(receiver.received().len(), 3);

    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !seen.iter().any(|(s, _): &(String, u64)| s == "SUCCEEDED") && Instant::now() < deadline {
        if let Some(WsMessage::Next { payload, .. }) = ws.next_message(Duration::from_secs(2)).await.unwrap() {
            let d = &payload["data"]["deliveryUpdated"];
            assert_eq!(d["id"], delivery_id.as_str());
            seen.push((d["state"].as_str().unwrap().to_string(), d["attemptCount"].as_u64().unwrap()));
        }
    }
    // One message per change (created, then each of the 3 attempts), each carrying the delivery
    // as it is when the subscriber reads it: counts never go back, and the last is the outcome.
    assert_eq!(seen.len(), 4, "{seen:?}");
    let counts: Vec<u64> = seen.iter().map(|(_, n)| *n).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last().unwrap(), &("SUCCEEDED".to_string(), 3));

    // What the fix changed: first attempt against the last.
    let cmp = server
        .admin
        .graphql(
            "query($d: ID!) { compareAttempts(before: {deliveryId: $d, number: 1}, after: {deliveryId: $d, number: 3}) {
                statusChanged bodyEqual headers { name change before after } bodyDiff { change text } } }",
            json!({ "d": delivery_id }),
        )
        .await
        .unwrap()["compareAttempts"]
        .clone();
    assert_eq!(cmp["statusChanged"], true);
    assert_eq!(cmp["bodyEqual"], false);
    let attempt_header = cmp["headers"].as_array().unwrap().iter().find(|h| h["name"] == "x-attempt").unwrap();
    assert_eq!(attempt_header, &json!({ "name": "x-attempt", "change": "CHANGED", "before": ["1"], "after": ["3"] }));
    let changed: Vec<Value> =
        cmp["bodyDiff"].as_array().unwrap().iter().filter(|l| l["change"] != "SAME").cloned().collect();
    assert_eq!(
        changed,
        vec![
            json!({ "change": "REMOVED", "text": "  \"error\": \"db down\"," }),
            json!({ "change": "REMOVED", "text": "  \"ok\": false" }),
            json!({ "change": "ADDED", "text": "  \"ok\": true" }),
        ]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_receiver_that_never_succeeds_dead_letters_after_the_last_attempt() {
    let server = TestServer::start_with(fast_retries).await.unwrap();
    let ep = server.admin.create_endpoint("dead").await.unwrap();
    let id = capture(&ep, "/", &[], b"x").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let receiver = Receiver::start(vec![(502, "bad gateway")]).await;
    let created = replay(&server.admin, json!({ "captureId": id, "target": receiver.url })).await.unwrap();
    let done = finished(&server.admin, created["id"].as_str().unwrap()).await;
    assert_eq!(done["state"], "DEAD_LETTERED", "{done}");
    assert_eq!((done["attemptCount"].clone(), done["maxAttempts"].clone()), (json!(4), json!(4)));
    assert_eq!(receiver.received().len(), 4, "max_attempts requests, then none");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 4, "nothing after the dead letter");
    server.stop().await.unwrap();
}

/// A Stripe-signed capture replayed ten minutes after it was signed: as captured, the receiver's
/// timestamp check rejects it; re-signed, it is accepted.
#[tokio::test]
async fn a_resigned_replay_is_accepted_where_the_late_original_is_rejected() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("stripe").await.unwrap();
    let secret = "whsec_replaytest";
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: {provider: \"stripe\", secrets: [{label: \"current\", value: \"whsec_replaytest\"}]}}) { id } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let signed_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 600;
    let input = hookmetry_verify::SignInput {
        method: "POST",
        url: &ep.url,
        body,
        timestamp: signed_at,
        id: None,
        headers: &[],
    };
    let signed = hookmetry_verify::sign("stripe", secret, None, &input).unwrap();
    let (name, value) = &signed.headers[0];
    let id = capture(&ep, "/", &[(name.as_str(), value.as_bytes()), ("content-type", b"application/json")], body).await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let receiver = Receiver::start(vec![(200, "ok")]).await;

    let verdict_of = |r: &Received| {
        let headers: Vec<hookmetry_core::Header> =
            r.headers.iter().map(|(n, v)| hookmetry_core::Header::new(n.clone(), v.clone())).collect();
        let settings = hookmetry_core::VerificationSettings {
            provider: "stripe".into(),
            secrets: vec![hookmetry_core::SigningSecret { label: "current".into(), value: secret.into() }],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        };
        let req = hookmetry_verify::Request {
            method: "POST",
            url: "http://receiver.invalid/",
            headers: &headers,
            body: &r.body,
            received_at: r.at,
        };
        hookmetry_verify::verify(&settings, &req)
    };

    let original = replay(&server.admin, json!({ "captureId": id, "target": receiver.url })).await.unwrap();
    assert_eq!(finished(&server.admin, original["id"].as_str().unwrap()).await["state"], "SUCCEEDED");
    let resigned =
        replay(&server.admin, json!({ "captureId": id, "target": receiver.url, "resign": true })).await.unwrap();
    assert_eq!(resigned["resigned"], true);
    assert_eq!(finished(&server.admin, resigned["id"].as_str().unwrap()).await["state"], "SUCCEEDED");

    let got = receiver.received();
    assert_eq!(got.len(), 2);
    let late = verdict_of(&got[0]);
    assert_eq!(late.verdict, hookmetry_core::Verdict::TimestampOutOfTolerance, "{}", late.reason);
    let fresh = verdict_of(&got[1]);
    assert_eq!(fresh.verdict, hookmetry_core::Verdict::Valid, "{}", fresh.reason);
    assert_eq!(got[1].body, body, "re-signing keeps the body");
    assert_ne!(got[1].header("stripe-signature"), got[0].header("stripe-signature"));

    // The capture keeps its original signature.
    let stored = server
        .admin
        .graphql("query($id: ID!) { capture(id: $id) { headers { name value } } }", json!({ "id": id }))
        .await
        .unwrap();
    let kept = stored["capture"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case("stripe-signature"))
        .unwrap()["value"]
        .clone();
    assert_eq!(kept, json!(value));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_replay_input_is_refused_naming_the_field_and_creates_nothing() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("bad").await.unwrap();
    let id = capture(&ep, "/", &[], b"x").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();

    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({ "captureId": id, "target": "not a url" }), "target", "is not a URL"),
        (json!({ "captureId": id, "target": "ftp://127.0.0.1/x" }), "target", "http"),
        (
            json!({ "captureId": id, "target": "http://169.254.169.254/latest/meta-data" }),
            "target",
            "replay.allowed_networks",
        ),
        (json!({ "captureId": id, "target": "http://10.1.2.3/" }), "target", "replay.allow_private"),
        (
            json!({ "captureId": id, "target": "http://127.0.0.1:9/", "edits": { "body": "a", "bodyBase64": "YQ==" } }),
            "edits.body",
            "not both",
        ),
        (
            json!({ "captureId": id, "target": "http://127.0.0.1:9/", "edits": { "bodyBase64": "!!" } }),
            "edits.bodyBase64",
            "base64",
        ),
        (
            json!({ "captureId": id, "target": "http://127.0.0.1:9/", "edits": { "method": "GE T" } }),
            "edits.method",
            "",
        ),
        (
            json!({ "captureId": id, "target": "http://127.0.0.1:9/", "resign": true }),
            "resign",
            "no signature settings",
        ),
        (json!({ "captureId": "nope", "target": "http://127.0.0.1:9/" }), "captureId", ""),
    ];
    for (input, field, words) in cases {
        let (message, ext) = replay(&server.admin, input.clone()).await.expect_err(&input.to_string());
        assert_eq!(ext["code"], "BAD_USER_INPUT", "{input}: {message}");
        assert_eq!(ext["field"], field, "{input}: {message}");
        assert!(message.contains(words), "{input}: `{message}` should mention `{words}`");
    }
    let (message, ext) = replay(
        &server.admin,
        json!({ "captureId": hookmetry_core::CaptureId::new().to_string(), "target": "http://127.0.0.1:9/" }),
    )
    .await
    .unwrap_err();
    assert_eq!(ext["code"], "NOT_FOUND", "{message}");

    let listed = server
        .admin
        .graphql("query($id: ID!) { capture(id: $id) { deliveries { id } } }", json!({ "id": id }))
        .await
        .unwrap();
    assert_eq!(listed["capture"]["deliveries"], json!([]), "no refused replay left a delivery behind");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_cancelled_delivery_gets_no_further_attempt() {
    let server = TestServer::start_with(|c| {
        fast_retries(c);
        c.replay.retry_initial = HumanDuration(Duration::from_millis(800));
        c.replay.retry_max_delay = HumanDuration(Duration::from_millis(800));
    })
    .await
    .unwrap();
    let ep = server.admin.create_endpoint("cancel").await.unwrap();
    let id = capture(&ep, "/", &[], b"x").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let receiver = Receiver::start(vec![(503, "busy")]).await;
    let created = replay(&server.admin, json!({ "captureId": id, "target": receiver.url })).await.unwrap();
    let delivery_id = created["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "no first attempt");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cancel = "mutation($id: ID!) { cancelDelivery(id: $id) { cancelled delivery { state nextAttemptAt } } }";
    let first = server.admin.graphql(cancel, json!({ "id": delivery_id })).await.unwrap()["cancelDelivery"].clone();
    assert_eq!(first, json!({ "cancelled": true, "delivery": { "state": "CANCELLED", "nextAttemptAt": null } }));
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(receiver.received().len(), 1, "no attempt after the cancel");
    let again = server.admin.graphql(cancel, json!({ "id": delivery_id })).await.unwrap()["cancelDelivery"].clone();
    assert_eq!(again["cancelled"], false);
    assert_eq!(delivery(&server.admin, &delivery_id).await["state"], "CANCELLED");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bulk_replay_sends_every_capture_the_filter_matches() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("bulk").await.unwrap();
    let mut posts = Vec::new();
    for i in 0..3 {
        posts.push(capture(&ep, &format!("/p{i}"), &[], format!("post {i}").as_bytes()).await);
    }
    let put = reqwest::Client::new().put(&ep.url).body("put").send().await.unwrap();
    let put_id = id_from_body(&put.text().await.unwrap());
    for id in posts.iter().chain([&put_id]) {
        server.admin.wait_for_capture(id, WAIT).await.unwrap();
    }
    let receiver = Receiver::start(vec![(204, "")]).await;
    let out = server
        .admin
        .graphql(
            "mutation($input: ReplayCapturesInput!) { replayCaptures(input: $input) { hasMore deliveries { id } } }",
            json!({ "input": { "endpointId": ep.id, "filter": { "method": "POST" }, "target": receiver.url, "limit": 2 } }),
        )
        .await
        .unwrap()["replayCaptures"]
        .clone();
    assert_eq!(out["hasMore"], true);
    let ids: Vec<String> =
        out["deliveries"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert_eq!(finished(&server.admin, id).await["state"], "SUCCEEDED");
    }
    let mut lines: Vec<String> = receiver.received().iter().map(|r| r.request_line.clone()).collect();
    lines.sort();
    assert_eq!(lines, vec!["POST /p1 HTTP/1.1", "POST /p2 HTTP/1.1"], "the two newest POSTs, not the PUT");

    let (status, body) = server
        .admin
        .graphql_raw(
            "mutation($input: ReplayCapturesInput!) { replayCaptures(input: $input) { hasMore } }",
            json!({ "input": { "endpointId": ep.id, "target": receiver.url, "limit": 5000 } }),
        )
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "limit", "{status} {body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn forwarding_rules_deliver_matching_captures_and_bad_rules_change_nothing() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("forward").await.unwrap();
    let receiver = Receiver::start(vec![(200, "ok")]).await;
    let set = "mutation($input: SetForwardingRulesInput!) { setForwardingRules(input: $input) { forwardingRules { id target method pathPrefix headerName headerContains } } }";
    let rules = json!([
        { "id": "github-pushes", "target": format!("{}/gh", receiver.url), "method": "POST", "header": { "name": "X-GitHub-Event", "contains": "push" } },
    ]);
    let saved = server.admin.graphql(set, json!({ "input": { "endpointId": ep.id, "rules": rules } })).await.unwrap();
    let expected = json!([{ "id": "github-pushes", "target": format!("{}/gh", receiver.url), "method": "POST", "pathPrefix": null, "headerName": "X-GitHub-Event", "headerContains": "push" }]);
    assert_eq!(saved["setForwardingRules"]["forwardingRules"], expected);

    let push = capture(&ep, "/hook", &[("X-GitHub-Event", b"push")], b"{\"ref\":\"main\"}").await;
    let issue = capture(&ep, "/hook", &[("X-GitHub-Event", b"issues")], b"{}").await;
    for id in [&push, &issue] {
        server.admin.wait_for_capture(id, WAIT).await.unwrap();
    }
    let q = "query($id: ID!) { capture(id: $id) { deliveries { id origin state target } } }";
    let deadline = Instant::now() + WAIT;
    let forwarded = loop {
        let d = server.admin.graphql(q, json!({ "id": push })).await.unwrap()["capture"]["deliveries"].clone();
        if d[0]["state"] == "SUCCEEDED" {
            break d;
        }
        assert!(Instant::now() < deadline, "push not forwarded: {d}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(forwarded.as_array().unwrap().len(), 1);
    assert_eq!(forwarded[0]["origin"], "rule:github-pushes");
    assert_eq!(forwarded[0]["target"], format!("{}/gh/hook", receiver.url));
    let issue_deliveries = server.admin.graphql(q, json!({ "id": issue })).await.unwrap();
    assert_eq!(issue_deliveries["capture"]["deliveries"], json!([]), "a capture no rule matches is not forwarded");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, b"{\"ref\":\"main\"}");

    let bad: Vec<(Value, &str)> = vec![
        (json!([{ "id": "a", "target": receiver.url }, { "id": "a", "target": receiver.url }]), "rules[1].id"),
        (json!([{ "id": "has space", "target": receiver.url }]), "rules[0].id"),
        (json!([{ "id": "meta", "target": "http://169.254.169.254/" }]), "rules[0].target"),
        (json!([{ "id": "m", "target": receiver.url, "method": "GE T" }]), "rules[0].method"),
        (json!([{ "id": "p", "target": receiver.url, "pathPrefix": "no-slash" }]), "rules[0].pathPrefix"),
        (json!([{ "id": "h", "target": receiver.url, "header": { "name": "bad name" } }]), "rules[0].header.name"),
    ];
    for (rules, field) in bad {
        let (_, body) =
            server.admin.graphql_raw(set, json!({ "input": { "endpointId": ep.id, "rules": rules } })).await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{rules}: {body}");
    }
    let now = server
        .admin
        .graphql("query($id: ID!) { endpoint(id: $id) { forwardingRules { id target method pathPrefix headerName headerContains } } }", json!({ "id": ep.id }))
        .await
        .unwrap();
    assert_eq!(now["endpoint"]["forwardingRules"], expected, "rejected rules left the saved ones alone");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn forwarding_rules_route_by_event_type() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("forward by type").await.unwrap();
    let receiver = Receiver::start(vec![(200, "ok")]).await;
    let set = "mutation($input: SetForwardingRulesInput!) { setForwardingRules(input: $input) { forwardingRules { id eventTypes } } }";
    let rules = json!([{ "id": "charges", "target": receiver.url, "eventTypes": ["charge.*", "invoice.paid"] }]);
    let saved = server.admin.graphql(set, json!({ "input": { "endpointId": ep.id, "rules": rules } })).await.unwrap();
    assert_eq!(
        saved["setForwardingRules"]["forwardingRules"],
        json!([{ "id": "charges", "eventTypes": ["charge.*", "invoice.paid"] }])
    );

    // No verification configured: the type is read where the guessed provider (Stripe) names it.
    let event = |kind: &str| format!(r#"{{"id":"evt_{kind}","object":"event","type":"{kind}"}}"#);
    let sig: &[u8] = b"t=1,v1=00";
    let charge = capture(&ep, "/", &[("Stripe-Signature", sig)], event("charge.refunded").as_bytes()).await;
    let invoice = capture(&ep, "/", &[("Stripe-Signature", sig)], event("invoice.paid").as_bytes()).await;
    let other = capture(&ep, "/", &[("Stripe-Signature", sig)], event("customer.created").as_bytes()).await;
    let untyped = capture(&ep, "/", &[], b"{\"hello\":1}").await;
    for id in [&charge, &invoice, &other, &untyped] {
        server.admin.wait_for_capture(id, WAIT).await.unwrap();
    }
    let q = "query($id: ID!) { capture(id: $id) { event { type } deliveries { origin state } } }";
    let deadline = Instant::now() + WAIT;
    for id in [&charge, &invoice] {
        loop {
            let d = server.admin.graphql(q, json!({ "id": id })).await.unwrap()["capture"].clone();
            if d["deliveries"][0]["state"] == "SUCCEEDED" {
                assert_eq!(d["deliveries"][0]["origin"], "rule:charges");
                break;
            }
            assert!(Instant::now() < deadline, "{id} not forwarded: {d}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    for id in [&other, &untyped] {
        let d = server.admin.graphql(q, json!({ "id": id })).await.unwrap()["capture"].clone();
        assert_eq!(d["deliveries"], json!([]), "{id} matches no pattern: {d}");
    }
    let mut bodies: Vec<Vec<u8>> = receiver.received().into_iter().map(|r| r.body).collect();
    bodies.sort();
    assert_eq!(bodies, vec![event("charge.refunded").into_bytes(), event("invoice.paid").into_bytes()]);

    // Bad patterns name their field and change nothing.
    for (rules, field) in [
        (json!([{ "id": "x", "target": receiver.url, "eventTypes": [""] }]), "rules[0].eventTypes[0]"),
        (json!([{ "id": "x", "target": receiver.url, "eventTypes": vec!["a"; 21] }]), "rules[0].eventTypes"),
        (json!([{ "id": "x", "target": receiver.url, "eventTypes": ["ok", "tab\there"] }]), "rules[0].eventTypes[1]"),
    ] {
        let (_, body) =
            server.admin.graphql_raw(set, json!({ "input": { "endpointId": ep.id, "rules": rules } })).await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
    let now = server
        .admin
        .graphql("query($id: ID!) { endpoint(id: $id) { forwardingRules { id eventTypes } } }", json!({ "id": ep.id }))
        .await
        .unwrap();
    assert_eq!(now["endpoint"]["forwardingRules"], saved["setForwardingRules"]["forwardingRules"]);
    server.stop().await.unwrap();
}

async fn token(admin: &Client, team_id: Option<&str>, role: &str) -> Client {
    let out = admin
        .graphql(
            "mutation($input: CreateTokenInput!) { createToken(input: $input) { secret } }",
            json!({ "input": { "teamId": team_id, "role": role, "name": format!("{role} token") } }),
        )
        .await
        .unwrap();
    Client::new(&admin.base_url, out["createToken"]["secret"].as_str().unwrap())
}

/// Replay is team-scoped like everything else: another team's ids are "not found" (the same
/// answer as ids that do not exist), a viewer may look but not replay, and nothing a refused
/// call names changes.
#[tokio::test]
async fn other_teams_see_nothing_and_viewers_cannot_replay() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("isolated").await.unwrap();
    let id = capture(&ep, "/", &[], b"x").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let receiver = Receiver::start(vec![(200, "ok")]).await;
    let mine = replay(&server.admin, json!({ "captureId": id, "target": receiver.url })).await.unwrap();
    let delivery_id = mine["id"].as_str().unwrap().to_string();
    assert_eq!(finished(&server.admin, &delivery_id).await["state"], "SUCCEEDED");

    let team_b = server.admin.graphql("mutation { createTeam(input: {name: \"b\"}) { id } }", json!({})).await.unwrap()
        ["createTeam"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = token(&server.admin, Some(&team_b), "ADMIN").await;
    let viewer = token(&server.admin, None, "VIEWER").await;

    let (_, ext) = replay(&other, json!({ "captureId": id, "target": receiver.url })).await.unwrap_err();
    assert_eq!(ext["code"], "NOT_FOUND");
    let (_, ext) = replay(&viewer, json!({ "captureId": id, "target": receiver.url })).await.unwrap_err();
    assert_eq!(ext["code"], "FORBIDDEN");

    let seen =
        other.graphql("query($id: ID!) { delivery(id: $id) { id } }", json!({ "id": delivery_id })).await.unwrap();
    assert_eq!(seen["delivery"], Value::Null, "another team's delivery does not exist for them");
    let own =
        viewer.graphql("query($id: ID!) { delivery(id: $id) { id } }", json!({ "id": delivery_id })).await.unwrap();
    assert_eq!(own["delivery"]["id"], delivery_id.as_str(), "a viewer of the team sees it");

    let refused = [
        (
            &other,
            "mutation($d: ID!) { cancelDelivery(id: $d) { cancelled } }",
            json!({ "d": delivery_id }),
            "NOT_FOUND",
        ),
        (
            &viewer,
            "mutation($d: ID!) { cancelDelivery(id: $d) { cancelled } }",
            json!({ "d": delivery_id }),
            "FORBIDDEN",
        ),
        (
            &other,
            "query($d: ID!) { compareAttempts(before: {deliveryId: $d, number: 1}, after: {deliveryId: $d, number: 1}) { statusChanged } }",
            json!({ "d": delivery_id }),
            "NOT_FOUND",
        ),
        (
            &other,
            "mutation($e: ID!, $t: String!) { setForwardingRules(input: {endpointId: $e, rules: [{id: \"x\", target: $t}]}) { id } }",
            json!({ "e": ep.id, "t": receiver.url }),
            "NOT_FOUND",
        ),
        (
            &viewer,
            "mutation($e: ID!, $t: String!) { setForwardingRules(input: {endpointId: $e, rules: [{id: \"x\", target: $t}]}) { id } }",
            json!({ "e": ep.id, "t": receiver.url }),
            "FORBIDDEN",
        ),
        (
            &other,
            "mutation($input: ReplayCapturesInput!) { replayCaptures(input: $input) { hasMore } }",
            json!({ "input": { "endpointId": ep.id, "target": receiver.url } }),
            "NOT_FOUND",
        ),
    ];
    for (client, doc, vars, code) in refused {
        let (_, body) = client.graphql_raw(doc, vars.clone()).await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{doc} {vars}: {body}");
    }

    let mut ws =
        WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(other.token.clone())).await.unwrap();
    ws.subscribe("subscription($d: ID!) { deliveryUpdated(deliveryId: $d) { id } }", json!({ "d": delivery_id }))
        .await
        .unwrap();
    // A resolver error before the stream starts comes as one result with `errors`.
    match ws.next_message(Duration::from_secs(5)).await.unwrap() {
        Some(WsMessage::Next { payload, .. }) => {
            assert_eq!(payload["data"], Value::Null, "{payload}");
            assert_eq!(payload["errors"][0]["extensions"]["code"], "NOT_FOUND", "{payload}");
        }
        Some(WsMessage::Error { payload, .. }) => {
            assert_eq!(payload[0]["extensions"]["code"], "NOT_FOUND", "{payload}")
        }
        other => panic!("expected a NOT_FOUND error, got {other:?}"),
    }

    // Nothing changed: still one delivery, succeeded, no rule set.
    let after = server
        .admin
        .graphql(
            "query($c: ID!, $e: ID!) { capture(id: $c) { deliveries { id state } } endpoint(id: $e) { forwardingRules { id } } }",
            json!({ "c": id, "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(after["capture"]["deliveries"], json!([{ "id": delivery_id, "state": "SUCCEEDED" }]));
    assert_eq!(after["endpoint"]["forwardingRules"], json!([]));
    assert_eq!(receiver.received().len(), 1);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_replay_command_follows_the_attempts_and_exits_by_the_outcome() {
    let server = TestServer::start_with(fast_retries).await.unwrap();
    let ep = server.admin.create_endpoint("cli").await.unwrap();
    let id = capture(&ep, "/", &[], b"from the cli").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"));
    let run = |target: String| {
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(["replay", &id, "--to", &target, "--url", &server.base_url, "--token", &server.admin.token])
            .env_remove("HOOKMETRY_URL")
            .env_remove("HOOKMETRY_TOKEN")
            .kill_on_drop(true);
        cmd
    };

    let flaky = Receiver::start(vec![(503, "busy"), (200, "done")]).await;
    let out = run(flaky.url.clone()).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("delivery ") && lines[0].contains(&flaky.url), "{stdout}");
    assert!(lines[1].starts_with("attempt 1: 503 (") && lines[1].contains("answered 503"), "{stdout}");
    assert!(lines[2].starts_with("attempt 2: 200 in "), "{stdout}");
    assert_eq!(lines[3], "delivered after 2 attempt(s)");
    assert_eq!(flaky.received().iter().map(|r| r.body.clone()).collect::<Vec<_>>(), vec![b"from the cli".to_vec(); 2]);

    let dead = Receiver::start(vec![(500, "no")]).await;
    let out = run(dead.url.clone()).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ended dead-lettered after 4 of 4 attempt(s)"), "{stderr}");

    let out = run("http://169.254.169.254/".into()).output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("target") && stderr.contains("metadata"), "{stderr}");
    server.stop().await.unwrap();
}
