//! Paystack: `x-paystack-signature: <hex>`, HMAC-SHA512 of the raw body keyed with the account's
//! secret key (`sk_live_…` / `sk_test_…`). No timestamp is signed.
//! <https://paystack.com/docs/payments/webhooks/#verify-event-origin>

use super::body_mac::{BodyMac, Encoding, Layout, Mac};
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "paystack",
    name: "Paystack",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["x-paystack-signature"],
    event: EventSpec {
        kind: &[Source::Json("/event")],
        // A charge says when it was paid; other objects only when they were created.
        created_at: &[Source::Json("/data/paid_at"), Source::Json("/data/created_at")],
        resource: &[Source::Json("/data/reference"), Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static PAYSTACK: BodyMac = BodyMac {
    info: &INFO,
    header: "x-paystack-signature",
    mac: Mac::Sha512,
    encoding: Encoding::Hex,
    layout: Layout::Single(""),
    missing_hint: "",
    unsigned: None,
};
