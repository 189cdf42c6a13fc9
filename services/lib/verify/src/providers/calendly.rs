//! Calendly: `Calendly-Webhook-Signature: t=<unix>,v1=<hex>`, HMAC-SHA256 over `<t>.<body>` keyed
//! with the webhook signing key; Calendly's example refuses signatures older than three minutes.
//! <https://developer.calendly.com/api-docs/overview/webhooks/webhook-signatures>

use crate::providers::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::t_and_v1;
use crate::util::{any_eq, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Calendly;

static INFO: ProviderInfo = ProviderInfo {
    id: "calendly",
    name: "Calendly",
    default_tolerance: Some(180),
    url_bound: false,
    asymmetric: false,
    detect: &["Calendly-Webhook-Signature"],
    event: EventSpec {
        kind: &[Source::Json("/event")],
        created_at: &[Source::Json("/created_at")],
        resource: &[Source::Json("/payload/uri")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "Calendly-Webhook-Signature";

impl Scheme for Calendly {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let (t, signatures) = t_and_v1(value, HEADER)?;
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
        Ok(Signed { headers: vec![(HEADER.into(), format!("t={t},v1={}", hex::encode(mac)))], body: None })
    }
}
