//! Small helpers every scheme shares: header lookup, MACs, encodings, constant-time comparison.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookmetry_core::Header;
use subtle::ConstantTimeEq;

use crate::providers::Failure;

/// The first header named `name` (ASCII case-insensitively), as text. A value that is not UTF-8
/// cannot hold a signature any scheme produces.
pub(crate) fn header<'a>(headers: &'a [Header], name: &str) -> Option<Result<&'a str, Failure>> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| {
        std::str::from_utf8(&h.value).map_err(|_| Failure::malformed(format!("header `{name}` is not valid UTF-8")))
    })
}

/// The header's value, or `MISSING_SIGNATURE` naming it.
pub(crate) fn required<'a>(headers: &'a [Header], name: &str) -> Result<&'a str, Failure> {
    match header(headers, name) {
        Some(v) => v,
        None => Err(Failure::missing_header(name)),
    }
}

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("hmac takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).expect("hmac takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

pub(crate) fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

/// Whether `expected` equals any candidate, without an early exit on the first differing byte.
pub(crate) fn any_eq(expected: &[u8], candidates: &[Vec<u8>]) -> bool {
    let mut found = subtle::Choice::from(0);
    for c in candidates {
        found |= expected.ct_eq(c);
    }
    found.into()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard base64, padded or not, with a reason naming where it came from.
pub(crate) fn unb64(s: &str, what: &str) -> Result<Vec<u8>, Failure> {
    let s = s.trim();
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
        .map_err(|_| Failure::malformed(format!("{what} `{}` is not base64", abbreviate(s))))
}

/// Decodes hex, checking the length a digest of `len` bytes has.
pub(crate) fn unhex(s: &str, len: usize, what: &str) -> Result<Vec<u8>, Failure> {
    let s = s.trim();
    if s.len() != len * 2 {
        let digest = match len {
            20 => "SHA-1".to_string(),
            32 => "SHA-256".to_string(),
            64 => "SHA-512".to_string(),
            n => format!("{n}-byte"),
        };
        return Err(Failure::malformed(format!(
            "{what} is {} characters; a hex {digest} signature has {}",
            s.len(),
            len * 2
        )));
    }
    hex::decode(s).map_err(|_| Failure::malformed(format!("{what} `{}` is not hex", abbreviate(s))))
}

/// Decodes a base64 MAC of `len` bytes; reasons name `what` (e.g. "the signature in `X-Sig`").
pub(crate) fn b64_digest(value: &str, len: usize, what: &str) -> Result<Vec<u8>, Failure> {
    if value.trim().is_empty() {
        return Err(Failure::malformed(format!("{what} is empty")));
    }
    let sig = unb64(value, what)?;
    if sig.len() != len {
        let algorithm = match len {
            20 => "HMAC-SHA1",
            32 => "HMAC-SHA256",
            64 => "HMAC-SHA512",
            _ => "MAC",
        };
        return Err(Failure::malformed(format!(
            "{what} decodes to {} bytes; a base64 {algorithm} signature has {len}: `{}`",
            sig.len(),
            abbreviate(value.trim())
        )));
    }
    Ok(sig)
}

/// The `t=` timestamp text and the decoded hex `v1=` signatures of a Stripe-style
/// `t=<timestamp>,v1=<hex>` header (Calendly, WorkOS).
pub(crate) fn t_and_v1<'a>(value: &'a str, header: &str) -> Result<(&'a str, Vec<Vec<u8>>), Failure> {
    let mut t = None;
    let mut signatures = Vec::new();
    for (k, v) in pairs(value, ',') {
        match k {
            "t" => t = Some(v),
            "v1" => signatures.push(unhex(v, 32, &format!("the `v1` signature in `{header}`"))?),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| Failure::malformed(format!("`{header}` has no `t=` timestamp")))?;
    if signatures.is_empty() {
        return Err(Failure::malformed(format!("`{header}` has no `v1=` signature")));
    }
    Ok((t, signatures))
}

/// Cuts long header values in reasons: a reason names the problem, it does not echo payloads.
pub(crate) fn abbreviate(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX { s.to_string() } else { format!("{}…", s.chars().take(MAX).collect::<String>()) }
}

/// "7m12s", "5m", "2h", "3d4h": the unit a person would say.
pub(crate) fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if d > 0 {
        out.push_str(&format!("{d}d"));
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        return out;
    }
    if h > 0 {
        out.push_str(&format!("{h}h"));
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        return out;
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// "512 B", "16 KiB", "1.5 MiB": sizes in reasons, to one decimal.
pub(crate) fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    format!("{} {}", text.strip_suffix(".0").unwrap_or(&text), UNITS[unit])
}

/// Splits `k=v` pairs separated by `sep` (Stripe's `t=…,v1=…`), trimming spaces.
pub(crate) fn pairs(s: &str, sep: char) -> impl Iterator<Item = (&str, &str)> {
    s.split(sep).filter_map(|part| {
        let (k, v) = part.split_once('=')?;
        Some((k.trim(), v.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(432), "7m12s");
        assert_eq!(human_duration(300), "5m");
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(7260), "2h1m");
        assert_eq!(human_duration(90_000), "1d1h");
    }

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(16 << 10), "16 KiB");
        assert_eq!(human_bytes(1 << 20), "1 MiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_bytes((1 << 20) + 1), "1 MiB");
        assert_eq!(human_bytes(5 << 30), "5 GiB");
    }

    #[test]
    fn any_eq_finds_a_match_among_several() {
        assert!(any_eq(b"abc", &[b"xyz".to_vec(), b"abc".to_vec()]));
        assert!(!any_eq(b"abc", &[b"abd".to_vec(), b"ab".to_vec()]));
        assert!(!any_eq(b"abc", &[]));
    }
}
