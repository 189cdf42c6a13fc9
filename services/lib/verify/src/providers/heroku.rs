//! Heroku (app webhooks): `Heroku-Webhook-Hmac-SHA256: <base64>`, HMAC-SHA256 of the raw body
//! keyed with the secret given when the webhook was created. Nothing time-bound is signed, so
//! there is no tolerance.
//! <https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "heroku",
    name: "Heroku",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["Heroku-Webhook-Hmac-SHA256"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        // `release.update`, `dyno.create`: the entity and what happened to it.
        kind: &[Source::Joined(&[Source::Json("/resource"), Source::Json("/action")], ".")],
        created_at: &[Source::Json("/created_at")],
        resource: &[Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static HEROKU: BodyMac = BodyMac {
    info: &INFO,
    header: "Heroku-Webhook-Hmac-SHA256",
    mac: Mac::Sha256,
    encoding: Encoding::Base64,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
