//! What every scheme shares: trying each secret, judging the timestamp against the receive time,
//! and, when nothing matches, asking for the change that explains it.

use std::borrow::Cow;

use hookmetry_core::{Verdict, VerificationSettings};

use crate::explain::{self, ExplainLimits, Explanation, with_skipped};
use crate::providers::{self, Failure, Key, Message, ResolveError};
use crate::util::human_duration;
use crate::{Outcome, Request, providers::providers};

/// Checks `req` against the endpoint's settings, explaining a mismatch within the default
/// [`ExplainLimits`].
pub fn verify(settings: &VerificationSettings, req: &Request<'_>) -> Outcome {
    verify_with_limits(settings, req, ExplainLimits::default())
}

/// Checks `req` against the endpoint's settings; `limits` bound the search for what explains a
/// mismatch, and so the time and memory a request built to be expensive can cost. CPU-bound for
/// up to about `limits.time_budget` plus one MAC of the body per secret: call it off an async
/// runtime's worker threads.
pub fn verify_with_limits(settings: &VerificationSettings, req: &Request<'_>, limits: ExplainLimits) -> Outcome {
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
        Err(Failure { verdict, reason, stated_digest: None }) => return outcome(verdict, reason, None),
        Err(Failure { verdict, reason, stated_digest: Some(stated) }) => {
            let reason = match explain::stated_digest(req.body, &stated, name, limits) {
                Explanation::Found(explained) => explained,
                Explanation::NotFound(skipped) => with_skipped(reason, &skipped),
            };
            return outcome(verdict, reason, None);
        }
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
        let unit = parsed.timestamp.as_ref().map(|t| t.note()).unwrap_or_default();
        return match skew {
            Some(skew) => outcome(
                Verdict::TimestampOutOfTolerance,
                format!("{skew}; the signature itself {which}{unit}"),
                Some(label.into()),
            ),
            None => outcome(Verdict::Valid, format!("{which}{unit}"), Some(label.into())),
        };
    }

    let labels: Vec<String> = keys.iter().map(|(l, _)| format!("`{l}`")).collect();
    let mut reason = match explain::explain(scheme, &keys, &original, &parsed, settings, limits) {
        Explanation::Found(explained) => explained,
        Explanation::NotFound(skipped) => with_skipped(
            format!(
                "no secret matches the signature in {} (tried {}): the secret is wrong, or the request was changed after it was signed",
                parsed.source,
                labels.join(", ")
            ),
            &skipped,
        ),
    };
    if let Some(skew) = skew {
        reason.push_str(&format!("; also, it was {skew}"));
    }
    if let Some(ts) = &parsed.timestamp {
        reason.push_str(&ts.note());
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
}
