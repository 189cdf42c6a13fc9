//! Every node's `/metrics` follows the conventions of docs/metrics.md, and the page and the
//! binary agree: `hookmetry serve`, and one `hookmetry run` node per role, get a little traffic
//! (a signed capture, an unknown endpoint, a replay that succeeds and one that is
//! dead-lettered) so labelled counters and histograms have series, and then each scrape must
//! - pass `promtool check metrics` with no finding at all;
//! - name only metrics of docs/metrics.md, each with its documented type and exactly its
//!   documented labels, every label value one the page lists (nothing unbounded);
//! - follow the naming rules: `hookmetry_` prefix, counters `_total`, histograms `_seconds` or
//!   `_bytes`, a HELP text on every metric;
//! - hold exactly the metrics of the roles the node runs ("exposed by"), so that with `serve`
//!   (every role) every metric of the page is exposed somewhere.
//!
//! The role nodes run as in a cluster, each its own process, on librdkafka's mock cluster (a
//! Kafka-protocol broker hosted in this test process, as in `cluster_takeover.rs`) and one SQLite
//! store, so a capture taken by the ingest node is verified by the processor node and a replay
//! asked of the API node is made by the replay node.
//!
//! Without `promtool` (Debian: `apt-get install prometheus`; or `HOOKMETRY_PROMTOOL=/path`)
//! the promtool part says loudly that it was skipped, and fails instead when
//! `HOOKMETRY_REQUIRE_EXTERNAL=1`; every other check runs regardless.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cluster_support::{binary, capture_url, migrate, spawn_node};
use hookmetry_core::{TOPIC_CAPTURES, TOPIC_DEAD_LETTERS, TOPIC_DELIVERIES, TOPIC_EVENTS};
use hookmetry_testkit::{ChildServer, Client, TestEndpoint};
use rdkafka::mocking::MockCluster;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cluster_support;

const WAIT: Duration = Duration::from_secs(60);
/// GitHub's documented example: HMAC-SHA256 of "Hello, World!" with this secret.
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_BODY: &str = "Hello, World!";
const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

// --- docs/metrics.md ------------------------------------------------------------------------

#[derive(Debug)]
struct DocMetric {
    kind: String,
    labels: BTreeSet<String>,
    /// `ingest`, `processor`, `replay`, `api`, `every node` or `embedded`.
    exposed_by: String,
}

#[derive(Debug)]
struct Doc {
    metrics: BTreeMap<String, DocMetric>,
    /// (metric, label) → every value the label takes.
    values: BTreeMap<(String, String), BTreeSet<String>>,
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The metrics table and the label values table of docs/metrics.md.
fn doc() -> Doc {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/metrics.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut metrics = BTreeMap::new();
    let mut values = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("| `hookmetry_")) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        match cells.len() {
            5 => {
                let name = cells[0].trim_matches('`').to_string();
                let kind = cells[1].to_string();
                assert!(["counter", "gauge", "histogram"].contains(&kind.as_str()), "{line}: type `{kind}`");
                let exposed_by = cells[3].to_string();
                assert!(
                    ["ingest", "processor", "replay", "api", "every node", "embedded"].contains(&exposed_by.as_str()),
                    "{line}: exposed by `{exposed_by}`"
                );
                let labels = backticked(cells[2]).into_iter().collect();
                let previous = metrics.insert(name.clone(), DocMetric { kind, labels, exposed_by });
                assert!(previous.is_none(), "{name} is listed twice");
            }
            3 => {
                let label = cells[1].trim_matches('`').to_string();
                let set: BTreeSet<String> = backticked(cells[2]).into_iter().collect();
                for metric in backticked(cells[0]) {
                    values.insert((metric, label.clone()), set.clone());
                }
            }
            _ => panic!("docs/metrics.md: unexpected table row {line}"),
        }
    }
    assert!(metrics.len() >= 20, "docs/metrics.md lists {} metrics; the table was not read", metrics.len());
    for (metric, label) in values.keys() {
        let m = metrics.get(metric).unwrap_or_else(|| panic!("label values of `{metric}`, which is not listed"));
        assert!(m.labels.contains(label), "label values for `{metric}{{{label}}}`, a label it does not have");
    }
    Doc { metrics, values }
}

// --- the exposition format ------------------------------------------------------------------

#[derive(Debug, Default)]
struct Family {
    kind: Option<String>,
    help: Option<String>,
    /// (sample name, labels, value)
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

/// `name{a="x",b="y"} 1` → (name, labels, value). Label values are unescaped.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value in `{line}`"));
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in `{line}`")),
    };
    let Some((name, rest)) = series.split_once('{') else { return (series.to_string(), BTreeMap::new(), value) };
    let mut labels = BTreeMap::new();
    let mut chars = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels in `{line}`")).chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "`{line}`");
        let mut v = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => v.push('\n'),
                    Some(c) => v.push(c),
                    None => panic!("`{line}`"),
                },
                '"' => break,
                c => v.push(c),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        labels.insert(key.trim().to_string(), v);
    }
    (name.to_string(), labels, value)
}

/// Families by name; samples are filed under the family whose TYPE line came before them.
fn parse_exposition(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().help = Some(help.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("`{line}`"));
            families.entry(name.to_string()).or_default().kind = Some(kind.to_string());
            current = name.to_string();
        } else if !line.starts_with('#') {
            let sample = parse_sample(line);
            let family = if sample.0 == current
                || sample.0.strip_prefix(current.as_str()).is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
            {
                current.clone()
            } else {
                sample.0.clone()
            };
            families.entry(family).or_default().samples.push(sample);
        }
    }
    families
}

/// The value of one series (`name{labels}` exactly as exposed), if it is there.
fn series_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' '))).map(|v| v.parse().unwrap())
}

// --- the checks -----------------------------------------------------------------------------

/// Everything wrong with one node's scrape. `roles` are the roles the node runs; `embedded`
/// says whether its log is embedded or its store is SQLite, so that it has the `embedded`
/// metrics.
fn problems(node: &str, text: &str, roles: &[&str], embedded: bool, doc: &Doc) -> Vec<String> {
    let mut out = Vec::new();
    let families = parse_exposition(text);
    for (name, family) in &families {
        let kind = family.kind.as_deref().unwrap_or("untyped");
        if !name.starts_with("hookmetry_") {
            out.push(format!("{node}: `{name}` does not start with hookmetry_"));
        }
        if family.help.as_deref().is_none_or(|h| h.trim().is_empty()) {
            out.push(format!("{node}: `{name}` has no HELP text"));
        }
        let unit_ok = match kind {
            "counter" => name.ends_with("_total"),
            "histogram" => name.ends_with("_seconds") || name.ends_with("_bytes"),
            "gauge" => !name.ends_with("_total"),
            _ => false,
        };
        if !unit_ok {
            out.push(format!(
                "{node}: `{name}` ({kind}): counters end in _total, histograms in _seconds or _bytes, gauges not in _total"
            ));
        }
        let Some(documented) = doc.metrics.get(name) else {
            out.push(format!("{node}: `{name}` is exposed but not listed in docs/metrics.md"));
            continue;
        };
        if documented.kind != kind {
            out.push(format!("{node}: `{name}` is a {kind}; docs/metrics.md says {}", documented.kind));
        }
        if family.samples.is_empty() {
            out.push(format!("{node}: `{name}` has a TYPE line but no samples"));
        }
        for (sample, labels, _) in &family.samples {
            let mut names: BTreeSet<String> = labels.keys().cloned().collect();
            if kind == "histogram" && sample.ends_with("_bucket") && !names.remove("le") {
                out.push(format!("{node}: `{sample}` without `le`"));
            }
            if names != documented.labels {
                out.push(format!(
                    "{node}: `{sample}` has labels {names:?}; docs/metrics.md says {:?}",
                    documented.labels
                ));
            }
            for (label, value) in labels.iter().filter(|(l, _)| *l != "le") {
                match doc.values.get(&(name.clone(), label.clone())) {
                    None => out.push(format!("{node}: `{name}{{{label}}}` has no values listed in docs/metrics.md")),
                    Some(values) if !values.contains(value) => out.push(format!(
                        "{node}: `{name}{{{label}=\"{value}\"}}`: `{value}` is not a value docs/metrics.md lists"
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    let exposed: BTreeSet<&str> = families.keys().map(String::as_str).collect();
    for (name, m) in &doc.metrics {
        let required = roles.contains(&m.exposed_by.as_str())
            || m.exposed_by == "every node"
            || (embedded && m.exposed_by == "embedded");
        if required && !exposed.contains(name.as_str()) {
            out.push(format!("{node}: `{name}` ({}) is listed in docs/metrics.md but not exposed", m.exposed_by));
        }
        if !required && exposed.contains(name.as_str()) {
            out.push(format!(
                "{node}: `{name}` is exposed, but docs/metrics.md says only {} nodes have it",
                m.exposed_by
            ));
        }
    }
    out
}

/// `promtool`, or `None` after saying loudly why its check is skipped.
fn promtool_or_skip() -> Option<PathBuf> {
    let found = std::env::var_os("HOOKMETRY_PROMTOOL").map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join("promtool")).find(|p| p.is_file()))
    });
    if found.is_none() {
        hookmetry_core::external::skip(
            "promtool",
            "metrics_conventions: promtool check metrics",
            "no `promtool` on PATH (apt-get install prometheus, or set HOOKMETRY_PROMTOOL); \
             the other metric checks ran",
        );
    }
    found
}

/// `promtool check metrics` on a scrape: any finding, or a failure, is a problem.
async fn promtool_findings(promtool: &Path, node: &str, text: &str) -> Vec<String> {
    let mut child = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", promtool.display()));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let mut found: Vec<String> =
        said.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("{node}: promtool: {}", l.trim())).collect();
    if !out.status.success() && found.is_empty() {
        found.push(format!("{node}: promtool check metrics exited with {}", out.status));
    }
    found
}

async fn scrape(http: &reqwest::Client, base_url: &str) -> String {
    let resp = http.get(format!("{base_url}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    resp.text().await.unwrap()
}

/// A node to check: its name in messages, where it listens, the roles it runs, whether it has
/// an embedded backend, and the series its traffic must have counted.
struct Node<'a> {
    name: &'a str,
    base_url: &'a str,
    roles: &'a [&'a str],
    embedded: bool,
    want: &'a [&'a str],
}

/// Scrapes until every series in `node.want` has a value of at least 1 (the traffic has been
/// counted), then runs every check on that scrape.
async fn check_node(http: &reqwest::Client, promtool: Option<&Path>, doc: &Doc, node: Node<'_>) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let text = scrape(http, node.base_url).await;
        let missing: Vec<&&str> = node.want.iter().filter(|s| series_value(&text, s).is_none_or(|v| v < 1.0)).collect();
        if missing.is_empty() {
            break text;
        }
        assert!(Instant::now() < deadline, "{}: {missing:?} not counted within {WAIT:?}:\n{text}", node.name);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut found = problems(node.name, &text, node.roles, node.embedded, doc);
    if let Some(promtool) = promtool {
        found.extend(promtool_findings(promtool, node.name, &text).await);
    }
    found
}

// --- traffic --------------------------------------------------------------------------------

/// A replay target: `/ok…` answers 200, anything else 503. Returns its base URL.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let status = if buf.starts_with(b"POST /ok") { "200 OK" } else { "503 Unavailable" };
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, seen)
}

/// An endpoint that checks GitHub signatures, on the API of `client`.
async fn github_endpoint(client: &Client) -> TestEndpoint {
    let ep = client.create_endpoint("metrics").await.unwrap();
    client
        .graphql(
            "mutation($id: ID!, $v: VerificationInput) { updateEndpoint(input: {id: $id, verification: $v}) { id } }",
            json!({ "id": ep.id, "v": { "provider": "github", "secrets": [{ "label": "current", "value": GITHUB_SECRET }] } }),
        )
        .await
        .unwrap();
    ep
}

/// A signed capture sent to `url` (a capture URL on an ingest node); its id.
async fn signed_capture(http: &reqwest::Client, url: &str) -> String {
    let resp = http.post(url).header("X-Hub-Signature-256", GITHUB_SIGNATURE).body(GITHUB_BODY).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// A request to a capture URL nobody has: 404 `unknown_endpoint`.
async fn unknown_endpoint(http: &reqwest::Client, ingest_base: &str) {
    let resp = http.post(format!("{ingest_base}/h/0123456789abcdef0123456789abcdef")).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

/// Replays capture `id` to `target` and waits until the delivery is finished; its state.
async fn replay(client: &Client, id: &str, target: &str) -> String {
    let created = client
        .graphql(
            "mutation($input: ReplayCaptureInput!) { replayCapture(input: $input) { id } }",
            json!({ "input": { "captureId": id, "target": target } }),
        )
        .await
        .unwrap();
    let delivery = created["replayCapture"]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + WAIT;
    loop {
        let d =
            client.graphql("query($id: ID!) { delivery(id: $id) { state } }", json!({ "id": delivery })).await.unwrap();
        let state = d["delivery"]["state"].as_str().unwrap().to_string();
        if state != "PENDING" {
            return state;
        }
        assert!(Instant::now() < deadline, "delivery {delivery} still pending after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Series a replay worker exports at 0 before it counts anything, so that `increase()` sees the
/// first count (deploy/prometheus/alerts.yaml, HookmetryDeadLetters): a labelled series that
/// appears with its first count has no earlier sample to increase from.
const COUNTED_FROM_START: &[&str] = &["hookmetry_replay_deliveries_finished_total{state=\"dead_lettered\"}"];

fn counted_from_start(node: &str, fresh: &str) -> Vec<String> {
    COUNTED_FROM_START
        .iter()
        .filter(|s| series_value(fresh, s) != Some(0.0))
        .map(|s| format!("{node}: `{s}` is not exported at 0 before any traffic"))
        .collect()
}

fn fail_on(found: Vec<String>) {
    assert!(found.is_empty(), "{} metric problem(s):\n  {}", found.len(), found.join("\n  "));
}

// The series the traffic below must have counted on each kind of node.
const INGEST_SERIES: &[&str] = &[
    "hookmetry_ingest_requests_total{outcome=\"accepted\"}",
    "hookmetry_ingest_requests_total{outcome=\"unknown_endpoint\"}",
];
const PROCESSOR_SERIES: &[&str] = &[
    "hookmetry_processor_records_total{outcome=\"stored\"}",
    "hookmetry_verifications_total{provider=\"github\",verdict=\"VALID\"}",
];
const API_SERIES: &[&str] = &[
    "hookmetry_api_live_events_total{outcome=\"capture_stored\"}",
    "hookmetry_api_live_events_total{outcome=\"delivery_updated\"}",
];
const REPLAY_SERIES: &[&str] = &[
    "hookmetry_replay_attempts_total{outcome=\"success\"}",
    "hookmetry_replay_attempts_total{outcome=\"status\"}",
    "hookmetry_replay_deliveries_finished_total{state=\"succeeded\"}",
    "hookmetry_replay_deliveries_finished_total{state=\"dead_lettered\"}",
    "hookmetry_replay_records_total{outcome=\"started\"}",
];

// --- the tests ------------------------------------------------------------------------------

#[test]
fn the_documented_provider_and_verdict_values_are_the_ones_the_code_has() {
    let doc = doc();
    let key = |label: &str| ("hookmetry_verifications_total".to_string(), label.to_string());
    let mut providers: BTreeSet<String> = hookmetry_verify::providers().iter().map(|p| p.id.to_string()).collect();
    providers.extend(["none".to_string(), "unknown".to_string()]);
    assert_eq!(doc.values[&key("provider")], providers, "docs/metrics.md: provider values");
    let verdicts: BTreeSet<String> = hookmetry_core::Verdict::ALL.iter().map(|v| v.as_str().to_string()).collect();
    assert_eq!(doc.values[&key("verdict")], verdicts, "docs/metrics.md: verdict values");
}

#[tokio::test]
async fn the_checks_catch_what_they_are_for() {
    // A scrape with one mistake of each kind; each must be reported.
    let doc = doc();
    let bad = "\
# HELP hookmetry_ingest_requests_total x
# TYPE hookmetry_ingest_requests_total counter
hookmetry_ingest_requests_total{outcome=\"acepted\"} 1
hookmetry_ingest_requests_total{outcome=\"accepted\",endpoint=\"e1\"} 1
# HELP hookmetry_processor_lag_records x
# TYPE hookmetry_processor_lag_records counter
hookmetry_processor_lag_records 1
# HELP hookmetry_replay_latency_ms x
# TYPE hookmetry_replay_latency_ms histogram
hookmetry_replay_latency_ms_bucket{le=\"+Inf\"} 1
hookmetry_replay_latency_ms_sum 1
hookmetry_replay_latency_ms_count 1
# TYPE process_open_fds gauge
process_open_fds 7
# HELP hookmetry_data_dir_free_bytes x
# TYPE hookmetry_data_dir_free_bytes gauge
hookmetry_data_dir_free_bytes 1
";
    let found = problems("bad", bad, &["ingest"], false, &doc);
    for expected in [
        "`acepted` is not a value docs/metrics.md lists",
        "has labels {\"endpoint\", \"outcome\"}",
        "`hookmetry_processor_lag_records` is a counter; docs/metrics.md says gauge",
        "`hookmetry_processor_lag_records` (counter): counters end in _total",
        "`hookmetry_replay_latency_ms` (histogram): counters end in _total, histograms in _seconds or _bytes",
        "`hookmetry_replay_latency_ms` is exposed but not listed",
        "`process_open_fds` does not start with hookmetry_",
        "`process_open_fds` has no HELP text",
        "`hookmetry_log_append_duration_seconds` (ingest) is listed in docs/metrics.md but not exposed",
        "`hookmetry_processor_lag_records` is exposed, but docs/metrics.md says only processor nodes have it",
        "`hookmetry_data_dir_free_bytes` is exposed, but docs/metrics.md says only embedded nodes have it",
    ] {
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "not reported: {expected}\nreported:\n{}",
            found.join("\n")
        );
    }
    // And promtool, run as the checks run it, reports its own findings.
    if let Some(promtool) = promtool_or_skip() {
        let found = promtool_findings(&promtool, "bad", bad).await;
        for expected in [
            "hookmetry_processor_lag_records counter metrics should have \"_total\" suffix",
            "hookmetry_replay_latency_ms metric names should not contain abbreviated units",
        ] {
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "not reported: {expected}\nreported:\n{}",
                found.join("\n")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exposes_every_documented_metric_and_passes_promtool() {
    let doc = doc();
    let promtool = promtool_or_skip();
    let dir = tempfile::tempdir().unwrap();
    // One attempt per delivery, so the 503 target dead-letters at once.
    let server = ChildServer::start(binary(), dir.path(), &["--set", "replay.max_attempts=1"]).await.unwrap();
    let http = reqwest::Client::new();

    let mut found = counted_from_start("serve", &scrape(&http, &server.base_url).await);
    let client = server.client();
    let ep = github_endpoint(&client).await;
    let id = signed_capture(&http, &ep.url).await;
    client.wait_for_capture(&id, WAIT).await.unwrap();
    unknown_endpoint(&http, &server.base_url).await;
    let (target, seen) = receiver().await;
    assert_eq!(replay(&client, &id, &format!("{target}/ok")).await, "SUCCEEDED");
    assert_eq!(replay(&client, &id, &format!("{target}/down")).await, "DEAD_LETTERED");
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one attempt each");

    let want: Vec<&str> = [INGEST_SERIES, PROCESSOR_SERIES, API_SERIES, REPLAY_SERIES].concat();
    let roles = ["ingest", "processor", "replay", "api"];
    let node = Node { name: "serve", base_url: &server.base_url, roles: &roles, embedded: true, want: &want };
    found.extend(check_node(&http, promtool.as_deref(), &doc, node).await);
    fail_on(found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_node_exposes_its_documented_metrics_and_passes_promtool() {
    let doc = doc();
    let promtool = promtool_or_skip();
    let mock = MockCluster::new(1).expect("librdkafka mock cluster");
    for topic in [TOPIC_CAPTURES, TOPIC_EVENTS, TOPIC_DEAD_LETTERS, TOPIC_DELIVERIES] {
        mock.create_topic(topic, 2, 1).unwrap();
    }
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let (store, token) = migrate(dir.path()).await;
    // The mock cluster cannot create topics. Replays go to this machine (loopback is refused on
    // cluster nodes by default) with one attempt, so the 503 target dead-letters at once.
    let extra = [
        "--set",
        "log.kafka_create_topics=false",
        "--set",
        "replay.allow_loopback=true",
        "--set",
        "replay.max_attempts=1",
    ];
    let mut nodes = BTreeMap::new();
    for role in ["api", "processor", "replay", "ingest"] {
        let (node, _log) = spawn_node(dir.path(), &bootstrap, &store, &token, role, role, &extra).await;
        nodes.insert(role, node);
    }
    let http = reqwest::Client::new();
    let mut found = counted_from_start("run --roles replay", &scrape(&http, &nodes["replay"].base_url).await);
    let client = nodes["api"].client();
    // Let the API node's events tail and the processor's group settle before the first capture.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let ep = github_endpoint(&client).await;
    let id = signed_capture(&http, &capture_url(&ep.url, &nodes["ingest"].base_url)).await;
    client.wait_for_capture(&id, WAIT).await.unwrap();
    unknown_endpoint(&http, &nodes["ingest"].base_url).await;
    let (target, seen) = receiver().await;
    assert_eq!(replay(&client, &id, &format!("{target}/ok")).await, "SUCCEEDED");
    assert_eq!(replay(&client, &id, &format!("{target}/down")).await, "DEAD_LETTERED");
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one attempt each");

    for (role, want) in
        [("ingest", INGEST_SERIES), ("processor", PROCESSOR_SERIES), ("api", API_SERIES), ("replay", REPLAY_SERIES)]
    {
        let name = format!("run --roles {role}");
        // Their store is SQLite, in a file: they have the embedded disk gauges too.
        let node = Node { name: &name, base_url: &nodes[role].base_url, roles: &[role], embedded: true, want };
        found.extend(check_node(&http, promtool.as_deref(), &doc, node).await);
    }
    fail_on(found);
}
