//! Dropbox: `X-Dropbox-Signature` is the hex HMAC-SHA256 of the raw body keyed with the app
//! secret. No timestamp is signed. The notification only names the accounts that changed (no
//! event id or type): the receiver is expected to call `list_folder/continue` for each.
//! <https://www.dropbox.com/developers/reference/webhooks#notifications>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo};

static INFO: ProviderInfo = ProviderInfo {
    id: "dropbox",
    name: "Dropbox",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["X-Dropbox-Signature"],
    event: EventSpec::NONE,
};

pub(crate) static DROPBOX: BodyMac = BodyMac {
    info: &INFO,
    header: "X-Dropbox-Signature",
    mac: Mac::Sha256,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
