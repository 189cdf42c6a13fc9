//! Meta (Graph API webhooks: WhatsApp Cloud API, Messenger, Instagram, Pages):
//! `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the app secret
//! (App Dashboard → Settings → Basic). Nothing time-bound is signed, so there is no tolerance.
//! Meta also sends the legacy `X-Hub-Signature: sha1=<hex>`; only the SHA-256 one is checked.
//! <https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads>
//!
//! GitHub signs under the same header with the same scheme, and its requests also carry
//! `X-GitHub-Event`; Meta's carry no header of their own, so an unconfigured endpoint cannot tell
//! a Meta request from a GitHub one by its headers and `detect` is left empty (GitHub, which
//! is matched first, keeps its requests).

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "meta",
    name: "Meta",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &[],
    event: EventSpec {
        // Meta names no event id; the message id (`wamid.…` for WhatsApp, `mid` for Messenger and
        // Instagram) or the status's message id is what stays the same when Meta retries.
        id: &[
            Source::Json("/entry/0/changes/0/value/messages/0/id"),
            Source::Json("/entry/0/changes/0/value/statuses/0/id"),
            Source::Json("/entry/0/messaging/0/message/mid"),
        ],
        // `whatsapp_business_account.messages`, `instagram.comments`; Messenger's `page` has
        // `messaging` entries instead of `changes`, so it is the object alone.
        kind: &[Source::Joined(&[Source::Json("/object"), Source::Json("/entry/0/changes/0/field")], ".")],
        // WhatsApp's message and status times are Unix seconds; Messenger's `time` milliseconds.
        created_at: &[
            Source::Json("/entry/0/changes/0/value/messages/0/timestamp"),
            Source::Json("/entry/0/changes/0/value/statuses/0/timestamp"),
            Source::Json("/entry/0/messaging/0/timestamp"),
            Source::Json("/entry/0/time"),
        ],
        // The WhatsApp Business Account, Page or Instagram account the change is about.
        resource: &[Source::Json("/entry/0/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static META: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Hub-Signature-256",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single("sha256="),
    missing_hint: "",
    unsigned: None,
};
