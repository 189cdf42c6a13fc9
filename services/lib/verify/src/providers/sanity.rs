//! Sanity (GROQ-powered webhooks): `sanity-webhook-signature: t=<unix milliseconds>,v1=<base64url>`,
//! HMAC-SHA256 over `<t>.<body>` keyed with the webhook's secret, the digest in unpadded
//! base64url. The toolkit (@sanity/webhook `isValidSignature`) checks no age, and Sanity retries
//! for up to 30 minutes, so no tolerance applies unless one is configured.
//! <https://www.sanity.io/docs/webhooks#secrets>

use base64::Engine as _;

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Sanity;

static INFO: ProviderInfo = ProviderInfo {
    id: "sanity",
    name: "Sanity",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["sanity-webhook-signature", "sanity-webhook-id"],
    // The body is whatever the webhook's projection makes it; the headers say what happened.
    event: EventSpec {
        id: &[Source::Header("idempotency-key")],
        kind: &[Source::Header("sanity-operation")],
        created_at: &[Source::Header("sanity-transaction-time")],
        resource: &[Source::Header("sanity-document-id")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "sanity-webhook-signature";

/// Timestamps below this (1973 in milliseconds, 5138 in seconds) were written in seconds. The
/// toolkit refuses anything before 2021, when Sanity started signing; the looser bound keeps
/// `sign` usable for any time while still catching the unit mistake.
const MIN_MILLIS: i64 = 100_000_000_000;

impl Scheme for Sanity {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let (mut t, mut v1) = (None, None);
        // The toolkit's pattern separates the two with commas, spaces or both.
        for (k, v) in value.split([',', ' ']).filter_map(|part| part.split_once('=')) {
            match k {
                "t" => t = Some(v),
                "v1" => v1 = Some(v),
                _ => {}
            }
        }
        let t = t.ok_or_else(|| Failure::malformed(format!("`{HEADER}` has no `t=` timestamp")))?;
        let v1 = v1.ok_or_else(|| Failure::malformed(format!("`{HEADER}` has no `v1=` signature")))?;
        let millis = t
            .parse::<i64>()
            .ok()
            .filter(|ms| *ms >= MIN_MILLIS)
            .ok_or_else(|| Failure::malformed(format!("timestamp `{t}` in `{HEADER}` is not Unix milliseconds")))?;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v1.trim_end_matches('=')).map_err(|_| {
            Failure::malformed(format!("the `v1` signature in `{HEADER}` is not base64url: `{}`", abbreviate(v1)))
        })?;
        if sig.len() != 32 {
            return Err(Failure::malformed(format!(
                "the `v1` signature in `{HEADER}` decodes to {} bytes; an HMAC-SHA256 signature has 32",
                sig.len()
            )));
        }
        Ok(Parsed {
            source: format!("`{HEADER}`"),
            signatures: vec![sig],
            timestamp: Some(Stamp::exact(t, millis.div_euclid(1000))),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b".", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let millis = input.timestamp.saturating_mul(1000);
        if millis < MIN_MILLIS {
            return Err(SignError::BadInput(format!(
                "Sanity signs Unix milliseconds after 1973; timestamp {} is earlier",
                input.timestamp
            )));
        }
        let t = millis.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", input.body]);
        let v1 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac);
        Ok(Signed { headers: vec![(HEADER.into(), format!("t={t},v1={v1}"))], body: None })
    }
}
