//! Segment's Webhooks destinations (Classic and Actions): `X-Signature: <hex>`, HMAC-SHA1 of the
//! raw body keyed with the destination's shared secret, no timestamp.
//! <https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "segment",
    name: "Segment",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    // `X-Signature` is sent by many senders (ClickUp, Customer.io, …) and Segment sends no header
    // of its own, so its presence says nothing about who sent the request.
    detect: &[],
    // A track call names its event in `event`; other calls (identify, page, …) only in `type`.
    event: EventSpec {
        id: &[Source::Json("/messageId")],
        kind: &[Source::Json("/event"), Source::Json("/type")],
        created_at: &[Source::Json("/timestamp")],
        resource: &[Source::Json("/userId"), Source::Json("/anonymousId")],
        ..EventSpec::NONE
    },
};

pub(crate) static SEGMENT: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Signature",
    mac: Mac::Sha1,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
