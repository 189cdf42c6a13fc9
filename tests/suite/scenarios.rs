//! Response scenarios, request caps and time to live, seen from the sender's side over HTTP and
//! recorded on the captures (`Capture.answer`).

use std::time::{Duration, Instant};

use hookmetry_config::HumanDuration;
use hookmetry_testkit::{ChildServer, Client, TestEndpoint, TestServer};
use serde_json::{Value, json};

use crate::common::binary;

const WAIT: Duration = Duration::from_secs(20);

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        // Scenario changes take effect on the next request, not after the cache's 2 s.
        c.ingest.endpoint_cache_ttl = HumanDuration(Duration::ZERO);
        c.store.expiry_interval = HumanDuration(Duration::from_secs(1));
    })
    .await
    .unwrap()
}

async fn set_scenario(client: &Client, ep: &TestEndpoint, scenario: Value) -> Value {
    client
        .graphql(
            "mutation($id: ID!, $s: [ScenarioRuleInput!]) { updateEndpoint(input: {id: $id, scenario: $s}) { scenario { id answer { kind summary } } } }",
            json!({ "id": ep.id, "s": scenario }),
        )
        .await
        .unwrap()["updateEndpoint"]["scenario"]
        .clone()
}

/// What the sender saw: status, `Retry-After`, the capture id ingest named, how long it took.
struct Seen {
    status: u16,
    retry_after: Option<String>,
    capture_id: String,
    took: Duration,
    body: String,
}

async fn send(ep: &TestEndpoint, kind: &str, body: &str) -> Seen {
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{}/hooks", ep.url))
        .header("X-Kind", kind)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let header = |n: &str| resp.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    Seen {
        status: resp.status().as_u16(),
        retry_after: header("retry-after"),
        capture_id: header("hookmetry-capture-id").unwrap_or_default(),
        took,
        body: resp.text().await.unwrap(),
    }
}

async fn answer_of(client: &Client, capture_id: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let d = client
            .graphql(
                "query($id: ID!) { capture(id: $id) { answer { ruleId status delayMs step timedOut } } }",
                json!({ "id": capture_id }),
            )
            .await
            .unwrap();
        if !d["capture"].is_null() {
            return d["capture"]["answer"].clone();
        }
        assert!(Instant::now() < deadline, "capture {capture_id} never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn header_rule(id: &str, kind: &str, answer: Value) -> Value {
    json!({ "id": id, "header": { "name": "x-kind", "contains": kind }, "answer": answer })
}

#[tokio::test]
async fn sequences_and_gone_after_answer_in_order_and_each_capture_records_its_answer() {
    let server = server().await;
    let ep = server.admin.create_endpoint("scenario-sequence").await.unwrap();
    let listed = set_scenario(
        &server.admin,
        &ep,
        json!([
            header_rule(
                "flaky",
                "seq",
                json!({ "sequence": { "steps": [
                { "status": 500 },
                { "status": 500 },
                { "status": 429, "headers": [{ "name": "Retry-After", "value": "30" }], "body": "slow down" },
                { "status": 200 },
            ], "then": "STICK" } })
            ),
            header_rule("gone", "gone", json!({ "goneAfter": { "count": 2 } })),
        ]),
    )
    .await;
    assert_eq!(
        listed,
        json!([
            { "id": "flaky", "answer": { "kind": "SEQUENCE", "summary": "500, 500, 429 Retry-After: 30, 200 then stay" } },
            { "id": "gone", "answer": { "kind": "GONE_AFTER", "summary": "200 for 2, then 410" } },
        ])
    );

    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(send(&ep, "seq", "{}").await);
    }
    assert_eq!(seen.iter().map(|s| s.status).collect::<Vec<_>>(), [500, 500, 429, 200, 200]);
    assert_eq!(seen[2].retry_after.as_deref(), Some("30"));
    assert_eq!(seen[2].body, "slow down");
    assert_eq!(seen[0].retry_after, None);
    for (i, s) in seen.iter().enumerate() {
        let step = (i + 1) as i64;
        assert_eq!(
            answer_of(&server.admin, &s.capture_id).await,
            json!({ "ruleId": "flaky", "status": s.status, "delayMs": 0, "step": step, "timedOut": false }),
            "capture {i}: a 500 is a capture like any other"
        );
    }

    let gone: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(send(&ep, "gone", "{}").await.status);
        }
        v
    };
    assert_eq!(gone, [200, 200, 410, 410]);

    // No rule matches: the default answer, recorded without a rule.
    let plain = send(&ep, "other", "{}").await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        answer_of(&server.admin, &plain.capture_id).await,
        json!({ "ruleId": null, "status": 200, "delayMs": 0, "step": null, "timedOut": false })
    );

    let counters = server
        .admin
        .graphql(
            "query($id: ID!) { endpoint(id: $id) { counters { captures rules { ruleId count } } } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(
        counters["endpoint"]["counters"],
        json!({ "captures": 0, "rules": [{ "ruleId": "flaky", "count": 5 }, { "ruleId": "gone", "count": 4 }] })
    );

    // A reset starts every sequence over.
    server
        .admin
        .graphql("mutation($id: ID!) { resetEndpointCounters(input: {id: $id}) { id } }", json!({ "id": ep.id }))
        .await
        .unwrap();
    assert_eq!(send(&ep, "seq", "{}").await.status, 500);
    assert_eq!(send(&ep, "gone", "{}").await.status, 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn mixes_delays_timeouts_and_event_types_as_the_sender_sees_them() {
    let server = server().await;
    let ep = server.admin.create_endpoint("scenario-mix").await.unwrap();
    set_scenario(
        &server.admin,
        &ep,
        json!([
            { "id": "invoices", "eventTypes": ["invoice.*"], "answer": { "fixed": { "status": 418 } } },
            header_rule("mix", "mix", json!({ "mix": { "choices": [{ "percent": 40, "reply": { "status": 503 } }], "rest": { "status": 202 } } })),
            header_rule("slow", "slow", json!({ "fixed": { "status": 201, "delayMs": 400 } })),
            header_rule("latency", "latency", json!({ "latency": { "points": [{ "percentile": 50, "ms": 20 }, { "percentile": 100, "ms": 300 }] } })),
            header_rule("timeout", "timeout", json!({ "fixed": { "timeout": true } })),
        ]),
    )
    .await;

    // The event type decides before any header rule.
    let invoice = send(&ep, "mix", r#"{"id":"evt_1","type":"invoice.paid"}"#).await;
    assert_eq!(invoice.status, 418);
    assert_eq!(answer_of(&server.admin, &invoice.capture_id).await["ruleId"], "invoices");

    // 200 draws of a 40 % share: outside 40..120 has a probability below 1e-9.
    let mut unavailable = 0;
    let mut ids = Vec::new();
    for _ in 0..200 {
        let s = send(&ep, "mix", "{}").await;
        assert!(matches!(s.status, 503 | 202), "{}", s.status);
        unavailable += usize::from(s.status == 503);
        ids.push((s.capture_id, s.status));
    }
    assert!((40..=120).contains(&unavailable), "{unavailable} of 200 answered 503 for a 40 % share");
    for (id, status) in ids.iter().take(5) {
        let a = answer_of(&server.admin, id).await;
        assert_eq!(
            (a["ruleId"].as_str(), a["status"].as_i64(), &a["step"]),
            (Some("mix"), Some(i64::from(*status)), &Value::Null)
        );
    }

    let slow = send(&ep, "slow", "{}").await;
    assert_eq!(slow.status, 201);
    assert!(slow.took >= Duration::from_millis(400), "answered after {:?}", slow.took);
    assert_eq!(answer_of(&server.admin, &slow.capture_id).await["delayMs"], 400);

    for _ in 0..10 {
        let s = send(&ep, "latency", "{}").await;
        let delay = answer_of(&server.admin, &s.capture_id).await["delayMs"].as_u64().unwrap();
        assert!(delay <= 300, "{delay} ms is past the distribution's 100th percentile");
        assert!(s.took >= Duration::from_millis(delay), "recorded {delay} ms, answered after {:?}", s.took);
    }

    // A simulated timeout: the sender gives up first, and the capture is already stored.
    let started = Instant::now();
    let held = reqwest::Client::new()
        .post(format!("{}/hooks", ep.url))
        .header("X-Kind", "timeout")
        .body("{\"held\":true}")
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(held.is_err_and(|e| e.is_timeout()), "the sender must time out");
    assert!(started.elapsed() < Duration::from_secs(10));
    let deadline = Instant::now() + WAIT;
    let held = loop {
        let all = server.admin.all_captures(&ep.id).await.unwrap();
        let d = server
            .admin
            .graphql(
                "query($e: ID!) { captures(endpointId: $e, first: 1) { edges { node { bodyText answer { ruleId status delayMs timedOut } } } } }",
                json!({ "e": ep.id }),
            )
            .await
            .unwrap();
        let newest = d["captures"]["edges"][0]["node"].clone();
        if newest["bodyText"] == "{\"held\":true}" {
            assert_eq!(all.len(), 1 + 200 + 1 + 10 + 1);
            break newest;
        }
        assert!(Instant::now() < deadline, "the held capture was not stored while held");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(held["answer"], json!({ "ruleId": "timeout", "status": 504, "delayMs": 30000, "timedOut": true }));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_scenarios_are_refused_with_the_field_and_change_nothing() {
    let server = server().await;
    let ep = server.admin.create_endpoint("scenario-bad").await.unwrap();
    let good = json!([header_rule("ok", "x", json!({ "fixed": { "status": 202 } }))]);
    set_scenario(&server.admin, &ep, good.clone()).await;
    let cases = [
        (
            json!([{ "answer": { "sequence": { "steps": [{ "status": 500 }, { "status": 600 }] } } }]),
            "scenario[0].answer.sequence.steps[1].status",
            "must be between 200 and 599, got 600",
        ),
        (
            json!([{ "answer": { "mix": { "choices": [{ "percent": 70, "reply": {} }, { "percent": 40, "reply": {} }], "rest": {} } } }]),
            "scenario[0].answer.mix.choices",
            "the percentages add up to 110; at most 100 (the rest get `rest`)",
        ),
        (
            json!([{ "answer": { "fixed": { "headers": [{ "name": "Set-Cookie", "value": "a=b" }] } } }]),
            "scenario[0].answer.fixed.headers",
            "`Set-Cookie` cannot be set",
        ),
        (
            json!([{ "id": "a", "answer": { "fixed": {} } }, { "id": "a", "answer": { "fixed": {} } }]),
            "scenario[1].id",
            "`a` names two rules; rule ids are unique",
        ),
        (
            json!([{ "answer": { "fixed": { "delayMs": 30001 } } }]),
            "scenario[0].answer.fixed.delayMs",
            "must be between 0 and 30000, got 30001",
        ),
    ];
    for (scenario, field, message) in cases {
        let (_, body) = server
            .admin
            .graphql_raw(
                "mutation($id: ID!, $s: [ScenarioRuleInput!]) { updateEndpoint(input: {id: $id, scenario: $s}) { id } }",
                json!({ "id": ep.id, "s": scenario }),
            )
            .await
            .unwrap();
        let e = &body["errors"][0];
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(e["extensions"]["field"], field, "{body}");
        assert!(e["message"].as_str().unwrap().contains(message), "{body}");
    }
    // Two answer kinds at once are refused by the schema itself.
    let (_, body) = server
        .admin
        .graphql_raw(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, scenario: [{answer: {fixed: {}, goneAfter: {count: 1}}}]}) { id } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("exactly one"), "{body}");
    let now = server
        .admin
        .graphql("query($id: ID!) { endpoint(id: $id) { scenario { id } } }", json!({ "id": ep.id }))
        .await
        .unwrap();
    assert_eq!(now["endpoint"]["scenario"], json!([{ "id": "ok" }]), "unchanged by every refusal");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_capture_cap_answers_429_naming_it_and_stores_nothing_more() {
    let server = server().await;
    let ep = server.admin.create_endpoint("capped").await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, maxCaptures: 2}) { maxCaptures } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    let statuses = {
        let mut v = Vec::new();
        for i in 0..2 {
            v.push(send(&ep, "any", &format!("{{\"n\":{i}}}")).await.status);
        }
        v
    };
    assert_eq!(statuses, [200, 200]);
    let refused = send(&ep, "any", "{\"n\":2}").await;
    assert_eq!(refused.status, 429);
    let body: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["error"]["code"], "capture_cap");
    assert!(body["error"]["message"].as_str().unwrap().contains("the 2 captures it may (maxCaptures)"), "{body}");
    assert_eq!(refused.capture_id, "", "no capture id: nothing was captured");
    assert_eq!(send(&ep, "any", "{\"n\":3}").await.status, 429);

    // Give the processor time to store anything it was (wrongly) given.
    server.admin.wait_for_captures(&ep.id, 2, WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = server.admin.all_captures(&ep.id).await.unwrap();
    assert_eq!(stored.len(), 2, "refused requests are not stored");
    let counters = server
        .admin
        .graphql("query($id: ID!) { endpoint(id: $id) { counters { captures } } }", json!({ "id": ep.id }))
        .await
        .unwrap();
    assert_eq!(counters["endpoint"]["counters"]["captures"], 2);

    // Create with a cap, and a bad cap names its field.
    let (_, body) = server
        .admin
        .graphql_raw("mutation { createEndpoint(input: {name: \"capped-0\", maxCaptures: 0}) { id } }", json!({}))
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "maxCaptures", "{body}");

    server
        .admin
        .graphql("mutation($id: ID!) { resetEndpointCounters(input: {id: $id}) { id } }", json!({ "id": ep.id }))
        .await
        .unwrap();
    assert_eq!(send(&ep, "any", "{\"n\":4}").await.status, 200, "a reset makes room again");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_endpoint_past_its_ttl_answers_404_and_goes_with_its_captures() {
    let server = server().await;
    let created = server
        .admin
        .graphql(
            "mutation { createEndpoint(input: {name: \"ephemeral\", ttlSeconds: 3}) { id url createdAt expiresAt ttlSeconds } }",
            json!({}),
        )
        .await
        .unwrap()["createEndpoint"]
        .clone();
    assert_eq!(created["ttlSeconds"], 3);
    let time = |v: &Value| hookmetry_core::Timestamp::parse_rfc3339(v.as_str().unwrap()).unwrap();
    let expires_at = time(&created["expiresAt"]);
    assert_eq!(expires_at.micros() - time(&created["createdAt"]).micros(), 3_000_000);
    let ep = TestEndpoint {
        id: created["id"].as_str().unwrap().into(),
        token: String::new(),
        url: created["url"].as_str().unwrap().into(),
    };
    let kept = send(&ep, "any", "{}").await;
    assert_eq!(kept.status, 200);
    server.admin.wait_for_capture(&kept.capture_id, WAIT).await.unwrap();

    let deadline = Instant::now() + WAIT;
    while send(&ep, "any", "{}").await.status != 404 {
        assert!(Instant::now() < deadline, "the capture URL still answers after its TTL");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(hookmetry_core::Timestamp::now() >= expires_at, "404 before expiresAt");
    // The sweeper (store.expiry_interval = 1s here) deletes it and its captures.
    loop {
        let d = server
            .admin
            .graphql(
                "query($e: ID!, $c: ID!) { endpoint(id: $e) { id } capture(id: $c) { id } }",
                json!({ "e": ep.id, "c": kept.capture_id }),
            )
            .await
            .unwrap();
        if d["endpoint"].is_null() && d["capture"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "not deleted: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, body) = server
        .admin
        .graphql_raw("mutation { createEndpoint(input: {name: \"forever\", ttlSeconds: 0}) { id } }", json!({}))
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "ttlSeconds", "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_sequence_keeps_its_place_across_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("HOOKMETRY_INGEST_ENDPOINT_CACHE_TTL", "0s")];
    let mut server = ChildServer::start_with_env(binary(), dir.path(), &[], &env).await.unwrap();
    let ep = server.client().create_endpoint("scenario-restart").await.unwrap();
    set_scenario(
        &server.client(),
        &ep,
        json!([{ "id": "flaky", "answer": { "sequence": { "steps": [{ "status": 500 }, { "status": 503 }, { "status": 200 }] } } }]),
    )
    .await;
    assert_eq!(send(&ep, "any", "{}").await.status, 500);
    assert_eq!(send(&ep, "any", "{}").await.status, 503);
    server.kill9().await.unwrap();

    let server = ChildServer::start_with_env(binary(), dir.path(), &[], &env).await.unwrap();
    // A new port: the same capture token on the restarted server.
    let ep = TestEndpoint { url: format!("{}/h/{}", server.base_url, ep.token), ..ep };
    let third = send(&ep, "any", "{}").await;
    assert_eq!(third.status, 200, "the third request gets the third step after the restart");
    assert_eq!(answer_of(&server.client(), &third.capture_id).await["step"], 3);
    assert_eq!(send(&ep, "any", "{}").await.status, 500, "then it repeats");
    let all = server.client().wait_for_captures(&ep.id, 4, WAIT).await.unwrap();
    assert_eq!(all.len(), 4, "every answered request, the 500s included, is a capture");
}
