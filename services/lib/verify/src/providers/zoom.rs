//! Zoom: `x-zm-signature: v0=<hex>`, HMAC-SHA256 over `v0:<x-zm-request-timestamp>:<body>` keyed
//! with the app's webhook secret token. Zoom names no replay window; five minutes is used.
//! <https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events>

use super::{Failure, Key, Message, Parsed, ProviderInfo, Scheme, Stamp};
use crate::util::{abbreviate, any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Zoom;

static INFO: ProviderInfo = ProviderInfo {
    id: "zoom",
    name: "Zoom",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["x-zm-signature", "x-zm-request-timestamp"],
};

const SIGNATURE: &str = "x-zm-signature";
const TIMESTAMP: &str = "x-zm-request-timestamp";

impl Scheme for Zoom {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?.trim();
        let ts = required(req.headers, TIMESTAMP)?;
        let hex = sig.strip_prefix("v0=").ok_or_else(|| {
            Failure::malformed(format!("`{SIGNATURE}` should start with `v0=`: `{}`", abbreviate(sig)))
        })?;
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![unhex(hex, 32, &format!("the signature in `{SIGNATURE}`"))?],
            timestamp: Some(Stamp::secs(ts, TIMESTAMP)?),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[b"v0:", ts.raw.as_bytes(), b":", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let ts = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[b"v0:", ts.as_bytes(), b":", input.body]);
        Ok(Signed {
            headers: vec![(TIMESTAMP.into(), ts), (SIGNATURE.into(), format!("v0={}", hex::encode(mac)))],
            body: None,
        })
    }
}
