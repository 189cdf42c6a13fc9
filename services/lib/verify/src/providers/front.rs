//! Front application webhooks: `X-Front-Signature` is the base64 HMAC-SHA256 of
//! `<X-Front-Request-Timestamp>:<body>` keyed with the app's signing key; the timestamp is Unix
//! milliseconds. Front recommends refusing requests more than five minutes old.
//! <https://dev.frontapp.com/docs/application-webhooks#verifying-integrity>,
//! <https://dev.frontapp.com/docs/security-1>
//!
//! Rule webhooks (configured in Front's rules, not in an app) are signed differently and are not
//! this scheme.

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{any_eq, b64, b64_digest, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Front;

static INFO: ProviderInfo = ProviderInfo {
    id: "front",
    name: "Front",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["X-Front-Request-Timestamp", "X-Front-Signature"],
    event: EventSpec {
        id: &[Source::Json("/payload/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/payload/emitted_at")],
        resource: &[Source::Json("/payload/conversation/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "X-Front-Signature";
const TIMESTAMP: &str = "X-Front-Request-Timestamp";

impl Scheme for Front {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let ts = match required(req.headers, TIMESTAMP) {
            Ok(ts) => ts.trim(),
            Err(f) => {
                return Err(Failure::missing(format!(
                    "{}: application webhooks always send it; a rule webhook signs another way, which this scheme does not check",
                    f.reason
                )));
            }
        };
        let millis: i64 = ts
            .parse()
            .map_err(|_| Failure::malformed(format!("timestamp `{ts}` in `{TIMESTAMP}` is not Unix milliseconds")))?;
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![b64_digest(sig, 32, &format!("the signature in `{SIGNATURE}`"))?],
            timestamp: Some(Stamp::exact(ts, millis.div_euclid(1000))),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b":", &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let ts = input.timestamp.saturating_mul(1000).to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b":", input.body]);
        Ok(Signed { headers: vec![(SIGNATURE.into(), b64(&mac)), (TIMESTAMP.into(), ts)], body: None })
    }
}
