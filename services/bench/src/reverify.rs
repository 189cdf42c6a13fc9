//! `reverify`: `reverifyCaptures` over many stored captures.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::load::LoadOptions;
use crate::support::tempfile_dir;

pub(crate) async fn run(load: &LoadOptions, hookmetry: &Path, n: usize) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let client = server.client();
    let ep = client.create_endpoint("reverify").await?;
    client
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: {provider: \"stripe\", secrets: [{label: \"a\", value: \"whsec_a\"}]}}) { id } }",
            serde_json::json!({ "id": ep.id }),
        )
        .await?;
    let http = reqwest::Client::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(load.connections.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = semaphore.clone().acquire_owned().await?;
        let req = http.post(&ep.url).header("stripe-signature", "t=1,v1=00").body(r#"{"type":"charge.succeeded"}"#);
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.and_then(|r| r.error_for_status());
            drop(permit);
            r.map(drop)
        }));
    }
    for t in tasks {
        t.await??;
    }
    client.wait_for_captures(&ep.id, n, Duration::from_secs(300)).await?;
    // Every capture has its first verdict before the timed passes.
    let verified = || async {
        let page = client
            .graphql(
                "query($e: ID!) { captures(endpointId: $e, first: 1, filter: {verdict: INVALID_SIGNATURE}) { edges { node { id } } } }",
                serde_json::json!({ "e": ep.id }),
            )
            .await?;
        anyhow::Ok(!page["captures"]["edges"].as_array().context("edges")?.is_empty())
    };
    while !verified().await? {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pass = || async {
        let started = Instant::now();
        let (mut count, mut after) = (0, serde_json::Value::Null);
        loop {
            let r = client
                .graphql(
                    "mutation($e: ID!, $a: String) { reverifyCaptures(input: {endpointId: $e, since: \"2000-01-01T00:00:00Z\", after: $a}) { count hasMore endCursor } }",
                    serde_json::json!({ "e": ep.id, "a": after }),
                )
                .await?;
            let r = &r["reverifyCaptures"];
            count += r["count"].as_u64().context("count")?;
            if r["hasMore"] != true {
                break;
            }
            after = r["endCursor"].clone();
        }
        anyhow::Ok((started.elapsed().as_secs_f64(), count))
    };
    let (unchanged_s, unchanged) = pass().await?;
    client
        .graphql(
            "mutation($id: ID!) { addVerificationSecret(input: {endpointId: $id, label: \"b\", value: \"whsec_b\"}) { id } }",
            serde_json::json!({ "id": ep.id }),
        )
        .await?;
    let (changed_s, changed) = pass().await?;
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    let report = |s: f64, count: u64| serde_json::json!({ "captures": count, "seconds": (s * 1000.0).round() / 1000.0, "captures_per_s": (count as f64 / s).round() });
    Ok(serde_json::json!({
        "unchanged": report(unchanged_s, unchanged),
        "all_changed_and_announced": report(changed_s, changed),
    }))
}
