//! `processor`: the processor's CPU per capture on realistic signed provider events, measured
//! apart from ingest: the captures are appended by an `ingest,api` node, which is then stopped,
//! and a `processor` node alone stores them. Given `--baseline`, the same is run with another
//! build in alternate rounds, so the ratio comes from one run on one machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::support::{cpu_seconds, gauge};

#[derive(clap::Args, Default)]
pub(crate) struct ProcessorArgs {
    /// Captures per measurement.
    #[arg(long, default_value_t = 20_000)]
    captures: usize,
    /// Another `hookmetry` binary measured the same way, in alternate rounds.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Measurements per binary.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Also measure this build with `processor.schema_drift = false`, in the same rounds.
    #[arg(long)]
    without_drift_too: bool,
}

/// One measurement: CPU seconds of the processor node until it has stored (and, when it does
/// so, analysed) every capture, and the wall time it took.
struct Measured {
    cpu_us_per_capture: f64,
    captures_per_s: f64,
}

pub(crate) async fn run(args: &ProcessorArgs, hookmetry: &Path) -> anyhow::Result<serde_json::Value> {
    let mut new = Vec::new();
    let mut base = Vec::new();
    let mut no_drift = Vec::new();
    for round in 0..args.rounds.max(1) {
        new.push(measure(hookmetry, args.captures, round, &[]).await?);
        if args.without_drift_too {
            no_drift.push(measure(hookmetry, args.captures, round, &["--set", "processor.schema_drift=false"]).await?);
        }
        if let Some(b) = &args.baseline {
            base.push(measure(b, args.captures, round, &[]).await?);
        }
    }
    let best = |m: &[Measured]| m.iter().map(|m| m.cpu_us_per_capture).fold(f64::INFINITY, f64::min);
    let rate = |m: &[Measured]| m.iter().map(|m| m.captures_per_s).fold(0.0, f64::max);
    let mut out = serde_json::json!({
        "mode": "processor",
        "captures": args.captures,
        "rounds": args.rounds,
        "cpu_us_per_capture": best(&new),
        "cpu_us_per_capture_all": new.iter().map(|m| m.cpu_us_per_capture).collect::<Vec<_>>(),
        "captures_per_s": rate(&new),
    });
    if !no_drift.is_empty() {
        out["without_drift_cpu_us_per_capture"] = serde_json::json!(best(&no_drift));
        out["without_drift_cpu_us_per_capture_all"] =
            serde_json::json!(no_drift.iter().map(|m| m.cpu_us_per_capture).collect::<Vec<_>>());
    }
    if !base.is_empty() {
        out["baseline_cpu_us_per_capture"] = serde_json::json!(best(&base));
        out["baseline_cpu_us_per_capture_all"] =
            serde_json::json!(base.iter().map(|m| m.cpu_us_per_capture).collect::<Vec<_>>());
        out["baseline_captures_per_s"] = serde_json::json!(rate(&base));
        out["cpu_ratio"] = serde_json::json!(best(&new) / best(&base));
    }
    Ok(out)
}

/// A Stripe event of about 2.6 KiB, shaped like `charge.succeeded`; every tenth repeats an
/// earlier event id (a redelivery), every fiftieth adds a field (a schema change).
fn event(n: usize) -> String {
    let id = if n % 10 == 9 { n - 5 } else { n };
    let extra = if n % 50 == 49 { format!(r#","extra_{n}":true"#) } else { String::new() };
    format!(
        r#"{{"id":"evt_{id:024}","object":"event","api_version":"2024-06-20","created":1700000000,"type":"charge.succeeded","livemode":false,"pending_webhooks":1,"request":{{"id":"req_{id:014}","idempotency_key":"8b6f4e2a-1c3d-4e5f-9a7b-{id:012}"}},"data":{{"object":{{"id":"ch_{id:024}","object":"charge","amount":2000,"amount_captured":2000,"amount_refunded":0,"balance_transaction":"txn_{id:024}","billing_details":{{"address":{{"city":"Berlin","country":"DE","line1":"Unter den Linden 1","line2":null,"postal_code":"10117","state":null}},"email":"jenny.rosen@example.com","name":"Jenny Rosen","phone":null}},"calculated_statement_descriptor":"HOOKMETRY","captured":true,"created":1700000000,"currency":"eur","customer":"cus_{id:014}","description":"Bench charge","disputed":false,"failure_code":null,"failure_message":null,"fraud_details":{{}},"livemode":false,"metadata":{{"order_id":"{id}"}},"outcome":{{"network_status":"approved_by_network","reason":null,"risk_level":"normal","risk_score":32,"seller_message":"Payment complete.","type":"authorized"}},"paid":true,"payment_intent":"pi_{id:024}","payment_method":"pm_{id:024}","payment_method_details":{{"card":{{"brand":"visa","checks":{{"address_line1_check":"pass","address_postal_code_check":"pass","cvc_check":"pass"}},"country":"US","exp_month":8,"exp_year":2030,"fingerprint":"Xt5EWLLDS7FJjR1c","funding":"credit","last4":"4242","network":"visa","three_d_secure":null,"wallet":null}},"type":"card"}},"receipt_email":null,"receipt_url":"https://pay.stripe.com/receipts/bench/{id}","refunded":false,"shipping":null,"source":null,"status":"succeeded"{extra}}}}}}}"#
    )
}

async fn command(binary: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new(binary).args(args).env("RUST_LOG", "warn").output().await?;
    if !out.status.success() {
        bail!("{} {}: {}", binary.display(), args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// `processor_args` go to the processor node only (`--set key=value`).
async fn measure(binary: &Path, n: usize, round: usize, processor_args: &[&str]) -> anyhow::Result<Measured> {
    let dir = std::env::temp_dir().join(format!("hookmetry-bench-processor-{}-{round}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir)?;
    let data = dir.to_str().context("temp dir is not UTF-8")?;
    let store = format!("sqlite://{data}/hookmetry.db");
    command(binary, &["migrate", "--store", &store, "--data-dir", data]).await?;
    let token = std::fs::read_to_string(dir.join("admin-token"))?.trim().to_string();
    let node = |roles: &'static str| {
        let (store, data) = (store.clone(), data.to_string());
        move || {
            [
                "run".to_string(),
                "--roles".into(),
                roles.into(),
                "--store".into(),
                store,
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--data-dir".into(),
                data,
            ]
        }
    };

    // Appended, not yet processed.
    let args = node("ingest,api")();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut front = hookmetry_testkit::ChildServer::spawn(binary, &args, token.clone()).await?;
    let client = front.client();
    let ep = client.create_endpoint("processor bench").await?;
    client
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, verification: {provider: \"stripe\", secrets: [{label: \"current\", value: \"whsec_bench\"}]}}) { id } }",
            serde_json::json!({ "id": ep.id }),
        )
        .await?;
    let http = reqwest::Client::new();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(32));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let body = event(i);
        let input = hookmetry_verify::SignInput {
            method: "POST",
            url: &ep.url,
            body: body.as_bytes(),
            timestamp: now,
            id: None,
            headers: &[],
        };
        let signed = hookmetry_verify::sign("stripe", "whsec_bench", None, &input)?;
        let mut req = http.post(&ep.url).header("content-type", "application/json").body(body);
        for (name, value) in signed.headers {
            req = req.header(name, value);
        }
        let permit = semaphore.clone().acquire_owned().await?;
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.and_then(|r| r.error_for_status());
            drop(permit);
            r.map(drop)
        }));
    }
    for t in tasks {
        t.await??;
    }
    front.kill9().await?;

    // The processor alone, from a cold start, until everything is stored and it goes quiet.
    let args = node("processor")();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(processor_args);
    let started = Instant::now();
    let mut processor = hookmetry_testkit::ChildServer::spawn(binary, &args, token).await?;
    let pid = processor.child.id().context("processor pid")?;
    let metrics = format!("{}/metrics", processor.base_url);
    let stored_series = r#"hookmetry_processor_records_total{outcome="stored"}"#;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if gauge(&metrics, stored_series).await.unwrap_or(0) as usize >= n {
            break;
        }
        if Instant::now() > deadline {
            bail!("the processor did not store {n} captures within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored_after = started.elapsed();
    // Work that follows storing (schema drift analysis) counts too: wait until the CPU stops.
    let mut last = cpu_seconds(pid).context("cpu")?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu_seconds(pid).context("cpu")?;
        if now - last < 0.02 {
            break;
        }
        last = now;
    }
    let cpu = last;
    processor.kill9().await?;
    std::fs::remove_dir_all(&dir).ok();
    Ok(Measured { cpu_us_per_capture: cpu * 1e6 / n as f64, captures_per_s: n as f64 / stored_after.as_secs_f64() })
}
