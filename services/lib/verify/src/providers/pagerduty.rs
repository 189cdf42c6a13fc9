//! PagerDuty (v3 webhook subscriptions): `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]`,
//! HMAC-SHA256 of the raw body keyed with the subscription's secret; during a secret rotation
//! there is one `v1=` entry per secret and any one matching is enough. Nothing time-bound is
//! signed, so there is no tolerance.
//! <https://developer.pagerduty.com/docs/webhooks/webhook-signatures/>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "pagerduty",
    name: "PagerDuty",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-PagerDuty-Signature"],
    event: EventSpec {
        // `X-Webhook-Id` is repeated on every delivery attempt of one webhook (PagerDuty's
        // de-duplication advice); the body's event id is the same event's id.
        id: &[Source::Header("X-Webhook-Id"), Source::Json("/event/id")],
        kind: &[Source::Json("/event/event_type")],
        created_at: &[Source::Json("/event/occurred_at")],
        resource: &[Source::Json("/event/data/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static PAGERDUTY: BodyMac = BodyMac {
    info: &INFO,
    header: "X-PagerDuty-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Versioned("v1"),
    missing_hint: "",
    unsigned: None,
};
