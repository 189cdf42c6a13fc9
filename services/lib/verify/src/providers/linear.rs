//! Linear: `Linear-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the webhook's signing
//! secret. The send time, in Unix milliseconds, is the body's `webhookTimestamp` (signed, as part
//! of the body) and Linear asks receivers to refuse it when more than a minute off. Linear's SDK
//! prefers the unsigned `Linear-Timestamp` header; this scheme prefers the signed field.
//! <https://linear.app/developers/webhooks#securing-webhooks>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, header, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Linear;

static INFO: ProviderInfo = ProviderInfo {
    id: "linear",
    name: "Linear",
    default_tolerance: Some(60),
    url_bound: false,
    asymmetric: false,
    detect: &["Linear-Signature", "Linear-Delivery"],
    event: EventSpec {
        id: &[Source::Header("Linear-Delivery")],
        kind: &[Source::Joined(&[Source::Header("Linear-Event"), Source::Json("/action")], "."), Source::Json("/type")],
        created_at: &[Source::Json("/createdAt"), Source::Json("/webhookTimestamp")],
        resource: &[Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "Linear-Signature";
const TIMESTAMP: &str = "Linear-Timestamp";
const FIELD: &str = "webhookTimestamp";

fn millis(raw: String, secs: Option<i64>, what: &str) -> Result<Stamp, Failure> {
    match secs {
        Some(secs) => Ok(Stamp::exact(raw, secs)),
        None => Err(Failure::malformed(format!("{what} `{}` is not Unix milliseconds", abbreviate(&raw)))),
    }
}

/// The send time: the body's `webhookTimestamp`, else the `Linear-Timestamp` header, else none.
fn timestamp(req: &Request<'_>) -> Result<Option<Stamp>, Failure> {
    // The body's field is covered by the signature; the header is not, so a replayed body with
    // a fresh header would pass a check on the header alone. The header is the fallback only.
    if let Ok(serde_json::Value::Object(body)) = serde_json::from_slice::<serde_json::Value>(req.body)
        && let Some(v) = body.get(FIELD)
    {
        let secs = match v {
            serde_json::Value::Number(n) => {
                n.as_i64().map(|ms| ms.div_euclid(1000)).or_else(|| n.as_f64().map(|ms| (ms / 1000.0).floor() as i64))
            }
            _ => None,
        };
        return millis(v.to_string(), secs, &format!("`{FIELD}` in the body")).map(Some);
    }
    if let Some(v) = header(req.headers, TIMESTAMP) {
        let v = v?.trim();
        let secs = v.parse::<i64>().ok().map(|ms| ms.div_euclid(1000));
        return millis(v.to_string(), secs, &format!("`{TIMESTAMP}`")).map(Some);
    }
    Ok(None)
}

impl Scheme for Linear {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![unhex(sig, 32, &format!("the signature in `{SIGNATURE}`"))?],
            timestamp: timestamp(req)?,
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    /// Signs the body as it is (a `webhookTimestamp` in it is left alone) and sends the signing
    /// time in `Linear-Timestamp`, as Linear does.
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha256(secret.as_bytes(), &[input.body]);
        Ok(Signed {
            headers: vec![
                (SIGNATURE.into(), hex::encode(mac)),
                (TIMESTAMP.into(), input.timestamp.saturating_mul(1000).to_string()),
            ],
            body: None,
        })
    }
}
