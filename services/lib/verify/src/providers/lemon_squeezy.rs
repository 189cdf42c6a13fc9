//! Lemon Squeezy: `X-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the webhook's
//! signing secret; `X-Event-Name` names the event. No timestamp is signed.
//! <https://docs.lemonsqueezy.com/help/webhooks/signing-requests>
//!
//! Neither header names Lemon Squeezy (`X-Signature` is what many senders use, Mercado Pago
//! among them), so an unconfigured endpoint is not guessed to be Lemon Squeezy from them.

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "lemon-squeezy",
    name: "Lemon Squeezy",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &[],
    event: EventSpec {
        kind: &[Source::Header("X-Event-Name"), Source::Json("/meta/event_name")],
        created_at: &[Source::Json("/data/attributes/updated_at"), Source::Json("/data/attributes/created_at")],
        resource: &[Source::Joined(&[Source::Json("/data/type"), Source::Json("/data/id")], ":")],
        ..EventSpec::NONE
    },
};

pub(crate) static LEMON_SQUEEZY: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
