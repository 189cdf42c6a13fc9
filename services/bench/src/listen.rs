//! `listen-latency`: capture → local server latency through `hookmetry listen`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::load::latency_report;
use crate::support::tempfile_dir;

/// Capture → local server latency through `hookmetry listen`: from just before the capture's
/// HTTP request starts to the local server (in this process) reading the forwarded request.
/// Bodies carry a sequence number so each arrival is matched to its send.
pub(crate) async fn run(hookmetry: &Path, n: usize, rate: u32, body_bytes: usize) -> anyhow::Result<serde_json::Value> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile_dir()?;
    let mut server = hookmetry_testkit::ChildServer::start(hookmetry, &dir, &[]).await?;
    let ep = server.client().create_endpoint("listen").await?;

    // The local server: reads one request per connection or keep-alive turn, notes when the
    // body's sequence number arrived, answers 200.
    let arrived: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_url = format!("http://{}/", sink.local_addr()?);
    let seen = arrived.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = sink.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 16384];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // Bodies are `seq=<n>;` then padding, and fit in one read after the head.
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        let body = buf[end + 4..end + 4 + len].to_vec();
                        buf.drain(..end + 4 + len);
                        if let Some(seq) = std::str::from_utf8(&body)
                            .ok()
                            .and_then(|b| b.strip_prefix("seq="))
                            .and_then(|b| b.split(';').next())
                            .and_then(|v| v.parse::<usize>().ok())
                        {
                            seen.lock().unwrap().entry(seq).or_insert_with(Instant::now);
                        }
                        if socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });

    let mut listener = tokio::process::Command::new(hookmetry)
        .args(["listen", &ep.id, "--forward-to", &sink_url, "--url", &server.base_url, "--token", &server.admin_token])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let body = |seq: usize| {
        let mut b = format!("seq={seq};").into_bytes();
        b.resize(body_bytes.max(b.len()), b'x');
        b
    };
    // The listener is live once a probe comes through.
    let probe = usize::MAX / 2;
    let ready = Instant::now() + Duration::from_secs(30);
    let mut next_probe = probe;
    while !arrived.lock().unwrap().keys().any(|k| *k >= probe) {
        if Instant::now() > ready {
            bail!("hookmetry listen forwarded no probe within 30 s");
        }
        http.post(&ep.url).body(body(next_probe)).send().await?.error_for_status()?;
        next_probe += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut sent_at = vec![Instant::now(); n];
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut tasks = Vec::with_capacity(n);
    for (seq, at) in sent_at.iter_mut().enumerate() {
        tick.tick().await;
        *at = Instant::now();
        let (http, url, b) = (http.clone(), ep.url.clone(), body(seq));
        tasks.push(tokio::spawn(async move { http.post(&url).body(b).send().await?.error_for_status().map(drop) }));
    }
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while (0..n).any(|s| !arrived.lock().unwrap().contains_key(&s)) {
        if Instant::now() > deadline {
            let got = (0..n).filter(|s| arrived.lock().unwrap().contains_key(s)).count();
            bail!("{got} of {n} captures reached the local server within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived = arrived.lock().unwrap().clone();
    let lat_us: Vec<u64> = (0..n).map(|s| arrived[&s].duration_since(sent_at[s]).as_micros() as u64).collect();
    listener.kill().await?;
    server.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(latency_report(n, rate, body_bytes, lat_us))
}
