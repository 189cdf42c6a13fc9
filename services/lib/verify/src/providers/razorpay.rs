//! Razorpay: `X-Razorpay-Signature: <hex>`, HMAC-SHA256 of the body keyed with the webhook
//! secret set in the Dashboard. <https://razorpay.com/docs/webhooks/validate-test/>

use crate::providers::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::{any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Razorpay;

static INFO: ProviderInfo = ProviderInfo {
    id: "razorpay",
    name: "Razorpay",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Razorpay-Signature", "X-Razorpay-Event-Id"],
    event: EventSpec {
        id: &[Source::Header("X-Razorpay-Event-Id")],
        kind: &[Source::Json("/event")],
        created_at: &[Source::Json("/created_at")],
        resource: &[Source::Json("/payload/payment/entity/id")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "X-Razorpay-Signature";

impl Scheme for Razorpay {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let sig = unhex(value, 32, &format!("the signature in `{HEADER}`"))?;
        Ok(Parsed { source: format!("`{HEADER}`"), signatures: vec![sig], ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha256(secret.as_bytes(), &[input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), hex::encode(mac))], body: None })
    }
}
