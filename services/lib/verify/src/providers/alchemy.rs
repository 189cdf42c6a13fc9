//! Alchemy Notify: `X-Alchemy-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the
//! webhook's signing key (`whsec_…`, used as text), no prefix and no timestamp.
//! <https://www.alchemy.com/docs/reference/notify-api-quickstart#validate-the-signature-received>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "alchemy",
    name: "Alchemy",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Alchemy-Signature"],
    // `webhookId` names the subscription, not the event; the activity lists transfers, none of
    // which is the one object the event is about, so no resource is named.
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/createdAt")],
        ..EventSpec::NONE
    },
};

pub(crate) static ALCHEMY: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Alchemy-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
