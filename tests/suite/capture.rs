//! Byte-exactness: what a provider sends is what the API gives back.

use crate::common;

use std::time::Duration;

use common::*;
use hookmetry_testkit::{TestEndpoint, TestServer};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

async fn setup() -> (TestServer, TestEndpoint) {
    let server = TestServer::start().await.expect("server starts");
    let ep = server.admin.create_endpoint("byte-exact").await.expect("endpoint");
    (server, ep)
}

/// Sends with reqwest and returns the capture as read back through GraphQL.
async fn send(server: &TestServer, req: reqwest::RequestBuilder) -> Value {
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), 200, "ingest answers 200 by default");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body = resp.text().await.unwrap();
    let id = id_from_body(&body);
    server.admin.wait_for_capture(&id, WAIT).await.expect("capture readable")
}

fn header_pairs(capture: &Value) -> Vec<(String, String)> {
    capture["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().to_string(), h["value"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn binary_body_with_nul_and_invalid_utf8_round_trips() {
    let (server, ep) = setup().await;
    let body: Vec<u8> = vec![0x00, 0xff, 0xfe, b'a', 0x00, 0xc3, 0x28, 0x80, b'\n', 0x00];
    let c = send(&server, reqwest::Client::new().post(&ep.url).body(body.clone())).await;
    assert_eq!(unb64(c["bodyBase64"].as_str().unwrap()), body);
    assert_eq!(c["bodyText"], Value::Null, "invalid UTF-8 has no text form");
    assert_eq!(c["bodySize"], 10);
    assert_eq!(c["bodySha256"], sha256_hex(&body));
    assert_eq!(c["method"], "POST");
    assert_eq!(c["path"], "/");
    assert_eq!(c["query"], Value::Null);
    assert_eq!(c["httpVersion"], "HTTP/1.1");
    assert!(c["remoteAddr"].as_str().unwrap().starts_with("127.0.0.1:"), "{}", c["remoteAddr"]);
    assert_eq!(c["endpointId"], ep.id.as_str());
    let at = c["receivedAt"].as_str().unwrap();
    assert!(at.len() == 27 && at.ends_with('Z') && at.as_bytes()[10] == b'T', "RFC 3339: {at}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn five_mib_body_round_trips() {
    let (server, ep) = setup().await;
    let body: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let c = send(&server, reqwest::Client::new().put(format!("{}/big", ep.url)).body(body.clone())).await;
    assert_eq!(c["bodySize"], 5 * 1024 * 1024);
    assert_eq!(c["bodySha256"], sha256_hex(&body));
    assert!(unb64(c["bodyBase64"].as_str().unwrap()) == body, "5 MiB body differs");
    assert_eq!(c["method"], "PUT");
    assert_eq!(c["path"], "/big");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn empty_body_and_text_body() {
    let (server, ep) = setup().await;
    let c = send(&server, reqwest::Client::new().get(&ep.url)).await;
    assert_eq!(c["bodySize"], 0);
    assert_eq!(c["bodyBase64"], "");
    assert_eq!(c["bodyText"], "");
    assert_eq!(c["bodySha256"], sha256_hex(b""));
    assert_eq!(c["method"], "GET");

    let json = r#"{"type":"charge.succeeded","amount":4200, "note":"héllo"}"#;
    let c =
        send(&server, reqwest::Client::new().post(&ep.url).header("content-type", "application/json").body(json)).await;
    assert_eq!(c["bodyText"], json, "text is not re-serialized");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn custom_methods_are_kept() {
    let (server, ep) = setup().await;
    for m in ["PURGE", "REPORT", "PATCH", "DELETE", "OPTIONS", "X-Custom-Verb"] {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        let c = send(&server, reqwest::Client::new().request(method, &ep.url)).await;
        assert_eq!(c["method"], m);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn duplicate_headers_keep_their_order_and_values() {
    let (server, ep) = setup().await;
    let token = &ep.token;
    // Raw bytes: exactly these header lines, in this order.
    let req = format!(
        "POST /h/{token}/hook HTTP/1.1\r\nHost: x\r\nX-Dup: one\r\nX-Dup: two\r\nx-dup: three\r\nX-Single: s\r\nX-Bin: café\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    );
    let resp = raw_http(&server.base_url, req.as_bytes()).await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    let c = server.admin.wait_for_capture(&id_from_body(body_of(&resp)), WAIT).await.unwrap();
    let pairs = header_pairs(&c);
    // HTTP/1: names keep their case, lines their order.
    let expect = [
        ("Host", "x"),
        ("X-Dup", "one"),
        ("X-Dup", "two"),
        ("x-dup", "three"),
        ("X-Single", "s"),
        ("X-Bin", "café"),
        ("Content-Length", "2"),
        ("Connection", "close"),
    ];
    let expect: Vec<(String, String)> = expect.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(pairs, expect);
    let bin = &c["headers"].as_array().unwrap()[5];
    assert_eq!(unb64(bin["valueBase64"].as_str().unwrap()), "café".as_bytes(), "value bytes are exact");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn interleaved_duplicates_keep_their_arrival_order() {
    let (server, ep) = setup().await;
    let token = &ep.token;
    let req = format!("GET /h/{token} HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nA: 3\r\nConnection: close\r\n\r\n");
    let resp = raw_http(&server.base_url, req.as_bytes()).await;
    let c = server.admin.wait_for_capture(&id_from_body(body_of(&resp)), WAIT).await.unwrap();
    let lines: Vec<String> = header_pairs(&c).into_iter().map(|(n, v)| format!("{n}:{v}")).collect();
    assert_eq!(lines, ["Host:x", "A:1", "B:2", "A:3", "Connection:close"]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn every_request_on_a_keep_alive_connection_gets_its_own_headers() {
    // Three requests in one write: a body that looks like a request head, a chunked body with a
    // trailer, then a plain GET. Each capture must carry exactly its own header lines.
    let (server, ep) = setup().await;
    let t = &ep.token;
    let body = "GET /h/fake HTTP/1.1\r\nFake: yes\r\n\r\n";
    let stream = format!(
        "POST /h/{t}/one HTTP/1.1\r\nHost: x\r\nOne: 1\r\nContent-Length: {}\r\n\r\n{body}\
         POST /h/{t}/two HTTP/1.1\r\nHost: x\r\nTwo: 2\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\r\n\r\n\r\n0\r\nTrailer-Field: t\r\n\r\n\
         GET /h/{t}/three HTTP/1.1\r\nHost: x\r\nThree: 3\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let resp = raw_http(&server.base_url, stream.as_bytes()).await;
    assert_eq!(resp.matches("HTTP/1.1 200").count(), 3, "{resp}");
    let all = server.admin.wait_for_captures(&ep.id, 3, WAIT).await.unwrap();
    let mut by_path = std::collections::HashMap::new();
    for c in all {
        let full = server.admin.capture(c["id"].as_str().unwrap()).await.unwrap();
        let names: Vec<String> = header_pairs(&full).into_iter().map(|(n, _)| n).collect();
        by_path.insert(full["path"].as_str().unwrap().to_string(), (names, full["bodyText"].clone()));
    }
    assert_eq!(by_path["/one"].0, ["Host", "One", "Content-Length"]);
    assert_eq!(by_path["/one"].1, body, "a body that looks like a request stays a body");
    assert_eq!(by_path["/two"].0, ["Host", "Two", "Transfer-Encoding"]);
    assert_eq!(by_path["/two"].1, "\r\n\r\n");
    assert_eq!(by_path["/three"].0, ["Host", "Three", "Connection"]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http2_header_names_arrive_lower_case() {
    let (server, ep) = setup().await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let c = send(&server, h2.post(&ep.url).header("X-Mixed-Case", "v").body("h2")).await;
    assert!(header_pairs(&c).contains(&("x-mixed-case".into(), "v".into())), "{:?}", header_pairs(&c));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn path_and_query_are_kept_raw() {
    let (server, ep) = setup().await;
    let token = &ep.token;
    let cases = [
        (
            format!("/h/{token}/a/b%20c/%E2%9C%93?a=1&a=2&b=%20x+y&c&d=%zz"),
            "/a/b%20c/%E2%9C%93",
            Some("a=1&a=2&b=%20x+y&c&d=%zz"),
        ),
        (format!("/h/{token}?"), "/", Some("")),
        (format!("/h/{token}/"), "/", None),
        (format!("/h/{token}/deep/er/"), "/deep/er/", None),
    ];
    for (target, path, query) in cases {
        let req = format!("DELETE {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = raw_http(&server.base_url, req.as_bytes()).await;
        assert_eq!(status_of(&resp), 200, "{target}: {resp}");
        let c = server.admin.wait_for_capture(&id_from_body(body_of(&resp)), WAIT).await.unwrap();
        assert_eq!(c["path"], path, "{target}");
        assert_eq!(c["query"], query.map(Value::from).unwrap_or(Value::Null), "{target}");
        assert_eq!(c["method"], "DELETE");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn http_1_0_and_http_2_versions_are_recorded() {
    let (server, ep) = setup().await;
    let req = format!("POST /h/{}/v HTTP/1.0\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", ep.token);
    let resp = raw_http(&server.base_url, req.as_bytes()).await;
    let c = server.admin.wait_for_capture(&id_from_body(body_of(&resp)), WAIT).await.unwrap();
    assert_eq!(c["httpVersion"], "HTTP/1.0");
    assert_eq!(c["bodyText"], "abc");

    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let c = send(&server, h2.post(&ep.url).body("h2")).await;
    assert_eq!(c["httpVersion"], "HTTP/2.0");
    assert_eq!(c["bodyText"], "h2");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn captures_page_newest_first_with_cursors() {
    let (server, ep) = setup().await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..7 {
        let body = client.post(&ep.url).body(format!("n{i}")).send().await.unwrap().text().await.unwrap();
        ids.push(id_from_body(&body));
    }
    server.admin.wait_for_captures(&ep.id, 7, WAIT).await.unwrap();
    let q = "query($e: ID!, $after: String) { captures(endpointId: $e, first: 3, after: $after) { edges { cursor node { id bodyText } } pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let d = server.admin.graphql(q, serde_json::json!({ "e": ep.id, "after": after })).await.unwrap();
        pages += 1;
        for e in d["captures"]["edges"].as_array().unwrap() {
            seen.push(e["node"]["id"].as_str().unwrap().to_string());
        }
        if d["captures"]["pageInfo"]["hasNextPage"] != Value::Bool(true) {
            break;
        }
        after = d["captures"]["pageInfo"]["endCursor"].clone();
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, no gaps or repeats");
    assert_eq!(pages, 3);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn custom_response_is_served_after_the_capture_is_durable() {
    let (server, ep) = setup().await;
    let q = r#"mutation($id: ID!) { updateEndpoint(input: { id: $id, response: { status: 202, body: "thanks", delayMs: 300, headers: [{name: "X-Reply", value: "yes"}] } }) { response { status body delayMs headers { name value } } } }"#;
    let d = server.admin.graphql(q, serde_json::json!({ "id": ep.id })).await.unwrap();
    assert_eq!(d["updateEndpoint"]["response"]["status"], 202);
    // Ingest caches endpoints for up to ingest.endpoint_cache_ttl; this endpoint was never
    // looked up by ingest yet, so the new answer applies at once.
    let started = std::time::Instant::now();
    let resp = reqwest::Client::new().post(&ep.url).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(resp.headers()["x-reply"], "yes");
    assert_eq!(resp.text().await.unwrap(), "thanks");
    assert!(started.elapsed() >= Duration::from_millis(300), "delay applied");
    server.admin.wait_for_captures(&ep.id, 1, WAIT).await.unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_configured_proxies() {
    // Untrusted by default: the header is kept as sent, the address is the real peer.
    let (server, ep) = setup().await;
    let c = send(&server, reqwest::Client::new().post(&ep.url).header("x-forwarded-for", "203.0.113.9")).await;
    assert!(c["remoteAddr"].as_str().unwrap().starts_with("127.0.0.1:"), "{}", c["remoteAddr"]);
    assert!(header_pairs(&c).contains(&("x-forwarded-for".into(), "203.0.113.9".into())));
    server.stop().await.unwrap();

    let server =
        TestServer::start_with(|c| c.ingest.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await.unwrap();
    let ep = server.admin.create_endpoint("behind-proxy").await.unwrap();
    let c = send(&server, reqwest::Client::new().post(&ep.url).header("x-forwarded-for", "198.51.100.4, 203.0.113.9"))
        .await;
    assert_eq!(c["remoteAddr"], "203.0.113.9", "the right-most hop the trusted proxy saw");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn captures_filter_through_graphql_and_bad_filters_name_the_field() {
    let (server, ep) = setup().await;
    let http = reqwest::Client::new();
    let stripe = send(
        &server,
        http.post(&ep.url).header("Stripe-Signature", "t=1,v1=abc").body("{\"type\":\"charge.succeeded\"}"),
    )
    .await;
    let github = send(
        &server,
        http.post(format!("{}/github/push", ep.url)).header("X-GitHub-Event", "push").body("{\"ref\":\"main\"}"),
    )
    .await;
    let get = send(&server, http.get(&ep.url)).await;
    let q = "query($e: ID!, $f: CaptureFilter) { captures(endpointId: $e, filter: $f) { edges { node { id } } } }";
    let ids = |f: Value| {
        let server = &server;
        let ep = &ep;
        async move {
            let d = server.admin.graphql(q, serde_json::json!({ "e": ep.id, "f": f })).await.unwrap();
            d["captures"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].clone()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(serde_json::json!({ "method": "GET" })).await, vec![get["id"].clone()]);
    assert_eq!(
        ids(serde_json::json!({ "header": { "name": "stripe-signature", "valueContains": "v1=" } })).await,
        vec![stripe["id"].clone()]
    );
    assert_eq!(ids(serde_json::json!({ "bodyContains": "\"ref\"" })).await, vec![github["id"].clone()]);
    assert_eq!(ids(serde_json::json!({ "pathPrefix": "/github/" })).await, vec![github["id"].clone()]);
    assert_eq!(ids(serde_json::json!({ "pathPrefix": "/GitHub" })).await, Vec::<Value>::new(), "case-sensitive");
    assert_eq!(ids(serde_json::json!({ "pathPrefix": "/" })).await.len(), 3);
    let from = stripe["receivedAt"].as_str().unwrap();
    let until = get["receivedAt"].as_str().unwrap();
    assert_eq!(
        ids(serde_json::json!({ "receivedFrom": from, "receivedUntil": until })).await,
        vec![github["id"].clone(), stripe["id"].clone()],
        "from is inclusive, until exclusive, newest first"
    );

    for (filter, field, message) in [
        (
            serde_json::json!({ "receivedFrom": "yesterday" }),
            "filter.receivedFrom",
            "invalid `filter.receivedFrom`: `yesterday` is not an RFC 3339 time such as 2026-11-27T09:00:00Z",
        ),
        (
            serde_json::json!({ "method": "GE T" }),
            "filter.method",
            "invalid `filter.method`: `GE T` is not an HTTP method",
        ),
        (
            serde_json::json!({ "header": { "name": "bad name" } }),
            "filter.header.name",
            "invalid `filter.header.name`: `bad name` is not a header name",
        ),
        (
            serde_json::json!({ "bodyContains": "x".repeat(1025) }),
            "filter.bodyContains",
            "invalid `filter.bodyContains`: must be at most 1024 bytes, got 1025",
        ),
        (
            serde_json::json!({ "pathPrefix": "github" }),
            "filter.pathPrefix",
            "invalid `filter.pathPrefix`: must start with `/`, got `github`",
        ),
    ] {
        let (status, body) = server.admin.graphql_raw(q, serde_json::json!({ "e": ep.id, "f": filter })).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let e = &body["errors"][0];
        assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(e["extensions"]["field"], field, "{body}");
        assert_eq!(e["message"], message, "{body}");
        assert!(body["data"].is_null(), "{body}");
    }
    server.stop().await.unwrap();
}
