//! Help Scout: `X-HelpScout-Signature: <base64>`, HMAC-SHA1 of the raw body keyed with the
//! webhook's secret key, no timestamp (helpscout-api-php `IncomingWebhook`).
//! <https://developer.helpscout.com/webhooks/>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "help-scout",
    name: "Help Scout",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-HelpScout-Signature", "X-HelpScout-Event"],
    // The body is the conversation or customer as it now stands, not an envelope: it carries no
    // event id, and its `createdAt` is the resource's, not the event's.
    event: EventSpec {
        kind: &[Source::Header("X-HelpScout-Event")],
        resource: &[Source::Json("/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static HELP_SCOUT: BodyMac = BodyMac {
    info: &INFO,
    header: "X-HelpScout-Signature",
    mac: Mac::Sha1,
    encoding: Encoding::Base64,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
