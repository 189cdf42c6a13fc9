//! Revolut: `Revolut-Signature: v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 over
//! `v1.<Revolut-Request-Timestamp>.<body>` keyed with the webhook's signing secret (`wsk_…`);
//! the timestamp is Unix milliseconds, and Revolut asks receivers to refuse requests more than
//! five minutes from now. While a rotated secret is still valid there is one `v1=` per secret.
//! <https://developer.revolut.com/docs/guides/accept-payments/tutorials/work-with-webhooks/verify-the-payload-signature>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, hmac_sha256, pairs, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Revolut;

static INFO: ProviderInfo = ProviderInfo {
    id: "revolut",
    name: "Revolut",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["Revolut-Signature", "Revolut-Request-Timestamp"],
    // Merchant events name an order (`order_id`), Business events a transaction or other object
    // (`data.id`); neither carries an event id.
    event: EventSpec {
        kind: &[Source::Json("/event")],
        created_at: &[Source::Json("/timestamp")],
        resource: &[Source::Json("/order_id"), Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "Revolut-Signature";
const TIMESTAMP: &str = "Revolut-Request-Timestamp";

impl Scheme for Revolut {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, SIGNATURE)?;
        let t = required(req.headers, TIMESTAMP)?.trim();
        let mut signatures = Vec::new();
        for (k, v) in pairs(value, ',') {
            if k == "v1" {
                signatures.push(unhex(v, 32, &format!("the `v1` signature in `{SIGNATURE}`"))?);
            }
        }
        if signatures.is_empty() {
            return Err(Failure::malformed(format!(
                "`{SIGNATURE}` has no `v1=` signature: `{}`",
                abbreviate(value.trim())
            )));
        }
        let millis: i64 = t
            .parse()
            .map_err(|_| Failure::malformed(format!("timestamp `{t}` in `{TIMESTAMP}` is not Unix milliseconds")))?;
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures,
            timestamp: Some(Stamp::exact(t, millis.div_euclid(1000))),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[b"v1.", ts.raw.as_bytes(), b".", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.saturating_mul(1000).to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[b"v1.", t.as_bytes(), b".", input.body]);
        Ok(Signed {
            headers: vec![(SIGNATURE.into(), format!("v1={}", hex::encode(mac))), (TIMESTAMP.into(), t)],
            body: None,
        })
    }
}
