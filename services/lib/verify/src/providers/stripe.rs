//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, HMAC-SHA256 over `<t>.<body>` keyed with
//! the whole `whsec_…` endpoint secret. <https://docs.stripe.com/webhooks#verify-manually>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{any_eq, hmac_sha256, pairs, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Stripe;

static INFO: ProviderInfo = ProviderInfo {
    id: "stripe",
    name: "Stripe",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["Stripe-Signature"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/created")],
        resource: &[Source::Json("/data/object/id")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "Stripe-Signature";

impl Scheme for Stripe {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let mut parsed = Parsed { source: format!("`{HEADER}`"), ..Default::default() };
        let mut other_schemes = Vec::new();
        for (k, v) in pairs(value, ',') {
            match k {
                "t" => parsed.timestamp = Some(Stamp::secs(v, HEADER)?),
                "v1" => parsed.signatures.push(hex::decode(v).map_err(|_| {
                    Failure::malformed(format!("`v1` in `{HEADER}` is not hex: `{}`", crate::util::abbreviate(v)))
                })?),
                other => other_schemes.push(other.to_string()),
            }
        }
        if parsed.timestamp.is_none() {
            return Err(Failure::malformed(format!("`{HEADER}` has no `t=` timestamp")));
        }
        if parsed.signatures.is_empty() {
            let hint = if other_schemes.iter().any(|s| s == "v0") {
                " (only `v0`, which Stripe sends for test-mode events signed with a legacy scheme)"
            } else {
                ""
            };
            return Err(Failure::malformed(format!("`{HEADER}` has no `v1=` signature{hint}")));
        }
        Ok(parsed)
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        let expected = hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b".", &msg.body]);
        any_eq(&expected, &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), format!("t={t},v1={}", hex::encode(mac)))], body: None })
    }
}
