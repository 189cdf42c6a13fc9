//! `hookmetry endpoint|tail|capture|sign` as a user runs them: the real binary with `--url`/`--token`
//! against a real server, asserting what it prints on stdout and stderr and how it exits.

use crate::common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use hookmetry_testkit::TestServer;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use tokio::sync::mpsc;

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

    let deleted = cli.ok(&["endpoint", "delete", &id, "--yes"]).await;
    assert!(deleted.starts_with("deleted endpoint `cli-test`"), "{deleted}");
    let gone = cli.run(&["capture", "show", &json_id]).await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(gone.stdout.is_empty());
    assert_eq!(text(&gone.stderr), format!("error: capture {json_id} not found\n"));
    let gone = cli.run(&["endpoint", "delete", "cli-test", "--yes"]).await;
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
    assert_eq!(
        text(&bad.stderr),
        format!(
            "error: the token from --token or HOOKMETRY_TOKEN was not accepted by {} (the token is unknown or revoked)\n",
            server.base_url
        )
    );

    let invalid = cli.run(&["endpoint", "create", " "]).await;
    assert_eq!(invalid.status.code(), Some(1));
    assert_eq!(text(&invalid.stderr), "error: invalid `name`: must be 1 to 200 characters\n");

    let no_token = run(command(&["endpoint", "list", "--url", &server.base_url], cli.cwd.path())).await;
    assert_eq!(no_token.status.code(), Some(1));
    assert!(
        text(&no_token.stderr).starts_with("error: no API token: run `hookmetry login --url <URL>` once"),
        "{}",
        text(&no_token.stderr)
    );

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

/// Runs `cmd` with `input` on its stdin.
async fn run_with_stdin(mut cmd: tokio::process::Command, input: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.expect("done within 30s").unwrap()
}

/// Polls `check` every 50 ms for up to 10 s until it gives a value.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{what} within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hex digits two ids share at their start (dashes dropped).
fn common_prefix(a: &str, b: &str) -> String {
    a.chars()
        .filter(|c| *c != '-')
        .zip(b.chars().filter(|c| *c != '-'))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_profiles_whoami_logout_and_global_flags() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let dir = cli.cwd.path();
    let (url, token) = (server.base_url.as_str(), server.admin.token.as_str());

    // Global flags before the subcommand.
    let out = run(command(&["--url", url, "--token", token, "endpoint", "list", "--json"], dir)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(serde_json::from_slice::<Value>(&out.stdout).unwrap().is_array());

    let out = run(command(&["login", "--url", url, "--token", token], dir)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("logged in to {url} with token")), "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains(token), "the token is never printed");
    // No flags from now on: the profile has them.
    let out = run(command(&["endpoint", "create", "from-profile"], dir)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(command(&["endpoint", "list"], dir)).await;
    assert!(out.status.success() && text(&out.stdout).contains(" from-profile "), "{}", text(&out.stderr));
    let out = run(command(&["whoami"], dir)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("at {url} (token from profile `default` in ")),
        "{}",
        text(&out.stdout)
    );

    // The profile's token belongs to its URL: another server gets none of it.
    let other = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let out = run(command(&["endpoint", "list", "--url", &other], dir)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: no API token"), "{}", text(&out.stderr));

    let out = run(command(&["logout"], dir)).await;
    assert!(
        out.status.success() && text(&out.stdout).starts_with("removed profile `default`"),
        "{}",
        text(&out.stderr)
    );
    let out = run(command(&["endpoint", "list"], dir)).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: no API token"), "{}", text(&out.stderr));

    // The token on stdin, as a script pipes it.
    let out = run_with_stdin(command(&["login", "--url", url, "--profile", "piped"], dir), &format!("{token}\n")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(command(&["whoami", "--json"], dir)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["url"], url);

    // A local admin-token file of another server: the sentence names the file.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(elsewhere.path().join("hookmetry-data")).unwrap();
    std::fs::write(elsewhere.path().join("hookmetry-data/admin-token"), "hm_not_this_servers\n").unwrap();
    let out = run(command(&["endpoint", "list", "--url", url], elsewhere.path())).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: the admin token in ./hookmetry-data/admin-token (written by a `hookmetry serve` started in this folder) was not accepted by"),
        "{err}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_list_filters_merges_and_takes_id_prefixes() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let a = server.admin.create_endpoint("list-a").await.unwrap();
    let b = server.admin.create_endpoint("list-b").await.unwrap();
    let mut ids = Vec::new();
    for (url, method, body) in [
        (format!("{}/stripe/charge", a.url), "POST", "charge.succeeded"),
        (format!("{}/other", a.url), "PUT", "refund"),
        (format!("{}/x", b.url), "POST", "push"),
    ] {
        let resp = reqwest::Client::new().request(method.parse().unwrap(), &url).body(body).send().await.unwrap();
        let id = id_from_body(&resp.text().await.unwrap());
        server.admin.wait_for_capture(&id, Duration::from_secs(10)).await.unwrap();
        ids.push(id);
    }
    let last_column =
        |out: &str| -> Vec<String> { out.lines().map(|l| l.split_whitespace().last().unwrap().to_string()).collect() };

    let all = cli.ok(&["capture", "list"]).await;
    assert_eq!(
        last_column(&all),
        [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()],
        "every endpoint, newest first:\n{all}"
    );
    let only_a = cli.ok(&["capture", "list", "--endpoint", "list-a"]).await;
    assert_eq!(last_column(&only_a), [ids[1].as_str(), ids[0].as_str()], "{only_a}");
    assert_eq!(last_column(&cli.ok(&["capture", "list", "-n", "1"]).await), [ids[2].as_str()]);
    assert_eq!(last_column(&cli.ok(&["capture", "list", "--method", "PUT"]).await), [ids[1].as_str()]);
    assert_eq!(last_column(&cli.ok(&["capture", "list", "--path", "/stripe"]).await), [ids[0].as_str()]);
    assert_eq!(last_column(&cli.ok(&["capture", "list", "--search", "push"]).await), [ids[2].as_str()]);
    assert_eq!(last_column(&cli.ok(&["capture", "list", "--since", "1h"]).await).len(), 3);
    let none = cli.run(&["capture", "list", "--until", "2000-01-01T00:00:00Z"]).await;
    assert!(none.status.success() && none.stdout.is_empty(), "{}", text(&none.stderr));
    let bad = cli.run(&["capture", "list", "--limit", "1001"]).await;
    assert_eq!(text(&bad.stderr), "error: `--limit` must be 1 to 1000, got 1001\n");

    let out = cli.run(&["capture", "list", "--json", "--endpoint", &b.id]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], ids[2].as_str());

    // Id prefixes: captures sent a moment apart share their first (time) digits.
    let shared = common_prefix(&ids[0], &ids[1]);
    assert!(shared.len() >= 8, "captures sent within ms share 8 hex digits: {ids:?}");
    let out = cli.run(&["capture", "show", &shared]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("captures have ids starting with `{shared}`")), "{err}");
    assert!(err.contains(&ids[0]) && err.contains(&ids[1]), "the matches are listed: {err}");
    let unique: String = ids[0].chars().filter(|c| *c != '-').take(shared.len() + 1).collect();
    let shown = cli.ok(&["capture", "show", &unique]).await;
    assert!(shown.contains(&format!("capture id    {}", ids[0])), "{shown}");
    let out = cli.run(&["capture", "show", "00000000"]).await;
    assert_eq!(
        text(&out.stderr),
        "error: no capture id starts with `00000000`; `hookmetry capture list` shows the team's captures\n"
    );

    // Endpoints by id prefix.
    let shared = common_prefix(&a.id, &b.id);
    if shared.len() >= 8 {
        let out = cli.run(&["endpoint", "show", &shared]).await;
        assert!(text(&out.stderr).contains("2 endpoints have ids starting with"), "{}", text(&out.stderr));
    }
    let unique: String = a.id.chars().filter(|c| *c != '-').take(shared.len().max(7) + 1).collect();
    let shown = cli.ok(&["endpoint", "show", &unique]).await;
    assert!(shown.starts_with("endpoint `list-a`\n"), "{shown}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_update_verifies_renames_uniquely_and_delete_asks() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let upd = server.admin.create_endpoint("upd-a").await.unwrap();
    server.admin.create_endpoint("upd-b").await.unwrap();

    let mut cmd = cli.command(&[
        "endpoint",
        "update",
        "upd-a",
        "--verify-provider",
        "stripe",
        "--secret-env",
        "UPD_SECRET",
        "--tolerance",
        "5m",
    ]);
    cmd.env("UPD_SECRET", "whsec_upd_secret");
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(!page.contains("whsec_upd_secret") && !text(&out.stderr).contains("whsec_upd_secret"), "never echoed");
    assert!(page.contains("verification  stripe (secrets: current; tolerance 5m)"), "{page}");

    // A capture signed with that secret is valid, in the one vocabulary.
    let body_file = cli.cwd.path().join("body.json");
    std::fs::write(&body_file, r#"{"type":"charge.succeeded"}"#).unwrap();
    let mut sign = command(&["sign", "--provider", "stripe", "--json", body_file.to_str().unwrap()], cli.cwd.path());
    sign.env("HOOKMETRY_SIGN_SECRET", "whsec_upd_secret");
    let signed: Value = serde_json::from_slice(&run(sign).await.stdout).unwrap();
    let mut req = reqwest::Client::new().post(&upd.url).body(r#"{"type":"charge.succeeded"}"#);
    for h in signed["headers"].as_array().unwrap() {
        req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
    }
    let id = id_from_body(&req.send().await.unwrap().text().await.unwrap());
    // Acknowledged means in the log; `capture show` fails until the processor has stored it.
    server.admin.wait_for_capture(&id, Duration::from_secs(10)).await.unwrap();
    let shown = eventually("the capture verified", || async {
        let page = cli.ok(&["capture", "show", &id]).await;
        page.contains("  signature ").then_some(page)
    })
    .await;
    assert!(shown.contains("  signature     valid (stripe): "), "{shown}");
    let listed = cli.ok(&["capture", "list", "--verdict", "valid"]).await;
    assert!(listed.contains(&id) && listed.trim_end().ends_with("  valid"), "{listed}");

    // The answer: unmentioned parts stay.
    let out = cli
        .run(&["endpoint", "update", &upd.id, "--response-status", "202", "--response-header", "X-Up: 1", "--json"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e: Value = serde_json::from_slice(&out.stdout).expect("only JSON on stdout");
    assert_eq!(e["response"]["status"], 202);
    assert_eq!(e["verification"]["provider"], "stripe", "verification kept");
    let status = eventually("ingest sees the new answer", || async {
        let s = reqwest::Client::new().post(&upd.url).body("x").send().await.unwrap().status().as_u16();
        (s == 202).then_some(s)
    })
    .await;
    assert_eq!(status, 202);

    // Forwarding rules from a file, then none.
    let rules = cli.cwd.path().join("rules.json");
    std::fs::write(&rules, r#"[{"id": "r1", "target": "http://127.0.0.1:9/in", "method": "POST"}]"#).unwrap();
    let out = cli.run(&["endpoint", "update", "upd-a", "--forwarding-rules", rules.to_str().unwrap(), "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["forwardingRules"][0]["id"], "r1");
    let out = cli.run(&["endpoint", "update", "upd-a", "--no-forwarding-rules", "--no-verify", "--json"]).await;
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((e["forwardingRules"].clone(), e["verification"].clone()), (serde_json::json!([]), Value::Null));

    // Names are unique per team.
    let taken = "error: an endpoint of this team is already named `upd-a`; names are unique per team\n";
    let out = cli.run(&["endpoint", "update", "upd-b", "--name", "upd-a"]).await;
    assert_eq!((out.status.code(), text(&out.stderr)), (Some(1), taken));
    let out = cli.run(&["endpoint", "create", "upd-a"]).await;
    assert_eq!((out.status.code(), text(&out.stderr)), (Some(1), taken));
    let reply = server
        .admin
        .graphql_raw("mutation { createEndpoint(input: {name: \"upd-a\"}) { id } }", serde_json::json!({}))
        .await
        .unwrap()
        .1;
    assert_eq!(reply["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(reply["errors"][0]["extensions"]["field"], "name");

    // Deleting asks; without a terminal to ask on, `--yes` is needed.
    let out = cli.run(&["endpoint", "delete", "upd-b"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("pass `--yes` to confirm"), "{}", text(&out.stderr));
    let out = cli.ok(&["endpoint", "delete", "upd-b", "--yes"]).await;
    assert!(out.starts_with("deleted endpoint `upd-b`"), "{out}");
    server.stop().await.unwrap();
}

/// An HTTP receiver on 127.0.0.1 answering 200 to everything; its `host:port`.
async fn ok_receiver() -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_request(&mut socket).await.is_some() {
                    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_json_deliveries_follow_and_cancel() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let ep = server.admin.create_endpoint("replayed").await.unwrap();
    let capture = send(&format!("{}/hook", ep.url), "application/json", b"{\"n\":1}".to_vec()).await;
    server.admin.wait_for_capture(&capture, Duration::from_secs(10)).await.unwrap();
    let receiver = ok_receiver().await;

    // `host:port/path` without a scheme, and one JSON document on stdout.
    let out = cli.run(&["replay", &capture, "--to", &format!("{receiver}/in"), "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let delivered: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(delivered["state"], "SUCCEEDED");
    assert_eq!(delivered["target"], format!("http://{receiver}/in/hook"));
    assert!(text(&out.stderr).contains("attempt 1: 200"), "progress on stderr: {}", text(&out.stderr));
    let delivery = delivered["id"].as_str().unwrap().to_string();

    let table = cli.ok(&["deliveries", &capture]).await;
    let row = table.lines().find(|l| l.starts_with(&delivery)).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" succeeded ") && row.contains(" 1/") && row.contains(" manual "), "{row}");
    let listed: Value = serde_json::from_str(&cli.ok(&["deliveries", &capture, "--json"]).await).unwrap();
    assert_eq!(listed[0]["id"], delivery.as_str());
    let shown: Value = serde_json::from_str(&cli.ok(&["delivery", "show", &delivery, "--json"]).await).unwrap();
    assert_eq!(shown["attempts"][0]["responseStatus"], 200);
    let followed = cli.ok(&["delivery", "follow", &delivery]).await;
    assert!(followed.contains("attempt 1: 200") && followed.ends_with("delivered after 1 attempt(s)\n"), "{followed}");

    // A target that refuses: following gives up and says how to go on; cancel stops it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let out = cli.run(&["replay", &capture, "--to", &closed, "--timeout", "1"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("is still going after 1s"), "{err}");
    let pending = text(&out.stdout).lines().next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    assert!(err.contains(&format!("`hookmetry delivery follow {pending}`")), "{err}");
    assert!(err.contains(&format!("`hookmetry delivery cancel {pending}`")) && !err.contains("replay"), "{err}");
    let out = cli.ok(&["delivery", "cancel", &pending]).await;
    assert!(out.starts_with(&format!("cancelled delivery {pending} after ")), "{out}");
    let shown: Value = serde_json::from_str(&cli.ok(&["delivery", "show", &pending, "--json"]).await).unwrap();
    assert_eq!(shown["state"], "CANCELLED");
    let out = cli.ok(&["delivery", "cancel", &pending]).await;
    assert_eq!(out, format!("delivery {pending} had already finished: cancelled\n"));
    server.stop().await.unwrap();
}

/// A secret in the form each provider hands out (schemes that decode their secret need it).
fn provider_secret(provider: &str) -> String {
    match provider {
        "stripe" => "whsec_trigger0aBcDeFgHiJkLmNoPqRsTuVw".into(),
        "standard-webhooks" => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        "paddle" => "pdl_ntfset_01hsm2yzxkbqp8b5w7rtc8vvjr_aB3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1y".into(),
        "twilio" => "12f8c4a0b6d1e3f5a7c9e1b3d5f7a9c1".into(),
        other => format!("{other}-trigger-secret"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_sends_every_providers_events_signed_with_the_endpoints_secret_and_they_verify() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let list: Value = serde_json::from_str(&cli.ok(&["trigger", "--list", "--json"]).await).unwrap();
    let providers = list.as_array().unwrap();
    let names: Vec<&str> = providers.iter().map(|p| p["provider"].as_str().unwrap()).collect();
    for wanted in ["stripe", "github", "shopify", "slack", "standard-webhooks", "twilio", "paddle", "square", "linear"]
    {
        assert!(names.contains(&wanted), "{wanted} has sample events: {names:?}");
    }
    for p in providers {
        let provider = p["provider"].as_str().unwrap();
        let ep = server.admin.create_endpoint(&format!("trigger {provider}")).await.unwrap();
        server
            .admin
            .graphql(
                "mutation($id: ID!, $p: String!, $s: String!) { updateEndpoint(input: {id: $id, verification: \
                 {provider: $p, secrets: [{label: \"current\", value: $s}]}}) { id } }",
                json!({ "id": ep.id, "p": provider, "s": provider_secret(provider) }),
            )
            .await
            .unwrap();
        for event in p["events"].as_array().unwrap() {
            let event = event["name"].as_str().unwrap();
            let out = cli.ok(&["trigger", provider, event, "--to", &ep.id, "--json"]).await;
            let sent: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{provider} {event}: {e}: {out}"));
            assert_eq!(sent["status"], 200, "{sent}");
            assert_eq!(sent["signed"], true, "{sent}");
            assert_eq!(sent["verdict"], "VALID", "{provider} {event}: {sent}");
            let capture = server.admin.capture(sent["captureId"].as_str().unwrap()).await.unwrap();
            let from = capture["remoteAddr"].as_str().unwrap();
            assert!(from.starts_with("127.0.0.1:"), "sent to the capture URL like a provider: {from}");
        }
    }

    // `--set` changes the body; an unknown event names the known ones; a foreign provider's
    // event to a Stripe endpoint goes unsigned and is judged so.
    let ep = server.admin.create_endpoint("trigger set").await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!, $s: String!) { updateEndpoint(input: {id: $id, verification: \
             {provider: \"stripe\", secrets: [{label: \"current\", value: $s}]}}) { id } }",
            json!({ "id": ep.id, "s": provider_secret("stripe") }),
        )
        .await
        .unwrap();
    let out = cli
        .ok(&[
            "trigger",
            "stripe",
            "charge.refunded",
            "--to",
            &ep.id,
            "--set",
            "data.object.amount_refunded=4242",
            "--json",
        ])
        .await;
    let sent: Value = serde_json::from_str(&out).unwrap();
    let capture = server.admin.capture(sent["captureId"].as_str().unwrap()).await.unwrap();
    let body: Value = serde_json::from_str(capture["bodyText"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["object"]["amount_refunded"], 4242);
    assert_eq!(sent["verdict"], "VALID");
    let bad = cli.run(&["trigger", "stripe", "charge.nope", "--to", &ep.id]).await;
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(err.starts_with("error: ") && err.contains("charge.nope") && err.contains("charge.refunded"), "{err}");
    let foreign = cli.run(&["trigger", "github", "push", "--to", &ep.id]).await;
    assert!(foreign.status.success(), "{}", text(&foreign.stderr));
    assert!(
        text(&foreign.stderr).contains("sent unsigned: the endpoint checks `stripe` signatures"),
        "{}",
        text(&foreign.stderr)
    );
    assert!(text(&foreign.stdout).contains("verdict: missing signature ("), "{}", text(&foreign.stdout));

    // A VIEWER may not have the server sign for it.
    let viewer = server
        .admin
        .graphql("mutation { createToken(input: {name: \"trigger viewer\", role: VIEWER}) { secret } }", json!({}))
        .await
        .unwrap();
    let viewer_token = viewer["createToken"]["secret"].as_str().unwrap();
    let refused = run(command(
        &["trigger", "stripe", "invoice.paid", "--to", &ep.id, "--url", &server.base_url, "--token", viewer_token],
        cli.cwd.path(),
    ))
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("may not send test events (needs EDITOR)"), "{}", text(&refused.stderr));
}

#[tokio::test]
async fn a_loopback_capture_url_comes_with_the_ways_that_work() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let out = cli.run(&["endpoint", "create", "reach"]).await;
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.starts_with("note: providers cannot reach this URL: 127.0.0.1 is a loopback address"), "{err}");
    assert!(
        err.contains("server.public_url") && err.contains("hookmetry listen <endpoint> --forward-to 3000"),
        "{err}"
    );
    let reach = server.admin.graphql("{ captureReachability { reachable reason advice } }", json!({})).await.unwrap();
    assert_eq!(reach["captureReachability"]["reachable"], false);
    assert_eq!(reach["captureReachability"]["advice"].as_array().unwrap().len(), 2);
    // (A public host draws no note: hookmetry_egress::reach's unit tests.)
}

#[tokio::test]
async fn bare_hookmetry_says_it_is_serve_and_url_signing_schemes_need_the_target_url() {
    let dir = tempfile::tempdir().unwrap();
    // No command: the server, with a note on stderr saying so and where its data goes.
    let mut serve = tokio::process::Command::new(binary())
        .env("HOOKMETRY_SERVER_LISTEN", "127.0.0.1:0")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut err = BufReader::new(serve.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), err.next_line()).await.unwrap().unwrap().unwrap();
    assert!(
        first.starts_with("note: no command given, so this is `hookmetry serve` with its data in ./hookmetry-data"),
        "{first}"
    );
    let mut out = BufReader::new(serve.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(30), out.next_line()).await {
        let done = line.contains("save the token for the CLI");
        banner.push(line);
        if done {
            break;
        }
    }
    let banner = banner.join("\n");
    assert!(banner.contains("providers cannot reach these capture URLs: 127.0.0.1 is a loopback address"), "{banner}");
    assert!(banner.contains("save the token for the CLI: hookmetry login --url http://127.0.0.1:"), "{banner}");
    serve.kill().await.unwrap();

    let body = dir.path().join("form.txt");
    std::fs::write(&body, "Body=hi&From=%2B15550001111").unwrap();
    let out =
        run(command(&["sign", "--provider", "twilio", "--secret", "s", body.to_str().unwrap()], dir.path())).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: `twilio` signs the URL the request is sent to: pass `--target-url`, e.g. the endpoint's capture URL or \
         http://localhost:3000/hook\n"
    );
    let out = run(command(
        &[
            "sign",
            "--provider",
            "twilio",
            "--secret",
            "s",
            "--target-url",
            "https://h.example/sms",
            body.to_str().unwrap(),
        ],
        dir.path(),
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("X-Twilio-Signature"), "{}", text(&out.stdout));
}
