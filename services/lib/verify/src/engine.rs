//! What every scheme shares: trying each secret, judging the timestamp against the receive time,
//! and, when nothing matches, finding the change that explains it.

use std::borrow::Cow;

use hookmetry_core::{Verdict, VerificationSettings};

use crate::providers::{self, Failure, Key, Message, Parsed, ResolveError, Scheme};
use crate::util::human_duration;
use crate::{Outcome, Request, json, providers::providers};

/// Checks `req` against the endpoint's settings.
pub fn verify(settings: &VerificationSettings, req: &Request<'_>) -> Outcome {
    let outcome = |verdict, reason: String, label: Option<String>| Outcome {
        provider: Some(settings.provider.clone()),
        verdict,
        reason,
        secret_label: label,
    };
    let resolved = match providers::resolve(&settings.provider, settings.generic.as_ref()) {
        Ok(r) => r,
        Err(ResolveError::Unknown) => {
            return outcome(Verdict::NotConfigured, format!("unknown provider `{}`", settings.provider), None);
        }
        Err(ResolveError::Invalid(m)) => return outcome(Verdict::NotConfigured, m, None),
    };
    let scheme = resolved.get();
    let name = scheme.info().name;
    if settings.secrets.is_empty() {
        return outcome(Verdict::NotConfigured, format!("no secret configured for {name}"), None);
    }
    let parsed = match scheme.parse(req) {
        Ok(p) => p,
        Err(Failure { verdict, reason }) => return outcome(verdict, reason, None),
    };

    let mut keys: Vec<(&str, Key)> = Vec::with_capacity(settings.secrets.len());
    let mut unusable = Vec::new();
    for s in &settings.secrets {
        match scheme.key(&s.value) {
            Ok(k) => keys.push((&s.label, k)),
            Err(m) => unusable.push(format!("secret `{}` is unusable: {m}", s.label)),
        }
    }
    if keys.is_empty() {
        return outcome(Verdict::NotConfigured, unusable.join("; "), None);
    }

    let original = Message { method: req.method, url: Cow::Borrowed(req.url), body: Cow::Borrowed(req.body) };
    let tolerance = settings.tolerance_seconds.or(scheme.info().default_tolerance).filter(|t| *t > 0);
    let skew =
        parsed.timestamp.as_ref().zip(tolerance).and_then(|(ts, tol)| out_of_tolerance(req.received_at, ts.secs, tol));

    if let Some(i) = keys.iter().position(|(_, k)| scheme.matches(k, &original, &parsed)) {
        let label = keys[i].0;
        let which =
            if i == 0 { format!("matches secret `{label}`") } else { format!("matches secret `{label}` (rotated)") };
        return match skew {
            Some(skew) => outcome(
                Verdict::TimestampOutOfTolerance,
                format!("{skew}; the signature itself {which}"),
                Some(label.into()),
            ),
            None => outcome(Verdict::Valid, which, Some(label.into())),
        };
    }

    let labels: Vec<String> = keys.iter().map(|(l, _)| format!("`{l}`")).collect();
    let mut reason = match explain(scheme, &keys, &original, &parsed, settings) {
        Some(explained) => explained,
        None => format!(
            "no secret matches the signature in {} (tried {}): the secret is wrong, or the request was changed after it was signed",
            parsed.source,
            labels.join(", ")
        ),
    };
    if let Some(skew) = skew {
        reason.push_str(&format!("; also, it was {skew}"));
    }
    if !unusable.is_empty() {
        reason.push_str(&format!("; {}", unusable.join("; ")));
    }
    outcome(Verdict::InvalidSignature, reason, None)
}

/// For an endpoint without settings: which provider the request looks like, and that nothing is
/// configured to check it.
pub fn guess(req: &Request<'_>) -> Outcome {
    for info in providers() {
        if let Some(h) = info.detect.iter().find(|h| req.headers.iter().any(|x| x.name.eq_ignore_ascii_case(h))) {
            return Outcome {
                provider: Some(info.id.to_string()),
                verdict: Verdict::NotConfigured,
                reason: format!("looks like {} (`{h}` present); no secret configured", info.name),
                secret_label: None,
            };
        }
    }
    Outcome {
        provider: None,
        verdict: Verdict::NotConfigured,
        reason: "no verification configured, and no known signature header is present".into(),
        secret_label: None,
    }
}

/// "signed 7m12s before receipt; tolerance is 5m", or `None` when within tolerance.
fn out_of_tolerance(received: i64, signed: i64, tolerance: u32) -> Option<String> {
    let delta = received.saturating_sub(signed);
    if delta.unsigned_abs() <= u64::from(tolerance) {
        return None;
    }
    let tol = human_duration(u64::from(tolerance));
    Some(if delta > 0 {
        format!("signed {} before receipt; tolerance is {tol}", human_duration(delta.unsigned_abs()))
    } else {
        format!(
            "signed {} after receipt (the sender's clock is ahead); tolerance is {tol}",
            human_duration(delta.unsigned_abs())
        )
    })
}

/// Bodies larger than this are not re-serialized to explain a mismatch: each variant costs a full
/// pass over the body per secret, and webhook payloads that large are rare.
const EXPLAIN_MAX_BODY: usize = 1 << 20;

/// Tries the changes that usually explain a mismatch and names the first one that matches.
fn explain(
    scheme: &dyn Scheme,
    keys: &[(&str, Key)],
    original: &Message<'_>,
    parsed: &Parsed,
    settings: &VerificationSettings,
) -> Option<String> {
    let matching = |msg: &Message<'_>| keys.iter().find(|(_, k)| scheme.matches(k, msg, parsed)).map(|(l, _)| *l);

    if scheme.info().url_bound {
        for (url, what) in url_variants(&original.url) {
            let msg = Message { url: Cow::Owned(url), ..original.clone() };
            if let Some(label) = matching(&msg) {
                return Some(format!("matches (secret `{label}`) {what}: check the public URL setting"));
            }
        }
    }

    if scheme.signs_body() && original.body.len() <= EXPLAIN_MAX_BODY {
        for (body, what) in body_variants(&original.body) {
            let msg = Message { body: Cow::Owned(body), ..original.clone() };
            if let Some(label) = matching(&msg) {
                return Some(format!(
                    "would match (secret `{label}`) if the body were {what}: something between the provider and here changed the body"
                ));
            }
        }
    }

    // A secret pasted with a newline or spaces around it.
    for s in &settings.secrets {
        let trimmed = s.value.trim();
        if trimmed.len() != s.value.len()
            && let Ok(key) = scheme.key(trimmed)
            && scheme.matches(&key, original, parsed)
        {
            return Some(format!(
                "matches secret `{}` once the whitespace around it is removed: set the secret again without it",
                s.label
            ));
        }
    }

    // The secret of another endpoint or provider mode is a common mix-up; say what was received.
    if parsed.signatures.is_empty() {
        return Some(format!("{} holds no signature", parsed.source));
    }
    None
}

fn url_variants(url: &str) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if let Some(rest) = url.strip_prefix("https://") {
        out.push((format!("http://{rest}"), "with `http://` instead of `https://`"));
    } else if let Some(rest) = url.strip_prefix("http://") {
        out.push((format!("https://{rest}"), "with `https://` instead of `http://`"));
    }
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let with_query = |b: String| match query {
        Some(q) => format!("{b}?{q}"),
        None => b,
    };
    if let Some(stripped) = base.strip_suffix('/') {
        out.push((with_query(stripped.to_string()), "without the trailing `/` on the URL"));
    } else {
        out.push((with_query(format!("{base}/")), "with a trailing `/` on the URL"));
    }
    if query.is_some() {
        out.push((base.to_string(), "without the query string"));
    }
    out
}

fn body_variants(body: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    let mut out: Vec<(Vec<u8>, &'static str)> = Vec::new();
    let mut push = |v: Option<Vec<u8>>, what: &'static str| {
        if let Some(v) = v
            && v != body
            && !out.iter().any(|(o, _)| *o == v)
        {
            out.push((v, what));
        }
    };
    if let Some(trimmed) = body.strip_suffix(b"\r\n").or_else(|| body.strip_suffix(b"\n")) {
        push(Some(trimmed.to_vec()), "without its trailing newline");
    } else {
        push(Some([body, b"\n"].concat()), "ended with a newline");
    }
    if body.windows(2).any(|w| w == b"\r\n") {
        push(Some(replace(body, b"\r\n", b"\n")), "with `\\n` line endings instead of `\\r\\n`");
    } else if body.contains(&b'\n') {
        push(Some(replace(body, b"\n", b"\r\n")), "with `\\r\\n` line endings instead of `\\n`");
    }
    // After the smaller edits above, so a lone added newline is named as such.
    push(json::compact(body), "re-serialized JSON (compact)");
    push(json::pretty(body, 2), "re-serialized JSON (pretty-printed)");
    push(json::pretty(body, 4), "re-serialized JSON (pretty-printed, 4 spaces)");
    push(json::spaced(body), "re-serialized JSON (spaces after `:` and `,`)");
    out
}

fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16);
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_reasons_say_which_way_and_how_far() {
        assert_eq!(out_of_tolerance(1000, 1000 - 432, 300).unwrap(), "signed 7m12s before receipt; tolerance is 5m");
        assert_eq!(
            out_of_tolerance(1000, 1000 + 61, 60).unwrap(),
            "signed 1m1s after receipt (the sender's clock is ahead); tolerance is 1m"
        );
        assert_eq!(out_of_tolerance(1000, 700, 300), None, "exactly at the tolerance is accepted");
    }

    #[test]
    fn url_variants_cover_scheme_slash_and_query() {
        let v = url_variants("https://h.example/x?a=1");
        let urls: Vec<&str> = v.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(urls, ["http://h.example/x?a=1", "https://h.example/x/?a=1", "https://h.example/x"]);
    }
}
