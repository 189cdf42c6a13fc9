//! Square: `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 of the notification URL followed
//! by the raw body, keyed with the subscription's signature key; the legacy
//! `x-square-signature` is the same over HMAC-SHA1 and is checked when it is the only one.
//! <https://developer.squareup.com/docs/webhooks/step3validate>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::b64_digest;
use crate::util::{any_eq, b64, header, hmac_sha1, hmac_sha256};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Square;

static INFO: ProviderInfo = ProviderInfo {
    id: "square",
    name: "Square",
    default_tolerance: None,
    url_bound: true,
    asymmetric: false,
    detect: &["x-square-hmacsha256-signature", "x-square-signature"],
    event: EventSpec {
        id: &[Source::Json("/event_id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/created_at")],
        retries: &[Source::Header("square-retry-number")],
        retry_reason: &[Source::Header("square-retry-reason")],
        resource: &[Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

const SHA256: &str = "x-square-hmacsha256-signature";
const SHA1: &str = "x-square-signature";

impl Scheme for Square {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        if let Some(v) = header(req.headers, SHA256) {
            return Ok(Parsed {
                source: format!("`{SHA256}`"),
                signatures: vec![b64_digest(v?, 32, &format!("the signature in `{SHA256}`"))?],
                ..Default::default()
            });
        }
        if let Some(v) = header(req.headers, SHA1) {
            return Ok(Parsed {
                source: format!("`{SHA1}` (legacy SHA-1)"),
                signatures: vec![b64_digest(v?, 20, &format!("the signature in `{SHA1}`"))?],
                extra: vec!["sha1".into()],
                ..Default::default()
            });
        }
        Err(Failure::missing(format!("header `{SHA256}` is missing (and so is the legacy `{SHA1}`)")))
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let parts: [&[u8]; 2] = [msg.url.as_bytes(), &msg.body];
        let expected = if parsed.extra.first().is_some_and(|e| e == "sha1") {
            hmac_sha1(key.bytes(), &parts)
        } else {
            hmac_sha256(key.bytes(), &parts)
        };
        any_eq(&expected, &parsed.signatures)
    }

    /// Square sends both headers.
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let parts: [&[u8]; 2] = [input.url.as_bytes(), input.body];
        Ok(Signed {
            headers: vec![
                (SHA256.into(), b64(&hmac_sha256(secret.as_bytes(), &parts))),
                (SHA1.into(), b64(&hmac_sha1(secret.as_bytes(), &parts))),
            ],
            body: None,
        })
    }
}
