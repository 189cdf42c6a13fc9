//! Zoom: `x-zm-signature: v0=<hex>`, HMAC-SHA256 over `v0:<x-zm-request-timestamp>:<body>` keyed
//! with the app's webhook secret token: Slack's scheme under Zoom's header names. Zoom names no
//! replay window; five minutes is used.
//! <https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events>

use super::slack::V0;
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "zoom",
    name: "Zoom",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["x-zm-signature", "x-zm-request-timestamp"],
    event: EventSpec {
        kind: &[Source::Json("/event")],
        created_at: &[Source::Json("/event_ts")],
        resource: &[Source::Json("/payload/object/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static ZOOM: V0 = V0 { info: &INFO, signature: "x-zm-signature", timestamp: "x-zm-request-timestamp" };
