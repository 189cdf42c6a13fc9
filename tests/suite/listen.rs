//! `hookmetry listen` as a developer runs it: the real binary against `hookmetry serve`,
//! forwarding to a local server on 127.0.0.1 that records the exact bytes it gets. The local
//! server goes down and up, the listener is killed and restarted, two listeners share one
//! endpoint, and bad flags are refused.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use hookmetry_testkit::{Client, TestEndpoint, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(30);

/// A local HTTP/1.1 server on `addr` answering 200, recording every request exactly.
struct LocalServer {
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    async fn start(port: ClosedPort) -> LocalServer {
        Self::answering(port, |_| 200).await
    }

    /// Answers each request with the status `status` gives for its request line.
    async fn answering(port: ClosedPort, status: fn(&str) -> u16) -> LocalServer {
        let listener = port.socket.listen(64).unwrap();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Some(req) = read_received(&mut socket).await else { return };
                    let code = status(&req.request_line);
                    seen.lock().unwrap().push(req);
                    let answer = format!(
                        "HTTP/1.1 {code} X\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        LocalServer { got, task }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "the local server got {} of {n} requests within {WAIT:?}", got.len());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on 127.0.0.1 that refuses connections until a test starts its local server there.
/// The socket stays bound (not listening) until then: a port given back to the system could be
/// taken meanwhile by any connection a test running in parallel opens, and the server's bind
/// would fail with "address in use".
struct ClosedPort {
    socket: tokio::net::TcpSocket,
    addr: std::net::SocketAddr,
}

fn closed_port() -> ClosedPort {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = socket.local_addr().unwrap();
    ClosedPort { socket, addr }
}

/// Profiles and this machine's listener holder ids live with the test, not in $HOME.
fn command(server: &TestServer, args: &[&str], cwd: &Path) -> tokio::process::Command {
    let mut cmd = common::command(args, cwd);
    cmd.args(["--url", &server.base_url, "--token", &server.admin.token]);
    cmd
}

/// A running `hookmetry listen`: its stdout and stderr lines as they come.
struct Listen {
    child: Child,
    lines: mpsc::UnboundedReceiver<(bool, String)>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Listen {
    /// Starts `hookmetry listen <args>` and waits until it says it is listening.
    async fn start(server: &TestServer, cwd: &Path, args: &[&str]) -> Listen {
        let mut child = command(server, &[&["listen"], args].concat(), cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        let tx2 = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(l)) = out.next_line().await {
                let _ = tx.send((true, l));
            }
        });
        tokio::spawn(async move {
            while let Ok(Some(l)) = err.next_line().await {
                let _ = tx2.send((false, l));
            }
        });
        let mut listen = Listen { child, lines, stdout: Vec::new(), stderr: Vec::new() };
        listen.wait_until(|l| l.stderr.iter().any(|s| s.starts_with("listening on endpoint"))).await;
        listen
    }

    /// Reads output until `done` holds.
    async fn wait_until(&mut self, done: impl Fn(&Listen) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some((true, l))) => self.stdout.push(l),
                Ok(Some((false, l))) => self.stderr.push(l),
                Ok(None) => panic!("listen exited; stdout {:?}, stderr {:?}", self.stdout, self.stderr),
                Err(_) => {
                    panic!("listen output not as expected within {WAIT:?}: {:?} / {:?}", self.stdout, self.stderr)
                }
            }
        }
    }

    /// Ctrl-C: ends a listener with exit code 0.
    async fn interrupt(mut self) {
        let pid = self.child.id().expect("listen still running");
        assert!(std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
        let exit = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.expect("stops on Ctrl-C");
        assert_eq!(exit.unwrap().code(), Some(0), "Ctrl-C ends a listener successfully");
    }

    /// SIGKILL: no chance to clean up, like a closed laptop lid or a crash.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Waits for the listener to exit on its own; its exit code.
    async fn exits(mut self) -> (Option<i32>, Vec<String>) {
        let exit = tokio::time::timeout(WAIT, self.child.wait()).await.expect("the listener stops").unwrap();
        while let Ok(Some((out, l))) = tokio::time::timeout(Duration::from_millis(200), self.lines.recv()).await {
            if out { self.stdout.push(l) } else { self.stderr.push(l) }
        }
        (exit.code(), self.stderr)
    }
}

/// `hookmetry listen <args>` run to its end, for a listener refused at start.
async fn listen_refused(server: &TestServer, cwd: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = command(server, &[&["listen"], args].concat(), cwd).output().await.unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The capture's deliveries made by listeners.
async fn listener_deliveries(client: &Client, capture_id: &str) -> Vec<Value> {
    let q = "query($id: ID!) { capture(id: $id) { deliveries { id origin state missedWhileOffline target \
             bodySha256 attempts { number error responseStatus succeeded } } } }";
    let c = client.graphql(q, json!({ "id": capture_id })).await.unwrap();
    c["capture"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["origin"].as_str().unwrap().starts_with("listener:"))
        .cloned()
        .collect()
}

/// Polls until the capture has `n` listener deliveries, all finished.
async fn finished_deliveries(client: &Client, capture_id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let ds = listener_deliveries(client, capture_id).await;
        if ds.len() == n && ds.iter().all(|d| d["state"] != "PENDING") {
            return ds;
        }
        assert!(Instant::now() < deadline, "capture {capture_id}: listener deliveries {ds:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_retries_while_the_local_server_is_down_and_delivers_in_order_once_it_is_up() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen down-up").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let addr = port.addr;
    let forward_to = format!("http://{addr}/local");
    let mut listen =
        Listen::start(&server, cwd.path(), &[&ep.id, "--forward-to", &forward_to, "--max-attempts", "50", "--ordered"])
            .await;

    let bodies: [&[u8]; 3] = [b"{\"n\":1}", b"second \xff\x00 not utf-8\r\n", b"third"];
    let mut ids = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let path = format!("/orders/{}?q={i}", i + 1);
        ids.push(capture(&ep, &path, &[("X-Trace", b"abc \xfe"), ("Connection", b"keep-alive")], body).await);
    }
    // The first capture fails to connect, is retried, and holds the others back.
    listen.wait_until(|l| l.stdout.iter().filter(|s| s.contains("could not connect")).count() >= 2).await;
    assert!(
        listen.stdout.iter().all(|s| s.split(' ').nth(1) == Some(ids[0].as_str())),
        "nothing after the first capture is tried while it waits: {:?}",
        listen.stdout
    );

    let local = LocalServer::start(port).await;
    let got = local.wait_for(3).await;
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.request_line, format!("POST /local/orders/{}?q={i} HTTP/1.1", i + 1), "in capture order");
        assert_eq!(r.body, bodies[i], "byte for byte");
        let trace = r.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-trace")).map(|(_, v)| v.as_slice());
        assert_eq!(trace, Some(&b"abc \xfe"[..]), "captured header values are sent exactly");
        assert!(
            !r.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("connection") && v == b"keep-alive"),
            "hop-by-hop headers are not forwarded"
        );
    }

    let first = &finished_deliveries(&server.admin, &ids[0], 1).await[0];
    assert_eq!(first["state"], "SUCCEEDED");
    assert!(first["origin"].as_str().unwrap().starts_with("listener:anonymous-"), "{first}");
    assert_eq!(first["missedWhileOffline"], false);
    assert_eq!(first["target"], format!("http://{addr}/local/orders/1?q=0"));
    let attempts = first["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 3, "failed attempts, then the success: {attempts:?}");
    let (last, failed) = attempts.split_last().unwrap();
    assert!(failed.iter().all(|a| a["error"] == "CONNECT" && a["succeeded"] == false), "{failed:?}");
    assert_eq!((last["responseStatus"].as_u64(), last["succeeded"].as_bool()), (Some(200), Some(true)));
    for id in &ids[1..] {
        let d = &finished_deliveries(&server.admin, id, 1).await[0];
        assert_eq!(d["state"], "SUCCEEDED", "{d}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(local.received().len(), 3, "each capture once");
    listen.interrupt().await;
}

/// Sends a capture as raw bytes, so header case and interleaved repeats reach ingest as written
/// (a client library would lowercase and group them).
async fn raw_capture(ep: &TestEndpoint, path: &str, head_lines: &str, body: &[u8]) -> String {
    let url = reqwest::Url::parse(&ep.url).unwrap();
    let mut stream =
        tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port_or_known_default().unwrap())).await.unwrap();
    let request = format!(
        "POST {}{path} HTTP/1.1\r\nHost: {}\r\n{head_lines}Content-Length: {}\r\nConnection: close\r\n\r\n",
        url.path(),
        url.authority(),
        body.len()
    );
    stream.write_all(&[request.as_bytes(), body].concat()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    id_from_body(answer.split("\r\n\r\n").nth(1).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_gets_the_headers_as_captured_in_order_case_and_repeats() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen wire").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let addr = port.addr;
    let local = LocalServer::start(port).await;
    let forward_to = format!("http://{addr}/hook");
    let mut listen = Listen::start(&server, cwd.path(), &[&ep.id, "--forward-to", &forward_to]).await;
    listen.wait_until(|l| l.stderr.iter().any(|s| s.contains("listening"))).await;

    let id = raw_capture(
        &ep,
        "/gh",
        "User-Agent: GitHub-Hookshot/1a2b\r\nX-A: 1\r\nX-GitHub-Event: push\r\nx-a: 3\r\nKeep-Alive: timeout=5\r\n\
         X-GitHub-Event: again\r\n",
        b"{\"zen\":\"x\"}",
    )
    .await;
    let got = local.wait_for(1).await.remove(0);
    assert_eq!(got.request_line, "POST /hook/gh HTTP/1.1");
    let lines: Vec<String> = got.headers.iter().map(|(n, v)| format!("{n}: {}", String::from_utf8_lossy(v))).collect();
    assert_eq!(
        lines,
        [
            format!("Host: {addr}"),
            "User-Agent: GitHub-Hookshot/1a2b".to_string(),
            "X-A: 1".to_string(),
            "X-GitHub-Event: push".to_string(),
            "x-a: 3".to_string(),
            "X-GitHub-Event: again".to_string(),
            "Hookmetry-Hops: 1".to_string(),
            "Content-Length: 11".to_string(),
        ],
        "captured order, case and repeats; hop-by-hop Connection and Keep-Alive dropped; only the hop count added"
    );
    assert_eq!(got.body, b"{\"zen\":\"x\"}");
    assert_eq!(finished_deliveries(&server.admin, &id, 1).await[0]["state"], "SUCCEEDED");
    listen.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_listener_stopped_and_restarted_delivers_what_it_missed_in_order_once() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen durable").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let addr = port.addr;
    let local = LocalServer::start(port).await;
    let forward_to = format!("http://{addr}/hook");
    let args = [ep.id.as_str(), "--forward-to", forward_to.as_str(), "--name", "alice"];
    // Stored before the listener ever ran: history, not sent.
    let before = capture(&ep, "/old", &[], b"old").await;
    server.admin.wait_for_capture(&before, WAIT).await.unwrap();

    let listen = Listen::start(&server, cwd.path(), &args).await;
    let mut ids = Vec::new();
    for n in 1..=2 {
        ids.push(capture(&ep, &format!("/{n}"), &[], format!("body {n}").as_bytes()).await);
    }
    local.wait_for(2).await;
    for id in &ids {
        finished_deliveries(&server.admin, id, 1).await;
    }
    listen.kill().await;

    for n in 3..=5 {
        let id = capture(&ep, &format!("/{n}"), &[], format!("body {n}").as_bytes()).await;
        server.admin.wait_for_capture(&id, WAIT).await.unwrap();
        ids.push(id);
    }
    let mut listen = Listen::start(&server, cwd.path(), &args).await;
    // Says what it catches up on.
    listen.wait_until(|l| l.stderr.iter().any(|s| s.contains("3 capture(s) missed while offline"))).await;
    // Live again: a capture sent now comes after the missed ones.
    ids.push(capture(&ep, "/6", &[], b"body 6").await);
    let got = local.wait_for(6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_now = local.received();
    assert_eq!(got_now.len(), 6, "nothing twice: {:?}", got_now.iter().map(|r| &r.request_line).collect::<Vec<_>>());
    let bodies: Vec<String> = got.iter().map(|r| String::from_utf8(r.body.clone()).unwrap()).collect();
    assert_eq!(bodies, (1..=6).map(|n| format!("body {n}")).collect::<Vec<_>>(), "each once, in order");

    listen.wait_until(|l| l.stdout.len() >= 4).await;
    let missed_lines = listen.stdout.iter().filter(|l| l.ends_with("(missed while offline)")).count();
    assert_eq!(missed_lines, 3, "{:?}", listen.stdout);
    for (i, id) in ids.iter().enumerate() {
        let d = &finished_deliveries(&server.admin, id, 1).await[0];
        assert_eq!(d["origin"], "listener:alice");
        assert_eq!(d["state"], "SUCCEEDED");
        assert_eq!(d["missedWhileOffline"], (2..5).contains(&i), "capture {}: {d}", i + 1);
    }
    assert!(listener_deliveries(&server.admin, &before).await.is_empty(), "history before the first start is not sent");
    let cursor = server
        .admin
        .graphql(
            "query($e: ID!) { listenerCursor(endpointId: $e, name: \"alice\") { captureId } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(cursor["listenerCursor"]["captureId"], ids[5].as_str());
    listen.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_on_one_endpoint_each_get_what_their_filters_say_and_count_as_active() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen team").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (closed_port(), closed_port());
    let (addr_a, addr_b) = (port_a.addr, port_b.addr);
    let (a, b) = (LocalServer::start(port_a).await, LocalServer::start(port_b).await);
    let to_a = format!("http://{addr_a}");
    let to_b = format!("http://{addr_b}/gh");
    let alice = Listen::start(
        &server,
        cwd.path(),
        &[&ep.id, "--forward-to", &to_a, "--path-prefix", "/stripe", "--path-map", "/stripe=/payments"],
    )
    .await;
    let bob = Listen::start(&server, cwd.path(), &[&ep.id, "--forward-to", &to_b, "--header", "X-GitHub-Event"]).await;
    let metrics = reqwest::get(format!("{}/metrics", server.base_url)).await.unwrap().text().await.unwrap();
    assert!(metrics.lines().any(|l| l == "hookmetry_api_active_listeners 2"), "two listeners counted");

    capture(&ep, "/stripe/charge", &[], b"1").await;
    capture(&ep, "/github/push", &[("X-GitHub-Event", b"push")], b"2").await;
    let both = capture(&ep, "/stripe/ping", &[("x-github-event", b"ping")], b"3").await;

    let got_a = a.wait_for(2).await;
    let got_b = b.wait_for(2).await;
    let lines = |got: &[Received]| got.iter().map(|r| r.request_line.clone()).collect::<Vec<_>>();
    assert_eq!(lines(&got_a), ["POST /payments/charge HTTP/1.1", "POST /payments/ping HTTP/1.1"]);
    assert_eq!(lines(&got_b), ["POST /gh/github/push HTTP/1.1", "POST /gh/stripe/ping HTTP/1.1"]);
    let ds = finished_deliveries(&server.admin, &both, 2).await;
    assert!(ds.iter().all(|d| d["state"] == "SUCCEEDED"), "one delivery per listener: {ds:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((a.received().len(), b.received().len()), (2, 2), "nothing the filters leave out");

    alice.interrupt().await;
    bob.interrupt().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = reqwest::get(format!("{}/metrics", server.base_url)).await.unwrap().text().await.unwrap();
        if metrics.lines().any(|l| l == "hookmetry_api_active_listeners 0") {
            break;
        }
        assert!(Instant::now() < deadline, "stopped listeners are no longer counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bad_flags_and_unknown_endpoints_fail_with_a_sentence_and_exit_code_1() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen flags").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let unknown = "0190b7c4-0000-7000-8000-000000000000";
    let cases: [(Vec<&str>, &str); 4] = [
        (vec![&ep.id, "--forward-to", "ftp://h/x"], "error: `--forward-to` `ftp://h/x` is not a target URL"),
        (
            vec![&ep.id, "--forward-to", "http://127.0.0.1:9/", "--path-map", "stripe"],
            "error: `--path-map` must be FROM=TO",
        ),
        (vec![&ep.id, "--forward-to", "http://127.0.0.1:9/", "--name", "a:b"], "error: `--name` must be 1 to 64"),
        (vec![unknown, "--forward-to", "http://127.0.0.1:9/"], "error: no endpoint has the id or name"),
    ];
    for (args, want) in cases {
        let out = tokio::time::timeout(WAIT, command(&server, &[&["listen"], &args[..]].concat(), cwd.path()).output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with(want), "{args:?}: {stderr}");
    }
    let out = command(&server, &["listen", &ep.id], cwd.path()).output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "a missing --forward-to is a usage error");
}

#[tokio::test]
async fn bad_reports_are_refused_naming_the_field_and_record_nothing() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen reports").await.unwrap();
    let id = capture(&ep, "/x", &[], b"x").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let good = json!({
        "captureId": id, "listener": "alice", "target": "http://127.0.0.1:3000/x", "maxAttempts": 3,
        "attempt": { "latencyMs": 5, "error": "CONNECT", "errorMessage": "could not connect to 127.0.0.1:3000" },
    });
    let q = "mutation($input: ReportListenerAttemptInput!) { reportListenerAttempt(input: $input) { id } }";
    let bad = |path: &[&str], value: Value| {
        let mut input = good.clone();
        let mut at = &mut input;
        for key in &path[..path.len() - 1] {
            at = &mut at[*key];
        }
        at[path[path.len() - 1]] = value;
        input
    };
    let cases = [
        (bad(&["listener"], json!("a:b")), "listener"),
        (bad(&["target"], json!("ftp://h/")), "target"),
        (bad(&["maxAttempts"], json!(0)), "maxAttempts"),
        (bad(&["captureId"], json!("nope")), "captureId"),
        (bad(&["attempt", "error"], Value::Null), "attempt.error"),
        (bad(&["attempt", "responseStatus"], json!(700)), "attempt.responseStatus"),
        (bad(&["attempt", "latencyMs"], json!(-1)), "attempt.latencyMs"),
        (bad(&["attempt", "responseBodyBase64"], json!("%%%")), "attempt.responseBodyBase64"),
    ];
    for (input, field) in cases {
        let (status, body) = server.admin.graphql_raw(q, json!({ "input": input })).await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{status} {body}");
    }
    assert!(listener_deliveries(&server.admin, &id).await.is_empty(), "a refused report records nothing");

    // The same report twice: one delivery, attempts numbered in the order reported.
    for _ in 0..2 {
        server.admin.graphql(q, json!({ "input": good })).await.unwrap();
    }
    let ds = listener_deliveries(&server.admin, &id).await;
    assert_eq!(ds.len(), 1, "{ds:?}");
    let numbers: Vec<u64> =
        ds[0]["attempts"].as_array().unwrap().iter().map(|a| a["number"].as_u64().unwrap()).collect();
    assert_eq!((ds[0]["state"].as_str(), numbers), (Some("PENDING"), vec![1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_listener_that_never_forwarded_anything_still_gets_what_was_sent_while_it_was_stopped() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen never delivered").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let forward_to = format!("http://{}", port.addr);
    let local = LocalServer::start(port).await;
    let args = [ep.id.as_str(), "--forward-to", forward_to.as_str(), "--name", "fresh"];
    // Started and stopped before any capture: on the old main it had no cursor at all.
    Listen::start(&server, cwd.path(), &args).await.interrupt().await;
    let cursor = server
        .admin
        .graphql(
            "query($e: ID!) { listenerCursor(endpointId: $e, name: \"fresh\") { captureId } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert!(cursor["listenerCursor"]["captureId"].is_string(), "the cursor exists from the first start: {cursor}");

    let id = capture(&ep, "/while-stopped", &[], b"sent while stopped").await;
    server.admin.wait_for_capture(&id, WAIT).await.unwrap();
    let mut listen = Listen::start(&server, cwd.path(), &args).await;
    listen.wait_until(|l| l.stderr.iter().any(|s| s.contains("1 capture(s) missed while offline"))).await;
    let got = local.wait_for(1).await;
    assert_eq!(got[0].request_line, "POST /while-stopped HTTP/1.1");
    assert_eq!(got[0].body, b"sent while stopped");
    assert_eq!(finished_deliveries(&server.admin, &id, 1).await[0]["missedWhileOffline"], true);
    listen.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_runs_a_listener_name_and_a_second_is_refused_unless_it_takes_over() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen lease").await.unwrap();
    let (cwd_a, cwd_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let port = closed_port();
    let forward_to = format!("http://{}", port.addr);
    let local = LocalServer::start(port).await;
    let args = [ep.id.as_str(), "--forward-to", forward_to.as_str(), "--name", "shared"];
    let first = Listen::start(&server, cwd_a.path(), &args).await;
    let first_pid = first.child.id().unwrap();

    let (code, stderr) = listen_refused(&server, cwd_b.path(), &args).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: listener `shared` is already running (")
            && stderr.contains(&format!(" pid {first_pid}, since "))
            && stderr.contains("take over with --takeover"),
        "the sentence names the holder: {stderr}"
    );

    let second = Listen::start(&server, cwd_b.path(), &[&args[..], &["--takeover"]].concat()).await;
    // The first one learns it at its next lease renewal and stops with a sentence.
    let (code, stderr) = first.exits().await;
    assert_eq!(code, Some(1));
    assert!(
        stderr
            .iter()
            .any(|l| l.starts_with("error: listener `shared` was taken over by ")
                && l.ends_with("; this listener stops")),
        "{stderr:?}"
    );
    let id = capture(&ep, "/once", &[], b"once").await;
    local.wait_for(1).await;
    let ds = finished_deliveries(&server.admin, &id, 1).await;
    assert_eq!(ds.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(local.received().len(), 1, "delivered by one listener only");

    // A listener killed without releasing its lease is not refused by it on the same machine.
    second.kill().await;
    let again = Listen::start(&server, cwd_b.path(), &args).await;
    again.interrupt().await;
    // After a clean stop the name is free at once, for anyone.
    Listen::start(&server, cwd_a.path(), &args).await.interrupt().await;
}

/// What a Stripe receiver with the official tolerance (5 minutes) says about a request.
fn stripe_verdict(secret: &str, r: &Received) -> (hookmetry_core::Verdict, String) {
    use hookmetry_core::{
        CapturedRequest, Endpoint, EndpointId, Header, SigningSecret, TeamId, Timestamp, VerificationSettings,
    };
    let endpoint = Endpoint {
        id: EndpointId::new(),
        team_id: TeamId::new(),
        name: "receiver".into(),
        token: "t".into(),
        response: None,
        verification: Some(VerificationSettings {
            provider: "stripe".into(),
            secrets: vec![SigningSecret { label: "current".into(), value: secret.into() }],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        }),
        handshakes: false,
        event_fields: None,
        scenario: Vec::new(),
        max_captures: None,
        expires_at: None,
        created_at: Timestamp::now(),
    };
    let body = bytes::Bytes::from(r.body.clone());
    let capture = CapturedRequest {
        headers: r.headers.iter().map(|(n, v)| Header::new(n.clone(), v.clone())).collect(),
        body_sha256: sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&body)).into(),
        body,
        ..hookmetry_testkit::fixtures::capture(&endpoint, Timestamp::now())
    };
    let v = hookmetry_verify::verify_capture(&endpoint, &capture, "http://receiver", Timestamp::now());
    (v.verdict, v.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caught_up_stripe_events_are_re_signed_so_a_receiver_with_the_official_tolerance_accepts_them() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen resign").await.unwrap();
    let secret = "whsec_listen0resign0aBcDeFgHiJkLmNoPq";
    server
        .admin
        .graphql(
            "mutation($id: ID!, $s: String!) { updateEndpoint(input: {id: $id, verification: {provider: \"stripe\", \
             secrets: [{label: \"current\", value: $s}]}}) { id } }",
            json!({ "id": ep.id, "s": secret }),
        )
        .await
        .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let forward_to = format!("http://{}", port.addr);
    let local = LocalServer::start(port).await;
    let args = [ep.id.as_str(), "--forward-to", forward_to.as_str(), "--name", "laptop"];
    Listen::start(&server, cwd.path(), &args).await.interrupt().await;

    // Signed 6 minutes ago, as Stripe did while the laptop was offline: the receiver's clock,
    // not a sleep, makes it stale.
    let body = br#"{"id":"evt_1","type":"invoice.paid","object":"event"}"#;
    let signed_at = hookmetry_core::Timestamp::now().micros() / 1_000_000 - 6 * 60;
    let signed = hookmetry_verify::sign(
        "stripe",
        secret,
        None,
        &hookmetry_verify::SignInput { method: "POST", url: "", body, timestamp: signed_at, id: None, headers: &[] },
    )
    .unwrap();
    let sig = signed.headers[0].1.clone();
    let stale =
        capture(&ep, "/", &[("Stripe-Signature", sig.as_bytes()), ("Content-Type", b"application/json")], body).await;
    server.admin.wait_for_capture(&stale, WAIT).await.unwrap();

    let mut listen = Listen::start(&server, cwd.path(), &args).await;
    assert!(listen.stderr.iter().any(|l| l.contains("re-signing each forward as `stripe`")), "{:?}", listen.stderr);
    let got = local.wait_for(1).await;
    let (verdict, reason) = stripe_verdict(secret, &got[0]);
    assert_eq!(verdict, hookmetry_core::Verdict::Valid, "{reason}");
    assert_eq!(got[0].body, body, "the body is the captured one");
    listen.wait_until(|l| l.stdout.iter().any(|s| s.contains(" invoice.paid -> "))).await;
    listen.interrupt().await;

    // The same catch-up with the provider's signature kept is what the receiver refuses: the
    // check above can fail.
    let again = capture(&ep, "/", &[("Stripe-Signature", sig.as_bytes())], body).await;
    server.admin.wait_for_capture(&again, WAIT).await.unwrap();
    let listen = Listen::start(&server, cwd.path(), &[&args[..], &["--no-resign"]].concat()).await;
    let got = local.wait_for(2).await;
    let (verdict, reason) = stripe_verdict(secret, &got[1]);
    assert_eq!(verdict, hookmetry_core::Verdict::TimestampOutOfTolerance, "{reason}");
    listen.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_recorded_and_skipped_and_a_5xx_being_retried_does_not_hold_back_later_captures() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen policy").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let forward_to = format!("http://{}", port.addr);
    let local = LocalServer::answering(port, |line| {
        if line.contains("/bad") {
            400
        } else if line.contains("/down") {
            503
        } else {
            200
        }
    })
    .await;
    let mut listen = Listen::start(
        &server,
        cwd.path(),
        &[&ep.id, "--forward-to", &forward_to, "--max-attempts", "3", "--name", "policy"],
    )
    .await;
    let bad = capture(&ep, "/bad", &[], b"1").await;
    let down = capture(&ep, "/down", &[], b"2").await;
    let good = capture(&ep, "/good", &[], b"3").await;
    let got = local.wait_for(5).await;
    let lines: Vec<&str> = got.iter().map(|r| r.request_line.as_str()).collect();
    assert_eq!(lines.iter().filter(|l| l.contains("/bad")).count(), 1, "a 400 is not retried: {lines:?}");
    let good_at = lines.iter().position(|l| l.contains("/good")).unwrap();
    let last_down = lines.iter().rposition(|l| l.contains("/down")).unwrap();
    assert!(good_at < last_down, "the next capture went while the 503 was retried: {lines:?}");

    let bad_d = &finished_deliveries(&server.admin, &bad, 1).await[0];
    assert_eq!((bad_d["state"].as_str(), bad_d["attempts"].as_array().unwrap().len()), (Some("DEAD_LETTERED"), 1));
    let down_d = &finished_deliveries(&server.admin, &down, 1).await[0];
    assert_eq!((down_d["state"].as_str(), down_d["attempts"].as_array().unwrap().len()), (Some("DEAD_LETTERED"), 3));
    assert_eq!(finished_deliveries(&server.admin, &good, 1).await[0]["state"], "SUCCEEDED");
    listen.wait_until(|l| l.stdout.iter().any(|s| s.ends_with("; gave up after 3 attempt(s)"))).await;
    assert!(listen.stdout.iter().any(|s| s.contains("/bad") && s.ends_with("; not retried (--retry 5xx,connect)")));
    assert!(
        listen
            .stdout
            .iter()
            .any(|s| s.contains("/down") && s.contains(": attempt 1: 503 in ") && s.ends_with("; next try in 0.5s"))
    );
    // Every line starts with the local time.
    assert!(
        listen.stdout.iter().all(|s| s.as_bytes().get(2) == Some(&b':') && s.as_bytes().get(5) == Some(&b':')),
        "{:?}",
        listen.stdout
    );
    // The cursor stands at the newest capture up to which everything is finished.
    let cursor = server
        .admin
        .graphql(
            "query($e: ID!) { listenerCursor(endpointId: $e, name: \"policy\") { captureId } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(cursor["listenerCursor"]["captureId"], good.as_str());
    listen.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_filter_by_the_type_the_provider_names() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen events").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let forward_to = format!("http://{}", port.addr);
    let local = LocalServer::start(port).await;
    let mut listen =
        Listen::start(&server, cwd.path(), &[&ep.id, "--forward-to", &forward_to, "--events", "charge.*,push"]).await;
    capture(&ep, "/s1", &[], br#"{"type":"charge.refunded"}"#).await;
    capture(&ep, "/s2", &[], br#"{"type":"customer.created"}"#).await;
    capture(&ep, "/g1", &[("X-GitHub-Event", b"push")], b"{}").await;
    capture(&ep, "/plain", &[], b"no type").await;
    capture(&ep, "/s3", &[], br#"{"type":"charge.succeeded"}"#).await;
    let got = local.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines: Vec<String> = local.received().iter().map(|r| r.request_line.clone()).collect();
    assert_eq!(lines, ["POST /s1 HTTP/1.1", "POST /g1 HTTP/1.1", "POST /s3 HTTP/1.1"], "{got:?}");
    listen.wait_until(|l| l.stdout.len() >= 3).await;
    assert!(listen.stdout[0].contains(" POST /s1 charge.refunded -> "), "{:?}", listen.stdout);
    listen.interrupt().await;
}

#[tokio::test]
async fn forward_to_takes_a_bare_port() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("listen port").await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let port = closed_port();
    let bare = port.addr.port().to_string();
    let local = LocalServer::start(port).await;
    let listen = Listen::start(&server, cwd.path(), &[&ep.id, "--forward-to", &bare]).await;
    assert!(
        listen.stderr.iter().any(|l| l.contains(&format!("forwarding to http://localhost:{bare}/"))),
        "{:?}",
        listen.stderr
    );
    capture(&ep, "/p", &[], b"x").await;
    assert_eq!(local.wait_for(1).await[0].request_line, "POST /p HTTP/1.1");
    listen.interrupt().await;
}
