//! Xero: `x-xero-signature: <base64>`, HMAC-SHA256 of the raw body keyed with the app's webhook
//! key. No timestamp is signed. Xero's "intent to receive" check sends correctly and incorrectly
//! signed requests and expects `200` and `401` respectively.
//! <https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "xero",
    name: "Xero",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["x-xero-signature"],
    // Xero names no event id, and writes `eventDateUtc` without a zone (`2017-06-21T01:15:39.902`),
    // which is not read as a time.
    event: EventSpec {
        kind: &[Source::Joined(&[Source::Json("/events/0/eventCategory"), Source::Json("/events/0/eventType")], ".")],
        resource: &[Source::Json("/events/0/resourceId")],
        ..EventSpec::NONE
    },
};

pub(crate) static XERO: BodyMac = BodyMac {
    info: &INFO,
    header: "x-xero-signature",
    mac: Mac::Sha256,
    encoding: Encoding::Base64,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
