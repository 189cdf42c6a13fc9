//! Checkout.com: `Cko-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the signature key
//! set on the workflow's webhook action. Nothing else is signed: no timestamp, no URL. Checkout.com
//! may also send a configured `Authorization` header, which is not a signature.
//! <https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks/set-up-your-webhook-receiver>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "checkout-com",
    name: "Checkout.com",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["Cko-Signature"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/created_on")],
        resource: &[Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static CHECKOUT_COM: BodyMac = BodyMac {
    info: &INFO,
    header: "Cko-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
