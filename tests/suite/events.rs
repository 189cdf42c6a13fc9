//! Event identity end to end: signed provider requests sent over HTTP come back through GraphQL
//! with the event they name; captures filter by event type (with `*`) and id; an endpoint's
//! custom event fields are validated, name their field when wrong, change nothing then, and are
//! refused to a VIEWER and to another team.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use hookmetry_testkit::{Client, TestEndpoint, TestServer};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const EVENT: &str = "event { id type createdAt attempt retryReason resource }";

/// Seconds by the product's clock (CI moves it a year ahead in a second run).
fn now() -> i64 {
    hookmetry_core::Timestamp::now().micros().div_euclid(1_000_000)
}

/// The capture's verification and event once the processor has checked it.
async fn checked(client: &Client, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ capture(id: $id) {{ verification {{ verdict }} {EVENT} }} }}");
    let deadline = Instant::now() + WAIT;
    loop {
        let c = client.graphql(&q, json!({ "id": id })).await.unwrap()["capture"].clone();
        if !c["verification"].is_null() {
            return c;
        }
        assert!(Instant::now() < deadline, "capture {id} not checked within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(ep: &TestEndpoint, headers: &[(String, String)], body: &str) -> String {
    let mut req =
        reqwest::Client::new().post(&ep.url).header("content-type", "application/json").body(body.to_string());
    for (n, v) in headers {
        req = req.header(n, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    id_from_body(&resp.text().await.unwrap())
}

fn stripe_signed(ep: &TestEndpoint, secret: &str, body: &str) -> Vec<(String, String)> {
    let input = hookmetry_verify::SignInput {
        method: "POST",
        url: &ep.url,
        body: body.as_bytes(),
        timestamp: now(),
        id: None,
        headers: &[],
    };
    hookmetry_verify::sign("stripe", secret, None, &input).unwrap().headers
}

async fn ids(client: &Client, ep: &TestEndpoint, filter: Value) -> Vec<String> {
    let q = "query($e: ID!, $f: CaptureFilter) { captures(endpointId: $e, filter: $f) { edges { node { id } } } }";
    let d = client.graphql(q, json!({ "e": ep.id, "f": filter })).await.unwrap();
    d["captures"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn stripe_events_are_identified_and_filtered_by_type_and_id() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("stripe events").await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: {provider: \"stripe\", secrets: [{label: \"current\", value: \"whsec_events\"}]}}) { id } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    let created = now() - 60;
    let event = |id: &str, kind: &str, object: &str| {
        format!(
            r#"{{"id":"{id}","object":"event","type":"{kind}","created":{created},"data":{{"object":{{"id":"{object}","object":"charge"}}}}}}"#
        )
    };
    let first = event("evt_1", "charge.succeeded", "ch_1");
    let a = send(&ep, &stripe_signed(&ep, "whsec_events", &first), &first).await;
    let again = send(&ep, &stripe_signed(&ep, "whsec_events", &first), &first).await;
    let refund = event("evt_2", "charge.refunded", "ch_1");
    let b = send(&ep, &stripe_signed(&ep, "whsec_events", &refund), &refund).await;
    let plain = send(&ep, &[], r#"{"hello":"world"}"#).await;

    let c = checked(&server.admin, &a).await;
    assert_eq!(c["verification"]["verdict"], "VALID");
    let created_at = hookmetry_core::Timestamp::from_micros(created * 1_000_000).to_rfc3339();
    assert_eq!(
        c["event"],
        json!({ "id": "evt_1", "type": "charge.succeeded", "createdAt": created_at, "attempt": null,
                "retryReason": null, "resource": "ch_1" })
    );
    assert_eq!(checked(&server.admin, &b).await["event"]["type"], "charge.refunded");
    checked(&server.admin, &again).await;
    // A request that names no event has none.
    assert_eq!(checked(&server.admin, &plain).await["event"], Value::Null);

    assert_eq!(
        ids(&server.admin, &ep, json!({ "eventType": "charge.*" })).await,
        vec![b.clone(), again.clone(), a.clone()]
    );
    assert_eq!(ids(&server.admin, &ep, json!({ "eventType": "charge.refunded" })).await, vec![b.clone()]);
    assert_eq!(ids(&server.admin, &ep, json!({ "eventId": "evt_1" })).await, vec![again, a]);
    assert!(ids(&server.admin, &ep, json!({ "eventType": "charge" })).await.is_empty());

    // Bad filters name their field.
    let q = "query($e: ID!, $f: CaptureFilter) { captures(endpointId: $e, filter: $f) { edges { node { id } } } }";
    for (filter, field) in [
        (json!({ "eventType": "x".repeat(201) }), "filter.eventType"),
        (json!({ "eventId": "" }), "filter.eventId"),
        (json!({ "eventType": "tab\there" }), "filter.eventType"),
    ] {
        let (_, body) = server.admin.graphql_raw(q, json!({ "e": ep.id, "f": filter })).await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn an_unconfigured_endpoint_reads_the_event_where_the_guessed_provider_names_it() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("github events").await.unwrap();
    let headers = [
        ("X-GitHub-Event".to_string(), "pull_request".to_string()),
        ("X-GitHub-Delivery".to_string(), "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string()),
        ("X-Hub-Signature-256".to_string(), format!("sha256={}", "0".repeat(64))),
    ];
    let id = send(&ep, &headers, r#"{"action":"opened","number":1}"#).await;
    let c = checked(&server.admin, &id).await;
    assert_eq!(c["verification"]["verdict"], "NOT_CONFIGURED");
    assert_eq!(c["event"]["id"], "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    assert_eq!(c["event"]["type"], "pull_request.opened");
}

const SET_FIELDS: &str = "mutation($id: ID!, $f: EventFieldsInput) { updateEndpoint(input: {id: $id, eventFields: $f}) { eventFields { id type createdAt attempt resource } } }";

#[tokio::test]
async fn custom_event_fields_are_validated_and_used() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("custom sender").await.unwrap();
    let fields = json!({ "id": "header:X-Event-Id", "type": "json:/meta/kind", "createdAt": "/meta/at",
                         "attempt": "header:X-Attempt", "resource": null });
    let d = server.admin.graphql(SET_FIELDS, json!({ "id": ep.id, "f": fields })).await.unwrap();
    assert_eq!(d["updateEndpoint"]["eventFields"], fields);

    let headers = [("X-Event-Id".to_string(), "e-42".to_string()), ("X-Attempt".to_string(), "3".to_string())];
    let id = send(&ep, &headers, r#"{"meta":{"kind":"order.paid","at":"2026-01-02T03:04:05Z"}}"#).await;
    let c = checked(&server.admin, &id).await;
    assert_eq!(
        c["event"],
        json!({ "id": "e-42", "type": "order.paid", "createdAt": "2026-01-02T03:04:05.000000Z", "attempt": 3,
                "retryReason": null, "resource": null })
    );

    // A field that cannot be read is named, and the stored fields do not change.
    let (_, body) = server
        .admin
        .graphql_raw(SET_FIELDS, json!({ "id": ep.id, "f": { "id": "header:X-Other", "createdAt": "meta.at" } }))
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "eventFields.createdAt", "{body}");
    let q = "query($id: ID!) { endpoint(id: $id) { eventFields { id type createdAt attempt resource } } }";
    let stored = server.admin.graphql(q, json!({ "id": ep.id })).await.unwrap();
    assert_eq!(stored["endpoint"]["eventFields"], fields, "a refused change changes nothing");

    // A VIEWER of the team, and an EDITOR of another team, cannot change them.
    let team = server.admin.graphql("{ me { team { id } } }", json!({})).await.unwrap()["me"]["team"]["id"].clone();
    let viewer = token_client(&server, team.as_str().unwrap(), "VIEWER").await;
    let (_, body) = viewer.graphql_raw(SET_FIELDS, json!({ "id": ep.id, "f": null })).await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    let other_team = server
        .admin
        .graphql("mutation { createTeam(input: {name: \"events elsewhere\"}) { id } }", json!({}))
        .await
        .unwrap()["createTeam"]["id"]
        .clone();
    let stranger = token_client(&server, other_team.as_str().unwrap(), "EDITOR").await;
    let (_, body) = stranger.graphql_raw(SET_FIELDS, json!({ "id": ep.id, "f": null })).await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    let stored = server.admin.graphql(q, json!({ "id": ep.id })).await.unwrap();
    assert_eq!(stored["endpoint"]["eventFields"], fields);

    // Null clears them.
    let d = server.admin.graphql(SET_FIELDS, json!({ "id": ep.id, "f": null })).await.unwrap();
    assert_eq!(d["updateEndpoint"]["eventFields"], Value::Null);
}

async fn token_client(server: &TestServer, team_id: &str, role: &str) -> Client {
    let d = server
        .admin
        .graphql(
            "mutation($t: ID!, $r: Role!) { createToken(input: {teamId: $t, role: $r, name: \"events test\"}) { secret } }",
            json!({ "t": team_id, "r": role }),
        )
        .await
        .unwrap();
    Client::new(&server.base_url, d["createToken"]["secret"].as_str().unwrap())
}

const GROUP: &str = "redeliveries { count position kind reason captures { captureId answeredStatus attempt } }";

async fn group_of(client: &Client, id: &str) -> Value {
    checked(client, id).await;
    let q = format!("query($id: ID!) {{ capture(id: $id) {{ {GROUP} }} }}");
    client.graphql(&q, json!({ "id": id })).await.unwrap()["capture"]["redeliveries"].clone()
}

/// Sends `body` and returns the capture id, whatever status the endpoint answers.
async fn send_answered(ep: &TestEndpoint, headers: &[(&str, &str)], body: &str, status: u16) -> String {
    let mut req = reqwest::Client::new().post(&ep.url).body(body.to_string());
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), status);
    resp.headers()["hookmetry-capture-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn redeliveries_are_grouped_and_retries_told_from_duplicates() {
    let server = TestServer::start().await.unwrap();
    // Answers 200 at once: a second delivery of an event is a duplicate.
    let calm = server.admin.create_endpoint("acknowledges").await.unwrap();
    // Answers 500: the provider retries.
    let failing = server.admin.create_endpoint("fails").await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, response: {status: 500, body: \"down\"}}) { id } }",
            json!({ "id": failing.id }),
        )
        .await
        .unwrap();
    // Unconfigured endpoints: Stripe is guessed from its header, and names the event id.
    let stripe = [("Stripe-Signature", "t=1,v1=00"), ("content-type", "application/json")];
    let evt = r#"{"id":"evt_same","object":"event","type":"charge.succeeded"}"#;

    let a1 = send_answered(&calm, &stripe, evt, 200).await;
    let a2 = send_answered(&calm, &stripe, evt, 200).await;
    let other = send_answered(&calm, &stripe, r#"{"id":"evt_other","type":"charge.succeeded"}"#, 200).await;
    let b1 = send_answered(&failing, &stripe, evt, 500).await;
    let b2 = send_answered(&failing, &stripe, evt, 500).await;
    for id in [&a1, &a2, &other, &b1, &b2] {
        checked(&server.admin, id).await;
    }

    let g = group_of(&server.admin, &a1).await;
    assert_eq!((g["count"].clone(), g["position"].clone(), g["kind"].clone()), (json!(2), json!(1), json!("FIRST")));
    let g = group_of(&server.admin, &a2).await;
    assert_eq!(g["kind"], "DUPLICATE", "{g}");
    assert_eq!(g["reason"], "the delivery before was answered 200 in time: sent again by the provider, not retried");
    assert_eq!(
        g["captures"],
        json!([{ "captureId": a1, "answeredStatus": 200, "attempt": null }, { "captureId": a2, "answeredStatus": 200, "attempt": null }]),
        "only this endpoint's captures of the event, oldest first"
    );
    assert_eq!(group_of(&server.admin, &other).await["count"], 1);
    let g = group_of(&server.admin, &b2).await;
    assert_eq!((g["position"].clone(), g["kind"].clone()), (json!(2), json!("RETRY")), "{g}");
    assert_eq!(g["reason"], "the delivery before was answered 500, which providers retry");
    assert_eq!(g["captures"][0]["captureId"], b1.as_str());
    assert_eq!(g["captures"][0]["answeredStatus"], 500);

    // The provider's own word: Slack's retry headers.
    let slack_ep = server.admin.create_endpoint("slack retries").await.unwrap();
    let slack = r#"{"type":"event_callback","event_id":"Ev01","event_time":1700000000,"event":{"type":"app_mention"}}"#;
    let sig = [("X-Slack-Signature", "v0=00"), ("X-Slack-Request-Timestamp", "1700000000")];
    send_answered(&slack_ep, &sig, slack, 200).await;
    let mut retry_headers = sig.to_vec();
    retry_headers.extend([("X-Slack-Retry-Num", "1"), ("X-Slack-Retry-Reason", "http_timeout")]);
    let retried = send_answered(&slack_ep, &retry_headers, slack, 200).await;
    let g = group_of(&server.admin, &retried).await;
    assert_eq!(g["kind"], "RETRY");
    assert_eq!(g["reason"], "the provider says this is attempt 2 (http_timeout)");

    // A capture that names no event id has no group.
    let plain = send_answered(&calm, &[], "{}", 200).await;
    assert_eq!(group_of(&server.admin, &plain).await, Value::Null);

    // Bad `first` names the argument.
    let (_, body) = server
        .admin
        .graphql_raw("query($id: ID!) { capture(id: $id) { redeliveries(first: 0) { count } } }", json!({ "id": a1 }))
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "first", "{body}");

    // The metric counts them by provider and kind.
    let metrics = reqwest::get(format!("{}/metrics", server.base_url)).await.unwrap().text().await.unwrap();
    for line in [
        r#"hookmetry_event_redeliveries_total{kind="duplicate",provider="stripe"} 1"#,
        r#"hookmetry_event_redeliveries_total{kind="retry",provider="stripe"} 1"#,
        r#"hookmetry_event_redeliveries_total{kind="retry",provider="slack"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} missing from:\n{metrics}");
    }
}

#[tokio::test]
async fn events_older_than_one_received_before_for_the_same_resource_are_out_of_order() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("ordering").await.unwrap();
    let stripe = [("Stripe-Signature", "t=1,v1=00")];
    let created = now();
    let event = |id: &str, at: i64, object: &str| {
        format!(r#"{{"id":"{id}","type":"charge.updated","created":{at},"data":{{"object":{{"id":"{object}"}}}}}}"#)
    };
    let newer = send_answered(&ep, &stripe, &event("evt_new", created - 10, "ch_1"), 200).await;
    let older = send_answered(&ep, &stripe, &event("evt_old", created - 100, "ch_1"), 200).await;
    let elsewhere = send_answered(&ep, &stripe, &event("evt_x", created - 500, "ch_2"), 200).await;
    let q = "query($id: ID!) { capture(id: $id) { ordering { outOfOrder resource newerCaptureId newerCreatedAt gapSeconds } } }";
    for id in [&newer, &older, &elsewhere] {
        checked(&server.admin, id).await;
    }
    let order = |id: &str| {
        let admin = server.admin.clone();
        let id = id.to_string();
        async move { admin.graphql(q, json!({ "id": id })).await.unwrap()["capture"]["ordering"].clone() }
    };
    assert_eq!(
        order(&older).await,
        json!({ "outOfOrder": true, "resource": "ch_1", "newerCaptureId": newer,
                "newerCreatedAt": hookmetry_core::Timestamp::from_micros((created - 10) * 1_000_000).to_rfc3339(),
                "gapSeconds": 90.0 })
    );
    assert_eq!(order(&newer).await["outOfOrder"], false, "nothing about ch_1 came before it");
    assert_eq!(order(&elsewhere).await["outOfOrder"], false, "another resource");
    let plain = send_answered(&ep, &[], "{}", 200).await;
    checked(&server.admin, &plain).await;
    assert_eq!(order(&plain).await, Value::Null);
}

const SHAPE_CHANGED: &str = "subscription($e: ID!) { schemaChanged(endpointId: $e) { captureId eventType change { kind fields { path kind before after } more } } }";

/// The endpoint's learned shape of `event_type` once it has seen `samples` captures.
async fn shape_after(client: &Client, ep: &TestEndpoint, event_type: &str, samples: i64) -> Value {
    let q = "query($e: ID!, $t: String!) { endpoint(id: $e) { eventShape(eventType: $t) { eventType samples truncated fields { path types present parentPresent required } jsonSchema } } }";
    let deadline = Instant::now() + WAIT;
    loop {
        let s =
            client.graphql(q, json!({ "e": ep.id, "t": event_type })).await.unwrap()["endpoint"]["eventShape"].clone();
        if s["samples"].as_i64() >= Some(samples) {
            return s;
        }
        assert!(Instant::now() < deadline, "shape of {event_type} not at {samples} samples within {WAIT:?}: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_is_learned_flagged_exported_and_streamed() {
    use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("drift").await.unwrap();
    // No provider: the type is the body's `type` field.
    let first = send_answered(&ep, &[], r#"{"type":"order.paid","id":1,"amount":10,"note":null}"#, 200).await;
    let shape = shape_after(&server.admin, &ep, "order.paid", 1).await;
    assert_eq!(shape["truncated"], false);
    let fields: Vec<Value> = shape["fields"].as_array().unwrap().clone();
    let amount = fields.iter().find(|f| f["path"] == "amount").expect("amount learned").clone();
    assert_eq!(
        amount,
        json!({ "path": "amount", "types": ["integer"], "present": 1, "parentPresent": 1, "required": true })
    );
    assert_eq!(shape["jsonSchema"]["properties"]["amount"]["type"], "integer", "{}", shape["jsonSchema"]);
    let same = send_answered(&ep, &[], r#"{"type":"order.paid","id":2,"amount":12,"note":null}"#, 200).await;
    shape_after(&server.admin, &ep, "order.paid", 2).await;
    let q = "query($id: ID!) { capture(id: $id) { schemaChange { kind fields { path kind before after } more } } }";
    for id in [&first, &same] {
        let c = server.admin.graphql(q, json!({ "id": id })).await.unwrap();
        assert_eq!(c["capture"]["schemaChange"], Value::Null, "{id} changed nothing");
    }

    // Live: probe with one new field at a time until the subscription shows it is listening.
    let mut ws = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(server.admin.token.clone()))
        .await
        .unwrap();
    ws.subscribe(SHAPE_CHANGED, json!({ "e": ep.id })).await.unwrap();
    let mut samples = 2;
    let mut live = false;
    for n in 0..50 {
        send_answered(
            &ep,
            &[],
            &format!(r#"{{"type":"order.paid","id":3,"amount":1,"note":null,"probe{n}":true}}"#),
            200,
        )
        .await;
        samples += 1;
        if let Some(WsMessage::Next { payload, .. }) = ws.next_message(Duration::from_millis(300)).await.unwrap() {
            assert_eq!(payload["data"]["schemaChanged"]["change"]["kind"], "ADDED", "{payload}");
            live = true;
            break;
        }
    }
    assert!(live, "schemaChanged never delivered a probe");
    shape_after(&server.admin, &ep, "order.paid", samples).await;
    // Drain probes that arrived late.
    while let Some(WsMessage::Next { .. }) = ws.next_message(Duration::from_millis(300)).await.unwrap() {}

    // The amount arrives as a string: retyped.
    let retyped = send_answered(&ep, &[], r#"{"type":"order.paid","id":4,"amount":"12.00","note":null}"#, 200).await;
    let msg = ws.next_message(WAIT).await.unwrap().expect("a schema change");
    let WsMessage::Next { payload, .. } = msg else { panic!("expected a change, got {msg:?}") };
    let expected = json!({ "kind": "RETYPED", "fields": [{ "path": "amount", "kind": "RETYPED", "before": ["integer"], "after": ["string"] }], "more": 0 });
    assert_eq!(
        payload["data"]["schemaChanged"],
        json!({ "captureId": retyped, "eventType": "order.paid", "change": expected })
    );
    let c = server.admin.graphql(q, json!({ "id": retyped })).await.unwrap();
    assert_eq!(c["capture"]["schemaChange"], expected);
    let shape = shape_after(&server.admin, &ep, "order.paid", samples + 1).await;
    let amount = shape["fields"].as_array().unwrap().iter().find(|f| f["path"] == "amount").unwrap().clone();
    assert_eq!(amount["types"], json!(["integer", "string"]));

    let metrics = reqwest::get(format!("{}/metrics", server.base_url)).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == r#"hookmetry_schema_drift_captures_total{outcome="retyped"} 1"#),
        "retyped not counted:\n{metrics}"
    );

    // Another team's token sees neither the shapes nor the stream.
    let other_team = server
        .admin
        .graphql("mutation { createTeam(input: {name: \"drift elsewhere\"}) { id } }", json!({}))
        .await
        .unwrap()["createTeam"]["id"]
        .clone();
    let stranger = token_client(&server, other_team.as_str().unwrap(), "ADMIN").await;
    let d = stranger
        .graphql("query($e: ID!) { endpoint(id: $e) { eventShapes { eventType } } }", json!({ "e": ep.id }))
        .await
        .unwrap();
    assert_eq!(d["endpoint"], Value::Null);
    let mut ws =
        WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(stranger.token.clone())).await.unwrap();
    ws.subscribe(SHAPE_CHANGED, json!({ "e": ep.id })).await.unwrap();
    let msg = ws.next_message(Duration::from_secs(5)).await.unwrap().expect("an answer");
    let e = msg.first_error().unwrap_or_else(|| panic!("expected an error, got {msg:?}"));
    assert_eq!(e["extensions"]["code"], "NOT_FOUND", "{e}");
}

/// Captures of one type that arrive together are each compared with the shape the ones before
/// them left, not with the shape as the batch found it.
#[tokio::test]
async fn captures_of_one_type_in_one_round_see_each_other() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("drift burst").await.unwrap();
    let bodies = [
        r#"{"type":"burst","a":1}"#,
        r#"{"type":"burst","a":1,"b":"x"}"#,
        r#"{"type":"burst","a":2,"b":"y"}"#,
        r#"{"type":"burst","a":3,"b":"z"}"#,
    ];
    // Sent back to back, so the processor and the drift worker see them together.
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(send_answered(&ep, &[], body, 200).await);
    }
    shape_after(&server.admin, &ep, "burst", 4).await;
    let q = "query($id: ID!) { capture(id: $id) { schemaChange { kind fields { path kind } } } }";
    let mut changes = Vec::new();
    for id in &ids {
        changes.push(server.admin.graphql(q, json!({ "id": id })).await.unwrap()["capture"]["schemaChange"].clone());
    }
    assert_eq!(
        changes,
        vec![
            Value::Null,
            json!({ "kind": "ADDED", "fields": [{ "path": "b", "kind": "ADDED" }] }),
            Value::Null,
            Value::Null,
        ],
        "only the capture that brought `b` changed the shape"
    );
}
