//! `cargo bench -p hookmetry-verify`: cost of one verification against the cost of the bare
//! HMAC-SHA256 of the same body, measured in the same run (ratios survive noisy machines).
//!
//! A failing signature costs more than a valid one: the engine tries the variants that explain a
//! mismatch. This puts a number on that, since anyone who knows a capture URL can send invalid
//! signatures and the processor pays for each.

use std::hint::black_box;
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

fn main() {
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
}
