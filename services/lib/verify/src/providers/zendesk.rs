//! Zendesk: `X-Zendesk-Webhook-Signature` is the base64 HMAC-SHA256 of
//! `<X-Zendesk-Webhook-Signature-Timestamp><body>` (no separator) keyed with the webhook's signing
//! secret; the timestamp is RFC 3339 (`2021-07-25T10:00:00Z`). Zendesk documents no age limit for
//! it (and ships no verifying library), so none applies unless one is configured.
//! <https://developer.zendesk.com/documentation/webhooks/verifying/>
//!
//! Zendesk's own test requests ("Test webhook") are signed with the fixed secret
//! `dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==`, not the webhook's.

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::{any_eq, b64, b64_digest, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Zendesk;

static INFO: ProviderInfo = ProviderInfo {
    id: "zendesk",
    name: "Zendesk",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Id"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/time")],
        resource: &[Source::Json("/detail/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "X-Zendesk-Webhook-Signature";
const TIMESTAMP: &str = "X-Zendesk-Webhook-Signature-Timestamp";

impl Scheme for Zendesk {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let ts = required(req.headers, TIMESTAMP)?;
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![b64_digest(sig, 32, &format!("the signature in `{SIGNATURE}`"))?],
            timestamp: Some(super::box_com::rfc3339_stamp(ts, TIMESTAMP)?),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let ts = super::box_com::rfc3339_secs(input.timestamp)?;
        let mac = hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), input.body]);
        Ok(Signed { headers: vec![(SIGNATURE.into(), b64(&mac)), (TIMESTAMP.into(), ts)], body: None })
    }
}
