//! `overload`: what `hookmetry serve` answers when far more arrives than it can take, and how
//! fast it recovers. Three phases on one fresh server:
//!
//! 1. unloaded: the closed loop of `--connections` for `--seconds` (the reference throughput);
//! 2. overload: `--overload-connections` closed-loop connections and `--slow-senders` uploads of
//!    `--slow-bytes` each, sent slowly, for `--seconds`. Every answer is classified; the ones that
//!    count against the server are a reset, a timeout or a close without an answer, and any
//!    status but 2xx, 429 and 503-with-`Retry-After`;
//! 3. recovery: the overload stops and the reference load runs again in 250 ms windows, until a
//!    window reaches 90 % of the unloaded throughput.
//!
//! The server's peak RSS (`VmHWM`) covers all three.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::load::{LoadOptions, closed_loop};
use crate::support::{peak_rss_kib, tempfile_dir};
use crate::wire;

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct OverloadArgs {
    /// Closed-loop connections during the overload.
    #[arg(long, default_value_t = 1024)]
    pub overload_connections: usize,
    /// Uploads held open during the overload.
    #[arg(long, default_value_t = 64)]
    pub slow_senders: usize,
    /// Declared size of each slow upload.
    #[arg(long, default_value_t = 10 << 20)]
    pub slow_bytes: usize,
    /// How long each slow upload takes to send its body.
    #[arg(long, default_value_t = 8)]
    pub slow_seconds: u64,
}

/// How answers were classified, by name.
#[derive(Default)]
struct Tally(BTreeMap<&'static str, u64>);

impl Tally {
    fn add(&mut self, kind: &'static str) {
        *self.0.entry(kind).or_default() += 1;
    }

    fn merge(&mut self, other: Tally) {
        for (k, n) in other.0 {
            *self.0.entry(k).or_default() += n;
        }
    }

    /// Answers outside the contract: anything but 2xx, 429 and 503 with `Retry-After`.
    fn bad(&self) -> u64 {
        self.0.iter().filter(|(k, _)| !matches!(**k, "2xx" | "429" | "503 with Retry-After")).map(|(_, n)| n).sum()
    }
}

fn classify(answer: &anyhow::Result<wire::Answer>) -> &'static str {
    match answer {
        Ok(a) if (200..300).contains(&a.status) => "2xx",
        Ok(a) if a.status == 429 => "429",
        Ok(a) if a.status == 503 && a.retry_after => "503 with Retry-After",
        Ok(a) if a.status == 503 => "503 without Retry-After",
        Ok(a) if a.status == 413 => "413",
        Ok(_) => "other status",
        Err(e) => {
            let text = format!("{e:#}");
            if text.contains("reset") {
                "connection reset"
            } else if text.contains("within") {
                "timeout"
            } else {
                "closed without an answer"
            }
        }
    }
}

pub(crate) async fn run(
    load: &LoadOptions,
    args: &OverloadArgs,
    hookmetry: &Path,
) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let ep = server.client().create_endpoint("overload").await?;
    let url = format!("{}/h/{}/hook", server.base_url, ep.token);
    let pid = server.child.id().context("hookmetry pid")?;

    eprintln!("overload: unloaded, {} connections", load.connections);
    let unloaded = closed_loop(load, std::slice::from_ref(&url)).await?;

    eprintln!(
        "overload: {} connections and {} slow uploads of {} bytes",
        args.overload_connections, args.slow_senders, args.slow_bytes
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut slow = Vec::new();
    for _ in 0..args.slow_senders {
        slow.push(tokio::spawn(slow_upload(url.clone(), args.slow_bytes, Duration::from_secs(args.slow_seconds))));
    }
    let mut fast = Vec::new();
    let body: Arc<[u8]> = vec![b'{'; load.body_bytes].into();
    let end = Instant::now() + Duration::from_secs(load.seconds);
    for _ in 0..args.overload_connections {
        let (url, body, stop) = (url.clone(), body.clone(), stop.clone());
        fast.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut connection = None;
            while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                if connection.is_none() {
                    match wire::Connection::open(&url, &body).await {
                        Ok(c) => connection = Some(c),
                        Err(_) => {
                            tally.add("connect failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let answer = connection.as_mut().expect("opened above").send().await;
                tally.add(classify(&answer));
                // The server may close after a refusal; a new connection follows.
                if answer.is_err() {
                    connection = None;
                }
            }
            tally
        }));
    }
    let mut overload = Tally::default();
    for task in fast {
        overload.merge(task.await?);
    }
    let overload_seconds = load.seconds as f64;
    stop.store(true, Ordering::Relaxed);
    let mut uploads = Tally::default();
    for task in slow {
        uploads.add(task.await?);
    }

    eprintln!("overload: recovery");
    let reference = unloaded.rps();
    let (windows, recovered_after) = recovery(load, &url, reference).await;
    let rss = peak_rss_kib(pid);
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();

    let total: u64 = overload.0.values().sum();
    Ok(serde_json::json!({
        "unloaded": unloaded.json(None),
        "overload": {
            "connections": args.overload_connections,
            "seconds": overload_seconds,
            "answers": overload.0,
            "answers_per_s": (total as f64 / overload_seconds).round(),
            "outside_contract": overload.bad(),
        },
        "slow_uploads": {
            "count": args.slow_senders,
            "bytes_each": args.slow_bytes,
            "answers": uploads.0,
            "outside_contract": uploads.bad(),
        },
        "recovery": {
            "reference_per_s": reference.round(),
            "windows_per_s": windows,
            "back_to_90_percent_after_s": recovered_after,
        },
        "peak_rss_mib": rss.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0),
    }))
}

/// The reference load again, on connections opened when the overload stopped, counted in 250 ms
/// windows until one reaches 90 % of `reference` (or 10 s pass): the rate of each window, and
/// when that happened, counted from the moment the overload stopped.
async fn recovery(load: &LoadOptions, url: &str, reference: f64) -> (Vec<f64>, Option<f64>) {
    const WINDOW: Duration = Duration::from_millis(250);
    let stopped = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let body: Arc<[u8]> = vec![b'{'; load.body_bytes].into();
    let mut tasks = Vec::new();
    for _ in 0..load.connections {
        let (url, body, done, answered) = (url.to_string(), body.clone(), done.clone(), answered.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut c) = wire::Connection::open(&url, &body).await else { return };
            while !done.load(Ordering::Relaxed) {
                match c.send().await {
                    Ok(a) if (200..300).contains(&a.status) => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    let (mut windows, mut recovered_after) = (Vec::new(), None);
    while stopped.elapsed() < Duration::from_secs(10) {
        let before = answered.load(Ordering::Relaxed);
        tokio::time::sleep(WINDOW).await;
        let rate = (answered.load(Ordering::Relaxed) - before) as f64 / WINDOW.as_secs_f64();
        windows.push(rate.round());
        if rate >= 0.9 * reference {
            recovered_after = Some((stopped.elapsed().as_secs_f64() * 100.0).round() / 100.0);
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (windows, recovered_after)
}

/// One upload declaring `bytes`, sent evenly over `over`, while watching for an early answer.
/// Its answer classified like any other.
async fn slow_upload(url: String, bytes: usize, over: Duration) -> &'static str {
    let result = async {
        let parsed = reqwest::Url::parse(&url)?;
        let addr = (parsed.host_str().context("host")?.to_string(), parsed.port_or_known_default().unwrap_or(80));
        let mut stream = TcpStream::connect(addr).await?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {bytes}\r\n\r\n",
            parsed.path(),
            parsed.host_str().unwrap_or_default()
        );
        stream.write_all(head.as_bytes()).await?;
        let (mut reader, mut writer) = stream.into_split();
        let chunk = vec![b'x'; 64 << 10];
        let chunks = bytes.div_ceil(chunk.len());
        let pause = over / chunks.max(1) as u32;
        let send = async move {
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(&chunk[..n]).await?;
                left -= n;
                tokio::time::sleep(pause).await;
            }
            anyhow::Ok(writer)
        };
        let mut buf = Vec::new();
        let read = wire::read_answer(&mut reader, &mut buf);
        tokio::pin!(send, read);
        // An early answer (a refusal) ends the upload: a client reads it and stops sending.
        let answer = tokio::select! {
            answer = &mut read => answer,
            sent = &mut send => {
                let _writer = sent?;
                read.await
            }
        };
        answer
    }
    .await;
    classify(&result)
}
