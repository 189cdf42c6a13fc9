//! Live captures over `/graphql/ws`: a slow subscriber is cut off at its buffer and told so,
//! while a subscriber that keeps up on the same endpoint receives everything, in order; changes
//! to stored captures (`captureChanged`) reach every open view of their endpoint only.

use crate::common;

use std::time::Duration;

use hookmetry_testkit::TestServer;
use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};
use serde_json::json;

const SUB: &str = "subscription($e: ID!) { captureReceived(endpointId: $e) { id bodyBase64 } }";

async fn metric(base_url: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{base_url}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).map(|v| v.parse().unwrap()))
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// Subscribes and makes sure the server has registered the subscription (the protocol has no
/// acknowledgement for that) by sending probe captures until one arrives.
async fn subscribed(server: &TestServer, url: &str, endpoint: &str) -> WsClient {
    let mut ws = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(server.admin.token.clone()))
        .await
        .unwrap();
    ws.subscribe(SUB, json!({ "e": endpoint })).await.unwrap();
    let http = reqwest::Client::new();
    for _ in 0..50 {
        http.post(url).body("probe").send().await.unwrap();
        if let Some(WsMessage::Next { .. }) = ws.next_message(Duration::from_millis(200)).await.unwrap() {
            // Drain any other probes still in flight.
            while let Some(WsMessage::Next { .. }) = ws.next_message(Duration::from_millis(300)).await.unwrap() {}
            return ws;
        }
    }
    panic!("subscription never became live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_is_dropped_with_lagged_and_others_get_everything() {
    const BUFFER: usize = 64;
    const CAPTURES: usize = 800;
    let server = TestServer::start_with(|c| c.api.subscriber_buffer = BUFFER).await.unwrap();
    let ep = server.admin.create_endpoint("live").await.unwrap();
    let mut fast = subscribed(&server, &ep.url, &ep.id).await;
    let mut slow = subscribed(&server, &ep.url, &ep.id).await;
    // The slow subscription's probe captures reached the fast one too.
    while let Some(WsMessage::Next { .. }) = fast.next_message(Duration::from_millis(300)).await.unwrap() {}
    assert_eq!(metric(&server.base_url, "hookmetry_api_live_subscribers").await, 2.0);

    // 800 captures of 64 KiB: far more than the loopback socket buffers hold, so the slow
    // client (which reads nothing meanwhile) blocks the server's writes and its queue fills.
    let http = reqwest::Client::new();
    let mut sent = Vec::new();
    let fast_reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < CAPTURES {
            match fast.next_message(Duration::from_secs(20)).await.unwrap() {
                Some(WsMessage::Next { payload, .. }) => got.push(
                    payload["data"]["captureReceived"]["id"]
                        .as_str()
                        .unwrap_or_else(|| panic!("fast subscriber got {payload} after {} captures", got.len()))
                        .to_string(),
                ),
                other => panic!("fast subscriber got {other:?} after {} captures", got.len()),
            }
        }
        (got, fast)
    });
    for i in 0..CAPTURES {
        let mut body = vec![b'x'; 64 << 10];
        body[..8].copy_from_slice(format!("{i:08}").as_bytes());
        let resp = http.post(&ep.url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: serde_json::Value = resp.json().await.unwrap();
        sent.push(v["id"].as_str().unwrap().to_string());
    }
    let (fast_got, _fast) = tokio::time::timeout(Duration::from_secs(60), fast_reader).await.unwrap().unwrap();
    // Compared without printing 800 ids on failure.
    let first_difference = fast_got.iter().zip(&sent).position(|(a, b)| a != b);
    assert!(
        fast_got.len() == sent.len() && first_difference.is_none(),
        "a subscriber that keeps up gets every capture, in order: got {} of {}, first difference at {first_difference:?}",
        fast_got.len(),
        sent.len()
    );

    // Now the slow one reads: some captures, then one LAGGED error, then the end.
    let mut delivered = 0;
    let error = loop {
        match slow.next_message(Duration::from_secs(20)).await.unwrap() {
            Some(WsMessage::Next { payload, .. }) if payload.get("errors").is_none() => delivered += 1,
            Some(m @ (WsMessage::Next { .. } | WsMessage::Error { .. })) => break m.first_error().unwrap().clone(),
            other => panic!("slow subscriber got {other:?} after {delivered} captures"),
        }
    };
    assert_eq!(error["extensions"]["code"], "LAGGED", "{error}");
    assert!(error["message"].as_str().unwrap().contains("api.subscriber_buffer"), "{error}");
    assert!(delivered < CAPTURES, "the slow subscriber was cut off ({delivered} delivered)");
    assert!(matches!(slow.next_message(Duration::from_secs(5)).await.unwrap(), Some(WsMessage::Complete { .. })));
    assert_eq!(metric(&server.base_url, "hookmetry_api_live_lagged_total").await, 1.0);
    assert_eq!(metric(&server.base_url, "hookmetry_api_live_subscribers").await, 1.0, "the slow slot is gone");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_over_the_limit_are_refused_naming_it() {
    let server = TestServer::start_with(|c| c.api.max_subscribers = 1).await.unwrap();
    let ep = server.admin.create_endpoint("limit").await.unwrap();
    let _first = subscribed(&server, &ep.url, &ep.id).await;
    let mut second = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(server.admin.token.clone()))
        .await
        .unwrap();
    second.subscribe(SUB, json!({ "e": ep.id })).await.unwrap();
    let msg = second.next_message(Duration::from_secs(5)).await.unwrap().expect("an answer");
    let e = msg.first_error().unwrap_or_else(|| panic!("expected an error, got {msg:?}"));
    assert_eq!(e["extensions"]["code"], "LIMIT_EXCEEDED", "{e}");
    assert_eq!(e["message"], "this API node already serves 1 live subscriptions (api.max_subscribers)");
    server.stop().await.unwrap();
}

const CHANGES: &str =
    "subscription($e: ID!) { captureChanged(endpointId: $e) { captureId kind verification { verdict secretLabel } } }";

/// The next `captureChanged` payload, or `None` when nothing came within `wait`. Deletions of
/// the probes in `probes` (see [`changes_subscribed`]) are passed over: on a loaded machine one
/// may arrive after the probing is over.
async fn next_change(ws: &mut WsClient, wait: Duration, probes: &Probes) -> Option<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let change = match ws.next_message(left).await.unwrap()? {
            WsMessage::Next { payload, .. } => payload["data"]["captureChanged"].clone(),
            other => panic!("expected a change, got {other:?}"),
        };
        match change["captureId"].as_str() {
            Some(id) if probes.contains(id) => assert_eq!(change["kind"], "DELETED", "{change}"),
            _ => return Some(change),
        }
    }
}

type Probes = std::collections::HashSet<String>;

/// Sends a capture and waits until it is stored; returns its id.
async fn stored(server: &TestServer, req: reqwest::RequestBuilder) -> String {
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = common::id_from_body(&resp.text().await.unwrap());
    server.admin.wait_for_capture(&id, Duration::from_secs(10)).await.unwrap();
    id
}

async fn delete(server: &TestServer, id: &str) {
    server
        .admin
        .graphql("mutation($id: ID!) { deleteCapture(input: {id: $id}) { id } }", json!({ "id": id }))
        .await
        .unwrap();
}

/// Subscribes every client to `captureChanged` of `endpoint` and proves each live (nothing
/// acknowledges a subscription) by deleting probe captures until every client has seen one.
/// The probes' ids go into `probes`.
async fn changes_subscribed(
    server: &TestServer,
    ep: &hookmetry_testkit::TestEndpoint,
    clients: &mut [WsClient],
    probes: &mut Probes,
) {
    for ws in clients.iter_mut() {
        ws.subscribe(CHANGES, json!({ "e": ep.id })).await.unwrap();
    }
    let mut live = vec![false; clients.len()];
    for _ in 0..50 {
        let probe = stored(server, reqwest::Client::new().post(&ep.url).body("probe")).await;
        probes.insert(probe.clone());
        delete(server, &probe).await;
        for (ws, live) in clients.iter_mut().zip(&mut live) {
            // Any change here is a probe's deletion: nothing else is going on yet.
            while let Some(change) = next_change(ws, Duration::from_millis(200), &Probes::new()).await {
                assert!(probes.contains(change["captureId"].as_str().unwrap()), "{change}");
                assert_eq!(change["kind"], "DELETED", "{change}");
                *live = true;
            }
        }
        if live.iter().all(|l| *l) {
            return;
        }
    }
    panic!("captureChanged never became live for every client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_and_new_verdicts_reach_every_open_view_and_only_its_endpoint() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("changes").await.unwrap();
    let other = server.admin.create_endpoint("changes-other").await.unwrap();
    let set = "mutation($id: ID!, $v: VerificationInput) { updateEndpoint(input: {id: $id, verification: $v}) { id } }";
    server
        .admin
        .graphql(set, json!({ "id": ep.id, "v": { "provider": "stripe", "secrets": [{ "label": "old", "value": "whsec_old" }] } }))
        .await
        .unwrap();
    // Two captures signed with a secret the endpoint does not have yet: INVALID_SIGNATURE.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut ids = Vec::new();
    for body in [r#"{"n":1}"#, r#"{"n":2}"#] {
        let input = hookmetry_verify::SignInput {
            method: "POST",
            url: &ep.url,
            body: body.as_bytes(),
            timestamp: now,
            id: None,
            headers: &[],
        };
        let signed = hookmetry_verify::sign("stripe", "whsec_new", None, &input).unwrap();
        let mut req = reqwest::Client::new().post(&ep.url).body(body);
        for (n, v) in signed.headers {
            req = req.header(n, v);
        }
        ids.push(stored(&server, req).await);
    }

    let connect = || WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(server.admin.token.clone()));
    let mut views = vec![connect().await.unwrap(), connect().await.unwrap()];
    let mut probes = Probes::new();
    changes_subscribed(&server, &ep, &mut views, &mut probes).await;
    let mut elsewhere = vec![connect().await.unwrap()];
    changes_subscribed(&server, &other, &mut elsewhere, &mut probes).await;
    let mut elsewhere = elsewhere.pop().unwrap();

    // The right secret arrives and the captures are checked again: both views see both new
    // verdicts, with the secret that matched.
    let add = "mutation($id: ID!) { addVerificationSecret(input: {endpointId: $id, label: \"new\", value: \"whsec_new\"}) { id } }";
    server.admin.graphql(add, json!({ "id": ep.id })).await.unwrap();
    let reverify =
        "mutation($id: ID!) { reverifyCaptures(input: {endpointId: $id, since: \"2000-01-01T00:00:00Z\"}) { count } }";
    server.admin.graphql(reverify, json!({ "id": ep.id })).await.unwrap();
    for ws in views.iter_mut() {
        let mut got = Vec::new();
        while got.len() < 2 {
            let change = next_change(ws, Duration::from_secs(5), &probes).await.expect("a VERIFIED change");
            assert_eq!(change["kind"], "VERIFIED", "{change}");
            assert_eq!(change["verification"], json!({ "verdict": "VALID", "secretLabel": "new" }), "{change}");
            got.push(change["captureId"].as_str().unwrap().to_string());
        }
        got.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(got, want);
    }
    // Checked again with nothing changed: nothing to tell.
    server.admin.graphql(reverify, json!({ "id": ep.id })).await.unwrap();
    for ws in views.iter_mut() {
        assert_eq!(
            next_change(ws, Duration::from_millis(500), &probes).await,
            None,
            "an unchanged verdict was announced"
        );
    }

    delete(&server, &ids[0]).await;
    for ws in views.iter_mut() {
        let change = next_change(ws, Duration::from_secs(5), &probes).await.expect("a DELETED change");
        assert_eq!(change, json!({ "captureId": ids[0], "kind": "DELETED", "verification": null }));
    }
    assert_eq!(
        next_change(&mut elsewhere, Duration::from_millis(300), &probes).await,
        None,
        "another endpoint's change leaked"
    );

    // Another team's token cannot watch the endpoint: it does not exist for it.
    let team =
        server.admin.graphql("mutation { createTeam(input: {name: \"outsiders\"}) { id } }", json!({})).await.unwrap();
    let token = server
        .admin
        .graphql(
            "mutation($t: ID) { createToken(input: {teamId: $t, role: ADMIN, name: \"outsider\"}) { secret } }",
            json!({ "t": team["createTeam"]["id"] }),
        )
        .await
        .unwrap()["createToken"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let mut outsider = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(token)).await.unwrap();
    outsider.subscribe(CHANGES, json!({ "e": ep.id })).await.unwrap();
    let msg = outsider.next_message(Duration::from_secs(5)).await.unwrap().expect("an answer");
    let e = msg.first_error().unwrap_or_else(|| panic!("expected an error, got {msg:?}"));
    assert_eq!(e["extensions"]["code"], "NOT_FOUND", "{e}");
    server.stop().await.unwrap();
}
