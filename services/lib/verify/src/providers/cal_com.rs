//! Cal.com: `X-Cal-Signature-256` is the hex HMAC-SHA256 of the raw body keyed with the
//! webhook's secret. No timestamp is signed; the body says when in `createdAt`. A webhook saved
//! without a secret sends `X-Cal-Signature-256: no-secret-provided` (Cal.com's `sendPayload`).
//! <https://cal.com/docs/developing/guides/automation/webhooks#verifying-the-authenticity-of-the-received-payload>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "cal-com",
    name: "Cal.com",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Cal-Signature-256"],
    event: EventSpec {
        kind: &[Source::Json("/triggerEvent")],
        created_at: &[Source::Json("/createdAt")],
        resource: &[Source::Json("/payload/uid")],
        ..EventSpec::NONE
    },
};

pub(crate) static CAL_COM: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Cal-Signature-256",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: Some("no-secret-provided"),
};
