//! GoCardless: `Webhook-Signature: <hex>`, HMAC-SHA256 of the raw body keyed with the webhook
//! endpoint's secret. No timestamp is signed. One request carries a batch of events.
//! <https://developer.gocardless.com/getting-started/staying-up-to-date-with-webhooks>
//!
//! Standard Webhooks sends a header of the same name, so an unconfigured endpoint is not guessed
//! to be GoCardless from it.

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "gocardless",
    name: "GoCardless",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &[],
    // A batch is named by its webhook id when present (the same across redeliveries of it), and
    // otherwise by its first event.
    event: EventSpec {
        id: &[Source::Json("/meta/webhook_id"), Source::Json("/events/0/id")],
        kind: &[Source::Joined(&[Source::Json("/events/0/resource_type"), Source::Json("/events/0/action")], ".")],
        created_at: &[Source::Json("/events/0/created_at")],
        resource: &[
            Source::Json("/events/0/links/payment"),
            Source::Json("/events/0/links/mandate"),
            Source::Json("/events/0/links/subscription"),
            Source::Json("/events/0/links/refund"),
            Source::Json("/events/0/links/payout"),
        ],
        ..EventSpec::NONE
    },
};

pub(crate) static GOCARDLESS: BodyMac = BodyMac {
    info: &INFO,
    header: "Webhook-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
