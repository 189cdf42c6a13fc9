//! Recurly: `recurly-signature: <unix ms>,<hex>[,<hex>…]`, HMAC-SHA256 over `<ms>.<body>` keyed
//! with the endpoint's signature secret; during a secret rotation there is one signature per
//! secret. The official clients refuse notifications more than five minutes from now
//! (recurly-client-ruby `Recurly::Webhooks::DEFAULT_TOLERANCE = 5 * 60 * 1000` ms).
//! <https://docs.recurly.com/recurly-subscriptions/docs/signature-verification>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Recurly;

static INFO: ProviderInfo = ProviderInfo {
    id: "recurly",
    name: "Recurly",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["recurly-signature"],
    // JSON notifications name the object and what happened to it, not an event id: `id` is the
    // object's.
    event: EventSpec {
        kind: &[Source::Joined(&[Source::Json("/object_type"), Source::Json("/event_type")], ".")],
        created_at: &[Source::Json("/event_time")],
        resource: &[Source::Joined(&[Source::Json("/object_type"), Source::Json("/id")], ":")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "recurly-signature";

impl Scheme for Recurly {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let mut parts = value.split(',').map(str::trim);
        let t = parts.next().unwrap_or_default();
        let millis: i64 = t.parse().map_err(|_| {
            Failure::malformed(format!(
                "`{HEADER}` should start with a Unix timestamp in milliseconds, not `{}`",
                abbreviate(t)
            ))
        })?;
        // The clients compare each entry as text, so an entry that is not a signature is skipped
        // rather than failing the others.
        let signatures: Vec<Vec<u8>> = parts.filter(|s| s.len() == 64).filter_map(|s| hex::decode(s).ok()).collect();
        if signatures.is_empty() {
            return Err(Failure::malformed(format!(
                "`{HEADER}` has no hex SHA-256 signature (64 characters) after its timestamp"
            )));
        }
        Ok(Parsed {
            source: format!("`{HEADER}`"),
            signatures,
            timestamp: Some(Stamp::exact(t, millis.div_euclid(1000))),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b".", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.saturating_mul(1000).to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), format!("{t},{}", hex::encode(mac)))], body: None })
    }
}
