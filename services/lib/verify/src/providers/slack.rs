//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 over `v0:<X-Slack-Request-Timestamp>:<body>`;
//! Slack asks receivers to refuse requests more than five minutes old.
//! <https://api.slack.com/authentication/verifying-requests-from-slack>

use super::{Failure, Key, Message, Parsed, ProviderInfo, Scheme, Stamp};
use crate::util::{any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Slack;

static INFO: ProviderInfo = ProviderInfo {
    id: "slack",
    name: "Slack",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["X-Slack-Signature", "X-Slack-Request-Timestamp"],
};

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

impl Scheme for Slack {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let ts = required(req.headers, TIMESTAMP)?;
        let hex = sig.strip_prefix("v0=").ok_or_else(|| {
            Failure::malformed(format!("`{SIGNATURE}` should start with `v0=`: `{}`", crate::util::abbreviate(sig)))
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
        let expected = hmac_sha256(key.bytes(), &[b"v0:", ts.raw.as_bytes(), b":", &msg.body]);
        any_eq(&expected, &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[b"v0:", t.as_bytes(), b":", input.body]);
        Ok(Signed {
            headers: vec![(TIMESTAMP.into(), t), (SIGNATURE.into(), format!("v0={}", hex::encode(mac)))],
            body: None,
        })
    }
}
