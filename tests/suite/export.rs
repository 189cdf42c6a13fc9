//! Exports of a stored capture: the `curl` command, run for real against a second capture
//! endpoint, produces a byte-identical capture; the HAR entry describes the same request.

use crate::common;

use std::time::Duration;

use common::{body_of, id_from_body, raw_http, status_of, unb64};
use hookmetry_testkit::TestServer;
use serde_json::{Value, json};

const FIELDS: &str = "method path query httpVersion bodyBase64 bodySha256 headers { name valueBase64 }";

/// Everything a replay must reproduce, as stored.
async fn stored(server: &TestServer, id: &str) -> Value {
    server.admin.wait_for_capture(id, Duration::from_secs(10)).await.unwrap();
    let q = format!("query($id: ID!) {{ capture(id: $id) {{ {FIELDS} }} }}");
    let got = server.admin.graphql(&q, json!({ "id": id })).await.unwrap();
    got["capture"].clone()
}

async fn replay_through_curl(server: &TestServer, original: &str, token_a: &str, token_b: &str) -> Value {
    let q = "query($id: ID!) { capture(id: $id) { curl url } }";
    let got = server.admin.graphql(q, json!({ "id": original })).await.unwrap();
    let curl = got["capture"]["curl"].as_str().unwrap();
    let url = got["capture"]["url"].as_str().unwrap();
    assert!(url.contains(token_a), "the command targets the original capture URL: {url}");
    let command = curl.replace(&format!("/h/{token_a}"), &format!("/h/{token_b}"));
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("bash").arg("-c").arg(&command).output(),
    )
    .await
    .expect("curl finished in time")
    .unwrap();
    assert!(out.status.success(), "{command}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let replayed = id_from_body(&String::from_utf8_lossy(&out.stdout));
    stored(server, &replayed).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_export_reproduces_the_capture_byte_for_byte() {
    let server = TestServer::start().await.unwrap();
    let a = server.admin.create_endpoint("original").await.unwrap();
    let b = server.admin.create_endpoint("replay target").await.unwrap();
    let host = server.base_url.trim_start_matches("http://");

    // A Stripe-like delivery: mixed-case names, a duplicate header, a quote, UTF-8, a binary
    // body with NUL and 0xFF, a raw query with brackets and an encoded slash.
    let mut body = b"{\"id\":\"evt_1\",\"data\":\"caf\xc3\xa9\"}\x00\xff\r\n".to_vec();
    body.extend((0u8..=255).collect::<Vec<_>>());
    let mut request = format!(
        "POST /h/{}/stripe/../x?a[]=1&b=%2F&c=it's HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n\
         Content-Type: application/json; charset=utf-8\r\nStripe-Signature: t=1,v1=abc\r\nX-Dup: one\r\nx-dup: two\r\n\
         X-Quote: it's \"quoted\" caf\u{e9}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        a.token,
        body.len()
    )
    .into_bytes();
    request.extend(&body);
    let resp = raw_http(&server.base_url, &request).await;
    assert_eq!(status_of(&resp), 200, "{resp}");
    let original = id_from_body(body_of(&resp));

    let want = stored(&server, &original).await;
    assert_eq!(unb64(want["bodyBase64"].as_str().unwrap()), body, "the original is stored exactly");
    let mut got = replay_through_curl(&server, &original, &a.token, &b.token).await;
    // `Connection: close` is hop-by-hop and curl manages its own connection; everything else
    // must match exactly, in order.
    let strip = |v: &mut Value| {
        v["headers"].as_array_mut().unwrap().retain(|h| h["name"] != "Connection");
    };
    let mut want = want;
    strip(&mut want);
    strip(&mut got);
    assert_eq!(got, want, "the replayed capture differs from the original");

    // A bodiless GET with few headers: curl's own defaults must not sneak in.
    let get = format!("GET /h/{}/ping HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", a.token);
    let resp = raw_http(&server.base_url, get.as_bytes()).await;
    let original = id_from_body(body_of(&resp));
    let mut want = stored(&server, &original).await;
    let mut got = replay_through_curl(&server, &original, &a.token, &b.token).await;
    strip(&mut want);
    strip(&mut got);
    assert_eq!(got, want);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn har_export_is_a_har_1_2_entry_of_the_request() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("har").await.unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/events?x=1&y=a%20b", ep.url))
        .header("Content-Type", "application/json")
        .header("Cookie", "session=abc; theme=dark")
        .body("{\"ok\":true}")
        .send()
        .await
        .unwrap();
    let id = id_from_body(&resp.text().await.unwrap());
    server.admin.wait_for_capture(&id, Duration::from_secs(10)).await.unwrap();
    let got =
        server.admin.graphql("query($id: ID!) { capture(id: $id) { har url } }", json!({ "id": id })).await.unwrap();
    let har = &got["capture"]["har"];
    let req = &har["request"];
    assert_eq!(req["method"], "POST");
    assert_eq!(req["url"], got["capture"]["url"]);
    assert!(req["url"].as_str().unwrap().ends_with(&format!("/h/{}/events?x=1&y=a%20b", ep.token)), "{req}");
    assert_eq!(req["httpVersion"], "HTTP/1.1");
    assert_eq!(req["queryString"], json!([{ "name": "x", "value": "1" }, { "name": "y", "value": "a b" }]));
    assert_eq!(req["cookies"], json!([{ "name": "session", "value": "abc" }, { "name": "theme", "value": "dark" }]));
    assert_eq!(req["postData"]["mimeType"], "application/json");
    assert_eq!(req["postData"]["text"], "{\"ok\":true}");
    assert_eq!(req["bodySize"], 11);
    for key in ["startedDateTime", "time", "response", "cache", "timings"] {
        assert!(har.get(key).is_some(), "HAR 1.2 requires `{key}`: {har}");
    }
    server.stop().await.unwrap();
}
