//! GitHub: `X-Hub-Signature-256: sha256=<hex>` (HMAC-SHA256 of the body), and the legacy
//! `X-Hub-Signature: sha1=<hex>` when only that is present.
//! <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::{any_eq, header, hmac_sha1, hmac_sha256, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct GitHub;

static INFO: ProviderInfo = ProviderInfo {
    id: "github",
    name: "GitHub",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-GitHub-Event", "X-Hub-Signature-256"],
    event: EventSpec {
        id: &[Source::Header("X-GitHub-Delivery")],
        kind: &[Source::Joined(&[Source::Header("X-GitHub-Event"), Source::Json("/action")], ".")],
        ..EventSpec::NONE
    },
};

const SHA256: &str = "X-Hub-Signature-256";
const SHA1: &str = "X-Hub-Signature";

impl Scheme for GitHub {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        if let Some(v) = header(req.headers, SHA256) {
            let v = v?;
            let hex = v.strip_prefix("sha256=").ok_or_else(|| {
                Failure::malformed(format!("`{SHA256}` should start with `sha256=`: `{}`", crate::util::abbreviate(v)))
            })?;
            let sig = unhex(hex, 32, &format!("the signature in `{SHA256}`"))?;
            return Ok(Parsed { source: format!("`{SHA256}`"), signatures: vec![sig], ..Default::default() });
        }
        if let Some(v) = header(req.headers, SHA1) {
            let v = v?;
            let hex = v.strip_prefix("sha1=").ok_or_else(|| {
                Failure::malformed(format!("`{SHA1}` should start with `sha1=`: `{}`", crate::util::abbreviate(v)))
            })?;
            let sig = unhex(hex, 20, &format!("the signature in `{SHA1}`"))?;
            return Ok(Parsed {
                source: format!("`{SHA1}` (legacy SHA-1)"),
                signatures: vec![sig],
                extra: vec!["sha1".into()],
                ..Default::default()
            });
        }
        Err(Failure::missing(format!("header `{SHA256}` is missing (and so is the legacy `{SHA1}`)")))
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let expected = if parsed.extra.first().is_some_and(|e| e == "sha1") {
            hmac_sha1(key.bytes(), &[&msg.body])
        } else {
            hmac_sha256(key.bytes(), &[&msg.body])
        };
        any_eq(&expected, &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let s256 = hmac_sha256(secret.as_bytes(), &[input.body]);
        let s1 = hmac_sha1(secret.as_bytes(), &[input.body]);
        Ok(Signed {
            headers: vec![
                (SHA256.into(), format!("sha256={}", hex::encode(s256))),
                (SHA1.into(), format!("sha1={}", hex::encode(s1))),
            ],
            body: None,
        })
    }
}
