//! The load generators shared by the modes: closed loop (each connection sends when answered)
//! and open loop (requests on a schedule), and what they measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::wire;

// The shape of the load, shared by every mode (each uses the ones its help names). A plain
// comment: a doc comment here would become the help text of the whole program.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct LoadOptions {
    /// Concurrent keep-alive connections.
    #[arg(long, global = true, default_value_t = 16)]
    pub connections: usize,
    /// Seconds of load per server (after 1 s of warm-up).
    #[arg(long, global = true, default_value_t = 10)]
    pub seconds: u64,
    /// Request body size in bytes.
    #[arg(long, global = true, default_value_t = 1024)]
    pub body_bytes: usize,
    /// Captures per second in the latency modes and in the Kafka mode's sustained-load phase.
    #[arg(long, global = true, default_value_t = 100)]
    pub rate: u32,
}

pub(crate) struct LoadResult {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl LoadResult {
    pub(crate) fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    pub(crate) fn json(&self, rss_kib: Option<u64>) -> serde_json::Value {
        serde_json::json!({
            "requests_ok": self.ok,
            "errors": self.errors,
            "requests_per_s": self.rps().round(),
            "p50_ms": (self.pct(0.50) * 100.0).round() / 100.0,
            "p99_ms": (self.pct(0.99) * 100.0).round() / 100.0,
            "max_ms": (self.pct(1.0) * 100.0).round() / 100.0,
            "peak_rss_mib": rss_kib.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0),
        })
    }
}

/// Open-loop load: `rate` requests per second for `seconds`, spread over `urls`, each sent on
/// schedule whether or not earlier ones were answered.
pub(crate) async fn open_loop(
    urls: &[String],
    rate: u32,
    seconds: u64,
    body_bytes: usize,
) -> anyhow::Result<LoadResult> {
    let http = reqwest::Client::new();
    let body = vec![b'{'; body_bytes];
    let n = u64::from(rate) * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut tasks = Vec::with_capacity(n as usize);
    let started = Instant::now();
    for i in 0..n {
        tick.tick().await;
        let (http, url, body) = (http.clone(), urls[i as usize % urls.len()].clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let ok = matches!(http.post(&url).body(body).send().await, Ok(r) if r.status().is_success());
            (ok, start.elapsed().as_micros() as u64)
        }));
    }
    let mut result = LoadResult { ok: 0, errors: 0, elapsed: started.elapsed(), latencies_us: vec![] };
    for t in tasks {
        let (ok, us) = t.await?;
        if ok {
            result.ok += 1;
            result.latencies_us.push(us);
        } else {
            result.errors += 1;
        }
    }
    result.latencies_us.sort_unstable();
    Ok(result)
}

/// Closed-loop load: each connection sends the next request when the previous one is answered.
/// Connection i loads `urls[i % urls.len()]` over the lean client in `wire`; a connection that
/// fails is opened again for its next request.
pub(crate) async fn closed_loop(load: &LoadOptions, urls: &[String]) -> anyhow::Result<LoadResult> {
    let body: Arc<[u8]> = vec![b'{'; load.body_bytes].into();
    closed_loop_of(load, |c| {
        let (url, body): (Arc<str>, _) = (urls[c % urls.len()].as_str().into(), body.clone());
        // One task owns each connection; the lock only lets its future own it between sends.
        let connection = Arc::new(tokio::sync::Mutex::new(None::<wire::Connection>));
        Ok(move || {
            let (connection, url, body) = (connection.clone(), url.clone(), body.clone());
            async move {
                let mut slot = connection.lock().await;
                if slot.is_none() {
                    *slot = wire::Connection::open(&url, &body).await.ok();
                }
                let Some(open) = slot.as_mut() else { return false };
                match open.send().await {
                    Ok(answer) => (200..300).contains(&answer.status),
                    Err(_) => {
                        *slot = None;
                        false
                    }
                }
            }
        })
    })
    .await
}

/// The closed loop of any sender: `sender(i)` makes connection i's `send`, which sends one
/// request and says whether it succeeded. Requests in the first second are warm-up and not
/// counted; then each connection sends for `load.seconds`.
pub(crate) async fn closed_loop_of<S, F>(
    load: &LoadOptions,
    mut sender: impl FnMut(usize) -> anyhow::Result<S>,
) -> anyhow::Result<LoadResult>
where
    S: FnMut() -> F + Send + 'static,
    F: Future<Output = bool> + Send,
{
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + Duration::from_secs(load.seconds);
    let mut tasks = Vec::new();
    for c in 0..load.connections {
        let mut send = sender(c)?;
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut lat) = (0u64, 0u64, Vec::with_capacity(100_000));
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                let good = send().await;
                if start >= warmup {
                    if good {
                        ok += 1;
                        lat.push(start.elapsed().as_micros() as u64);
                    } else {
                        errors += 1;
                    }
                }
            }
            (ok, errors, lat)
        }));
    }
    let mut result = LoadResult { ok: 0, errors: 0, elapsed: Duration::from_secs(load.seconds), latencies_us: vec![] };
    for t in tasks {
        let (ok, errors, lat) = t.await?;
        result.ok += ok;
        result.errors += errors;
        result.latencies_us.extend(lat);
    }
    result.latencies_us.sort_unstable();
    Ok(result)
}

/// The report of an open-loop latency run over `captures` sent at `rate` per second:
/// percentiles of `latencies_us`, in milliseconds.
pub(crate) fn latency_report(
    captures: usize,
    rate: u32,
    body_bytes: usize,
    mut latencies_us: Vec<u64>,
) -> serde_json::Value {
    latencies_us.sort_unstable();
    let pct =
        |p: f64| (latencies_us[((latencies_us.len() - 1) as f64 * p).round() as usize] as f64 / 10.0).round() / 100.0;
    serde_json::json!({
        "captures": captures,
        "rate_per_s": rate,
        "body_bytes": body_bytes,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    })
}
