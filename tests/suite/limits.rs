//! Every ingest limit: the status, the message naming the limit, and that nothing was stored.

use crate::common;

use std::time::Duration;

use common::*;
use hookmetry_testkit::{TestEndpoint, TestServer};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(10);

/// After a refused request, a good one proves the refused one left nothing: the processor stores
/// captures in log order, so once the sentinel is readable the endpoint must hold only it.
async fn assert_only_sentinel_stored(server: &TestServer, ep: &TestEndpoint) {
    let resp = reqwest::Client::new().post(&ep.url).body("sentinel").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = id_from_body(&resp.text().await.unwrap());
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let all = server.admin.all_captures(&ep.id).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id.as_str()], "the refused request must not be stored");
}

fn error_of(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("error body is JSON: {body:?}"));
    (v["error"]["code"].as_str().unwrap().to_string(), v["error"]["message"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn unknown_token_is_404_and_stores_nothing() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("real").await.unwrap();
    for target in ["/h/0123456789abcdef0123456789abcdef", "/h/", "/h/nope/deeper"] {
        let resp = reqwest::Client::new().post(format!("{}{target}", server.base_url)).body("x").send().await.unwrap();
        assert_eq!(resp.status(), 404, "{target}");
        let (code, message) = error_of(&resp.text().await.unwrap());
        assert_eq!(code, "unknown_endpoint");
        assert_eq!(message, "no endpoint has this capture URL");
    }
    assert_only_sentinel_stored(&server, &ep).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn body_over_the_limit_is_413_naming_it() {
    let server = TestServer::start_with(|c| c.ingest.max_body_bytes.0 = 1 << 20).await.unwrap();
    let ep = server.admin.create_endpoint("limits").await.unwrap();
    let expected = "request body exceeds the limit of 1048576 bytes (ingest.max_body_bytes)";

    // Declared too large: refused before the body is read.
    let req =
        format!("POST /h/{}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\nConnection: close\r\n\r\n", ep.token);
    let resp = raw_http(&server.base_url, req.as_bytes()).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    assert_eq!(error_of(body_of(&resp)), ("body_too_large".into(), expected.into()));

    // Chunked with no length: refused once the running total passes the limit.
    let mut req =
        format!("POST /h/{}/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", ep.token)
            .into_bytes();
    for _ in 0..17 {
        req.extend_from_slice(b"10000\r\n");
        req.extend_from_slice(&[b'z'; 0x10000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_http(&server.base_url, &req).await;
    assert_eq!(status_of(&resp), 413, "{resp}");
    assert_eq!(error_of(body_of(&resp)), ("body_too_large".into(), expected.into()));

    assert_only_sentinel_stored(&server, &ep).await;

    // Exactly at the limit is fine.
    let resp = reqwest::Client::new().post(&ep.url).body(vec![1u8; 1 << 20]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    server.stop().await.unwrap();
}

/// A refusal answered before the body is read must reach a client that is still sending: the
/// server reads and drops the rest instead of closing on unread bytes (a reset, which makes
/// clients report "connection reset" instead of the 413).
#[tokio::test]
async fn a_refused_upload_still_being_sent_gets_its_answer_and_no_reset() {
    use tokio::io::AsyncReadExt;
    let server = TestServer::start_with(|c| c.ingest.max_body_bytes.0 = 1 << 20).await.unwrap();
    let ep = server.admin.create_endpoint("linger").await.unwrap();
    const TOTAL: usize = 8 << 20;
    let addr = server.base_url.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!("POST /h/{}/ HTTP/1.1\r\nHost: x\r\nContent-Length: {TOTAL}\r\n\r\n", ep.token);
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'u'; 64 << 10];
        for _ in 0..TOTAL / chunk.len() {
            wr.write_all(&chunk).await?;
            // Slow enough that the answer comes long before the body is all sent.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        std::io::Result::Ok(wr)
    });
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, rd.read_to_end(&mut answer)).await.expect("answer in time").expect("no reset");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert_eq!(status_of(&answer), 413, "{answer}");
    assert_eq!(error_of(body_of(&answer)).0, "body_too_large");
    let sent = tokio::time::timeout(WAIT, writer).await.expect("sent in time").unwrap();
    assert!(sent.is_ok(), "the whole upload was taken, not reset: {:?}", sent.err());
    assert_only_sentinel_stored(&server, &ep).await;
    server.stop().await.unwrap();
}

/// A refused upload that lingers keeps its place under `server.max_connections`, so clients
/// refused and still sending cannot hold sockets open beyond the cap.
#[tokio::test]
async fn a_lingering_upload_still_counts_against_max_connections() {
    use tokio::io::AsyncReadExt;
    let server = TestServer::start_with(|c| {
        c.ingest.max_body_bytes.0 = 1 << 20;
        c.server.max_connections = 1;
    })
    .await
    .unwrap();
    // No admin call first: its kept-alive connection would hold the one place. An unknown
    // capture URL is refused before its body is read, like any refusal.
    let addr = server.base_url.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!("POST /h/{}/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", "0".repeat(32), 8 << 20);
    wr.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, rd.read_to_end(&mut answer)).await.expect("answer in time").unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&answer)), 404);

    // Still sending, so still lingering: the one connection allowed is taken.
    wr.write_all(&[b'u'; 64 << 10]).await.unwrap();
    let resp = raw_http(&server.base_url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&resp), 503, "{resp}");
    assert!(body_of(&resp).contains("server.max_connections"), "{resp}");

    // The client gives up: its place is free again.
    drop((rd, wr));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let resp = raw_http(&server.base_url, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        if status_of(&resp) == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the lingering socket never gave its place back: {resp}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn too_many_headers_is_431_naming_the_limit() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("headers").await.unwrap();
    let mut req = format!("POST /h/{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", ep.token);
    for i in 0..99 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let resp = raw_http(&server.base_url, req.as_bytes()).await;
    assert_eq!(status_of(&resp), 431, "{resp}");
    assert_eq!(
        error_of(body_of(&resp)),
        ("too_many_headers".into(), "request has 101 header lines; the limit is 100 (ingest.max_headers)".into())
    );
    assert_only_sentinel_stored(&server, &ep).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn oversized_headers_are_431_naming_the_limit() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("headers").await.unwrap();
    let big = "a".repeat(70 * 1024);
    let resp = reqwest::Client::new().post(&ep.url).header("x-big", big).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 431);
    let (code, message) = error_of(&resp.text().await.unwrap());
    assert_eq!(code, "headers_too_large");
    assert!(message.ends_with("bytes; the limit is 65536 bytes (ingest.max_header_bytes)"), "{message}");
    assert_only_sentinel_stored(&server, &ep).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn in_flight_byte_budget_answers_503_instead_of_buffering() {
    let server = TestServer::start_with(|c| {
        c.ingest.max_body_bytes.0 = 1 << 20;
        c.ingest.inflight_bytes.0 = 1 << 20;
    })
    .await
    .unwrap();
    let ep = server.admin.create_endpoint("budget").await.unwrap();
    // A slow upload that declared 1 MiB holds the whole budget while it trickles in.
    let addr = server.base_url.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!("POST /h/{} HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n", ep.token);
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&[b'x'; 1000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let resp = reqwest::Client::new().post(&ep.url).body("small").send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let (code, message) = error_of(&resp.text().await.unwrap());
    assert_eq!(code, "overloaded");
    assert_eq!(
        message,
        "ingest is holding its in-flight budget of 1048576 body bytes (ingest.inflight_bytes); retry later"
    );

    // The budget comes back when the slow client goes away.
    drop(slow);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_only_sentinel_stored(&server, &ep).await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_config_is_refused_at_start_naming_the_key() {
    let err = match TestServer::start_with(|c| c.ingest.inflight_bytes.0 = 1).await {
        Ok(_) => panic!("started with inflight_bytes below max_body_bytes"),
        Err(e) => e.to_string(),
    };
    // A config built in code skips `Config::load`; `run` validates it again, so an impossible
    // budget is refused at start rather than discovered under load.
    assert!(err.contains("ingest.inflight_bytes"), "{err}");
}

#[tokio::test]
async fn a_body_that_never_arrives_is_408_and_frees_the_budget() {
    let server = TestServer::start_with(|c| {
        c.ingest.body_timeout.0 = Duration::from_secs(1);
        c.ingest.max_body_bytes.0 = 1 << 20;
        c.ingest.inflight_bytes.0 = 1 << 20;
    })
    .await
    .unwrap();
    let ep = server.admin.create_endpoint("slow").await.unwrap();
    let req = format!("POST /h/{}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nonly this", ep.token);
    let started = std::time::Instant::now();
    let resp = raw_http(&server.base_url, req.as_bytes()).await;
    assert_eq!(status_of(&resp), 408, "{resp}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        error_of(body_of(&resp)),
        ("body_timeout".into(), "request body not received within 1s (ingest.body_timeout)".into())
    );
    // The 1 MiB it had reserved is free again: the sentinel is accepted.
    assert_only_sentinel_stored(&server, &ep).await;
    server.stop().await.unwrap();
}
