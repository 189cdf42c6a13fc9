//! Buildkite (notification service webhooks set to send a signature):
//! `X-Buildkite-Signature: timestamp=<unix seconds>,signature=<hex>`, HMAC-SHA256 over
//! `<timestamp>.<body>` keyed with the webhook's token. Buildkite names no replay window (nor does
//! go-buildkite check one); five minutes is used. A webhook set to send its token instead sends
//! `X-Buildkite-Token`, which proves nothing about the body and is not accepted here.
//! <https://buildkite.com/docs/apis/webhooks#webhook-signature>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, header, hmac_sha256, pairs, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Buildkite;

static INFO: ProviderInfo = ProviderInfo {
    id: "buildkite",
    name: "Buildkite",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["X-Buildkite-Signature", "X-Buildkite-Event"],
    event: EventSpec {
        kind: &[Source::Header("X-Buildkite-Event"), Source::Json("/event")],
        // A job's events also name its build; the job is the narrower one.
        resource: &[Source::Json("/job/id"), Source::Json("/build/id"), Source::Json("/agent/id")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "X-Buildkite-Signature";
const TOKEN: &str = "X-Buildkite-Token";

impl Scheme for Buildkite {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = match header(req.headers, HEADER) {
            Some(v) => v?,
            None if header(req.headers, TOKEN).is_some() => {
                return Err(Failure::missing(format!(
                    "header `{HEADER}` is missing: the webhook sends its token in `{TOKEN}` instead; set its \
                     Token setting to send an HMAC signature"
                )));
            }
            None => return Err(Failure::missing_header(HEADER)),
        };
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for (k, v) in pairs(value, ',') {
            match k {
                "timestamp" => timestamp = Some(v),
                "signature" => signatures.push(unhex(v, 32, &format!("the signature in `{HEADER}`"))?),
                _ => {}
            }
        }
        let t = timestamp
            .ok_or_else(|| Failure::malformed(format!("`{HEADER}` has no `timestamp=`: `{}`", abbreviate(value))))?;
        if signatures.is_empty() {
            return Err(Failure::malformed(format!("`{HEADER}` has no `signature=`: `{}`", abbreviate(value))));
        }
        Ok(Parsed {
            source: format!("`{HEADER}`"),
            signatures,
            timestamp: Some(Stamp::secs(t, HEADER)?),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        let expected = hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b".", &msg.body]);
        any_eq(&expected, &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", input.body]);
        Ok(Signed {
            headers: vec![(HEADER.into(), format!("timestamp={t},signature={}", hex::encode(mac)))],
            body: None,
        })
    }
}
