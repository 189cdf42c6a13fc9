//! `hookmetry apply` / `hookmetry export` as a user runs them: the real binary against a real
//! server, each test in a team of its own, asserting the printed diff, the exit code, and what is
//! (or is not) stored afterwards.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use hookmetry_testkit::{Client, TestServer};
use serde_json::{Value, json};

const SECRET_ONE: &str = "whsec_apply_suite_first_5b1c";
const SECRET_TWO: &str = "whsec_apply_suite_second_93ad";

/// A team of its own with tokens of every role the tests need.
struct Team {
    id: String,
    editor: String,
    viewer: String,
    api: Client,
}

async fn team(server: &TestServer, name: &str) -> Team {
    let d = server
        .admin
        .graphql("mutation($n: String!) { createTeam(input: {name: $n}) { id } }", json!({ "n": name }))
        .await
        .unwrap();
    let id = d["createTeam"]["id"].as_str().unwrap().to_owned();
    let token = |role: &'static str| {
        let (admin, id) = (server.admin.clone(), id.clone());
        async move {
            let d = admin
                .graphql(
                    "mutation($t: ID!, $r: Role!) { createToken(input: {teamId: $t, role: $r, name: \"apply\"}) { secret } }",
                    json!({ "t": id, "r": role }),
                )
                .await
                .unwrap();
            d["createToken"]["secret"].as_str().unwrap().to_owned()
        }
    };
    let editor = token("EDITOR").await;
    let viewer = token("VIEWER").await;
    let api = Client::new(&server.base_url, &editor);
    Team { id, editor, viewer, api }
}

/// Runs the CLI with `token` and extra environment variables, within 30 s.
async fn cli(server: &TestServer, dir: &Path, token: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = common::command(args, dir);
    cmd.args(["--url", &server.base_url, "--token", token]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(30), cmd.output()).await.expect("the CLI finished in time").unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every endpoint of the team with everything the API shows of it (secret values never are).
async fn state(team: &Team) -> Value {
    let d = team
        .api
        .graphql(
            "query($t: ID) { endpoints(teamId: $t) { id name token url createdAt handshakes \
             response { status headers { name value } body delayMs } \
             verification { provider secrets { label } toleranceSeconds publicUrl } \
             eventFields { id type } maxCaptures ttlSeconds scenario { id answer { summary } } } }",
            json!({ "t": team.id }),
        )
        .await
        .unwrap();
    d["endpoints"].clone()
}

const FILE: &str = "\
version: 1
endpoints:
  - name: alpha
    verification:
      provider: stripe
      secrets:
        - label: current
          env: APPLY_SUITE_SECRET
      tolerance: 10m
    response:
      status: 202
      headers: [\"X-Apply: yes\"]
      body: accepted
    forwardingRules:
      - id: copy
        target: https://example.com/hooks
        method: POST
    scenario:
      - id: flaky
        sequence:
          steps:
            - status: 503
              headers: [\"Retry-After: 30\"]
            - status: 200
          then: stick
    maxCaptures: 5
    ttl: 1h
  - name: beta
    handshakes: true
    eventFields:
      type: header:X-Event
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_is_idempotent_reports_secret_changes_prunes_and_round_trips_through_export() {
    let server = TestServer::start().await.unwrap();
    let team = team(&server, "apply-flow").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookmetry.yaml");
    std::fs::write(&file, FILE).unwrap();
    let f = file.to_str().unwrap();
    let one = [("APPLY_SUITE_SECRET", SECRET_ONE)];
    let t = team.id.as_str();

    // A dry run shows the creates and makes none.
    let out = cli(&server, dir.path(), &team.editor, &one, &["apply", "-f", f, "--team", t, "--dry-run"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("+ create alpha\n"), "{stdout}");
    assert!(stdout.contains("    verification: none → stripe (secrets: current, tolerance 600 s)\n"), "{stdout}");
    assert!(stdout.contains("    forwardingRules.copy: none → https://example.com/hooks (method POST)\n"), "{stdout}");
    assert!(
        stdout.contains("    scenario.flaky: none → 503 Retry-After: 30, 200 then stay\n    maxCaptures: none → 5\n    ttlSeconds: none → 3600 s\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ create beta\n    handshakes: off → on\n    eventFields: none → type header:X-Event\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("dry run, nothing changed: 2 to create, 0 to update, 0 to delete, 0 unchanged\n"),
        "{stdout}"
    );
    assert_eq!(state(&team).await, json!([]), "a dry run creates nothing");

    let out = cli(&server, dir.path(), &team.editor, &one, &["apply", "-f", f, "--team", t]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("2 created, 0 updated, 0 deleted, 0 unchanged\n"), "{}", text(&out.stdout));
    let created = state(&team).await;
    assert_eq!(created.as_array().unwrap().len(), 2, "{created}");
    let alpha = &created[0];
    assert_eq!(alpha["name"], "alpha");
    assert_eq!(
        alpha["verification"],
        json!({ "provider": "stripe", "secrets": [{ "label": "current" }], "toleranceSeconds": 600, "publicUrl": null })
    );
    assert_eq!(
        alpha["response"],
        json!({ "status": 202, "headers": [{ "name": "X-Apply", "value": "yes" }], "body": "accepted", "delayMs": 0 })
    );
    assert_eq!(
        (&created[1]["handshakes"], &created[1]["eventFields"]),
        (&json!(true), &json!({ "id": null, "type": "header:X-Event" }))
    );
    assert_eq!((&alpha["maxCaptures"], &alpha["ttlSeconds"]), (&json!(5), &json!(3600)));
    assert_eq!(
        alpha["scenario"],
        json!([{ "id": "flaky", "answer": { "summary": "503 Retry-After: 30, 200 then stay" } }])
    );
    // The sequence's first step is used up before the file is applied again.
    let url = alpha["url"].as_str().unwrap().to_owned();
    let status = |url: String| async move {
        reqwest::Client::new().post(url).body("{}").send().await.unwrap().status().as_u16()
    };
    assert_eq!(status(url.clone()).await, 503);
    // The same file again: nothing to do, nothing written (ids, tokens, settings identical).
    let out = cli(&server, dir.path(), &team.editor, &one, &["apply", "-f", f, "--team", t]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "= unchanged alpha\n= unchanged beta\n0 created, 0 updated, 0 deleted, 2 unchanged\n"
    );
    assert_eq!(state(&team).await, created);
    assert_eq!(status(url.clone()).await, 200, "the sequence went on where it was: its count was not reset");

    // Another secret value in the environment: the server says it differs and shows neither.
    let two = [("APPLY_SUITE_SECRET", SECRET_TWO)];
    let out = cli(&server, dir.path(), &team.editor, &two, &["apply", "-f", f, "--team", t, "--dry-run"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout,
        "~ update alpha\n    verification.secrets: current → current (value changed)\n= unchanged beta\n\
         dry run, nothing changed: 0 to create, 1 to update, 0 to delete, 1 unchanged\n"
    );
    let all = format!("{stdout}{}", text(&out.stderr));
    assert!(!all.contains(SECRET_ONE) && !all.contains(SECRET_TWO), "{all}");
    // Unchanged after the dry run: the first secret still matches.
    let out = cli(&server, dir.path(), &team.editor, &one, &["apply", "-f", f, "--team", t, "--dry-run"]).await;
    assert!(text(&out.stdout).starts_with("= unchanged alpha\n"), "{}", text(&out.stdout));

    // Prune deletes exactly the endpoint the file no longer names.
    let only_alpha = dir.path().join("alpha.yaml");
    std::fs::write(&only_alpha, FILE.split("  - name: beta").next().unwrap()).unwrap();
    let out = cli(
        &server,
        dir.path(),
        &team.editor,
        &one,
        &["apply", "-f", only_alpha.to_str().unwrap(), "--team", t, "--prune"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "= unchanged alpha\n- delete beta\n0 created, 0 updated, 1 deleted, 1 unchanged\n");
    assert_eq!(state(&team).await, json!([created[0].clone()]));

    // Export writes references, never the value, and says which variables apply will read.
    let out = cli(&server, dir.path(), &team.editor, &[], &["export", "--team", t]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = text(&out.stdout);
    assert!(!exported.contains(SECRET_ONE), "{exported}");
    assert!(exported.contains("env: HOOKMETRY_SECRET_ALPHA_CURRENT\n"), "{exported}");
    assert!(exported.contains("tolerance: 10m\n"), "{exported}");
    assert_eq!(
        text(&out.stderr),
        "`hookmetry apply` of this file reads each secret from the environment; set:\n  \
         HOOKMETRY_SECRET_ALPHA_CURRENT  (endpoint `alpha`, secret `current`)\n"
    );
    let back = dir.path().join("exported.yaml");
    std::fs::write(&back, &exported).unwrap();
    let env = [("HOOKMETRY_SECRET_ALPHA_CURRENT", SECRET_ONE)];
    let out = cli(&server, dir.path(), &team.editor, &env, &["apply", "-f", back.to_str().unwrap(), "--prune"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "= unchanged alpha\n0 created, 0 updated, 0 deleted, 1 unchanged\n");
    assert_eq!(state(&team).await, json!([created[0].clone()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_names_file_line_and_key_and_changes_nothing() {
    let server = TestServer::start().await.unwrap();
    let team = team(&server, "apply-bad").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    let f = file.to_str().unwrap();
    let cases: [(&str, String); 5] = [
        (
            "version: 1\nendpoints:\n  - name: a\n    handshake: true\n",
            format!(
                "error: {f}:4:5: endpoints[0].handshake: unknown field `handshake`, expected one of `name`, `verification`, `handshakes`, `eventFields`, `response`, `forwardingRules`, `scenario`, `maxCaptures`, `ttl`\n"
            ),
        ),
        (
            "version: 1\nendpoints:\n  - name: a\n    response:\n      delay: 2 shakes\n",
            format!(
                "error: {f}:5:7: endpoints[0].response.delay: `2 shakes` is not a duration such as `5m` or `250ms` (unknown time unit \"shakes\""
            ),
        ),
        (
            "version: 1\nendpoints:\n  - name: a\n    verification:\n      provider: stripe\n      secrets:\n        - label: current\n          value: whsec_inline_in_the_file\n",
            format!(
                "error: {f}:8:11: endpoints[0].verification.secrets[0].value: secret values are not written in the file (it ends up in version control); give `env: VARIABLE` or `file: PATH` instead\n"
            ),
        ),
        (
            "version: 1\nendpoints:\n  - name: a\n    verification:\n      provider: stripe\n      secrets:\n        - label: current\n          env: APPLY_SUITE_UNSET_VARIABLE\n",
            format!(
                "error: {f}:8:11: endpoints[0].verification.secrets[0].env: the environment variable APPLY_SUITE_UNSET_VARIABLE is not set (secret `current`)\n"
            ),
        ),
        // Found by the server, placed by the CLI: the second endpoint's forbidden header.
        (
            "version: 1\nendpoints:\n  - name: fine\n  - name: b\n    response:\n      status: 200\n      headers: [\"Set-Cookie: a=b\"]\n",
            format!(
                "error: {f}:7:7: endpoints[1].response.headers: `Set-Cookie` cannot be set on a capture URL's answer"
            ),
        ),
    ];
    for (yaml, expected) in cases {
        std::fs::write(&file, yaml).unwrap();
        let out = cli(&server, dir.path(), &team.editor, &[], &["apply", "-f", f, "--team", &team.id]).await;
        assert_eq!(out.status.code(), Some(1), "{yaml}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(stderr.starts_with(&expected), "{yaml}\n{stderr}");
        assert!(!stderr.contains("whsec_inline_in_the_file"), "{stderr}");
        assert_eq!(state(&team).await, json!([]), "nothing created for\n{yaml}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_and_another_teams_editor_are_refused() {
    let server = TestServer::start().await.unwrap();
    let team_a = team(&server, "apply-a").await;
    let team_b = team(&server, "apply-b").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookmetry.yaml");
    std::fs::write(&file, "version: 1\nendpoints:\n  - name: a\n").unwrap();
    let f = file.to_str().unwrap();

    let out = cli(&server, dir.path(), &team_a.viewer, &[], &["apply", "-f", f, "--team", &team_a.id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: your token's role may not apply endpoints (needs EDITOR)\n");
    let out =
        cli(&server, dir.path(), &team_a.viewer, &[], &["apply", "-f", f, "--team", &team_a.id, "--dry-run"]).await;
    assert_eq!(
        text(&out.stderr),
        "error: your token's role may not apply endpoints (needs EDITOR)\n",
        "not even a dry run"
    );

    // Team A's id is, to team B's editor, a team that does not exist.
    let out = cli(&server, dir.path(), &team_b.editor, &[], &["apply", "-f", f, "--team", &team_a.id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "error: team not found\n");
    assert_eq!(state(&team_a).await, json!([]));
    assert_eq!(state(&team_b).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_update_sets_a_scenario_file_a_cap_and_a_ttl_and_places_a_refused_rule_in_its_file() {
    let server = TestServer::start().await.unwrap();
    let team = team(&server, "apply-update").await;
    let dir = tempfile::tempdir().unwrap();
    let t = team.id.as_str();
    let ep = team.api.create_endpoint("updated").await.unwrap();
    let file = dir.path().join("scenario.yaml");
    let f = file.to_str().unwrap();

    std::fs::write(&file, "- id: down\n  fixed:\n    status: 503\n    headers: [\"Retry-After: 5\"]\n").unwrap();
    let args = ["endpoint", "update", "updated", "--team", t, "--scenario", f, "--max-captures", "3", "--ttl", "1h"];
    let out = cli(&server, dir.path(), &team.editor, &[], &args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let resp = reqwest::Client::new().post(&ep.url).body("{}").send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.headers()["retry-after"].to_str().unwrap()), (503, "5"));
    let q = "query($id: ID!) { endpoint(id: $id) { maxCaptures ttlSeconds counters { captures } scenario { id } } }";
    let shown = team.api.graphql(q, json!({ "id": ep.id })).await.unwrap();
    assert_eq!(
        shown["endpoint"],
        json!({ "maxCaptures": 3, "ttlSeconds": 3600, "counters": { "captures": 1 }, "scenario": [{ "id": "down" }] })
    );

    // The server refuses the header; the CLI points at the rule's line in the scenario file.
    std::fs::write(&file, "- id: down\n  fixed:\n    status: 503\n    headers: [\"Set-Cookie: a=b\"]\n").unwrap();
    let out =
        cli(&server, dir.path(), &team.editor, &[], &["endpoint", "update", "updated", "--team", t, "--scenario", f])
            .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {f}:4:5: [0].fixed.headers: `Set-Cookie` cannot be set on a capture URL's answer"
        )),
        "{stderr}"
    );

    let args = [
        "endpoint",
        "update",
        "updated",
        "--team",
        t,
        "--reset-counters",
        "--no-max-captures",
        "--no-ttl",
        "--clear-scenario",
    ];
    let out = cli(&server, dir.path(), &team.editor, &[], &args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = team.api.graphql(q, json!({ "id": ep.id })).await.unwrap();
    assert_eq!(
        shown["endpoint"],
        json!({ "maxCaptures": null, "ttlSeconds": null, "counters": { "captures": 0 }, "scenario": [] })
    );
}
