//! Nylas (API v3): `X-Nylas-Signature` is the hex HMAC-SHA256 of the raw body keyed with the
//! webhook's `webhook_secret`. No timestamp is signed. The body is a CloudEvents envelope whose
//! `id` is the notification's, `time` its Unix seconds.
//! <https://developer.nylas.com/docs/v3/notifications/webhooks/#verify-nylas-webhooks>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "nylas",
    name: "Nylas",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Nylas-Signature"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/time")],
        attempt: &[Source::Json("/webhook_delivery_attempt")],
        resource: &[Source::Json("/data/object/id"), Source::Json("/data/object/grant_id")],
        ..EventSpec::NONE
    },
};

pub(crate) static NYLAS: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Nylas-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
