//! Grafana Alerting (webhook contact points with an HMAC secret): `X-Grafana-Alerting-Signature:
//! <hex>`, HMAC-SHA256 of the raw body keyed with the contact point's HMAC secret
//! (grafana/alerting `http/hmac.go`). That is Grafana's default; a contact point may name
//! another signature header, or a timestamp header, in which case Grafana signs
//! `<unix seconds>:<body>` and the timestamp header's name is the operator's choice. Such a
//! contact point is checked with `generic-hmac` (template `{timestamp}:{body}`, its two header
//! names), since the names cannot be known here. With the defaults nothing time-bound is signed,
//! so there is no tolerance.
//! <https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "grafana",
    name: "Grafana Alerting",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Grafana-Alerting-Signature"],
    event: EventSpec {
        // `firing` or `resolved`; Grafana sends no event id.
        kind: &[Source::Json("/status")],
        created_at: &[Source::Json("/alerts/0/startsAt")],
        // The first alert's fingerprint identifies the alert (its label set) across notifications.
        resource: &[Source::Json("/alerts/0/fingerprint")],
        ..EventSpec::NONE
    },
};

pub(crate) static GRAFANA: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Grafana-Alerting-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: " (Grafana signs only contact points with an HMAC secret; one that names another signature \
                   header is checked with `generic-hmac`)",
    unsigned: None,
};
