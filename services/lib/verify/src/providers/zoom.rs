//! Zoom: `x-zm-signature: v0=<hex>`, HMAC-SHA256 over `v0:<x-zm-request-timestamp>:<body>` keyed
//! with the app's webhook secret token: Slack's scheme under Zoom's header names. Zoom names no
//! replay window; five minutes is used.
//! <https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events>

use super::ProviderInfo;
use super::slack::V0;

static INFO: ProviderInfo = ProviderInfo {
    id: "zoom",
    name: "Zoom",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["x-zm-signature", "x-zm-request-timestamp"],
};

pub(crate) static ZOOM: V0 = V0 { info: &INFO, signature: "x-zm-signature", timestamp: "x-zm-request-timestamp" };
