//! Typeform: `Typeform-Signature: sha256=<base64>`, HMAC-SHA256 of the body keyed with the
//! webhook's `secret`. <https://www.typeform.com/developers/webhooks/secure-your-webhooks/>

use crate::providers::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::b64_digest;
use crate::util::{abbreviate, any_eq, b64, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Typeform;

static INFO: ProviderInfo = ProviderInfo {
    id: "typeform",
    name: "Typeform",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["Typeform-Signature"],
    event: EventSpec {
        id: &[Source::Json("/event_id")],
        kind: &[Source::Json("/event_type")],
        created_at: &[Source::Json("/form_response/submitted_at")],
        resource: &[Source::Json("/form_response/token")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "Typeform-Signature";

impl Scheme for Typeform {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let sig = value.trim().strip_prefix("sha256=").ok_or_else(|| {
            Failure::malformed(format!("`{HEADER}` should start with `sha256=`: `{}`", abbreviate(value)))
        })?;
        let sig = b64_digest(sig, 32, &format!("the signature in `{HEADER}`"))?;
        Ok(Parsed { source: format!("`{HEADER}`"), signatures: vec![sig], ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha256(secret.as_bytes(), &[input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), format!("sha256={}", b64(&mac)))], body: None })
    }
}
