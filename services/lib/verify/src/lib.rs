//! Webhook signature verification that says why.
//!
//! Pure functions over the raw bytes of a captured request: no I/O, no product clock, no async.
//! Time comes in as the capture's receive time, so checking an old capture again gives the same
//! verdict. Every comparison of a computed signature with a received one is constant-time.
//!
//! A verdict is one of [`Verdict`] with a reason a person can act on. When no secret matches, the
//! engine tries the changes that usually explain a failure (the body re-serialized on the way,
//! `http` instead of `https` in a signed URL, a secret pasted with whitespace) and names the one
//! that would have matched. That search is bounded by [`ExplainLimits`], one of which is a time
//! budget on the machine's monotonic clock: only it can make the reason (never the verdict) differ
//! between two checks of the same capture.

mod engine;
pub mod event;
mod explain;
mod handshake;
mod json;
mod providers;
mod skim;
mod util;

pub use engine::{guess, verify, verify_with_limits};
pub use event::{EventSpec, Source, TimeUnit, event_type, identify, parse_source, parse_time, validate_fields};
pub use explain::ExplainLimits;
pub use handshake::{HandshakeAnswer, handshake};
pub use hookmetry_core::{GenericHmac, SigningSecret, Verdict, VerificationSettings};
pub use json::pretty_json;
pub use providers::{ProviderInfo, providers};

use hookmetry_core::{CapturedRequest, Endpoint, Header, Timestamp, Verification};

/// The parts of a captured request a signature can cover.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The URL the provider called, as it would have signed it (see [`signed_url`]).
    pub url: &'a str,
    /// Every header as received, in order, duplicates kept.
    pub headers: &'a [Header],
    pub body: &'a [u8],
    /// When the request was received, in Unix seconds: timestamps are judged against this.
    pub received_at: i64,
}

/// What checking one request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The configured provider, or for an unconfigured endpoint the one the request looks like.
    pub provider: Option<String>,
    pub verdict: Verdict,
    pub reason: String,
    /// The label of the secret that matched.
    pub secret_label: Option<String>,
}

/// The URL a provider signed, for URL-bound schemes.
///
/// With a configured `public_url` it is that URL + the path after `/h/<token>` (when more than
/// `/`) + `?` + the raw query when there is one. Without one it is `base_url` + the full request
/// path and query.
pub fn signed_url(public_url: Option<&str>, base_url: &str, token: &str, path: &str, query: Option<&str>) -> String {
    let mut url = match public_url.filter(|u| !u.is_empty()) {
        Some(public) => {
            let mut url = public.to_string();
            if path != "/" {
                if url.ends_with('/') {
                    url.pop();
                }
                url.push_str(path);
            }
            url
        }
        None => {
            let mut url = base_url.trim_end_matches('/').to_string();
            url.push_str("/h/");
            url.push_str(token);
            if path != "/" {
                url.push_str(path);
            }
            url
        }
    };
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Checks a stored capture against its endpoint's settings (or guesses the provider when there are
/// none). `base_url` is the server's public base URL, used for URL-bound schemes when the endpoint
/// has no `publicUrl`; `verified_at` is recorded with the result. A mismatch is explained within
/// the default [`ExplainLimits`].
pub fn verify_capture(
    endpoint: &Endpoint,
    capture: &CapturedRequest,
    base_url: &str,
    verified_at: Timestamp,
) -> Verification {
    verify_capture_with_limits(endpoint, capture, base_url, verified_at, ExplainLimits::default())
}

/// [`verify_capture`] with the search for what explains a mismatch bounded by `limits`. The body
/// comes from whoever knows the capture URL, so this is CPU-bound for up to about
/// `limits.time_budget` plus one MAC of the body per secret: call it off an async runtime's worker
/// threads (e.g. in `spawn_blocking`).
pub fn verify_capture_with_limits(
    endpoint: &Endpoint,
    capture: &CapturedRequest,
    base_url: &str,
    verified_at: Timestamp,
    limits: ExplainLimits,
) -> Verification {
    let public_url = endpoint.verification.as_ref().and_then(|v| v.public_url.as_deref());
    let url = signed_url(public_url, base_url, &endpoint.token, &capture.path, capture.query.as_deref());
    let req = Request {
        method: &capture.method,
        url: &url,
        headers: &capture.headers,
        body: &capture.body,
        received_at: capture.received_at.micros().div_euclid(1_000_000),
    };
    let outcome = match &endpoint.verification {
        Some(settings) => verify_with_limits(settings, &req, limits),
        None => guess(&req),
    };
    // The guessed provider names the places too: an unconfigured Stripe endpoint still groups
    // Stripe's retries.
    let event = identify(outcome.provider.as_deref(), endpoint.event_fields.as_ref(), &capture.headers, &capture.body);
    Verification {
        provider: outcome.provider,
        verdict: outcome.verdict,
        reason: outcome.reason,
        secret_label: outcome.secret_label,
        verified_at,
        event,
    }
}

/// What a sender would attach to sign a request.
#[derive(Debug, Clone)]
pub struct SignInput<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub body: &'a [u8],
    /// Unix seconds to sign with.
    pub timestamp: i64,
    /// Message id for schemes that sign one; a fresh one is made up when `None`.
    pub id: Option<&'a str>,
    /// Headers of the original request, for schemes whose signature covers some of them.
    pub headers: &'a [Header],
}

/// What signing produced: headers to add (replacing any of the same name), and for schemes that
/// carry the signature inside the body, the new body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signed {
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("unknown provider `{0}`")]
    UnknownProvider(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("secret: {0}")]
    BadSecret(String),
    #[error("{0}")]
    BadInput(String),
}

/// 9999-12-31T23:59:59Z.
const MAX_SIGN_TIMESTAMP: i64 = 253_402_300_799;

/// Signs `input` as `provider` would with `secret` (for asymmetric schemes, the private key).
pub fn sign(
    provider: &str,
    secret: &str,
    generic: Option<&GenericHmac>,
    input: &SignInput<'_>,
) -> Result<Signed, SignError> {
    // Every scheme can write these, in seconds or milliseconds, as digits or as RFC 3339.
    if !(0..=MAX_SIGN_TIMESTAMP).contains(&input.timestamp) {
        return Err(SignError::BadInput(format!(
            "timestamp {} is not Unix seconds between 1970 and 9999",
            input.timestamp
        )));
    }
    let scheme = providers::resolve(provider, generic).map_err(|e| match e {
        providers::ResolveError::Unknown => SignError::UnknownProvider(provider.to_string()),
        providers::ResolveError::Invalid(m) => SignError::BadInput(m),
    })?;
    scheme.get().sign(secret, input)
}

/// Checks settings before they are saved, so a typo is an error naming the field rather than a
/// verdict on every later capture. Errors are `(field, message)`.
pub fn validate(settings: &VerificationSettings) -> Result<(), (String, String)> {
    let scheme = providers::resolve(&settings.provider, settings.generic.as_ref()).map_err(|e| match e {
        providers::ResolveError::Unknown => (
            "provider".to_string(),
            format!(
                "unknown provider `{}`; known: {}",
                settings.provider,
                providers().iter().map(|p| p.id).collect::<Vec<_>>().join(", ")
            ),
        ),
        providers::ResolveError::Invalid(m) => ("generic".to_string(), m),
    })?;
    if settings.secrets.is_empty() {
        return Err(("secrets".into(), "at least one secret is needed".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, s) in settings.secrets.iter().enumerate() {
        if s.label.trim().is_empty() {
            return Err((format!("secrets[{i}].label"), "a label is needed".into()));
        }
        if !seen.insert(s.label.as_str()) {
            return Err((format!("secrets[{i}].label"), format!("label `{}` is used twice", s.label)));
        }
        if s.value.is_empty() {
            return Err((format!("secrets[{i}].value"), "the secret is empty".into()));
        }
        scheme.get().key(&s.value).map_err(|m| (format!("secrets[{i}].value"), m))?;
    }
    if let Some(url) = &settings.public_url
        && !url.is_empty()
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(("publicUrl".into(), "must start with https:// or http://".into()));
    }
    Ok(())
}
