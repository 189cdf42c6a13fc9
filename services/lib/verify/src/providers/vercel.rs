//! Vercel: `x-vercel-signature: <hex>`, HMAC-SHA1 of the raw body, keyed with the webhook's
//! secret (account webhooks) or the integration's Client Secret (integration webhooks). Nothing
//! time-bound is signed, so there is no tolerance.
//! <https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "vercel",
    name: "Vercel",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["x-vercel-signature"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        // Unix milliseconds.
        created_at: &[Source::Json("/createdAt")],
        resource: &[Source::Json("/payload/deployment/id"), Source::Json("/payload/project/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static VERCEL: BodyMac = BodyMac {
    info: &INFO,
    header: "x-vercel-signature",
    mac: Mac::Sha1,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
