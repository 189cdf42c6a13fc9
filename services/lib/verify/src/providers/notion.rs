//! Notion: `X-Notion-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed with the
//! subscription's `verification_token` (the one Notion posts, unsigned, when the subscription is
//! created). No timestamp is signed; the event carries its own `timestamp` and `attempt_number`.
//! <https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "notion",
    name: "Notion",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Notion-Signature"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/timestamp")],
        attempt: &[Source::Json("/attempt_number")],
        resource: &[Source::Json("/entity/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static NOTION: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Notion-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single("sha256="),
    missing_hint: "",
    unsigned: None,
};
