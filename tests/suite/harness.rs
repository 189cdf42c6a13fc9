//! The CI harness as a pipeline runs it: `hookmetry await`, `assert`, throwaway endpoints and
//! the docs/testing-webhooks.md walk-through, the real binary against a real server with only
//! HOOKMETRY_URL/HOOKMETRY_TOKEN in its environment and no terminal, asserting stdout, stderr
//! and exit codes. The walk-through needs `bash` and `curl`.

use crate::common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;
use hookmetry_testkit::{TestEndpoint, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

struct Cli {
    url: String,
    token: String,
    cwd: tempfile::TempDir,
}

impl Cli {
    fn new(server: &TestServer) -> Self {
        Self { url: server.base_url.clone(), token: server.admin.token.clone(), cwd: tempfile::tempdir().unwrap() }
    }

    /// The CLI as a CI job runs it: server and token from HOOKMETRY_URL/HOOKMETRY_TOKEN only.
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = command(args, self.cwd.path());
        cmd.env("HOOKMETRY_URL", &self.url).env("HOOKMETRY_TOKEN", &self.token);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .expect("the CLI finished within 60s")
            .unwrap()
    }
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

async fn send(ep: &TestEndpoint, kind: &str, body: &str) -> String {
    capture(ep, "/hook", &[("X-Kind", kind.as_bytes()), ("content-type", b"application/json")], body.as_bytes()).await
}

/// The last-but-event/verdict column of a `tail`-style line is the capture id.
fn ids_in(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            l.split_whitespace()
                .find(|w| w.len() == 36 && w.matches('-').count() == 4)
                .unwrap_or_else(|| panic!("no capture id in {l:?}"))
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_counts_captures_from_before_and_after_it_started() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let ep = server.admin.create_endpoint("await-both").await.unwrap();

    // Sent before `await` starts: the trigger-then-await order of a CI job.
    let early = send(&ep, "early", r#"{"action":"opened","n":1}"#).await;
    server.admin.wait_for_capture(&early, Duration::from_secs(10)).await.unwrap();
    let out = cli.run(&["await", "await-both", "--match", "header:x-kind=early", "--timeout", "20s"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(ids_in(text(&out.stdout)), [early.as_str()]);
    assert!(text(&out.stdout).contains("POST    /hook"), "a tail line: {}", text(&out.stdout));

    // Sent after it started (and is live): two must match, one in between must not count.
    let mut child = cli
        .command(&[
            "await",
            &ep.id,
            "--match",
            "header:X-Kind=late",
            "--match",
            r#"json:.action=="opened""#,
            "--count",
            "2",
            "--json",
            "--timeout",
            "30s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = stderr.next_line().await.unwrap().unwrap();
    assert!(first.starts_with("waiting up to 30s for 2 captures matching `header:X-Kind=late`"), "{first}");
    // Past the subscription's settling time, so these arrive live rather than as history.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let late1 = send(&ep, "late", r#"{"action":"opened"}"#).await;
    let closed = send(&ep, "late", r#"{"action":"closed"}"#).await;
    let late2 = send(&ep, "late", r#"{"action":"opened","n":2}"#).await;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let got: Value = serde_json::from_slice(&out.stdout).expect("--json prints only JSON");
    let ids: Vec<&str> = got.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [late1.as_str(), late2.as_str()]);
    assert_eq!(unb64(got[1]["bodyBase64"].as_str().unwrap()), br#"{"action":"opened","n":2}"#);

    // `--print id` for a shell variable; `--since` a capture id counts only what came after it.
    let out = cli.run(&["await", &ep.id, "--match", "header:X-Kind=late", "--since", &late1, "--print", "id"]).await;
    assert_eq!(text(&out.stdout), format!("{closed}\n"), "{}", text(&out.stderr));
    let prefix = &early[..13];
    let out = cli.run(&["await", &ep.id, "--since", prefix, "--count", "3", "--print", "id"]).await;
    assert_eq!(text(&out.stdout), format!("{late1}\n{closed}\n{late2}\n"), "{}", text(&out.stderr));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn await_times_out_with_exit_1_and_says_what_did_arrive() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let ep = server.admin.create_endpoint("await-none").await.unwrap();
    let other = send(&ep, "other", r#"{"action":"closed"}"#).await;
    let wrong_json = send(&ep, "wanted", r#"{"action":"closed"}"#).await;
    server.admin.wait_for_capture(&wrong_json, Duration::from_secs(10)).await.unwrap();

    let out = cli
        .run(&[
            "await",
            "await-none",
            "--match",
            "header:X-Kind=wanted",
            "--match",
            r#"json:.action=="opened""#,
            "--timeout",
            "2s",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    let summary: Vec<&str> = stderr.lines().skip(1).collect();
    assert_eq!(
        summary,
        [
            r#"error: timed out after 2s waiting for 1 capture matching `header:X-Kind=wanted`, `json:.action=="opened"`: 2 captures stored in the last 10m, 0 matched"#.to_string(),
            format!(r#"  {other}  POST /hook  failed `header:X-Kind=wanted`: header X-Kind is "other""#),
            format!(r#"  {wrong_json}  POST /hook  failed `json:.action=="opened"`: .action is "closed""#),
        ],
        "{stderr}"
    );

    // Captures from before `--since` do not count, however well they match.
    let out = cli.run(&["await", &ep.id, "--match", "header:X-Kind=other", "--since", &other, "--timeout", "1s"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("1 capture stored after capture {other}, 0 matched")),
        "{}",
        text(&out.stderr)
    );
    let out = cli.run(&["await", &ep.id, "--match", "header:X-Kind=other", "--since", "all", "--print", "id"]).await;
    assert_eq!(text(&out.stdout), format!("{other}\n"), "{}", text(&out.stderr));

    // Usage errors exit 2 and name the expression and what was expected.
    let out = cli.run(&["await", &ep.id, "--match", "json:.action==opened"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "`json:.action==opened`: expected a JSON literal after `==` (a string in double quotes, a number, true, \
             false or null), got `opened`"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = cli.run(&["await", &ep.id, "--since", "yesterday"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("got `yesterday`"), "{}", text(&out.stderr));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assert_prints_each_check_and_exits_1_when_one_fails() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let ep = server.admin.create_endpoint("assert-gh").await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: \
             {provider: \"github\", secrets: [{label: \"current\", value: \"gh-assert-secret\"}]}}) { id } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    let sent: Value =
        serde_json::from_slice(&cli.run(&["trigger", "github", "push", "--to", &ep.id, "--json"]).await.stdout)
            .unwrap();
    let id = sent["captureId"].as_str().unwrap().to_string();

    let out = cli
        .run(&["assert", &id, "--verdict", "valid", "--event-type", "push", "--match", "header:X-GitHub-Event=push"])
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "ok      verdict: valid\nok      event type: push\nok      match `header:X-GitHub-Event=push`: matches\n"
    );
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));

    let out = cli
        .run(&[
            "assert",
            &id[..13],
            "--verdict",
            "invalid-signature",
            "--event-type",
            "pull_request*",
            "--match",
            "json:.ref",
            "--delivered",
            "200",
            "--wait",
            "1s",
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<&str> = text(&out.stdout).lines().collect();
    assert_eq!(lines.len(), 4, "{}", text(&out.stdout));
    assert!(lines[0].starts_with("FAILED  verdict: expected invalid signature, got valid ("), "{}", lines[0]);
    assert_eq!(
        lines[1..],
        [
            "FAILED  event type: expected pull_request*, got push",
            "ok      match `json:.ref`: matches",
            "FAILED  delivered: expected 200, got no delivery"
        ]
    );
    assert_eq!(text(&out.stderr), format!("error: 3 of 4 checks failed on capture {id}\n"));

    let out = cli.run(&["assert", &id, "--verdict", "missing-signature", "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json prints only JSON");
    assert_eq!(report["captureId"], id.as_str());
    assert_eq!(report["passed"], false);
    assert_eq!(report["checks"][0]["check"], "verdict");
    assert_eq!(report["checks"][0]["expected"], "missing signature");

    // The status the capture URL answered: 200 by default, 503 once the endpoint says so.
    let out = cli.run(&["assert", &id, "--status", "200"]).await;
    assert_eq!(text(&out.stdout), "ok      status: 200\n", "{}", text(&out.stderr));
    // A fresh endpoint: ingest has not cached the one before its answer changed.
    let down = server.admin.create_endpoint("assert-503").await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, response: {status: 503}}) { id } }",
            json!({ "id": down.id }),
        )
        .await
        .unwrap();
    let resp = reqwest::Client::new().post(&down.url).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let out = cli.run(&["await", &down.id, "--print", "id"]).await;
    let refused = text(&out.stdout).trim().to_string();
    let out = cli.run(&["assert", &refused, "--status", "200", "--match", "method:POST"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "FAILED  status: expected 200, got 503\nok      match `method:POST`: matches\n");
    assert_eq!(text(&out.stderr), format!("error: 1 of 2 checks failed on capture {refused}\n"));

    let missing = "0193a1b2-c3d4-7000-8000-000000000001";
    let out = cli.run(&["assert", missing, "--wait", "500ms"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), format!("error: capture {missing} not found\n"));
    let out = cli.run(&["assert", &id, "--verdict", "fine"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("expected one of valid, invalid-signature"), "{}", text(&out.stderr));
    server.stop().await.unwrap();
}

/// Makes a token of `role` for `team` with `by` (an admin of it or of the instance).
async fn token(by: &hookmetry_testkit::Client, team: &str, role: &str) -> String {
    let d = by
        .graphql(
            "mutation($t: ID!, $r: Role!, $n: String!) { createToken(input: {teamId: $t, role: $r, name: $n}) { secret } }",
            json!({ "t": team, "r": role, "n": format!("harness-{role}") }),
        )
        .await
        .unwrap();
    d["createToken"]["secret"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_awaits_and_asserts_and_another_team_sees_nothing() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("harness-roles").await.unwrap();
    let id = send(&ep, "x", r#"{"a":1}"#).await;
    server.admin.wait_for_capture(&id, Duration::from_secs(10)).await.unwrap();
    let team =
        server.admin.graphql("query($id: ID!) { endpoint(id: $id) { teamId } }", json!({ "id": ep.id })).await.unwrap()
            ["endpoint"]["teamId"]
            .as_str()
            .unwrap()
            .to_string();

    let mut viewer = Cli::new(&server);
    viewer.token = token(&server.admin, &team, "VIEWER").await;
    let out = viewer.run(&["await", &ep.id, "--match", "json:.a==1", "--print", "id"]).await;
    assert_eq!(text(&out.stdout), format!("{id}\n"), "{}", text(&out.stderr));
    let out = viewer.run(&["assert", &id, "--match", "header:X-Kind=x"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Making endpoints, throwaway ones included, takes an EDITOR.
    let out = viewer.run(&["endpoint", "create", "viewer-made", "--ttl", "5m"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("EDITOR"), "{}", text(&out.stderr));

    let other = server
        .admin
        .graphql("mutation { createTeam(input: {name: \"harness-other\"}) { id } }", json!({}))
        .await
        .unwrap()["createTeam"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut stranger = Cli::new(&server);
    stranger.token = token(&server.admin, &other, "EDITOR").await;
    let out = stranger.run(&["await", &ep.id, "--timeout", "2s"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!("error: no endpoint has the id or name `{}`", ep.id)),
        "{}",
        text(&out.stderr)
    );
    let out = stranger.run(&["assert", &id, "--wait", "300ms"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), format!("error: capture {id} not found\n"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throwaway_endpoint_says_when_it_expires() {
    let server = TestServer::start().await.unwrap();
    let cli = Cli::new(&server);
    let before = hookmetry_core::Timestamp::now().micros();
    let out = cli.run(&["endpoint", "create", "ci-ttl", "--ttl", "30m", "--max-captures", "5", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let e: Value = serde_json::from_slice(&out.stdout).expect("--json prints only JSON");
    assert_eq!(e["maxCaptures"], 5);
    let micros = |f: &str| hookmetry_core::Timestamp::parse_rfc3339(e[f].as_str().unwrap()).unwrap().micros();
    assert_eq!(micros("expiresAt") - micros("createdAt"), 1_800_000_000, "counted from creation: {e}");
    assert!(micros("createdAt") >= before - 1_000_000, "{e}");

    // Local time with its offset; TZ pins the zone.
    let mut cmd = cli.command(&["endpoint", "show", "ci-ttl"]);
    cmd.env("TZ", "UTC");
    let out = cmd.output().await.unwrap();
    let page = text(&out.stdout);
    let at = e["expiresAt"].as_str().unwrap();
    let shown = format!("{} {} +00:00", &at[..10], &at[11..19]);
    assert!(page.contains(&format!("\n  expires       at {shown} with its captures\n")), "{page}");
    assert!(page.contains("\n  max captures  5\n"), "{page}");
    let out = cli.run(&["endpoint", "show", "ci-ttl", "--print", "expiresAt"]).await;
    assert_eq!(text(&out.stdout), format!("{at}\n"));
    let mut cmd = cli.command(&["endpoint", "list"]);
    cmd.env("TZ", "UTC");
    let table = String::from_utf8(cmd.output().await.unwrap().stdout).unwrap();
    assert!(table.lines().next().unwrap().ends_with("EXPIRES"), "{table}");
    assert!(table.lines().any(|l| l.contains(" ci-ttl ") && l.ends_with(&shown)), "{table}");

    let out = cli.run(&["endpoint", "create", "ci-bad", "--ttl", "0s"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--ttl <DURATION>': must be at least 1s"), "{}", text(&out.stderr));
    server.stop().await.unwrap();
}

/// The shell script between the markers of docs/testing-webhooks.md, as a CI job runs it: bash,
/// `hookmetry` on the PATH, HOOKMETRY_URL/HOOKMETRY_TOKEN exported, a real `hookmetry serve`.
/// The script sends with `curl`; without it the test says so loudly (a failure in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ci_walkthrough_runs_as_written() {
    let works = |cmd: &str| std::process::Command::new(cmd).arg("--version").output().is_ok_and(|o| o.status.success());
    if !works("curl") || !works("bash") {
        hookmetry_core::external::skip(
            "curl",
            "harness::the_ci_walkthrough_runs_as_written",
            "`curl` or `bash` is not installed",
        );
        return;
    }
    let doc = include_str!("../../docs/testing-webhooks.md");
    let between = doc
        .split_once("<!-- ci-script:begin -->")
        .and_then(|(_, rest)| rest.split_once("<!-- ci-script:end -->"))
        .expect("the markers in docs/testing-webhooks.md")
        .0;
    let script = between
        .trim()
        .strip_prefix("```bash\n")
        .and_then(|s| s.strip_suffix("```"))
        .expect("one ```bash block between the markers");

    let data = tempfile::tempdir().unwrap();
    let server = hookmetry_testkit::ChildServer::start(binary(), data.path(), &[]).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(binary(), bin.join("hookmetry")).unwrap();
    std::fs::write(work.path().join("test-webhooks.sh"), script).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("bash")
            .arg("test-webhooks.sh")
            .current_dir(work.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", work.path())
            .env("HOOKMETRY_PROFILES", work.path().join("profiles.toml"))
            .env("HOOKMETRY_URL", &server.base_url)
            .env("HOOKMETRY_TOKEN", &server.admin_token)
            .env("WEBHOOK_SECRET", "walkthrough-secret")
            .env("GITHUB_RUN_ID", "4242")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the walk-through finished within 120s")
    .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("capture URL: http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("verdict: valid"), "trigger's line: {stdout}");
    for check in [
        "ok      verdict: valid\n",
        "ok      status: 200\n",
        "ok      event type: pull_request.opened\n",
        "ok      match `header:Content-Type=application/json`: matches\n",
        "ok      match `json:.status==\"done\"`: matches\n",
    ] {
        assert!(stdout.contains(check), "no {check:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("walkthrough-secret") && !stderr.contains("walkthrough-secret"), "secrets stay unprinted");
    assert!(stdout.contains("deleted endpoint `ci-4242-1-"), "{stdout}");
    // It cleaned up after itself.
    let left = server.client().graphql("{ endpoints { name } }", json!({})).await.unwrap();
    assert_eq!(left["endpoints"], json!([]), "{left}");
}
