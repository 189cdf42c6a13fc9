//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 over `v0:<X-Slack-Request-Timestamp>:<body>`;
//! Slack asks receivers to refuse requests more than five minutes old.
//! <https://api.slack.com/authentication/verifying-requests-from-slack>
//!
//! Zoom copied the scheme under other header names, so both are [`V0`] with their own names.

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

/// `v0=<hex>` over `v0:<timestamp>:<body>`, with the header names of one provider.
pub(crate) struct V0 {
    pub info: &'static ProviderInfo,
    pub signature: &'static str,
    pub timestamp: &'static str,
}

static INFO: ProviderInfo = ProviderInfo {
    id: "slack",
    name: "Slack",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["X-Slack-Signature", "X-Slack-Request-Timestamp"],
    event: EventSpec {
        id: &[Source::Json("/event_id")],
        kind: &[Source::Json("/event/type"), Source::Json("/type")],
        created_at: &[Source::Json("/event_time")],
        retries: &[Source::Header("X-Slack-Retry-Num")],
        retry_reason: &[Source::Header("X-Slack-Retry-Reason")],
        ..EventSpec::NONE
    },
};

pub(crate) static SLACK: V0 =
    V0 { info: &INFO, signature: "X-Slack-Signature", timestamp: "X-Slack-Request-Timestamp" };

impl Scheme for V0 {
    fn info(&self) -> &'static ProviderInfo {
        self.info
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, self.signature)?.trim();
        let ts = required(req.headers, self.timestamp)?;
        let hex = sig.strip_prefix("v0=").ok_or_else(|| {
            Failure::malformed(format!("`{}` should start with `v0=`: `{}`", self.signature, abbreviate(sig)))
        })?;
        Ok(Parsed {
            source: format!("`{}`", self.signature),
            signatures: vec![unhex(hex, 32, &format!("the signature in `{}`", self.signature))?],
            timestamp: Some(Stamp::secs(ts, self.timestamp)?),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[b"v0:", ts.raw.as_bytes(), b":", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[b"v0:", t.as_bytes(), b":", input.body]);
        Ok(Signed {
            headers: vec![(self.timestamp.into(), t), (self.signature.into(), format!("v0={}", hex::encode(mac)))],
            body: None,
        })
    }
}
