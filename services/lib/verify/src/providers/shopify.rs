//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the raw body keyed with the app's
//! client secret. <https://shopify.dev/docs/apps/build/webhooks/subscribe/https>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::b64_digest;
use crate::util::{any_eq, b64, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Shopify;

static INFO: ProviderInfo = ProviderInfo {
    id: "shopify",
    name: "Shopify",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Shopify-Hmac-Sha256", "X-Shopify-Topic"],
    event: EventSpec {
        id: &[Source::Header("X-Shopify-Webhook-Id")],
        kind: &[Source::Header("X-Shopify-Topic")],
        created_at: &[Source::Header("X-Shopify-Triggered-At")],
        resource: &[Source::Json("/admin_graphql_api_id")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "X-Shopify-Hmac-Sha256";

impl Scheme for Shopify {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        Ok(Parsed {
            source: format!("`{HEADER}`"),
            signatures: vec![b64_digest(value, 32, &format!("the signature in `{HEADER}`"))?],
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha256(secret.as_bytes(), &[input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), b64(&mac))], body: None })
    }
}
