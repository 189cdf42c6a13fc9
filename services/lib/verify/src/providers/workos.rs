//! WorkOS: `WorkOS-Signature: t=<unix milliseconds>, v1=<hex>`, HMAC-SHA256 over `<t>.<body>`
//! keyed with the endpoint's webhook secret; the SDKs refuse timestamps more than 180 seconds
//! old (workos-node `tolerance = 180000` ms, workos-ruby `DEFAULT_TOLERANCE = 180`).
//! <https://workos.com/docs/events/data-syncing/webhooks>

use crate::providers::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::t_and_v1;
use crate::util::{any_eq, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct WorkOs;

static INFO: ProviderInfo = ProviderInfo {
    id: "workos",
    name: "WorkOS",
    default_tolerance: Some(180),
    url_bound: false,
    asymmetric: false,
    detect: &["WorkOS-Signature"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/event")],
        created_at: &[Source::Json("/created_at")],
        resource: &[Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "WorkOS-Signature";

impl Scheme for WorkOs {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let (t, signatures) = t_and_v1(value, HEADER)?;
        let millis: i64 = t
            .parse()
            .map_err(|_| Failure::malformed(format!("timestamp `{t}` in `{HEADER}` is not Unix milliseconds")))?;
        Ok(Parsed {
            source: format!("`{HEADER}`"),
            signatures,
            timestamp: Some(Stamp::exact(t, millis.div_euclid(1000))),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        let expected = hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), b".", &msg.body]);
        any_eq(&expected, &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.saturating_mul(1000).to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", input.body]);
        Ok(Signed { headers: vec![(HEADER.into(), format!("t={t}, v1={}", hex::encode(mac)))], body: None })
    }
}
