//! HCP Terraform / Terraform Enterprise (notification configurations of the generic webhook
//! type): `X-TFE-Notification-Signature: <hex>`, HMAC-SHA512 of the raw body keyed with the
//! notification's token. Nothing time-bound is signed, so there is no tolerance.
//! <https://developer.hashicorp.com/terraform/cloud-docs/api-docs/notification-configurations#notification-authenticity>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "terraform-cloud",
    name: "HCP Terraform",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-TFE-Notification-Signature"],
    event: EventSpec {
        // No event id is sent: a run reaches each trigger (`run:planning`, `run:completed`) once,
        // so the run and the trigger together name the event across retries.
        id: &[Source::Joined(&[Source::Json("/run_id"), Source::Json("/notifications/0/trigger")], ":")],
        kind: &[Source::Json("/notifications/0/trigger")],
        created_at: &[Source::Json("/notifications/0/run_updated_at")],
        resource: &[Source::Json("/run_id"), Source::Json("/workspace_id")],
        ..EventSpec::NONE
    },
};

pub(crate) static TERRAFORM_CLOUD: BodyMac = BodyMac {
    info: &INFO,
    header: "X-TFE-Notification-Signature",
    mac: Mac::Sha512,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: " (HCP Terraform signs only notifications configured with a token)",
    unsigned: None,
};
