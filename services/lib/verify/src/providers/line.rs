//! LINE Messaging API: `x-line-signature` is the base64 HMAC-SHA256 of the raw body keyed with
//! the channel secret. No timestamp is signed. One request can carry several events; the first
//! names the event (`webhookEventId`, `type`, `timestamp` in Unix milliseconds).
//! <https://developers.line.biz/en/reference/messaging-api/#signature-validation>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "line",
    name: "LINE",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Line-Signature"],
    event: EventSpec {
        id: &[Source::Json("/events/0/webhookEventId")],
        kind: &[Source::Json("/events/0/type")],
        created_at: &[Source::Json("/events/0/timestamp")],
        resource: &[Source::Json("/events/0/source/userId")],
        ..EventSpec::NONE
    },
};

pub(crate) static LINE: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Line-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Base64,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
