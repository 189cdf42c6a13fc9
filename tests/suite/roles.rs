//! `hookmetry migrate` and `hookmetry run --roles` as an operator runs them: the real binary,
//! its exit codes and messages, and a node serving the roles it was given.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use hookmetry_testkit::ChildServer;
use serde_json::json;

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

async fn run(args: &[&str]) -> std::process::Output {
    let out = tokio::process::Command::new(binary())
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("HOOKMETRY_ROLES")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), out).await.expect("finished in time").expect("runs")
}

/// `hookmetry run` with `roles` on `store`, on any free loopback port.
fn node_args<'a>(store: &'a str, roles: &'a str, data: &'a Path) -> [&'a str; 9] {
    ["run", "--roles", roles, "--store", store, "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()]
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn migrate_prepares_a_store_once_and_run_refuses_an_unprepared_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("shared.db").display());
    let tokens = dir.path().join("secrets");

    // Not migrated yet: a node refuses to start, and says what to do.
    let data = dir.path().join("node");
    let out = run(&node_args(&store, "api", &data)).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("run `hookmetry migrate --store <url>` first"), "{}", text(&out.stderr));

    let out = run(&["migrate", "--store", &store, "--data-dir", tokens.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = std::fs::read_to_string(tokens.join("admin-token")).unwrap().trim().to_string();
    assert!(token.starts_with("hm_") && stdout.contains(&token), "{stdout}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(tokens.join("admin-token")).unwrap().permissions().mode() & 0o777, 0o600);

    // Idempotent: the second run changes nothing and prints no token.
    let out = run(&["migrate", "--store", &store]).await;
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "store is up to date (it already has an admin token)\n");
    assert_eq!(std::fs::read_to_string(tokens.join("admin-token")).unwrap().trim(), token);

    // A node with every role on the migrated store serves captures end to end.
    let node =
        ChildServer::spawn(binary(), &node_args(&store, "ingest,processor,api", &data), token.clone()).await.unwrap();
    let client = node.client();
    let ep = client.create_endpoint("roles").await.unwrap();
    let resp = reqwest::Client::new().post(&ep.url).body("hello").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let captures = client.wait_for_captures(&ep.id, 1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(captures[0]["bodySize"], 5);
    let ready = reqwest::get(format!("{}/readyz", node.base_url)).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["ready"], json!(true));
}

#[tokio::test]
async fn a_node_serves_only_its_roles() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("db").display());
    let out = run(&["migrate", "--store", &store, "--data-dir", dir.path().to_str().unwrap()]).await;
    assert!(out.status.success());
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap().trim().to_string();
    let data = dir.path().join("node");
    let api = ChildServer::spawn(
        binary(),
        &["run", "--roles", "api", "--store", &store, "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()],
        token,
    )
    .await
    .unwrap();
    let ep = api.client().create_endpoint("api-only").await.unwrap();
    // No ingest role here: the capture URL is not served by this node.
    let resp = reqwest::Client::new().post(&ep.url).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // Metrics and probes are served by every node.
    let metrics = reqwest::get(format!("{}/metrics", api.base_url)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("hookmetry_api_live_subscribers"), "{metrics}");
    assert!(!metrics.contains("hookmetry_ingest_requests_total"), "an api node has no ingest metrics");
}

#[tokio::test]
async fn bad_roles_and_urls_are_named() {
    let out = run(&["run", "--roles", "ingest,sender"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown role `sender`"), "{}", text(&out.stderr));

    let dir = tempfile::tempdir().unwrap();
    let out = run(&["run", "--roles", "api", "--log", "nats://x", "--data-dir", dir.path().to_str().unwrap()]).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("`log.url`") && err.contains("kafka://"), "{err}");

    let out = run(&["migrate", "--store", "postgres://x"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("`store.url`"), "{}", text(&out.stderr));
}
