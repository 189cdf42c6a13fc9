//! Bitbucket Cloud: `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the
//! webhook's secret. <https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::{abbreviate, any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Bitbucket;

static INFO: ProviderInfo = ProviderInfo {
    id: "bitbucket",
    name: "Bitbucket Cloud",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    // `X-Hub-Signature` itself is shared with GitHub's legacy header and others; the hook UUID is
    // Bitbucket's own.
    detect: &["X-Hook-UUID"],
    event: EventSpec {
        id: &[Source::Header("X-Request-UUID")],
        kind: &[Source::Header("X-Event-Key")],
        attempt: &[Source::Header("X-Attempt-Number")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "X-Hub-Signature";

impl Scheme for Bitbucket {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?.trim();
        let Some(hex) = value.strip_prefix("sha256=") else {
            let hint = if value.starts_with("sha1=") {
                " (a `sha1=` signature is GitHub's legacy format, not Bitbucket's)"
            } else {
                ""
            };
            return Err(Failure::malformed(format!(
                "`{HEADER}` should start with `sha256=`{hint}: `{}`",
                abbreviate(value)
            )));
        };
        Ok(Parsed {
            source: format!("`{HEADER}`"),
            signatures: vec![unhex(hex, 32, &format!("the signature in `{HEADER}`"))?],
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha256(secret.as_bytes(), &[input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), format!("sha256={}", hex::encode(mac)))], body: None })
    }
}
