//! Webflow: `x-webflow-signature: <hex>`, HMAC-SHA256 over `<x-webflow-timestamp>:<body>` keyed
//! with the OAuth application's client secret (or the webhook's secret); the timestamp is Unix
//! milliseconds and Webflow's guide refuses requests more than five minutes old. Webhooks made
//! in the site dashboard are not signed.
//! <https://developers.webflow.com/data/docs/working-with-webhooks#validating-request-signatures>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Webflow;

static INFO: ProviderInfo = ProviderInfo {
    id: "webflow",
    name: "Webflow",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["x-webflow-signature", "x-webflow-timestamp"],
    // Webflow names no event id; the payload is the form submission or item the trigger is about.
    event: EventSpec {
        kind: &[Source::Json("/triggerType")],
        created_at: &[Source::Json("/payload/submittedAt"), Source::Json("/payload/lastUpdated")],
        resource: &[Source::Json("/payload/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "x-webflow-signature";
const TIMESTAMP: &str = "x-webflow-timestamp";

impl Scheme for Webflow {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let raw = required(req.headers, TIMESTAMP)?.trim();
        let millis: i64 = raw
            .parse()
            .map_err(|_| Failure::malformed(format!("timestamp `{raw}` in `{TIMESTAMP}` is not Unix milliseconds")))?;
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![unhex(sig, 32, &format!("the signature in `{SIGNATURE}`"))?],
            timestamp: Some(Stamp::exact(raw, millis.div_euclid(1000))),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b":", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.saturating_mul(1000).to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b":", input.body]);
        Ok(Signed { headers: vec![(TIMESTAMP.into(), t), (SIGNATURE.into(), hex::encode(mac))], body: None })
    }
}
