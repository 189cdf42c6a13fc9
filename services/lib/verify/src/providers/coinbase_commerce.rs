//! Coinbase Commerce: `X-CC-Webhook-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the
//! shared secret from Settings > Notifications. No timestamp is signed.
//! <https://docs.cdp.coinbase.com/commerce/api-arcitecture/webhooks-security>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "coinbase-commerce",
    name: "Coinbase Commerce",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-CC-Webhook-Signature"],
    event: EventSpec {
        id: &[Source::Json("/event/id")],
        kind: &[Source::Json("/event/type")],
        created_at: &[Source::Json("/event/created_at")],
        attempt: &[Source::Json("/attempt_number")],
        resource: &[Source::Json("/event/data/id"), Source::Json("/event/data/code")],
        ..EventSpec::NONE
    },
};

pub(crate) static COINBASE_COMMERCE: BodyMac = BodyMac {
    info: &INFO,
    header: "X-CC-Webhook-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
