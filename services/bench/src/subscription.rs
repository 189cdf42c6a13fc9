//! `subscription-latency`: capture → `captureReceived` subscriber latency.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::load::latency_report;
use crate::support::tempfile_dir;

/// Capture → subscriber latency on a fresh embedded server, measured from just before the HTTP
/// request starts to the subscription message being read.
pub(crate) async fn run(hookmetry: &Path, n: usize, rate: u32, body_bytes: usize) -> anyhow::Result<serde_json::Value> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};

    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let client = server.client();
    let ep = client.create_endpoint("latency").await?;
    let mut ws = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(client.token.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sub = "subscription($e: ID!) { captureReceived(endpointId: $e) { id } }";
    ws.subscribe(sub, serde_json::json!({ "e": ep.id })).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/hook", ep.url);
    // The protocol does not say when the server has registered a subscription: probe until one
    // capture comes through, then drain the rest of the probes.
    let mut live = false;
    for _ in 0..100 {
        http.post(&url).body("probe").send().await?.error_for_status()?;
        if let Some(WsMessage::Next { .. }) = ws.next_message(Duration::from_millis(100)).await? {
            live = true;
            break;
        }
    }
    if !live {
        bail!("the subscription never delivered a probe capture");
    }
    while let Some(WsMessage::Next { .. }) = ws.next_message(Duration::from_millis(500)).await? {}

    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let sender = {
        let sent_at = sent_at.clone();
        let body = vec![b'{'; body_bytes];
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            let mut tasks = Vec::with_capacity(n);
            for _ in 0..n {
                tick.tick().await;
                let (http, url, body, sent_at) = (http.clone(), url.clone(), body.clone(), sent_at.clone());
                tasks.push(tokio::spawn(async move {
                    let start = Instant::now();
                    let resp = http.post(&url).body(body).send().await?.error_for_status()?;
                    let v: serde_json::Value = resp.json().await?;
                    let id = v["id"].as_str().context("capture id in the answer")?.to_string();
                    sent_at.lock().unwrap().insert(id, start);
                    anyhow::Ok(())
                }));
            }
            for t in tasks {
                t.await??;
            }
            anyhow::Ok(())
        })
    };
    let mut received: Vec<(String, Instant)> = Vec::with_capacity(n);
    while received.len() < n {
        match ws.next_message(Duration::from_secs(30)).await? {
            Some(WsMessage::Next { payload, .. }) => {
                let id = payload["data"]["captureReceived"]["id"].as_str().context("capture id")?.to_string();
                received.push((id, Instant::now()));
            }
            other => bail!("subscription ended after {} captures: {other:?}", received.len()),
        }
    }
    sender.await??;
    let sent_at = std::mem::take(&mut *sent_at.lock().unwrap());
    let lat_us: Vec<u64> = received
        .iter()
        .map(|(id, at)| sent_at.get(id).map(|s| at.duration_since(*s).as_micros() as u64).context("unknown capture"))
        .collect::<anyhow::Result<_>>()?;
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(latency_report(n, rate, body_bytes, lat_us))
}
