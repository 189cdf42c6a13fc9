//! Intercom: `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the body keyed with the app's client
//! secret (Developer Hub → Basic information).
//! <https://developers.intercom.com/docs/webhooks> ("Signed notifications"; older reference:
//! <https://developers.intercom.com/intercom-api-reference/v1.0/reference/signed-notifications>)

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::{abbreviate, any_eq, hmac_sha1, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Intercom;

static INFO: ProviderInfo = ProviderInfo {
    id: "intercom",
    name: "Intercom",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    // Intercom sends no header of its own: `X-Hub-Signature` is GitHub's legacy header too, and
    // only the `User-Agent` value (`intercom-parrot-service-client/…`) tells them apart.
    detect: &[],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/topic")],
        created_at: &[Source::Json("/created_at")],
        attempt: &[Source::Json("/delivery_attempts")],
        resource: &[Source::Json("/data/item/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "X-Hub-Signature";

impl Scheme for Intercom {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, SIGNATURE)?;
        let hex = value.trim().strip_prefix("sha1=").ok_or_else(|| {
            Failure::malformed(format!("`{SIGNATURE}` should start with `sha1=`: `{}`", abbreviate(value)))
        })?;
        let sig = unhex(hex, 20, &format!("the signature in `{SIGNATURE}`"))?;
        Ok(Parsed { source: format!("`{SIGNATURE}`"), signatures: vec![sig], ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha1(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha1(secret.as_bytes(), &[input.body]);
        Ok(Signed { headers: vec![(SIGNATURE.into(), format!("sha1={}", hex::encode(mac)))], body: None })
    }
}
