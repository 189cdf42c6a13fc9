//! Header parsing and verification never panic, whatever arrives.
//!
//! The first input byte picks a mode and options; the rest is decoded one of two ways:
//!
//! * raw: split at `0x00` into header name/value pairs followed by a body, and checked by every
//!   provider (plus `guess` and `handshake`). A one-byte name stands for a known header name
//!   (every provider's detection and signature headers), so the fuzzer reaches the parsers
//!   quickly. With option `0x10`, the first seven parts are generic-hmac settings instead, checked
//!   by `validate` and then used to verify the rest.
//! * mutate: a provider and a body are picked, the body is signed with that provider's own `sign`,
//!   and the rest of the input edits the signed headers and body. With no edits the request must
//!   verify as VALID; with edits, anything but a panic is fine.
//!
//! Every outcome must have a non-empty reason, name the configured provider, and carry a secret
//! label exactly when a signature matched.

#![no_main]

use std::sync::LazyLock;

use hookmetry_core::Header;
use hookmetry_verify::{GenericHmac, Outcome, Request, SignInput, SigningSecret, Verdict, VerificationSettings};
use libfuzzer_sys::fuzz_target;

const METHOD: &str = "POST";
const URL: &str = "https://hooks.example.com/h/tok/in?x=1";
const RECEIVED_AT: i64 = 1_700_000_000;

/// A private key for every asymmetric scheme: the Ed25519 seed (Discord, Telnyx) and the P-256
/// scalar (SendGrid) are all 32 bytes of hex.
const PRIVATE_KEY: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// Secrets configured for every provider; each scheme uses those it can and reports the rest as
/// unusable. A `whsec_` secret (base64 after the prefix), plain text, hex (Adyen; 64 characters,
/// as Contentful's secrets are), and the public keys for [`PRIVATE_KEY`] as Discord, SendGrid and
/// Telnyx (base64) show them. [`PRIVATE_KEY`] is also the 64-character secret Contentful signs with.
const SECRETS: &[&str] = &[
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "fuzz-secret",
    PRIVATE_KEY,
    "d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737",
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAhfmF/C2RDkoJ4+WmZ5pojpPLBUr321s32bluAKC1O0ZSn3ry5dxLS3aPKhaqHZaVvRfx1hZllLyiXxlMG5XlA==",
    "0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc=",
];

/// Secrets `sign` is tried with, in order.
const SIGNING_SECRETS: &[&str] = &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "fuzz-secret", PRIVATE_KEY];

/// Generic HMAC settings covering every algorithm, encoding and placeholder.
fn generic_configs() -> Vec<GenericHmac> {
    let cfg = |header: &str,
               algorithm: &str,
               encoding: &str,
               prefix: &str,
               template: &str,
               ts: Option<&str>,
               id: Option<&str>| {
        GenericHmac {
            header: header.into(),
            algorithm: algorithm.into(),
            encoding: encoding.into(),
            prefix: prefix.into(),
            template: template.into(),
            timestamp_header: ts.map(Into::into),
            id_header: id.map(Into::into),
        }
    };
    vec![
        cfg("X-Signature", "sha256", "hex", "sha256=", "{body}", None, None),
        cfg(
            "X-Signature",
            "sha512",
            "base64",
            "",
            "{timestamp}.{id}.{method}.{url}.{body}",
            Some("X-Timestamp"),
            Some("X-Id"),
        ),
        cfg("X-Sig", "sha1", "hex", "v=", "{timestamp}{body}", Some("X-Timestamp"), None),
    ]
}

fn settings(provider: &str, generic: Option<GenericHmac>, tolerance: Option<u32>) -> VerificationSettings {
    VerificationSettings {
        provider: provider.into(),
        secrets: SECRETS.iter().enumerate().map(|(i, s)| SigningSecret::new(format!("s{i}"), *s)).collect(),
        tolerance_seconds: tolerance,
        public_url: None,
        generic,
    }
}

/// One way of checking a request: a provider (for generic-hmac, one of its settings).
struct Config {
    provider: &'static str,
    generic: Option<GenericHmac>,
    /// The secret `sign` takes for this provider, when it takes one of [`SIGNING_SECRETS`].
    signing_secret: Option<&'static str>,
}

fn sign_input<'a>(body: &'a [u8], url: &'a str, timestamp: i64) -> SignInput<'a> {
    SignInput { method: METHOD, url, body, timestamp, id: None, headers: &[] }
}

static CONFIGS: LazyLock<Vec<Config>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for info in hookmetry_verify::providers() {
        let generics: Vec<Option<GenericHmac>> =
            if info.id == "generic-hmac" { generic_configs().into_iter().map(Some).collect() } else { vec![None] };
        for generic in generics {
            let body = sample_body(info.id, b"{}");
            let input = sign_input(&body, URL, RECEIVED_AT);
            let signing_secret = SIGNING_SECRETS
                .iter()
                .copied()
                .find(|s| hookmetry_verify::sign(info.id, s, generic.as_ref(), &input).is_ok());
            out.push(Config { provider: info.id, generic, signing_secret });
        }
    }
    out
});

/// A body `sign` accepts for schemes that need a particular shape, with `data` inside it.
fn sample_body(provider: &str, data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    match provider {
        "adyen" => serde_json::to_vec(&serde_json::json!({
            "live": "false",
            "notificationItems": [{"NotificationRequestItem": {
                "pspReference": text, "merchantAccountCode": "Acme", "merchantReference": "r1",
                "amount": {"value": 1000, "currency": "EUR"}, "eventCode": "AUTHORISATION", "success": "true"
            }}]
        }))
        .unwrap_or_default(),
        "mailgun" => serde_json::to_vec(&serde_json::json!({"event-data": {"id": text}})).unwrap_or_default(),
        _ => data.to_vec(),
    }
}

/// Header names a one-byte name stands for: what providers detect and what they sign.
static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if !names.iter().any(|x| x.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    };
    for info in hookmetry_verify::providers() {
        info.detect.iter().for_each(|n| add(n));
    }
    for c in CONFIGS.iter() {
        let Some(secret) = c.signing_secret else { continue };
        let body = sample_body(c.provider, b"{}");
        let input = sign_input(&body, URL, RECEIVED_AT);
        if let Ok(signed) = hookmetry_verify::sign(c.provider, secret, c.generic.as_ref(), &input) {
            signed.headers.iter().for_each(|(n, _)| add(n));
        }
    }
    for n in ["X-Timestamp", "X-Id", "Content-Type", "User-Agent"] {
        add(n);
    }
    names
});

#[track_caller]
fn check_outcome(out: &Outcome, provider: Option<&str>) {
    assert!(!out.reason.trim().is_empty(), "empty reason: {out:?}");
    if let Some(p) = provider {
        assert_eq!(out.provider.as_deref(), Some(p), "{out:?}");
    }
    let matched = matches!(out.verdict, Verdict::Valid | Verdict::TimestampOutOfTolerance);
    assert_eq!(out.secret_label.is_some(), matched, "a label exactly when a secret matched: {out:?}");
}

fn request<'a>(url: &'a str, headers: &'a [Header], body: &'a [u8], received_at: i64) -> Request<'a> {
    Request { method: METHOD, url, headers, body, received_at }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn raw(data: &[u8], received_at: i64, tolerance: Option<u32>, own_generic: bool) {
    let mut segments: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    let body = segments.pop().unwrap_or_default();
    let generic = if own_generic && segments.len() >= 7 {
        let s: Vec<&[u8]> = segments.drain(..7).collect();
        let opt = |b: &[u8]| (!b.is_empty()).then(|| text(b));
        Some(GenericHmac {
            header: text(s[0]),
            algorithm: text(s[1]),
            encoding: text(s[2]),
            prefix: text(s[3]),
            template: text(s[4]),
            timestamp_header: opt(s[5]),
            id_header: opt(s[6]),
        })
    } else {
        None
    };
    let headers: Vec<Header> = segments
        .chunks(2)
        .map(|pair| {
            let name = match pair[0] {
                [i] if usize::from(*i) < NAMES.len() => NAMES[usize::from(*i)].clone(),
                other => text(other),
            };
            Header::new(name, pair.get(1).copied().unwrap_or_default().to_vec())
        })
        .collect();
    let req = request(URL, &headers, body, received_at);
    if let Some(g) = generic {
        let s = settings("generic-hmac", Some(g), tolerance);
        if let Err((field, message)) = hookmetry_verify::validate(&s) {
            assert!(!field.is_empty() && !message.trim().is_empty(), "{field:?}: {message:?}");
        }
        check_outcome(&hookmetry_verify::verify(&s, &req), Some("generic-hmac"));
        return;
    }
    for c in CONFIGS.iter() {
        let s = settings(c.provider, c.generic.clone(), tolerance);
        check_outcome(&hookmetry_verify::verify(&s, &req), Some(c.provider));
    }
    let guessed = hookmetry_verify::guess(&req);
    check_outcome(&guessed, None);
    assert_eq!(guessed.verdict, Verdict::NotConfigured);
    let _ = hookmetry_verify::handshake(None, &headers, body);
    let _ = hookmetry_verify::handshake(Some(&settings("zoom", None, tolerance)), &headers, body);
}

fn mutate(data: &[u8], received_at: i64, tolerance: Option<u32>, body_hash_url: bool) {
    let signable: Vec<&Config> = CONFIGS.iter().filter(|c| c.signing_secret.is_some()).collect();
    let Some((&pick, rest)) = data.split_first() else { return };
    let Some(config) = signable.get(usize::from(pick) % signable.len().max(1)) else { return };
    let secret = config.signing_secret.unwrap_or_default();
    let mut segments = rest.split(|b| *b == 0);
    let body = sample_body(config.provider, segments.next().unwrap_or_default());
    // Twilio's JSON mode: the URL carries the body's hash (only Twilio reads it).
    let url = if body_hash_url {
        use sha2::Digest as _;
        format!("{URL}&bodySHA256={}", hex::encode(sha2::Sha256::digest(&body)))
    } else {
        URL.to_string()
    };
    let input = sign_input(&body, &url, received_at);
    let Ok(signed) = hookmetry_verify::sign(config.provider, secret, config.generic.as_ref(), &input) else {
        return;
    };
    let mut values: Vec<Vec<u8>> = signed.headers.iter().map(|(_, v)| v.clone().into_bytes()).collect();
    let mut body = signed.body.unwrap_or(body);
    let mut edited = false;
    // Each edit: [target, position, replacement…]; the target picks a header value (or the body),
    // and the replacement overwrites as many bytes (or, when empty, one byte is removed).
    for edit in segments {
        let [target, pos, replacement @ ..] = edit else { continue };
        let target = usize::from(*target) % (values.len() + 1);
        let buf = if target == values.len() { &mut body } else { &mut values[target] };
        let at = usize::from(*pos) % (buf.len() + 1);
        let end = (at + replacement.len().max(1)).min(buf.len());
        buf.splice(at..end, replacement.iter().copied());
        edited = true;
    }
    let headers: Vec<Header> = signed.headers.iter().zip(values).map(|((n, _), v)| Header::new(n.clone(), v)).collect();
    let s = settings(config.provider, config.generic.clone(), tolerance);
    let out = hookmetry_verify::verify(&s, &request(&url, &headers, &body, received_at));
    check_outcome(&out, Some(config.provider));
    // Only times RFC 3339 can write (years 0000 to 9999) must round-trip: beyond them Twitch's
    // four-digit years and the schemes that write milliseconds (which clamp) cannot.
    if !edited && (-62_167_219_200..=253_402_300_799).contains(&received_at) {
        assert_eq!(out.verdict, Verdict::Valid, "{} must accept what it signed: {out:?}", config.provider);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    // 0x80: the receive time comes from the next eight bytes, extremes included.
    let (received_at, rest) = match rest.split_first_chunk::<8>() {
        Some((t, rest)) if mode & 0x80 != 0 => (i64::from_le_bytes(*t), rest),
        _ => (RECEIVED_AT, rest),
    };
    // 0x20: the widest tolerance; 0x40 with 0x20: none at all.
    let tolerance = match mode & 0x60 {
        0x20 => Some(u32::MAX),
        0x60 => Some(0),
        _ => None,
    };
    if mode & 1 == 0 {
        raw(rest, received_at, tolerance, mode & 0x10 != 0);
    } else {
        mutate(rest, received_at, tolerance, mode & 0x40 != 0 && mode & 0x20 == 0);
    }
});
