//! `deliveries`: replay throughput against a plain hyper client sending the same requests to the
//! same sink in the same run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::bare;
use crate::load::LoadOptions;
use crate::support::{gauge, tempfile_dir};

/// Most captures one `replayCaptures` call takes (the API's limit).
const PER_CALL: usize = 1000;

/// What `deliveries` is told besides the load options.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct DeliveriesArgs {
    /// Deliveries to make.
    pub count: usize,
    /// `replay.per_target_concurrency` for the server, and the requests the hyper client keeps in
    /// flight; the server's default when not given.
    #[arg(long)]
    pub per_target_concurrency: Option<usize>,
}

/// The server's default `replay.per_target_concurrency`, which the reference client matches
/// when the bench is not told another.
const DEFAULT_PER_TARGET: usize = 8;

/// Replay throughput: `count` captures on a fresh embedded server (default settings unless
/// `--per-target-concurrency` is given), replayed in bulk to a bare sink, timed from the first
/// `replayCaptures` call to the worker's own counter of deliveries recorded as succeeded
/// reaching `count`;
/// then a plain hyper client (keep-alive, the same number of requests in flight) sends the same
/// number of requests with the same body to the same sink.
pub(crate) async fn run(
    load: &LoadOptions,
    args: &DeliveriesArgs,
    hookmetry: &Path,
    me: &Path,
) -> anyhow::Result<serde_json::Value> {
    let n = args.count;
    let (mut sink, sink_url) = bare::spawn(me).await?;
    let target = format!("{sink_url}/hook");
    let dir = tempfile_dir()?;
    let per_target = args.per_target_concurrency.unwrap_or(DEFAULT_PER_TARGET);
    let setting = format!("replay.per_target_concurrency={per_target}");
    let extra: Vec<&str> = match args.per_target_concurrency {
        Some(_) => vec!["--set", &setting],
        None => Vec::new(),
    };
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &extra).await?;
    let client = server.client();
    let ep = client.create_endpoint("deliveries").await?;
    let http = reqwest::Client::new();
    let body = vec![b'{'; load.body_bytes];
    // Each call's captures under a path of their own, so a `pathPrefix` filter picks them: paging
    // through the capture in each delivery would read every capture's body (the API charges a
    // capture read by id at `ingest.max_body_bytes`, and 64 MiB of budget runs out at 7).
    let calls = n.div_ceil(PER_CALL);
    for i in 0..n {
        let url = format!("{}/b{}/", ep.url, i / PER_CALL);
        http.post(&url).body(body.clone()).send().await?.error_for_status()?;
    }
    client.wait_for_captures(&ep.id, n, Duration::from_secs(300)).await?;
    let metrics = format!("{}/metrics", server.base_url);
    // Counted once the attempt and the delivery's new state are durable in the store.
    let succeeded = "hookmetry_replay_deliveries_finished_total{state=\"succeeded\"}";
    let started = Instant::now();
    let mut made = 0;
    for call in 0..calls {
        let out = client
            .graphql(
                "mutation($input: ReplayCapturesInput!) { replayCaptures(input: $input) { deliveries { id } hasMore } }",
                serde_json::json!({ "input": {
                    "endpointId": ep.id,
                    "target": target,
                    "limit": PER_CALL,
                    "filter": { "pathPrefix": format!("/b{call}/") },
                } }),
            )
            .await?;
        let deliveries = out["replayCaptures"]["deliveries"].as_array().context("deliveries")?;
        if deliveries.is_empty() {
            bail!("replayCaptures made no delivery after {made}");
        }
        made += deliveries.len();
    }
    if made != n {
        bail!("replayCaptures made {made} deliveries of {n}");
    }
    let created_s = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    while gauge(&metrics, succeeded).await.unwrap_or(0) < n as u64 {
        if Instant::now() > deadline {
            bail!("deliveries not all made within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let replay_s = started.elapsed().as_secs_f64();
    let failed = gauge(&metrics, "hookmetry_replay_attempts_total{outcome=\"status\"}").await.unwrap_or(0);
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();

    let bare_s = hyper_client(&target, n, per_target, &body).await?;
    sink.kill().await?;
    let rate = |s: f64| (n as f64 / s).round();
    let round = |s: f64| (s * 1000.0).round() / 1000.0;
    Ok(serde_json::json!({
        "deliveries": n,
        "per_target_concurrency": per_target,
        "body_bytes": load.body_bytes,
        "hookmetry_replay": {
            "seconds": round(replay_s),
            "deliveries_per_s": rate(replay_s),
            "replay_captures_seconds": round(created_s),
            "non_2xx_attempts": failed,
        },
        "plain_hyper": { "seconds": round(bare_s), "requests_per_s": rate(bare_s) },
        "ratio": round(bare_s / replay_s),
    }))
}

/// `n` POSTs of `body` to `url` from hyper-util's pooled keep-alive client, `in_flight` at a
/// time; the seconds it took.
async fn hyper_client(url: &str, n: usize, in_flight: usize, body: &[u8]) -> anyhow::Result<f64> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = url.parse()?;
    let body = Bytes::copy_from_slice(body);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let (client, uri, body, next) = (client.clone(), uri.clone(), body.clone(), next.clone());
        lanes.spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let req = hyper::Request::post(uri.clone())
                    .header("content-type", "application/octet-stream")
                    .body(Full::new(body.clone()))?;
                let res = client.request(req).await?;
                let status = res.status();
                res.into_body().collect().await?;
                if !status.is_success() {
                    bail!("the sink answered {status}");
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(lane) = lanes.join_next().await {
        lane??;
    }
    Ok(started.elapsed().as_secs_f64())
}
