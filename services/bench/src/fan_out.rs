//! `fan-out`: many `captureReceived` subscriptions over many endpoints under a steady capture
//! rate: capture → subscriber latency, subscribers dropped, and the server's peak RSS.
//!
//! Each subscription has its own WebSocket, as each open inspector or `hookmetry tail` does.
//! Subscriptions are spread round-robin over the endpoints, and captures round-robin over the
//! endpoints at `--rate` per second (open loop), so every capture reaches
//! `subscribers / endpoints` subscribers. Latency runs from just before the capture's HTTP
//! request starts to the moment a subscriber has read the message.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use hookmetry_testkit::ws::{Auth, Protocol, WsClient, WsMessage};

use crate::support::{gauge, peak_rss_kib, tempfile_dir};

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct FanOutArgs {
    /// `captureReceived` subscriptions, each on its own WebSocket.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Endpoints the subscriptions and the captures are spread over.
    #[arg(long, default_value_t = 100)]
    pub endpoints: usize,
    /// Captures per second, over all endpoints.
    #[arg(long = "captures-per-s", default_value_t = 500)]
    pub rate: u32,
    /// Seconds of captures at that rate.
    #[arg(long = "for-seconds", default_value_t = 20)]
    pub seconds: u64,
}

/// The selection of a live list: what the inspector shows for a new capture.
const SUBSCRIPTION: &str =
    "subscription($e: ID!) { captureReceived(endpointId: $e) { id method path receivedAt bodySize contentType } }";

/// What one subscriber saw: each capture id with the moment it was read, and how it ended.
struct Seen {
    endpoint: usize,
    received: Vec<(String, Instant)>,
    /// The subscription ended (an error such as `LAGGED`, a completion, a closed socket) before
    /// the run did.
    ended: Option<String>,
}

pub(crate) async fn run(args: &FanOutArgs, body_bytes: usize, hookmetry: &Path) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile_dir()?;
    // The defaults allow 1,000 live subscriptions per team (api.max_subscribers_per_team) and
    // 10,000 per node; past either, the bench raises both so it measures the fan-out rather than
    // the refusal, and says so in its report.
    let raise = args.subscribers > 1000;
    let limit = args.subscribers.to_string();
    let env: Vec<(&str, &str)> = if raise {
        vec![("HOOKMETRY_API_MAX_SUBSCRIBERS", &limit), ("HOOKMETRY_API_MAX_SUBSCRIBERS_PER_TEAM", &limit)]
    } else {
        vec![]
    };
    let mut server = hookmetry_testkit::ChildServer::start_with_env(hookmetry, &dir, &[], &env).await?;
    let pid = server.child.id().context("server pid")?;
    let client = server.client();
    let mut endpoints = Vec::with_capacity(args.endpoints);
    for i in 0..args.endpoints.max(1) {
        endpoints.push(client.create_endpoint(&format!("fan-out-{i}")).await?);
    }
    let rss_before_subscribers = peak_rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let mut subscribers = Vec::with_capacity(args.subscribers);
    let connected = Instant::now();
    for s in 0..args.subscribers {
        let endpoint = s % endpoints.len();
        let mut ws = WsClient::connect(&server.base_url, Protocol::TransportWs, Auth::Init(client.token.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("subscriber {s}: {e}"))?;
        ws.subscribe(SUBSCRIPTION, serde_json::json!({ "e": endpoints[endpoint].id })).await?;
        subscribers.push(tokio::spawn(subscriber(ws, endpoint, stop.clone())));
    }
    let connect_s = connected.elapsed().as_secs_f64();

    // The protocol does not say when the server has registered a subscription: wait until the
    // hub counts them all.
    let http = reqwest::Client::new();
    let metrics = format!("{}/metrics", server.base_url);
    let deadline = Instant::now() + Duration::from_secs(60);
    while gauge(&metrics, "hookmetry_api_live_subscribers").await != Some(args.subscribers as u64) {
        if Instant::now() > deadline {
            bail!("the server never counted {} live subscribers", args.subscribers);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_subscribed = peak_rss_kib(pid);

    let sent_at: Arc<Mutex<HashMap<String, (usize, Instant)>>> = Arc::default();
    let total = (u64::from(args.rate) * args.seconds) as usize;
    let body = vec![b'{'; body_bytes];
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        let endpoint = i % endpoints.len();
        let (http, url, body, sent_at) =
            (http.clone(), format!("{}/fan-out", endpoints[endpoint].url), body.clone(), sent_at.clone());
        sends.push(tokio::spawn(async move {
            let start = Instant::now();
            let resp = http.post(&url).body(body).send().await?.error_for_status()?;
            let v: serde_json::Value = resp.json().await?;
            let id = v["id"].as_str().context("capture id in the answer")?.to_string();
            sent_at.lock().unwrap().insert(id, (endpoint, start));
            anyhow::Ok(())
        }));
    }
    let mut send_errors = 0;
    for t in sends {
        if t.await?.is_err() {
            send_errors += 1;
        }
    }
    let send_s = started.elapsed().as_secs_f64();
    // Whatever is still on its way has a few seconds to arrive; anything later counts as missed.
    let settle = Instant::now() + Duration::from_secs(5);
    while Instant::now() < settle
        && gauge(&metrics, "hookmetry_api_live_deliveries_total").await.unwrap_or(0)
            < (sent_at.lock().unwrap().len() * args.subscribers / endpoints.len()) as u64
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Release);
    let lagged_total = gauge(&metrics, "hookmetry_api_live_lagged_total").await;
    let rss = peak_rss_kib(pid);
    let cpu = crate::support::cpu_seconds(pid);
    // The subscribers and the sender run in this process on the same cores: what it used says
    // how much of the latency may be the load generator's.
    let bench_cpu = crate::support::cpu_seconds(std::process::id());

    let sent = std::mem::take(&mut *sent_at.lock().unwrap());
    let mut sent_to = vec![0usize; endpoints.len()];
    for (endpoint, _) in sent.values() {
        sent_to[*endpoint] += 1;
    }
    let mut lat_us = Vec::with_capacity(sent.len() * args.subscribers / endpoints.len());
    let (mut ended, mut missed, mut late_or_unknown) = (0usize, 0usize, 0usize);
    let mut ended_reasons: HashMap<String, usize> = HashMap::new();
    for s in subscribers {
        let seen = s.await??;
        if let Some(reason) = seen.ended {
            ended += 1;
            *ended_reasons.entry(reason).or_default() += 1;
        }
        let mut got = 0;
        for (id, at) in &seen.received {
            match sent.get(id) {
                Some((_, start)) => {
                    got += 1;
                    lat_us.push(at.duration_since(*start).as_micros() as u64);
                }
                None => late_or_unknown += 1,
            }
        }
        missed += sent_to[seen.endpoint].saturating_sub(got);
    }
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    if lat_us.is_empty() {
        bail!("no subscriber received a capture");
    }
    lat_us.sort_unstable();
    let pct = |p: f64| (lat_us[((lat_us.len() - 1) as f64 * p).round() as usize] as f64 / 10.0).round() / 100.0;
    let mib = |k: Option<u64>| k.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0);
    Ok(serde_json::json!({
        "subscribers": args.subscribers,
        "endpoints": endpoints.len(),
        "captures_per_s_asked": args.rate,
        "captures_sent": sent.len(),
        "captures_per_s_sent": (sent.len() as f64 / send_s).round(),
        "send_errors": send_errors,
        "body_bytes": body_bytes,
        "limits_raised": raise,
        "subscribe_seconds": (connect_s * 10.0).round() / 10.0,
        "deliveries": lat_us.len(),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "subscribers_ended_early": ended,
        "ended_reasons": ended_reasons,
        "lagged_total": lagged_total,
        "deliveries_missed": missed,
        "unknown_messages": late_or_unknown,
        "server_cpu_seconds": cpu,
        "bench_cpu_seconds": bench_cpu,
        "seconds": (send_s * 10.0).round() / 10.0,
        "server_peak_rss_mib": {
            "endpoints_created": mib(rss_before_subscribers),
            "subscribed": mib(rss_subscribed),
            "end": mib(rss),
        },
    }))
}

/// Reads one subscription until `stop` and a quiet moment, or until it ends.
async fn subscriber(mut ws: WsClient, endpoint: usize, stop: Arc<AtomicBool>) -> anyhow::Result<Seen> {
    let mut seen = Seen { endpoint, received: Vec::new(), ended: None };
    loop {
        match ws.next_message(Duration::from_millis(250)).await? {
            Some(WsMessage::Next { payload, .. }) => {
                let at = Instant::now();
                match payload["data"]["captureReceived"]["id"].as_str() {
                    Some(id) => seen.received.push((id.to_string(), at)),
                    None => {
                        seen.ended = Some(format!("error: {}", payload["errors"][0]["message"]));
                        break;
                    }
                }
            }
            None if stop.load(Ordering::Acquire) => break,
            None => {}
            Some(WsMessage::Error { payload, .. }) => {
                seen.ended = Some(format!("error: {}", payload[0]["message"]));
                break;
            }
            Some(other) => {
                seen.ended = Some(format!("{other:?}").chars().take(80).collect());
                break;
            }
        }
    }
    Ok(seen)
}
