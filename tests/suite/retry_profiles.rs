//! Provider retry profiles from the sender's and the inspector's side: `hookmetry trigger
//! --retry-like` against a real server whose endpoint answers 500, and `Capture.retryGuess` on
//! the captures it makes.

use crate::common;

use std::process::Output;
use std::time::Duration;

use common::*;
use hookmetry_testkit::{TestEndpoint, TestServer};
use serde_json::{Value, json};

async fn cli(server: &TestServer, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(args, dir.path());
    cmd.args(["--url", &server.base_url, "--token", &server.admin.token]);
    tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("the CLI finished within 60s").unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An endpoint checking `provider` signatures with `secret` that answers every request `status`.
async fn failing_endpoint(server: &TestServer, name: &str, provider: &str, secret: &str, status: i32) -> TestEndpoint {
    let ep = server.admin.create_endpoint(name).await.unwrap();
    server
        .admin
        .graphql(
            "mutation($id: ID!, $p: String!, $s: String!, $st: Int!) { updateEndpoint(input: {id: $id, verification: \
             {provider: $p, secrets: [{label: \"current\", value: $s}]}, response: {status: $st}}) { id } }",
            json!({ "id": ep.id, "p": provider, "s": secret, "st": status }),
        )
        .await
        .unwrap();
    ep
}

/// The endpoint's `n` captures, oldest first, once the processor judged every one.
async fn judged_captures(server: &TestServer, ep: &TestEndpoint, n: usize) -> Vec<Value> {
    let q = "query($e: ID!) { captures(endpointId: $e, first: 50) { edges { node { id receivedAt \
             headers { name value } verification { verdict reason } event { id } \
             retryGuess { attempt label fitsSchedule expectedDelaySeconds observedDelaySeconds explanation } } } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let data = server.admin.graphql(q, json!({ "e": ep.id })).await.unwrap();
        let mut nodes: Vec<Value> =
            data["captures"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect();
        if nodes.len() >= n && nodes.iter().all(|c| !c["verification"].is_null()) {
            assert_eq!(nodes.len(), n, "exactly {n} captures: {nodes:#?}");
            nodes.reverse();
            return nodes;
        }
        assert!(tokio::time::Instant::now() < deadline, "{n} judged captures within 20s, have {nodes:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header<'a>(capture: &'a Value, name: &str) -> Option<&'a str> {
    capture["headers"].as_array().unwrap().iter().find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))?
        ["value"]
        .as_str()
}

fn micros(capture: &Value) -> i64 {
    let at = capture["receivedAt"].as_str().unwrap();
    hookmetry_core::Timestamp::parse_rfc3339(at).unwrap_or_else(|e| panic!("receivedAt {at}: {e}")).micros()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_retries_the_same_event_signed_afresh_at_the_scaled_delays() {
    let server = TestServer::start().await.unwrap();
    let ep = failing_endpoint(&server, "retry stripe", "stripe", "whsec_retry0aBcDeFgHiJkLmNoPqRsTuVwXy", 500).await;
    // Stripe's first two retries, 1h and 2h, at 3600 times: 1 s and 2 s.
    let out = cli(
        &server,
        &[
            "trigger",
            "stripe",
            "customer.created",
            "--to",
            &ep.id,
            "--retry-like",
            "stripe",
            "--retry-speed",
            "3600",
            "--max-retries",
            "2",
            "--json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "not acknowledged: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("stopped after 3 attempts (`--max-retries 2`)"), "{}", text(&out.stderr));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(run["acknowledged"], false);
    assert_eq!(run["retryLike"], "stripe");
    let attempts = run["attempts"].as_array().unwrap();
    let statuses: Vec<_> = attempts.iter().map(|a| a["status"].clone()).collect();
    assert_eq!(statuses, [json!(500), json!(500), json!(500)]);
    let waited: Vec<_> = attempts.iter().map(|a| a["waitedMs"].clone()).collect();
    assert_eq!(waited, [Value::Null, json!(1000), json!(2000)]);
    let full: Vec<_> = attempts.iter().map(|a| a["profileWaitMs"].clone()).collect();
    assert_eq!(full, [Value::Null, json!(3_600_000), json!(7_200_000)]);

    let captures = judged_captures(&server, &ep, 3).await;
    let event_ids: Vec<_> = captures.iter().map(|c| c["event"]["id"].as_str().unwrap().to_owned()).collect();
    assert!(event_ids[0].starts_with("evt_") && event_ids.iter().all(|id| *id == event_ids[0]), "{event_ids:?}");
    let signatures: Vec<_> = captures.iter().map(|c| header(c, "Stripe-Signature").unwrap().to_owned()).collect();
    for c in &captures {
        assert_eq!(c["verification"]["verdict"], "VALID", "{c:#}");
    }
    assert!(signatures[0] != signatures[1] && signatures[1] != signatures[2], "signed afresh: {signatures:?}");
    let stamps: Vec<i64> =
        signatures.iter().map(|s| s.split(',').next().unwrap().strip_prefix("t=").unwrap().parse().unwrap()).collect();
    assert!(stamps[0] < stamps[1] && stamps[1] < stamps[2], "each signed when sent: {stamps:?}");
    let gaps: Vec<i64> = captures.windows(2).map(|w| micros(&w[1]) - micros(&w[0])).collect();
    assert!(gaps[0] >= 1_000_000 && gaps[1] >= 2_000_000, "the scaled delays, at least: {gaps:?}");

    assert!(captures[0]["retryGuess"].is_null(), "the first delivery is no retry");
    let g = &captures[2]["retryGuess"];
    assert_eq!(g["attempt"], 2);
    assert_eq!(g["label"], "Stripe's 2nd retry");
    assert_eq!(g["expectedDelaySeconds"], 7200.0);
    assert_eq!(g["fitsSchedule"], false, "2 s is not Stripe's ~2h");
    let explanation = g["explanation"].as_str().unwrap();
    assert!(explanation.starts_with("Stripe retries after ~2h; this came "), "{explanation}");
    assert_eq!(captures[1]["retryGuess"]["label"], "Stripe's 1st retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_retries_carry_their_number_and_reason_and_print_a_line_each() {
    let server = TestServer::start().await.unwrap();
    let ep = failing_endpoint(&server, "retry slack", "slack", "slack-retry-signing-secret", 503).await;
    // At once, 1m, 5m at 600 times: 0, 0.1 s, 0.5 s.
    let out = cli(
        &server,
        &["trigger", "slack", "app_mention", "--to", &ep.id, "--retry-like", "slack", "--retry-speed", "600"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr).trim(), "error: Slack gave up after 4 attempts");
    let stdout = text(&out.stdout);
    let lines: Vec<_> = stdout.lines().filter(|l| l.contains(" attempt ")).collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].ends_with("attempt 1: 503; next try in 0s (Slack's 1st retry, 0s at full speed)"), "{stdout}");
    assert!(lines[1].ends_with("attempt 2: 503; next try in 0.1s (Slack's 2nd retry, 1m at full speed)"), "{stdout}");
    assert!(lines[3].ends_with("attempt 4: 503; no more tries"), "{stdout}");

    let captures = judged_captures(&server, &ep, 4).await;
    let nums: Vec<_> = captures.iter().map(|c| header(c, "X-Slack-Retry-Num")).collect();
    assert_eq!(nums, [None, Some("1"), Some("2"), Some("3")]);
    let reasons: Vec<_> = captures.iter().map(|c| header(c, "X-Slack-Retry-Reason")).collect();
    assert_eq!(reasons, [None, Some("http_error"), Some("http_error"), Some("http_error")]);
    for c in &captures {
        assert_eq!(c["verification"]["verdict"], "VALID", "{c:#}");
    }
    assert_eq!(captures[1]["retryGuess"]["label"], "Slack's 1st retry");
    assert_eq!(captures[1]["retryGuess"]["fitsSchedule"], true, "Slack retries at once");
    assert_eq!(captures[3]["retryGuess"]["label"], "Slack's 3rd retry");
    assert_eq!(captures[3]["retryGuess"]["fitsSchedule"], false, "0.5 s is not 5m");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_sends_once_and_an_acknowledged_event_is_not_retried() {
    let server = TestServer::start().await.unwrap();
    let ep = failing_endpoint(&server, "retry github", "github", "github-retry-secret", 500).await;
    let out = cli(&server, &["trigger", "github", "push", "--to", &ep.id, "--retry-like", "github"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("GitHub does not retry a failed delivery on its own"), "{err}");
    assert_eq!(judged_captures(&server, &ep, 1).await.len(), 1);

    let ok = failing_endpoint(&server, "retry ok", "stripe", "whsec_retry0aBcDeFgHiJkLmNoPqRsTuVwXy", 200).await;
    let out = cli(&server, &["trigger", "stripe", "charge.succeeded", "--to", &ok.id, "--retry-like", "stripe"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("acknowledged on attempt 1"), "{}", text(&out.stdout));
    assert_eq!(judged_captures(&server, &ok, 1).await.len(), 1);

    // A profile applies to its own provider's events only, and nothing is sent when it does not.
    let out = cli(&server, &["trigger", "stripe", "charge.succeeded", "--to", &ok.id, "--retry-like", "shopify"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("only Shopify events are"), "{}", text(&out.stderr));
    let out = cli(
        &server,
        &["trigger", "stripe", "charge.succeeded", "--to", &ok.id, "--retry-like", "stripe", "--retry-speed", "0"],
    )
    .await;
    assert!(text(&out.stderr).contains("`--retry-speed` 0 is not a speed"), "{}", text(&out.stderr));
    assert_eq!(judged_captures(&server, &ok, 1).await.len(), 1, "refused runs send nothing");

    let out = cli(&server, &["trigger", "--list-retry-profiles", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let svix = list.as_array().unwrap().iter().find(|p| p["provider"] == "standard-webhooks").unwrap();
    assert_eq!(svix["delaysMs"], json!([5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]));
    assert_eq!(svix["timeoutMs"], 15_000);
    assert_eq!(svix["source"], "https://docs.svix.com/retries");
    let github = list.as_array().unwrap().iter().find(|p| p["provider"] == "github").unwrap();
    assert_eq!(github["maxRetries"], 0);
}

/// A receiver on 127.0.0.1 that answers every request 500 and records when each arrived.
async fn failing_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>> = Default::default();
    let seen = got.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                if read_received(&mut socket).await.is_none() {
                    return;
                }
                seen.lock().unwrap().push(std::time::Instant::now());
                let answer = "HTTP/1.1 500 Failing\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope";
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_retrying_like_slack_makes_slacks_attempts_at_the_scaled_waits() {
    let server = TestServer::start_with(|c| {
        c.replay.scan_interval = hookmetry_config::HumanDuration(Duration::from_millis(20));
    })
    .await
    .unwrap();
    let ep = server.admin.create_endpoint("replay like slack").await.unwrap();
    let id = capture(&ep, "/", &[], b"{\"event_id\":\"Ev1\"}").await;
    server.admin.wait_for_capture(&id, Duration::from_secs(20)).await.unwrap();
    let (target, got) = failing_receiver().await;
    let q = "mutation($input: ReplayCaptureInput!) { replayCapture(input: $input) { id maxAttempts retryLike { provider speed } } }";
    let (_, body) = server
        .admin
        .graphql_raw(
            q,
            json!({ "input": { "captureId": id, "target": target, "retryLike": "slack", "retrySpeed": 600 } }),
        )
        .await
        .unwrap();
    let created = &body["data"]["replayCapture"];
    assert_eq!(created["retryLike"], json!({ "provider": "slack", "speed": 600 }), "{body}");
    assert_eq!(created["maxAttempts"], 4, "the first attempt and Slack's 3 retries");

    let dq = "query($id: ID!) { delivery(id: $id) { state attemptCount retryLike { provider speed } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let done = loop {
        let d = server.admin.graphql(dq, json!({ "id": created["id"] })).await.unwrap()["delivery"].clone();
        if d["state"] != "PENDING" {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "still pending: {d}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(done["state"], "DEAD_LETTERED", "{done}");
    assert_eq!(done["attemptCount"], 4);
    assert_eq!(done["retryLike"]["provider"], "slack", "kept with the delivery");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let times = got.lock().unwrap().clone();
    assert_eq!(times.len(), 4, "Slack's attempts, then none");
    let gaps: Vec<_> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // At once, 1m and 5m divided by 600: 0, 100 ms, 500 ms (lower bounds; the worker's scan adds).
    assert!(gaps[1] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(500), "{gaps:?}");

    // A provider without a profile, or a speed alone, is refused naming the field, and nothing
    // is made.
    for (input, field, says) in [
        (
            json!({ "captureId": id, "target": target, "retryLike": "paypal" }),
            "retryLike",
            "`paypal` has no retry profile",
        ),
        (
            json!({ "captureId": id, "target": target, "retryLike": "slack", "retrySpeed": 0 }),
            "retrySpeed",
            "must be 1 (real time)",
        ),
        (json!({ "captureId": id, "target": target, "retrySpeed": 10 }), "retrySpeed", "needs `retryLike`"),
    ] {
        let (_, body) = server.admin.graphql_raw(q, json!({ "input": input })).await.unwrap();
        let e = &body["errors"][0];
        assert_eq!(e["extensions"]["field"], field, "{body}");
        assert!(e["message"].as_str().unwrap().contains(says), "{body}");
    }
    let list = server
        .admin
        .graphql("query($id: ID!) { capture(id: $id) { deliveries { id } } }", json!({ "id": id }))
        .await
        .unwrap();
    assert_eq!(list["capture"]["deliveries"].as_array().unwrap().len(), 1, "only the first replay: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_within_the_providers_timeout_is_a_failure_retried_as_a_timeout() {
    let server = TestServer::start().await.unwrap();
    let ep = failing_endpoint(&server, "retry slow", "slack", "slack-retry-signing-secret", 200).await;
    // Answers 200, but after 3.5 s: past Slack's 3 s.
    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, response: {status: 200, delayMs: 3500}}) { id } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    let out = cli(
        &server,
        &["trigger", "slack", "message", "--to", &ep.id, "--retry-like", "slack", "--max-retries", "1", "--json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let run: Value = serde_json::from_slice(&out.stdout).unwrap();
    let attempts = run["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    for a in attempts {
        assert_eq!(a["status"], Value::Null, "no answer within 3 s: {a}");
        assert_eq!(a["failed"], true);
        assert!(!a["noAnswerReason"].as_str().unwrap().is_empty(), "{a}");
    }
    let captures = judged_captures(&server, &ep, 2).await;
    assert_eq!(header(&captures[1], "X-Slack-Retry-Reason"), Some("http_timeout"));
    assert_eq!(header(&captures[1], "X-Slack-Retry-Num"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_signing_a_test_event_needs_an_editor_of_the_team_and_checks_its_input() {
    let server = TestServer::start().await.unwrap();
    let ep = failing_endpoint(&server, "resign", "stripe", "whsec_retry0aBcDeFgHiJkLmNoPqRsTuVwXy", 200).await;
    let q = "mutation($input: TestEventInput!) { prepareTestEvent(input: $input) { headers { name value } bodyBase64 signed } }";
    let first = server
        .admin
        .graphql(q, json!({ "input": { "endpointId": ep.id, "event": "charge.succeeded" } }))
        .await
        .unwrap()["prepareTestEvent"]
        .clone();
    let headers = first["headers"].clone();
    let body = first["bodyBase64"].as_str().unwrap().to_owned();
    let resign = |headers: Value, body: &str| json!({ "input": { "endpointId": ep.id, "event": "charge.succeeded", "resign": { "headers": headers, "bodyBase64": body } } });
    let again = server.admin.graphql(q, resign(headers.clone(), &body)).await.unwrap()["prepareTestEvent"].clone();
    assert_eq!(again["bodyBase64"], first["bodyBase64"], "the same event");
    assert_eq!(again["signed"], true);

    let team_b = server
        .admin
        .graphql("mutation { createTeam(input: {name: \"resign b\"}) { id } }", json!({}))
        .await
        .unwrap()["createTeam"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let viewer = token(&server, None, "VIEWER").await;
    let stranger = token(&server, Some(team_b), "EDITOR").await;
    let (_, body_v) = viewer.graphql_raw(q, resign(headers.clone(), &body)).await.unwrap();
    assert_eq!(body_v["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body_v}");
    let (_, body_s) = stranger.graphql_raw(q, resign(headers.clone(), &body)).await.unwrap();
    assert_eq!(body_s["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body_s}");

    for (input, field) in [
        (resign(headers.clone(), "not base64!"), "resign.bodyBase64"),
        (
            resign(
                json!((0..101).map(|i| json!({ "name": format!("x-{i}"), "value": "v" })).collect::<Vec<_>>()),
                &body,
            ),
            "resign.headers",
        ),
    ] {
        let (_, out) = server.admin.graphql_raw(q, input).await.unwrap();
        assert_eq!(out["errors"][0]["extensions"]["field"], field, "{out}");
    }
    let big = common::b64(&vec![b'a'; 640 * 1024 + 1]);
    let (_, out) = server.admin.graphql_raw(q, resign(headers, &big)).await.unwrap();
    assert_eq!(out["errors"][0]["extensions"]["field"], "resign.bodyBase64", "{out}");
    assert!(out["errors"][0]["message"].as_str().unwrap().contains("over 655360 bytes"), "{out}");
}

async fn token(server: &TestServer, team: Option<String>, role: &str) -> hookmetry_testkit::Client {
    let out = server
        .admin
        .graphql(
            "mutation($input: CreateTokenInput!) { createToken(input: $input) { secret } }",
            json!({ "input": { "teamId": team, "role": role, "name": format!("{role} resign") } }),
        )
        .await
        .unwrap();
    hookmetry_testkit::Client::new(&server.base_url, out["createToken"]["secret"].as_str().unwrap())
}
