//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=…]`, HMAC-SHA256 over `<ts>:<body>`
//! keyed with the notification destination's secret key (`pdl_ntfset_…`). Paddle's SDKs refuse a
//! timestamp more than five seconds old. <https://developer.paddle.com/webhooks/signature-verification>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{any_eq, hmac_sha256, pairs, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Paddle;

static INFO: ProviderInfo = ProviderInfo {
    id: "paddle",
    name: "Paddle",
    // `MAX_VALID_TIME_DIFFERENCE = 5` in paddle-node-sdk, `maximum_variance=5` in the Python SDK.
    default_tolerance: Some(5),
    url_bound: false,
    asymmetric: false,
    detect: &["Paddle-Signature"],
    event: EventSpec {
        id: &[Source::Json("/event_id")],
        kind: &[Source::Json("/event_type")],
        created_at: &[Source::Json("/occurred_at")],
        resource: &[Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "Paddle-Signature";

impl Scheme for Paddle {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let mut parsed = Parsed { source: format!("`{HEADER}`"), ..Default::default() };
        let mut others = Vec::new();
        for (k, v) in pairs(value, ';') {
            match k {
                "ts" => parsed.timestamp = Some(Stamp::secs(v, HEADER)?),
                "h1" => parsed.signatures.push(unhex(v, 32, &format!("the `h1` signature in `{HEADER}`"))?),
                other => others.push(format!("`{other}`")),
            }
        }
        if parsed.timestamp.is_none() {
            return Err(Failure::malformed(format!("`{HEADER}` has no `ts=` timestamp; it looks like `ts=…;h1=…`")));
        }
        if parsed.signatures.is_empty() {
            let found = if others.is_empty() { String::new() } else { format!(" (found {})", others.join(", ")) };
            return Err(Failure::malformed(format!("`{HEADER}` has no `h1=` signature{found}")));
        }
        Ok(parsed)
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b":", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let ts = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b":", input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), format!("ts={ts};h1={}", hex::encode(mac)))], body: None })
    }
}
