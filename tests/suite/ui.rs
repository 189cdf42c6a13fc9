//! The web inspector.
//!
//! - `inspector_is_served_from_the_binary_and_shadows_nothing`: the page and its modules come out
//!   of the binary with the right types, caching and Content-Security-Policy, every module import
//!   resolves, and `/graphql`, `/graphql/ws`, `/h/…`, `/healthz`, `/readyz`, `/metrics` and the
//!   JSON 404 answer as before. Needs nothing outside Rust.
//! - `inspector_end_to_end_in_chromium`: `tests/js/ui.e2e.mjs` drives headless Chromium through
//!   sign-in, a live capture sent with `curl`, the hex view, signature verdicts, replay and
//!   compare, a dropped WebSocket, 10,000 captures, phone width and axe-core scans. Needs `node`,
//!   `npm ci --prefix tests/js`, Chromium (`.ci/browser.sh` installs it; `HOOKMETRY_CHROMIUM`
//!   names another) and `curl`. Without them the test says loudly that it was skipped, unless
//!   `HOOKMETRY_REQUIRE_EXTERNAL=1` (set by `.ci/run`), which makes the skip a failure.
//!   `HOOKMETRY_UI_SCREENSHOTS=docs/ui` refreshes the screenshots in the documentation.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use hookmetry_testkit::TestServer;
use hookmetry_testkit::ws::{Auth, Protocol, WsClient};
use serde_json::json;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no `{name}` header"))
}

/// Every `ui/<version>/<file>` the page refers to.
fn asset_refs(index: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in index.split('"').skip(1).step_by(2) {
        if quote.starts_with("ui/") {
            out.push(quote.to_string());
        }
    }
    out
}

/// `./x.js` and `../x.js` specifiers imported by a module.
fn imports(module: &str) -> Vec<String> {
    module
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("import ") || l.trim_start().starts_with("export ") && l.contains(" from ")
        })
        .filter_map(|l| l.split('\'').nth(1).map(str::to_string))
        .filter(|s| s.starts_with("./") || s.starts_with("../"))
        .collect()
}

/// Resolves `spec` against the module at `base` (both paths under the server root).
fn resolve(base: &str, spec: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for seg in spec.split('/') {
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[tokio::test]
async fn inspector_is_served_from_the_binary_and_shadows_nothing() {
    let server = TestServer::start().await.unwrap();
    let base = &server.base_url;
    let http = reqwest::Client::new();

    // The page.
    let resp = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&resp, "cache-control"), "no-cache");
    assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
    assert_eq!(header(&resp, "referrer-policy"), "no-referrer");
    let csp = header(&resp, "content-security-policy").to_string();
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(directive), "CSP lacks `{directive}`: {csp}");
    }
    let host = base.trim_start_matches("http://");
    assert!(csp.contains(&format!("connect-src 'self' ws://{host} wss://{host};")), "CSP connect-src: {csp}");
    assert!(!csp.contains("unsafe"), "CSP allows something unsafe: {csp}");
    let etag = header(&resp, "etag").to_string();
    let index = resp.text().await.unwrap();
    assert!(index.contains("<script type=\"module\" src=\"ui/"), "{index}");

    let resp = http.get(format!("{base}/")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status(), 304, "a revalidated page is not sent again");
    let resp = http.head(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "", "HEAD has no body");

    // Every asset the page names, and every module those import.
    let refs = asset_refs(&index);
    let version = refs[0].split('/').nth(1).unwrap().to_string();
    assert!(
        refs.iter().any(|r| r.ends_with("/js/main.js")) && refs.iter().any(|r| r.ends_with("/app.css")),
        "{refs:?}"
    );
    let mut todo = refs.clone();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let resp = http.get(format!("{base}/{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let want = match path.rsplit_once('.').unwrap().1 {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected asset type {other}: {path}"),
        };
        assert_eq!(header(&resp, "content-type"), want, "{path}");
        assert_eq!(header(&resp, "cache-control"), "public, max-age=31536000, immutable", "{path}");
        assert!(resp.headers().contains_key("content-security-policy"), "{path}");
        let text = resp.text().await.unwrap();
        if path.ends_with(".js") {
            for spec in imports(&text) {
                todo.push(resolve(&path, &spec));
            }
        }
    }
    assert!(seen.len() >= 20, "the page loads its modules: {seen:?}");

    // An old page asking for another version gets today's file, but not to keep.
    let resp = http.get(format!("{base}/ui/0123456789ab/js/main.js")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "cache-control"), "no-cache");
    for missing in [
        format!("/ui/{version}/nope.js"),
        format!("/ui/{version}/index.html"),
        format!("/ui/{version}/%2e%2e/%2e%2e/Cargo.toml"),
        format!("/ui/{version}/js/../../../../Cargo.toml"),
    ] {
        let resp = http.get(format!("{base}{missing}")).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{missing}");
    }

    // What was there before is still there.
    let resp = http.get(format!("{base}/graphql")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let graphiql = resp.text().await.unwrap().to_lowercase();
    assert!(graphiql.contains("graphiql") && !graphiql.contains("js/main.js"), "GET /graphql is GraphiQL");
    let me = server.admin.graphql("{ me { role instanceAdmin } }", json!({})).await.unwrap();
    assert_eq!(me["me"]["instanceAdmin"], true);
    let ws = WsClient::connect(base, Protocol::TransportWs, Auth::Init(server.admin.token.clone())).await.unwrap();
    ws.close().await.unwrap();
    let resp = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.text().await.unwrap()), (200, "ok\n".to_string()));
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("hookmetry_"), "metrics");
    let ep = server.admin.create_endpoint("ui routes").await.unwrap();
    for url in [ep.url.clone(), format!("{}/", ep.url), format!("{}/ui/x/js/main.js", ep.url)] {
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        id_from_body(&resp.text().await.unwrap());
    }
    let resp = http.get(format!("{base}/no/such/route")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "the JSON 404 still answers unknown routes");
    server.stop().await.unwrap();
}

/// What is missing for the browser test, if anything.
fn missing_prerequisite(chromium: &Path) -> Option<String> {
    let js = repo_root().join("tests/js");
    for pkg in ["playwright-core", "axe-core"] {
        if !js.join("node_modules").join(pkg).is_dir() {
            return Some(format!("tests/js/node_modules/{pkg} is missing (run `npm ci --prefix tests/js`)"));
        }
    }
    let works = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd).arg(arg).output().map(|o| o.status.success()).unwrap_or(false)
    };
    if !works("node", "--version") {
        return Some("`node` is not installed".into());
    }
    if !works("curl", "--version") {
        return Some("`curl` is not installed".into());
    }
    if !chromium.is_file() {
        return Some(format!(
            "Chromium is not at {} (run `.ci/browser.sh` or set HOOKMETRY_CHROMIUM)",
            chromium.display()
        ));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_end_to_end_in_chromium() {
    let chromium =
        std::env::var_os("HOOKMETRY_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    if let Some(reason) = missing_prerequisite(&chromium) {
        hookmetry_core::external::skip("chromium", "ui::inspector_end_to_end_in_chromium", &reason);
        return;
    }
    let server = TestServer::start().await.unwrap();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo_root().join("tests/js/ui.e2e.mjs"))
        .args([&server.base_url, &server.admin.token])
        .env("HOOKMETRY_CHROMIUM", &chromium)
        .current_dir(repo_root().join("tests/js"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = std::env::var_os("HOOKMETRY_UI_SCREENSHOTS") {
        cmd.env("HOOKMETRY_UI_SCREENSHOTS", repo_root().join(dir));
    }
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("the browser test did not finish within 300 s")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "ui.e2e.mjs failed ({}):\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("ui e2e: "), "the script ended without its summary:\n{stdout}");
    println!("browser test took {:.1} s", started.elapsed().as_secs_f64());
    server.stop().await.unwrap();
}
