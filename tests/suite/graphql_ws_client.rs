//! The standard npm `graphql-ws` client subscribes to `captureReceived` and receives a capture:
//! proof that the subscription endpoint speaks the protocol as third-party clients expect.
//!
//! Needs `node` and `npm ci --prefix tests/js` (done by `.ci/run`). Without them the test says
//! loudly that it was skipped, unless `HOOKMETRY_REQUIRE_EXTERNAL=1` (set by `.ci/run`), which
//! turns the skip into a failure.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hookmetry_testkit::TestServer;
use tokio::io::{AsyncBufReadExt, BufReader};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// `Some(reason)` when node or the npm packages are missing.
fn missing_prerequisite() -> Option<String> {
    if !js_dir().join("node_modules/graphql-ws").is_dir() {
        return Some("tests/js/node_modules is missing (run `npm ci --prefix tests/js`)".into());
    }
    match std::process::Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`node` is not installed".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_graphql_ws_client_receives_a_capture() {
    if let Some(reason) = missing_prerequisite() {
        hookmetry_core::external::skip("node", "graphql_ws_client::npm_graphql_ws_client_receives_a_capture", &reason);
        return;
    }
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("npm client").await.unwrap();
    let ws_url = format!("{}/graphql/ws", server.base_url.replacen("http://", "ws://", 1));
    let mut child = tokio::process::Command::new("node")
        .arg(js_dir().join("subscribe.mjs"))
        .args([&ws_url, &server.admin.token, &ep.id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn node");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();

    // The client cannot tell when the server has registered the subscription, so captures are
    // sent until one arrives; each body is unique, so the one received names itself.
    let http = reqwest::Client::new();
    let mut sent = Vec::new();
    let received = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let body: Vec<u8> = format!("{{\"n\":{},\"bytes\":\"\u{00e9}\\u0000\"}}", sent.len()).into_bytes();
            let resp = http
                .post(format!("{}/ordered?x=1", ep.url))
                .header("X-Sent-By", "npm test")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            sent.push(body);
            tokio::select! {
                line = stdout.next_line() => break line.unwrap(),
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
            }
        }
    })
    .await
    .expect("the npm client received no capture within 30 s");
    let status = child.wait().await.unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).await.unwrap();
    let line = received.unwrap_or_else(|| panic!("node printed nothing; status {status}, stderr: {stderr}"));
    assert!(status.success(), "node exited with {status}: {stderr}");

    let capture: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(capture["endpointId"], ep.id);
    assert_eq!(capture["method"], "POST");
    assert_eq!(capture["path"], "/ordered");
    assert_eq!(capture["query"], "x=1");
    let body = B64.decode(capture["bodyBase64"].as_str().unwrap()).unwrap();
    assert!(sent.contains(&body), "received a body that was never sent: {body:?}");
    assert!(
        capture["headers"].as_array().unwrap().iter().any(|h| h["name"] == "x-sent-by" && h["value"] == "npm test"),
        "{capture}"
    );
    server.stop().await.unwrap();
}
