//! `cargo bench -p hookmetry-verify`: cost of one verification against the cost of the bare
//! HMAC-SHA256 of the same body, measured in the same run (ratios survive noisy machines).
//!
//! A failing signature costs more than a valid one: the engine tries the variants that explain a
//! mismatch. This puts a number on that, since anyone who knows a capture URL can send invalid
//! signatures and the processor pays for each.
//!
//! The second table sends the bodies a stranger would pick to make that search expensive, and
//! reports time per capture and how far the process's peak resident memory rose while checking
//! one; `cargo bench -p hookmetry-verify --bench verify -- deep wide` runs only the cases named.
//! Memory is read from `/proc/self/status` in a fresh child process per body, so allocator caches
//! left by one case do not hide the next one's cost; elsewhere than Linux that column says `n/a`.
//! (A counting global allocator would be exact, but needs `unsafe`, which the workspace forbids.)

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use hmac::Mac as _;
use hookmetry_core::{Header, SigningSecret, VerificationSettings};
use hookmetry_verify::{Request, SignInput};

fn per_op(mut f: impl FnMut()) -> Duration {
    // Calibrate to roughly half a second so short and long operations are both measured well.
    let mut n = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        let e = t.elapsed();
        if e > Duration::from_millis(500) {
            return e / n;
        }
        n *= 2;
    }
}

/// The environment variable under which the bench re-runs itself to measure one body's memory.
const PEAK_CASE: &str = "HOOKMETRY_BENCH_PEAK_CASE";

const MIB: usize = 1 << 20;

/// Bodies built to make explaining a mismatch expensive: 1 MiB each, the most the explainer
/// accepts, except one small deep body that shows the cost is not about size.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let fill = |mut body: Vec<u8>, tail: &[u8], unit: &[u8]| {
        while body.len() + tail.len() + unit.len() <= MIB {
            body.extend_from_slice(unit);
        }
        // Spaces between JSON tokens keep it JSON.
        body.resize(MIB - tail.len(), b' ');
        body.extend_from_slice(tail);
        body
    };
    let nested_wide = |levels: usize| {
        let close = "]".repeat(levels);
        fill("[".repeat(levels).into_bytes(), format!("1{close}").as_bytes(), b"1,")
    };
    let deep = |len: usize| {
        let mut body = vec![b'['; len / 2];
        body.resize(len, b']');
        body
    };
    vec![
        ("deep-16KiB", deep(16 << 10)),
        ("deep", deep(MIB)),
        ("deep-wide-100", nested_wide(100)),
        ("deep-wide-64", nested_wide(64)),
        ("wide", fill(b"[".to_vec(), br#"{"k":"v","n":1}]"#, br#"{"k":"v","n":1},"#)),
        ("not-json", fill(Vec::new(), b"", b"lorem ipsum dolor sit amet [{\"\n")),
    ]
}

fn signed_request(provider: &str, secret: &str, body: &[u8], now: i64) -> Vec<Header> {
    let input =
        SignInput { method: "POST", url: "https://h.example/h/t", body, timestamp: now, id: None, headers: &[] };
    let signed = hookmetry_verify::sign(provider, secret, None, &input).unwrap();
    signed.headers.iter().map(|(n, v)| Header::new(n.clone(), v.clone().into_bytes())).collect()
}

fn wrong_secret(provider: &str) -> VerificationSettings {
    VerificationSettings {
        provider: provider.into(),
        secrets: vec![SigningSecret::new("wrong", "whsec_QmFkQmFkQmFkQmFkQmFkQmFkQmFk")],
        tolerance_seconds: None,
        public_url: None,
        generic: None,
    }
}

/// `VmHWM` or `VmRSS` from `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// In the child: checks one hostile body once and prints how far peak RSS rose meanwhile.
fn measure_peak(case: usize) {
    let now = 1_700_000_000;
    let (_, body) = hostile_bodies().swap_remove(case);
    let headers = signed_request("stripe", "whsec_bench", &body, now);
    let req =
        Request { method: "POST", url: "https://h.example/h/t", headers: &headers, body: &body, received_at: now };
    let bad = wrong_secret("stripe");
    let before = proc_status_bytes("VmRSS:");
    // Writing 5 resets VmHWM to the current RSS (Linux 4.0+), so the peak read after is this call's.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    black_box(hookmetry_verify::verify(&bad, black_box(&req)));
    match (reset, before, proc_status_bytes("VmHWM:")) {
        (true, Some(before), Some(peak)) => println!("{}", peak.saturating_sub(before)),
        _ => println!("n/a"),
    }
}

fn peak_in_child(case: usize) -> String {
    let Ok(exe) = std::env::current_exe() else { return "n/a".into() };
    match Command::new(exe).env(PEAK_CASE, case.to_string()).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match text.parse::<u64>() {
                Ok(bytes) => format!("{:.1}", bytes as f64 / MIB as f64),
                Err(_) => text,
            }
        }
        _ => "failed".into(),
    }
}

/// `only` names the cases to run (all when empty): before the explainer was bounded, `deep` needed
/// more memory than a test machine has.
fn hostile(only: &[String]) {
    let now = 1_700_000_000;
    println!();
    println!("hostile bodies, stripe, one wrong secret (so the explainer runs)");
    println!("{:<14} {:>9} {:>12} {:>14}  reason ends with", "body", "bytes", "ms/capture", "peak RSS +MiB");
    for (case, (name, body)) in hostile_bodies().into_iter().enumerate() {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let headers = signed_request("stripe", "whsec_bench", &body, now);
        let req =
            Request { method: "POST", url: "https://h.example/h/t", headers: &headers, body: &body, received_at: now };
        let bad = wrong_secret("stripe");
        let outcome = hookmetry_verify::verify(&bad, &req);
        assert_eq!(outcome.verdict, hookmetry_core::Verdict::InvalidSignature, "{name}");
        let per = per_op(|| {
            black_box(hookmetry_verify::verify(&bad, black_box(&req)));
        });
        let tail: String = outcome.reason.rsplit("; ").next().unwrap_or_default().chars().take(70).collect();
        println!("{name:<14} {:>9} {:>12.2} {:>14}  {tail}", body.len(), per.as_secs_f64() * 1e3, peak_in_child(case));
    }
}

fn main() {
    if let Some(case) = std::env::var(PEAK_CASE).ok().and_then(|c| c.parse().ok()) {
        return measure_peak(case);
    }
    // `cargo bench` passes `--bench`; anything else names hostile cases to run.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let body: Vec<u8> =
        format!("{{\"id\":\"evt_1\",\"object\":\"event\",\"data\":\"{}\"}}", "x".repeat(1024 - 44)).into_bytes();
    let now = 1_700_000_000;
    let bare = per_op(|| {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec_bench").unwrap();
        m.update(black_box(&body));
        black_box(m.finalize());
    });
    println!("body {} bytes; bare HMAC-SHA256: {:>8.2} µs", body.len(), bare.as_secs_f64() * 1e6);
    println!("{:<20} {:>12} {:>8} {:>14} {:>8}", "provider", "valid µs", "× bare", "invalid µs", "× bare");
    for (provider, secret) in [
        ("stripe", "whsec_bench"),
        ("github", "bench"),
        ("standard-webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("shopify", "bench"),
        ("slack", "bench"),
    ] {
        let input = SignInput {
            method: "POST",
            url: "https://h.example/h/t",
            body: &body,
            timestamp: now,
            id: None,
            headers: &[],
        };
        let signed = hookmetry_verify::sign(provider, secret, None, &input).unwrap();
        let headers: Vec<Header> =
            signed.headers.iter().map(|(n, v)| Header::new(n.clone(), v.clone().into_bytes())).collect();
        let req =
            Request { method: "POST", url: "https://h.example/h/t", headers: &headers, body: &body, received_at: now };
        let good = VerificationSettings {
            provider: provider.into(),
            secrets: vec![SigningSecret::new("current", secret)],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        };
        let mut bad = good.clone();
        bad.secrets = vec![SigningSecret::new("wrong", "whsec_QmFkQmFkQmFkQmFkQmFkQmFkQmFk")];
        assert_eq!(hookmetry_verify::verify(&good, &req).verdict, hookmetry_core::Verdict::Valid);
        let valid = per_op(|| {
            black_box(hookmetry_verify::verify(&good, black_box(&req)));
        });
        let invalid = per_op(|| {
            black_box(hookmetry_verify::verify(&bad, black_box(&req)));
        });
        println!(
            "{provider:<20} {:>12.2} {:>8.1} {:>14.2} {:>8.1}",
            valid.as_secs_f64() * 1e6,
            valid.as_secs_f64() / bare.as_secs_f64(),
            invalid.as_secs_f64() * 1e6,
            invalid.as_secs_f64() / bare.as_secs_f64()
        );
    }
    hostile(&only);
}
