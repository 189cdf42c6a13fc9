//! `read-path`: `captures(first: 50)` listings on an endpoint with many stored captures.
//!
//! The captures are written straight into the server's SQLite file through `hookmetry-store`'s
//! `put_captures`, in large transactions, while the server runs (SQLite's WAL lets another
//! process write the file): seeding a million captures through ingest and the processor would
//! take minutes and measure the write path, which other modes measure. The queries then go
//! through the GraphQL API over HTTP, from `--connections` clients in a closed loop.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, EndpointId, Header, Timestamp};
use hookmetry_store::{CaptureStore, EndpointStore, SqliteStore};

use crate::load::{LoadOptions, LoadResult, closed_loop_of};
use crate::support::{peak_rss_kib, tempfile_dir};

/// Captures per `put_captures` transaction while seeding.
const SEED_BATCH: usize = 10_000;

/// One capture in this many is a `GET` (the rest are `POST`s), and one in this many has a path
/// under `/orders/`: what the filtered listings look for.
const ONE_IN: usize = 10;

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ReadPathArgs {
    /// Captures stored on the endpoint before the queries run.
    #[arg(long, default_value_t = 1_000_000)]
    pub captures: usize,
    /// Captures per page (`first`).
    #[arg(long, default_value_t = 50)]
    pub page: usize,
}

pub(crate) async fn run(
    load: &LoadOptions,
    args: &ReadPathArgs,
    hookmetry: &Path,
) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let client = server.client();
    let ep = client.create_endpoint("read-path").await?;
    let endpoint_id: EndpointId = ep.id.parse().map_err(|e| anyhow::anyhow!("endpoint id {}: {e:?}", ep.id))?;

    let store = SqliteStore::open(dir.join("hookmetry.db")).await?;
    let endpoint = store.endpoint(endpoint_id).await?.context("the endpoint is in the store")?;
    let started = Instant::now();
    let ids = seed(&store, &endpoint, args.captures, load.body_bytes).await?;
    let seed_s = started.elapsed().as_secs_f64();
    drop(store);
    let db_bytes = std::fs::metadata(dir.join("hookmetry.db")).map(|m| m.len()).unwrap_or(0);

    let page = args.page;
    let list = |filter: &str| {
        format!(
            "query($e: ID!, $a: String) {{ captures(endpointId: $e, first: {page}, after: $a{filter}) \
             {{ edges {{ node {{ id method path receivedAt bodySize }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        )
    };
    // The middle of the endpoint's history: a page there skips half the captures by cursor.
    let deep = ids.get(ids.len() / 2).map(|id| cursor(*id));
    // Each case with the number of edges every answer must have.
    let n = ids.len();
    let matching = |rest: usize| (0..n).filter(|i| i % ONE_IN == rest).count();
    let cases: Vec<(&str, String, serde_json::Value, usize)> = vec![
        ("graphql_floor", "{ __typename }".to_string(), serde_json::json!({}), 0),
        ("first_page", list(""), serde_json::json!({ "e": ep.id }), page.min(n)),
        ("method_get", list(", filter: {method: \"GET\"}"), serde_json::json!({ "e": ep.id }), page.min(matching(0))),
        (
            "path_prefix",
            list(", filter: {pathPrefix: \"/orders/\"}"),
            serde_json::json!({ "e": ep.id }),
            page.min(matching(5)),
        ),
        ("deep_cursor", list(""), serde_json::json!({ "e": ep.id, "a": deep }), page.min(n - n / 2 - 1)),
    ];
    let mut report = serde_json::Map::new();
    let mut floor_rps = None;
    for (name, query, variables, expect) in cases {
        // Every answer is checked: a page that is an error or comes back short would be fast for
        // the wrong reason.
        let result = queries(load, &server.base_url, &client.token, &query, variables, expect).await?;
        let rps = result.rps();
        floor_rps.get_or_insert(rps);
        let mut row = result.json(None);
        // The server's peak is reported once, below.
        row.as_object_mut().map(|r| r.remove("peak_rss_mib"));
        row["ratio_to_floor"] = serde_json::json!((rps / floor_rps.unwrap_or(rps) * 1000.0).round() / 1000.0);
        report.insert(name.to_string(), row);
    }
    let rss = server.child.id().and_then(peak_rss_kib);
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(serde_json::json!({
        "captures": ids.len(),
        "body_bytes": load.body_bytes,
        "page": page,
        "connections": load.connections,
        "seconds_per_case": load.seconds,
        "seed_seconds": (seed_s * 10.0).round() / 10.0,
        "database_mib": (db_bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
        "server_peak_rss_mib": rss.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0),
        "queries": report,
    }))
}

/// Stores `n` captures of `endpoint`, oldest first, and returns their ids newest first (the
/// order a listing returns them in).
async fn seed(
    store: &SqliteStore,
    endpoint: &hookmetry_core::Endpoint,
    n: usize,
    body_bytes: usize,
) -> anyhow::Result<Vec<CaptureId>> {
    let body = Bytes::from(vec![b'x'; body_bytes]);
    let headers = vec![
        Header::new("host", "127.0.0.1"),
        Header::new("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
        Header::new("content-type", "application/json; charset=utf-8"),
        Header::new("content-length", body_bytes.to_string()),
        Header::new("accept", "*/*; q=0.5, application/xml"),
        Header::new("cache-control", "no-cache"),
        Header::new("stripe-signature", format!("t=1733390000,v1={}", "0".repeat(64))),
    ];
    let mut ids = Vec::with_capacity(n);
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..n {
        let id = CaptureId::new();
        ids.push(id);
        batch.push(CapturedRequest {
            id,
            endpoint_id: endpoint.id,
            team_id: endpoint.team_id,
            method: if i % ONE_IN == 0 { "GET" } else { "POST" }.into(),
            path: if i % ONE_IN == 5 { format!("/orders/{i}") } else { format!("/events/{i}") },
            query: None,
            headers: headers.clone(),
            body: body.clone(),
            body_sha256: [7; 32],
            remote_addr: "127.0.0.1".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::now(),
            answered: None,
        });
        if batch.len() == SEED_BATCH || i + 1 == n {
            store.put_captures(&batch).await?;
            batch.clear();
        }
    }
    ids.reverse();
    Ok(ids)
}

/// The API's cursor for a capture (`schema/common.rs`), so a deep page needs no paging to reach.
fn cursor(id: CaptureId) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("capture:{id}"))
}

/// `query` in a closed loop from `load.connections` clients; an answer counts when it has no
/// errors and, for a listing, `expect` edges.
async fn queries(
    load: &LoadOptions,
    base_url: &str,
    token: &str,
    query: &str,
    variables: serde_json::Value,
    expect: usize,
) -> anyhow::Result<LoadResult> {
    let listing = query.contains("captures(");
    let body = Bytes::from(serde_json::to_vec(&serde_json::json!({ "query": query, "variables": variables }))?);
    let url = format!("{base_url}/graphql");
    let auth = format!("Bearer {token}");
    let result = closed_loop_of(load, |_| {
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        let (url, body, auth) = (url.clone(), body.clone(), auth.clone());
        Ok(move || {
            let request = client
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(body.clone());
            async move {
                let Ok(response) = request.send().await else { return false };
                if !response.status().is_success() {
                    return false;
                }
                let Ok(v) = response.json::<serde_json::Value>().await else { return false };
                if v.get("errors").is_some_and(|e| !e.is_null()) {
                    return false;
                }
                !listing || v["data"]["captures"]["edges"].as_array().is_some_and(|e| e.len() == expect)
            }
        })
    })
    .await?;
    if result.ok == 0 {
        anyhow::bail!("no query of `{query}` succeeded ({} failed)", result.errors);
    }
    Ok(result)
}
