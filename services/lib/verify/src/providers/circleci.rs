//! CircleCI (outbound webhooks): `circleci-signature: v1=<hex>`, HMAC-SHA256 of the raw body
//! keyed with the webhook's secret token. The header is a comma-separated list of versioned
//! signatures; only `v1` exists today. Nothing time-bound is signed, so there is no tolerance.
//! <https://circleci.com/docs/webhooks/#validate-webhooks>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "circleci",
    name: "CircleCI",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["circleci-signature", "circleci-event-type"],
    event: EventSpec {
        // CircleCI's advice for de-duplicating: the payload's `id` is the same on a redelivery.
        id: &[Source::Json("/id")],
        kind: &[Source::Header("circleci-event-type"), Source::Json("/type")],
        created_at: &[Source::Json("/happened_at")],
        // A job-completed event names its job and its workflow; the job is the narrower one.
        resource: &[Source::Json("/job/id"), Source::Json("/workflow/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static CIRCLECI: BodyMac = BodyMac {
    info: &INFO,
    header: "circleci-signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Versioned("v1"),
    missing_hint: " (CircleCI signs only webhooks created with a secret token)",
    unsigned: None,
};
