//! `hookmetry endpoint|tail|capture|sign` as a user runs them: the real binary with `--url`/`--token`
//! against a real server, asserting what it prints on stdout and stderr and how it exits.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use hookmetry_testkit::TestServer;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use tokio::sync::mpsc;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

/// The CLI with only what the arguments say: no HOOKMETRY_* from the environment, and a working
/// directory without a `hookmetry-data/admin-token` to fall back to.
fn command(args: &[&str], cwd: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.args(args)
        .env_remove("HOOKMETRY_URL")
        .env_remove("HOOKMETRY_TOKEN")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

struct Cli {
    url: String,
    token: String,
    cwd: tempfile::TempDir,
}

impl Cli {
    fn new(server: &TestServer) -> Self {
        Self { url: server.base_url.clone(), token: server.admin.token.clone(), cwd: tempfile::tempdir().unwrap() }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = command(args, self.cwd.path());
        cmd.args(["--url", &self.url, "--token", &self.token]);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        run(self.command(args)).await
    }

    /// Runs and expects exit code 0, returning stdout as text.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

async fn run(mut cmd: tokio::process::Command) -> Output {
    tokio::time::timeout(Duration::from_secs(30), cmd.output()).await.expect("the CLI finished within 30s").unwrap()
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

/// `key:  value` from `endpoint create` output.
fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no `{key}` in:\n{stdout}"))
}

async fn send(url: &str, content_type: &str, body: Vec<u8>) -> String {
    let resp = reqwest::Client::new().post(url).header("content-type", content_type).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    id_from_body(&resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_and_captures_from_create_to_delete() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);

    let created = cli.ok(&["endpoint", "create", "cli-test"]).await;
    let id = field(&created, "id:").to_string();
    let url = field(&created, "url:").to_string();
    assert!(url.starts_with(&format!("{}/h/", server.base_url)), "{created}");

    let table = cli.ok(&["endpoint", "list"]).await;
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID ") && header.contains("NAME") && header.contains("URL"), "{table}");
    let row = lines.find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{id} not listed:\n{table}"));
    assert!(row.contains(" cli-test ") && row.contains(&url), "{row}");
    // Aligned: every column starts where its header does.
    assert_eq!(row.find(&url), header.find("URL"), "{table}");
    let listed: Value = serde_json::from_str(&cli.ok(&["endpoint", "list", "--json"]).await).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|e| e["id"] == id.as_str() && e["url"] == url.as_str()), "{listed}");

    // Every byte value, so `--raw` has to be byte-exact to pass.
    let binary: Vec<u8> = (0..=255u8).rev().chain(0..=255).collect();
    let bin_id = send(&format!("{url}/bin?x=1"), "application/octet-stream", binary.clone()).await;
    let json_id = send(&url, "application/json", br#"{"zeta":1.50,"alpha":[true,null],"s":"a\u001b"}"#.to_vec()).await;
    server.admin.wait_for_capture(&bin_id, Duration::from_secs(10)).await.unwrap();
    server.admin.wait_for_capture(&json_id, Duration::from_secs(10)).await.unwrap();

    let raw = cli.run(&["capture", "show", &bin_id, "--raw"]).await;
    assert!(raw.status.success(), "{}", text(&raw.stderr));
    assert_eq!(raw.stdout, binary, "--raw writes the exact body and nothing else");
    assert!(raw.stderr.is_empty(), "{}", text(&raw.stderr));

    let shown = cli.ok(&["capture", "show", &bin_id]).await;
    assert!(shown.starts_with("POST /bin?x=1\n"), "{shown}");
    assert!(shown.contains("body size     512 bytes (512 B)"), "{shown}");
    assert!(shown.contains(&format!("body sha256   {}", sha256_hex(&binary))), "{shown}");
    assert!(shown.contains("\n  content-type: application/octet-stream\n"), "headers as sent: {shown}");
    assert!(shown.contains("body (application/octet-stream, not UTF-8; hex dump;"), "{shown}");
    assert!(
        shown.contains("00000000  ff fe fd fc fb fa f9 f8  f7 f6 f5 f4 f3 f2 f1 f0  |................|"),
        "{shown}"
    );

    let shown = cli.ok(&["capture", "show", &json_id]).await;
    assert!(shown.contains("body (application/json, pretty-printed;"), "{shown}");
    // Key order and number spelling as sent.
    assert!(
        shown.ends_with("{\n  \"zeta\": 1.50,\n  \"alpha\": [\n    true,\n    null\n  ],\n  \"s\": \"a\\u001b\"\n}\n"),
        "{shown}"
    );

    let curl = cli.ok(&["capture", "show", &json_id, "--curl"]).await;
    assert!(curl.contains("curl ") && curl.contains(&url), "{curl}");

    let har: Value = serde_json::from_str(&cli.ok(&["capture", "show", &json_id, "--har"]).await).unwrap();
    assert_eq!(har["log"]["version"], "1.2");
    assert_eq!(har["log"]["creator"]["name"], "Hookmetry");
    assert_eq!(har["log"]["entries"][0]["request"]["method"], "POST");

    let full: Value = serde_json::from_str(&cli.ok(&["capture", "show", &bin_id, "--json"]).await).unwrap();
    assert_eq!(unb64(full["bodyBase64"].as_str().unwrap()), binary);

    let deleted = cli.ok(&["endpoint", "delete", &id]).await;
    assert!(deleted.starts_with("deleted endpoint `cli-test`"), "{deleted}");
    let gone = cli.run(&["capture", "show", &json_id]).await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(gone.stdout.is_empty());
    assert_eq!(text(&gone.stderr), format!("error: capture {json_id} not found\n"));
    let gone = cli.run(&["endpoint", "delete", "cli-test"]).await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        text(&gone.stderr).starts_with("error: no endpoint has the id or name `cli-test`"),
        "{}",
        text(&gone.stderr)
    );
    server.stop().await.unwrap();
}

#[test]
fn the_local_token_fallback_is_where_serve_writes_the_admin_token() {
    let defaults = hookmetry_config::Config::defaults();
    assert_eq!(
        Path::new(".").join(hookmetry_cli::LOCAL_ADMIN_TOKEN),
        defaults.server.data_dir.join(hookmetry::ADMIN_TOKEN_FILE)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_sentences_with_exit_code_1() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);

    let bad =
        run(command(&["endpoint", "list", "--url", &server.base_url, "--token", "hm_wrong"], cli.cwd.path())).await;
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stderr), "error: the token was not accepted: the token is unknown or revoked\n");

    let invalid = cli.run(&["endpoint", "create", " "]).await;
    assert_eq!(invalid.status.code(), Some(1));
    assert_eq!(text(&invalid.stderr), "error: invalid `name`: must be 1 to 200 characters\n");

    let no_token = run(command(&["endpoint", "list", "--url", &server.base_url], cli.cwd.path())).await;
    assert_eq!(no_token.status.code(), Some(1));
    assert!(text(&no_token.stderr).starts_with("error: no API token: pass `--token <token>` or set HOOKMETRY_TOKEN"));

    // Without a token, a local server is tried with ./hookmetry-data/admin-token, and it says so.
    let dir = cli.cwd.path().join("hookmetry-data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("admin-token"), format!("{}\n", server.admin.token)).unwrap();
    let local = run(command(&["endpoint", "list", "--url", &server.base_url], cli.cwd.path())).await;
    assert!(local.status.success(), "{}", text(&local.stderr));
    assert_eq!(
        text(&local.stderr).lines().next(),
        Some("note: no token given; using the admin token in ./hookmetry-data/admin-token")
    );

    server.stop().await.unwrap();
    // The server is gone: its port refuses connections.
    let down = cli.run(&["endpoint", "list"]).await;
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(
        text(&down.stderr),
        format!("error: cannot reach Hookmetry at {}: connection refused — is `hookmetry serve` running?\n", cli.url)
    );

    let usage = cli.run(&["capture", "show", "x", "--raw", "--har"]).await;
    assert_eq!(usage.status.code(), Some(2), "usage errors are clap's exit code 2");
}

/// A running `hookmetry tail`, its stdout read line by line and its stderr collected.
struct Tail {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: mpsc::UnboundedReceiver<String>,
    stderr_seen: Vec<String>,
}

impl Tail {
    /// Starts the tail and waits until it says it is live.
    async fn start(cli: &Cli, args: &[&str]) -> Self {
        let mut child =
            cli.command(&[&["tail"], args].concat()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, stderr) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        let mut tail = Self { child, stdout, stderr, stderr_seen: Vec::new() };
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let line = tail.stderr.recv().await.unwrap_or_else(|| panic!("tail exited: {:?}", tail.stderr_seen));
                tail.stderr_seen.push(line.clone());
                if line.starts_with("tailing endpoint") {
                    break;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("tail not live within 20s: {:?}", tail.stderr_seen));
        tail
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(30), self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("no tail output within 30s; stderr: {:?}", self.stderr_seen))
            .unwrap()
            .expect("tail still running")
    }

    /// Ctrl-C, which ends a tail with exit code 0; returns everything it wrote on stderr.
    async fn interrupt(mut self) -> Vec<String> {
        let pid = self.child.id().expect("tail still running");
        let status = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
        assert!(status.success());
        let exit =
            tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.expect("tail stops on Ctrl-C");
        assert_eq!(exit.unwrap().code(), Some(0), "Ctrl-C ends a tail successfully");
        while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(2), self.stderr.recv()).await {
            self.stderr_seen.push(line);
        }
        self.stderr_seen
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_captures_sent_after_it_started() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let ep = server.admin.create_endpoint("tailed").await.unwrap();
    let before = send(&ep.url, "text/plain", b"before".to_vec()).await;
    server.admin.wait_for_capture(&before, Duration::from_secs(10)).await.unwrap();

    // By name in one, by id in the other.
    let mut json_tail = Tail::start(&cli, &["tailed", "--json"]).await;
    let mut line_tail = Tail::start(&cli, &[&ep.id]).await;
    let body = b"\x00\xffbinary body".to_vec();
    let url = format!("{}/events/1?live=true", ep.url);
    let id = send(&url, "application/octet-stream", body.clone()).await;

    let record: Value = serde_json::from_str(&json_tail.line().await).unwrap();
    assert_eq!(record["id"], id.as_str(), "only captures from after the start, not {before}");
    assert_eq!(record["method"], "POST");
    assert_eq!(record["path"], "/events/1");
    assert_eq!(record["query"], "live=true");
    assert_eq!(unb64(record["bodyBase64"].as_str().unwrap()), body);
    assert_eq!(record["bodySha256"], sha256_hex(&body).as_str());
    assert!(record["headers"].as_array().unwrap().iter().any(|h| h["name"] == "content-type"), "{record}");

    let line = line_tail.line().await;
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert!(cols[0].len() == 13 && cols[0].ends_with('Z'), "HH:MM:SS.mmmZ (UTC): {line}");
    assert_eq!(
        cols[1..],
        ["POST", "/events/1?live=true", "13", "B", "application/octet-stream", id.as_str()],
        "{line}"
    );

    json_tail.interrupt().await;
    line_tail.interrupt().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_that_falls_behind_resubscribes_and_misses_nothing() {
    const CAPTURES: usize = 200;
    let server = TestServer::start_with(|c| c.api.subscriber_buffer = 4).await.unwrap();
    let cli = Cli::new(&server);
    let ep = server.admin.create_endpoint("slow-reader").await.unwrap();
    let mut tail = Tail::start(&cli, &["slow-reader", "--json"]).await;

    // Nobody reads the tail's stdout while 50 MiB arrive: its pipe fills, it stops reading the
    // WebSocket, the loopback buffers fill, and the server ends the subscription with LAGGED.
    let mut sent = Vec::new();
    for i in 0..CAPTURES {
        let mut body = vec![0xffu8; 256 << 10];
        body[1..9].copy_from_slice(format!("{i:08}").as_bytes());
        sent.push(send(&ep.url, "application/octet-stream", body).await);
    }
    let mut got = Vec::new();
    while got.len() < CAPTURES {
        let record: Value = serde_json::from_str(&tail.line().await).unwrap();
        got.push(record["id"].as_str().unwrap().to_string());
    }
    let first_difference = got.iter().zip(&sent).position(|(a, b)| a != b);
    assert!(first_difference.is_none(), "every capture once, in order; first difference at {first_difference:?}");
    let stderr = tail.interrupt().await;
    assert!(stderr.iter().any(|l| l.contains("fell behind")), "the lag was noticed: {stderr:?}");
    assert!(stderr.iter().any(|l| l.starts_with("note: live again;")), "{stderr:?}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn sign_prints_headers_a_receiver_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.txt");
    std::fs::write(&body, "Hello, World!").unwrap();
    let body_arg = body.to_str().unwrap();

    // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!".
    let out =
        run(command(&["sign", "--provider", "github", "--secret", "It's a Secret to Everybody", body_arg], dir.path()))
            .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n"),
        "{}",
        text(&out.stdout)
    );

    // Headers from `sign` make a capture VALID end to end; the secret comes from the environment.
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("signed").await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: {provider: \"stripe\", secrets: [{label: \"cli\", value: \"whsec_cli\"}]}}) { id } }",
            serde_json::json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    let mut cmd = command(&["sign", "--provider", "stripe", "--json", body_arg], dir.path());
    cmd.env("HOOKMETRY_SIGN_SECRET", "whsec_cli");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let signed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut req = reqwest::Client::new().post(&ep.url).body("Hello, World!");
    for h in signed["headers"].as_array().unwrap() {
        req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    let id = id_from_body(&req.send().await.unwrap().text().await.unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let verdict = loop {
        let d = server
            .admin
            .graphql(
                "query($id: ID!) { capture(id: $id) { verification { verdict secretLabel } } }",
                serde_json::json!({ "id": id }),
            )
            .await
            .unwrap();
        let v = d["capture"]["verification"].clone();
        if !v.is_null() || std::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(verdict, serde_json::json!({ "verdict": "VALID", "secretLabel": "cli" }));

    // Mistakes are sentences with exit code 1.
    let out = run(command(&["sign", "--provider", "acme", "--secret", "x", body_arg], dir.path())).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: cannot sign as `acme`: unknown provider `acme`\n");
    let out = run(command(&["sign", "--provider", "stripe", body_arg], dir.path())).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no secret"), "{}", text(&out.stderr));
    server.stop().await.unwrap();
}
