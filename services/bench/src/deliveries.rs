//! `deliveries`: replay throughput against a bare reqwest client.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::bare;
use crate::load::LoadOptions;
use crate::support::{gauge, tempfile_dir};

/// Replay throughput: `n` captures on a fresh embedded server, replayed in bulk to a bare sink,
/// timed from the first `replayCaptures` call to the last successful attempt (the worker's own
/// counter); then a bare reqwest client sends the same number of requests to the same sink.
pub(crate) async fn run(
    load: &LoadOptions,
    hookmetry: &Path,
    me: &Path,
    n: usize,
) -> anyhow::Result<serde_json::Value> {
    let (mut sink, sink_url) = bare::spawn(me).await?;
    let sink_url = format!("{sink_url}/hook");
    let dir = tempfile_dir()?;
    let concurrency = load.connections.to_string();
    let per_target = format!("replay.per_target_concurrency={concurrency}");
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &["--set", &per_target]).await?;
    let client = server.client();
    let ep = client.create_endpoint("deliveries").await?;
    let http = reqwest::Client::new();
    let body = vec![b'{'; load.body_bytes];
    for _ in 0..n {
        http.post(&ep.url).body(body.clone()).send().await?.error_for_status()?;
    }
    client.wait_for_captures(&ep.id, n, Duration::from_secs(300)).await?;
    let metrics = format!("{}/metrics", server.base_url);
    let succeeded = "hookmetry_replay_attempts_total{outcome=\"success\"}";
    let started = Instant::now();
    let mut before: Option<String> = None;
    let mut made = 0;
    while made < n {
        let limit = (n - made).min(1000);
        let filter = match &before {
            None => serde_json::json!({}),
            Some(t) => serde_json::json!({ "receivedUntil": t }),
        };
        let out = client
            .graphql(
                "mutation($input: ReplayCapturesInput!) { replayCaptures(input: $input) { deliveries { capture { receivedAt } } } }",
                serde_json::json!({ "input": { "endpointId": ep.id, "target": sink_url, "limit": limit, "filter": filter } }),
            )
            .await?;
        let deliveries = out["replayCaptures"]["deliveries"].as_array().context("deliveries")?;
        if deliveries.is_empty() {
            bail!("replayCaptures made no delivery after {made}");
        }
        made += deliveries.len();
        before = deliveries.last().and_then(|d| d["capture"]["receivedAt"].as_str()).map(str::to_owned);
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    while gauge(&metrics, succeeded).await.unwrap_or(0) < n as u64 {
        if Instant::now() > deadline {
            bail!("deliveries not all made within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replay_s = started.elapsed().as_secs_f64();
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();

    // The same requests from a bare client: the ceiling this sink and machine allow.
    let started = Instant::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(load.connections.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = semaphore.clone().acquire_owned().await?;
        let (http, url, body) = (http.clone(), sink_url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = http.post(&url).body(body).send().await.and_then(|r| r.error_for_status());
            drop(permit);
            r.map(drop)
        }));
    }
    for t in tasks {
        t.await??;
    }
    let bare_s = started.elapsed().as_secs_f64();
    sink.kill().await?;
    let rate = |s: f64| (n as f64 / s).round();
    Ok(serde_json::json!({
        "deliveries": n,
        "per_target_concurrency": load.connections,
        "body_bytes": load.body_bytes,
        "hookmetry_replay": { "seconds": (replay_s * 100.0).round() / 100.0, "deliveries_per_s": rate(replay_s) },
        "bare_reqwest": { "seconds": (bare_s * 100.0).round() / 100.0, "requests_per_s": rate(bare_s) },
        "ratio": ((bare_s / replay_s) * 1000.0).round() / 1000.0,
    }))
}
