//! Tally: `Tally-Signature: <base64>`, HMAC-SHA256 of the raw body keyed with the webhook's
//! signing secret, no timestamp. <https://tally.so/help/webhooks>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "tally",
    name: "Tally",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["Tally-Signature"],
    event: EventSpec {
        id: &[Source::Json("/eventId")],
        kind: &[Source::Json("/eventType")],
        created_at: &[Source::Json("/createdAt")],
        resource: &[Source::Json("/data/responseId")],
        ..EventSpec::NONE
    },
};

pub(crate) static TALLY: BodyMac = BodyMac {
    info: &INFO,
    header: "Tally-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Base64,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
