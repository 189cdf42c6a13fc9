//! Persona: `Persona-Signature: t=<unix seconds>,v1=<hex>`, HMAC-SHA256 over `<t>.<body>` keyed
//! with the webhook secret (`wbhsec_…`, used as text). While a secret rotates the header holds two
//! space-separated `t=…,v1=…` sets, one per secret. Persona publishes no SDK and its sample code
//! checks no age, so no tolerance applies unless one is configured.
//! <https://docs.withpersona.com/docs/webhooks-best-practices#checking-signatures>

use super::mux::TimedV1;
use super::{EventSpec, ProviderInfo, Source};

static INFO: ProviderInfo = ProviderInfo {
    id: "persona",
    name: "Persona",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["Persona-Signature"],
    event: EventSpec {
        id: &[Source::Json("/data/id")],
        kind: &[Source::Json("/data/attributes/name")],
        created_at: &[Source::Json("/data/attributes/created-at")],
        // Incremented on every delivery, the first included.
        attempt: &[Source::Header("Persona-Webhook-Attempts-Made")],
        resource: &[Source::Json("/data/attributes/payload/data/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static PERSONA: TimedV1 = TimedV1 { info: &INFO, header: "Persona-Signature" };
