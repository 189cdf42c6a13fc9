//! Sentry (integration platform webhooks): `Sentry-Hook-Signature: <hex>`, HMAC-SHA256 of the raw
//! body keyed with the integration's Client Secret. `Sentry-Hook-Timestamp` is sent but not
//! signed, so there is no tolerance: a replayed request still verifies.
//! <https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#sentry-hook-signature>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "sentry",
    name: "Sentry",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["Sentry-Hook-Signature", "Sentry-Hook-Resource"],
    event: EventSpec {
        // Sentry's "unique identifier for this request"; it documents no event id in the body.
        id: &[Source::Header("Request-ID")],
        // `issue.created`, `event_alert.triggered`, `installation.deleted`.
        kind: &[Source::Joined(&[Source::Header("Sentry-Hook-Resource"), Source::Json("/action")], ".")],
        // Unix seconds.
        created_at: &[Source::Header("Sentry-Hook-Timestamp")],
        resource: &[
            Source::Json("/data/issue/id"),
            Source::Json("/data/event/issue_id"),
            Source::Json("/data/metric_alert/id"),
        ],
        ..EventSpec::NONE
    },
};

pub(crate) static SENTRY: BodyMac = BodyMac {
    info: &INFO,
    header: "Sentry-Hook-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
