//! `hookmetry serve` as a user starts it: first-start admin token, health, readiness, metrics,
//! GraphQL authentication, and configuration errors that name the key.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hookmetry_testkit::{ChildServer, Client, TestServer};
use serde_json::json;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

#[tokio::test]
async fn first_start_creates_the_admin_token_once_and_keeps_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let token_file = dir.path().join(hookmetry::ADMIN_TOKEN_FILE);
    // Read the banner until the server says where it listens.
    let stdout = read_banner(&mut child).await;
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_string();
    assert!(token.starts_with("hm_") && token.len() == 67, "{token}");
    assert!(stdout.contains(&token), "the banner shows the new admin token once:\n{stdout}");
    assert!(stdout.contains("capture URLs: http://127.0.0.1:"), "{stdout}");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin-token must be private");

    // The secret itself is nowhere in the database, only its SHA-256.
    let db = std::fs::read(dir.path().join("hookmetry.db")).unwrap();
    assert!(!contains(&db, token.as_bytes()), "token stored in clear");

    // A second start keeps the token and does not print a new one.
    let server = ChildServer::start(binary(), dir.path(), &[]).await;
    // The first process still holds the data dir.
    let err = server.err().expect("a second process on the same data dir must refuse to start");
    assert!(err.to_string().contains("exited before listening") || err.to_string().contains("did not start"), "{err}");
    child.kill().await.unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn read_banner(child: &mut tokio::process::Child) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            text.push_str(&line);
            text.push('\n');
            if line.contains("capture URLs:") {
                break;
            }
        }
    })
    .await
    .expect("banner in time");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    text
}

#[tokio::test]
async fn restart_keeps_the_token_and_prints_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = ChildServer::start(binary(), dir.path(), &[]).await.unwrap();
    let token = first.admin_token.clone();
    first.kill9().await.unwrap();
    let mut second = ChildServer::start(binary(), dir.path(), &[]).await.unwrap();
    assert_eq!(second.admin_token, token, "admin-token file unchanged");
    let me = second.client().graphql("{ me { role instanceAdmin token { name } } }", json!({})).await.unwrap();
    assert_eq!(me["me"], json!({ "role": "ADMIN", "instanceAdmin": true, "token": { "name": "instance admin" } }));
    second.kill9().await.unwrap();
}

#[tokio::test]
async fn invalid_configuration_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    // (flags, environment, expected message)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        (
            &["--set", "ingest.max_headers=many"],
            &[],
            "config key `ingest.max_headers` (from flag for `ingest.max_headers`): expected a whole number, got `many`",
        ),
        (
            &[],
            &[("HOOKMETRY_INGEST_MAX_BODY_BYTES", "1GiB")],
            "config key `ingest.max_body_bytes` (from environment variable HOOKMETRY_INGEST_MAX_BODY_BYTES): must be between 1 byte and 512MiB, got 1GiB",
        ),
        (&["--set", "ingest.nope=1"], &[], "unknown config key `ingest.nope`"),
    ];
    for (args, env, expected) in cases {
        let out = tokio::process::Command::new(binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("hookmetry.db").exists(), "nothing is created when the config is invalid");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = TestServer::start().await.unwrap();
    let http = reqwest::Client::new();
    let r = http.get(format!("{}/healthz", server.base_url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{}/readyz", server.base_url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({ "ready": true, "log": "ok", "store": "ok", "processor": "ok", "replay": "ok" })
    );

    let ep = server.admin.create_endpoint("m").await.unwrap();
    let id = common::id_from_body(&http.post(&ep.url).body("x").send().await.unwrap().text().await.unwrap());
    server.admin.wait_for_capture(&id, Duration::from_secs(10)).await.unwrap();
    let _ = http.post(format!("{}/h/unknown", server.base_url)).send().await.unwrap();

    let expected = [
        "hookmetry_ingest_requests_total{outcome=\"accepted\"} 1",
        "hookmetry_ingest_requests_total{outcome=\"unknown_endpoint\"} 1",
        "hookmetry_ingest_request_duration_seconds_count{outcome=\"accepted\"} 1",
        "hookmetry_log_append_duration_seconds_count 1",
        "hookmetry_processor_records_total{outcome=\"stored\"} 1",
        "hookmetry_processor_lag_records 0",
        "hookmetry_backend_up{backend=\"log\"} 1",
        "hookmetry_backend_up{backend=\"store\"} 1",
    ];
    // The lag gauge is refreshed by the processor's loop, a moment after the capture is readable.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = http.get(format!("{}/metrics", server.base_url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = r.text().await.unwrap();
        let missing: Vec<&str> = expected.iter().copied().filter(|want| !text.lines().any(|l| l == *want)).collect();
        if missing.is_empty() {
            // The data dir's filesystem and the files the log and SQLite wrote into it.
            let gauge = |name: &str| -> u64 {
                let line =
                    text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
                line[name.len() + 1..].parse().unwrap()
            };
            let (free, capacity, size) = (
                gauge("hookmetry_data_dir_free_bytes"),
                gauge("hookmetry_data_dir_capacity_bytes"),
                gauge("hookmetry_data_dir_size_bytes"),
            );
            assert!(free > 0 && free <= capacity && size > 0 && size < capacity, "{free} {capacity} {size}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "missing {missing:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = http.get(format!("{}/nope", server.base_url)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn graphql_requires_a_valid_token_and_serves_graphiql() {
    let server = TestServer::start().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/graphql", server.base_url);
    let q = json!({ "query": "{ me { role } }" });
    for auth in [None, Some("Bearer hm_wrong"), Some("Basic abc")] {
        let mut req = http.post(&url).json(&q);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{auth:?}");
    }
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().to_lowercase().contains("graphiql"));

    // Malformed ids and cursors are client errors with the field named, never a 500.
    let c = &server.admin;
    let (status, body) = c.graphql_raw("{ capture(id: \"nope\") { id } }", json!({})).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "id");
    let ep = c.create_endpoint("x").await.unwrap();
    let (_, body) = c
        .graphql_raw(
            "query($e: ID!) { captures(endpointId: $e, after: \"zzz\") { edges { cursor } } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "after");
    let (_, body) = c
        .graphql_raw(
            "query($e: ID!) { captures(endpointId: $e, first: 1000) { edges { cursor } } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["message"], "invalid `first`: must be at most 200 (api.max_page_size), got 1000");
    let (_, body) = c.graphql_raw("{ nope }", json!({})).await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");

    // Many large pages in one query exceed the complexity limit before anything is read.
    let fields = hookmetry_testkit::CAPTURE_FIELDS;
    let q = format!(
        "query($e: ID!) {{ a: captures(endpointId: $e, first: 200) {{ edges {{ node {{ {fields} }} }} }} b: captures(endpointId: $e, first: 200) {{ edges {{ node {{ {fields} }} }} }} }}"
    );
    let (_, body) = c.graphql_raw(&q, json!({ "e": ep.id })).await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX", "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "query complexity exceeds the limit of 5000; ask for fewer fields or a smaller `first`",
        "{body}"
    );
    assert!(body["data"].is_null(), "nothing runs: {body}");
    // Only introspection nests deep enough to reach the depth limit (12) in this schema.
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
    let (_, body) = c.graphql_raw(deep, json!({})).await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "QUERY_TOO_DEEP", "{body}");
    assert_eq!(body["errors"][0]["message"], "query is nested deeper than the limit of 12 levels", "{body}");
    // Whole bodies count 20 each (docs/security.md): a page of every field is allowed up to 80
    // captures; a page of 200 without the body fields is allowed.
    let one = format!("query($e: ID!) {{ captures(endpointId: $e, first: 80) {{ edges {{ node {{ {fields} }} }} }} }}");
    let (_, body) = c.graphql_raw(&one, json!({ "e": ep.id })).await.unwrap();
    assert!(body.get("errors").is_none(), "one page with bodies is allowed: {body}");
    let light = fields.replace("bodyBase64 bodyText ", "");
    let full =
        format!("query($e: ID!) {{ captures(endpointId: $e, first: 200) {{ edges {{ node {{ {light} }} }} }} }}");
    let (_, body) = c.graphql_raw(&full, json!({ "e": ep.id })).await.unwrap();
    assert!(body.get("errors").is_none(), "one full page without bodies is allowed: {body}");

    // Oversized and malformed bodies: a clear client error, before or instead of execution.
    let big = http.post(&url).bearer_auth(&c.token).body(vec![b' '; 2 << 20]).send().await.unwrap();
    assert_eq!(big.status(), 413);
    let body: serde_json::Value = big.json().await.unwrap();
    assert_eq!(body["errors"][0]["message"], "request body exceeds 1048576 bytes");
    let bad = http.post(&url).bearer_auth(&c.token).body("{not json").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // Without a token nothing is read at all.
    let anon = http.post(&url).body(vec![b' '; 2 << 20]).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn another_teams_endpoint_looks_like_one_that_does_not_exist() {
    // The full role/operation matrix belongs to the team-management API; this pins the rule the
    // capture pipeline relies on with two real teams in one store.
    let keep = tempfile::tempdir().unwrap();
    let dir = keep.path().to_path_buf();
    let a = TestServer::start_in(&dir, |_| {}).await.unwrap();
    let ep = a.admin.create_endpoint("team a").await.unwrap();
    let id = common::id_from_body(
        &reqwest::Client::new().post(&ep.url).body("secret").send().await.unwrap().text().await.unwrap(),
    );
    a.admin.wait_for_capture(&id, Duration::from_secs(10)).await.unwrap();
    a.stop().await.unwrap();

    // A second team with an editor token, written straight into the same store.
    let store = hookmetry_store::SqliteStore::open(dir.join("hookmetry.db")).await.unwrap();
    let team = hookmetry_core::Team {
        id: hookmetry_core::TeamId::new(),
        name: "b".into(),
        retention_days: 7,
        created_at: hookmetry_core::Timestamp::now(),
    };
    use hookmetry_store::TeamStore;
    store.create_team(&team).await.unwrap();
    let secret = hookmetry_core::new_api_token();
    store
        .create_token(&hookmetry_core::ApiToken {
            id: hookmetry_core::TokenId::new(),
            team_id: team.id,
            role: hookmetry_core::Role::Editor,
            name: "b editor".into(),
            instance_admin: false,
            hash: hookmetry_core::hash_token(&secret),
            created_at: hookmetry_core::Timestamp::now(),
            last_used_at: None,
            revoked: false,
        })
        .await
        .unwrap();
    drop(store);
    let b_server = TestServer::start_in(&dir, |_| {}).await.unwrap();
    let b = Client::new(&b_server.base_url, &secret);
    let missing = uuid_like();
    for id_ in [ep.id.as_str(), missing.as_str()] {
        let d = b.graphql("query($id: ID!) { endpoint(id: $id) { id } }", json!({ "id": id_ })).await.unwrap();
        assert_eq!(d["endpoint"], serde_json::Value::Null);
        let (_, body) = b
            .graphql_raw("query($id: ID!) { captures(endpointId: $id) { edges { cursor } } }", json!({ "id": id_ }))
            .await
            .unwrap();
        assert_eq!(body["errors"][0]["message"], "endpoint not found");
        let (_, body) = b
            .graphql_raw(
                "mutation($id: ID!) { updateEndpoint(input: {id: $id, name: \"x\"}) { id } }",
                json!({ "id": id_ }),
            )
            .await
            .unwrap();
        assert_eq!(body["errors"][0]["message"], "endpoint not found");
    }
    let d = b.graphql("query($id: ID!) { capture(id: $id) { id } }", json!({ "id": id })).await.unwrap();
    assert_eq!(d["capture"], serde_json::Value::Null);
    let d = b.graphql("{ endpoints { id } }", json!({})).await.unwrap();
    assert_eq!(d["endpoints"], json!([]));
    // The owner's endpoint name did not change.
    let d =
        b_server.admin.graphql("query($id: ID!) { endpoint(id: $id) { name } }", json!({ "id": ep.id })).await.unwrap();
    assert_eq!(d["endpoint"]["name"], "team a");
    b_server.stop().await.unwrap();
}

fn uuid_like() -> String {
    hookmetry_core::EndpointId::new().to_string()
}
