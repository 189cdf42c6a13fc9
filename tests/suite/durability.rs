//! Nothing acknowledged is ever lost: SIGKILL `hookmetry serve` under load, restart it on the
//! same data dir, and every capture that got a 2xx is there, byte-exact, exactly once.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use hookmetry_testkit::ChildServer;
use rand::Rng;

/// `hookmetry serve` itself: this crate builds `services/hookmetry/src/main.rs` as
/// `hookmetry-under-test` so cargo hands us its path.
fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_hookmetry-under-test"))
}

const SENDERS: usize = 8;
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_capture() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ChildServer::start(binary(), dir.path(), &[]).await.unwrap();
    let ep = server.client().create_endpoint("durability").await.unwrap();
    // capture id → sha256 of the body we sent, for every request answered 2xx.
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut sent_total = 0usize;

    for round in 0..ROUNDS {
        let url = format!("{}/h/{}/round/{round}", server.base_url, ep.token);
        let mut tasks = Vec::new();
        for sender in 0..SENDERS {
            let url = url.clone();
            let acked = acked.clone();
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut sent = 0usize;
                // Bounded: the server is killed long before this many requests.
                for i in 0..100_000usize {
                    let body =
                        format!("round {round} sender {sender} request {i} {}", "x".repeat(i % 700)).into_bytes();
                    sent += 1;
                    match client.post(&url).body(body.clone()).send().await {
                        Ok(resp) if resp.status().is_success() => match resp.text().await {
                            Ok(text) => {
                                acked.lock().unwrap().insert(id_from_body(&text), sha256_hex(&body));
                            }
                            Err(_) => break,
                        },
                        _ => break,
                    }
                }
                sent
            }));
        }
        let wait = rand::rng().random_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill9().await.unwrap();
        for t in tasks {
            sent_total += t.await.unwrap();
        }
        eprintln!("round {round}: killed after {wait}ms; {} acknowledged so far", acked.lock().unwrap().len());
        server = ChildServer::start(binary(), dir.path(), &[]).await.unwrap();
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the test must acknowledge a real number of requests, got {}", acked.len());
    let client = server.client();
    let mut stored = Vec::new();
    for _ in 0..200 {
        stored = client.all_captures(&ep.id).await.unwrap();
        let ids: HashSet<&str> = stored.iter().map(|c| c["id"].as_str().unwrap()).collect();
        if acked.keys().all(|id| ids.contains(id.as_str())) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut by_id: HashMap<&str, &serde_json::Value> = HashMap::new();
    for c in &stored {
        assert!(by_id.insert(c["id"].as_str().unwrap(), c).is_none(), "capture {} stored twice", c["id"]);
    }
    let missing: Vec<&String> = acked.keys().filter(|id| !by_id.contains_key(id.as_str())).collect();
    assert!(missing.is_empty(), "{} acknowledged captures lost, e.g. {:?}", missing.len(), missing.first());
    for (id, sha) in &acked {
        assert_eq!(by_id[id.as_str()]["bodySha256"], sha.as_str(), "capture {id} bytes differ");
    }
    // Stored but unacknowledged is allowed (the answer was lost in the kill); more than was sent is not.
    assert!(stored.len() <= sent_total, "stored {} > sent {sent_total}", stored.len());
    eprintln!("acknowledged {}, stored {}, sent {sent_total}", acked.len(), stored.len());
    server.kill9().await.unwrap();
}
