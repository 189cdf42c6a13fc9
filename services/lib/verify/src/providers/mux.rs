//! Mux: `Mux-Signature: t=<unix seconds>,v1=<hex>[,v1=…]`, HMAC-SHA256 over `<t>.<body>` keyed
//! with the webhook's signing secret; the SDK (mux-node `webhooks.verifySignature`) refuses
//! timestamps more than 300 seconds old and ignores `v1` values that do not match, so a header
//! may carry one that is not even hex. <https://docs.mux.com/core/verify-webhook-signatures>
//!
//! [`TimedV1`] is the Stripe-shaped header several providers copied; Persona's differs only in
//! sending a second space-separated `t=…,v1=…` set while a secret rotates.

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

/// `t=<unix seconds>,v1=<hex>` sets, separated by commas or spaces; each `v1` was signed with the
/// `t` before it (or the first one, when it comes first).
pub(crate) struct TimedV1 {
    pub info: &'static ProviderInfo,
    pub header: &'static str,
}

static INFO: ProviderInfo = ProviderInfo {
    id: "mux",
    name: "Mux",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["Mux-Signature"],
    // Each event lists the earlier delivery `attempts`, which counts them but names no number.
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/created_at")],
        resource: &[Source::Json("/object/id")],
        ..EventSpec::NONE
    },
};

pub(crate) static MUX: TimedV1 = TimedV1 { info: &INFO, header: "Mux-Signature" };

impl Scheme for TimedV1 {
    fn info(&self) -> &'static ProviderInfo {
        self.info
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let header = self.header;
        let value = required(req.headers, header)?;
        let mut stamps: Vec<Stamp> = Vec::new();
        // (index into `stamps`, signature)
        let mut signed: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut unreadable = None;
        for part in value.split(|c: char| c == ',' || c.is_ascii_whitespace()).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else { continue };
            match k {
                "t" => stamps.push(Stamp::secs(v, header)?),
                "v1" => match unhex(v, 32, &format!("the `v1` signature in `{header}`")) {
                    Ok(sig) => signed.push((stamps.len().saturating_sub(1), sig)),
                    Err(e) => {
                        unreadable.get_or_insert(e);
                    }
                },
                _ => {}
            }
        }
        if stamps.is_empty() {
            return Err(Failure::malformed(format!("`{header}` has no `t=` timestamp")));
        }
        if signed.is_empty() {
            return Err(unreadable.unwrap_or_else(|| Failure::malformed(format!("`{header}` has no `v1=` signature"))));
        }
        Ok(Parsed {
            source: format!("`{header}`"),
            extra: signed.iter().map(|(i, _)| stamps[*i].raw.clone()).collect(),
            signatures: signed.into_iter().map(|(_, sig)| sig).collect(),
            timestamp: stamps.into_iter().next(),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        // Every pair is checked, without stopping at the first match.
        let mut found = false;
        for (t, sig) in parsed.extra.iter().zip(&parsed.signatures) {
            let expected = hmac_sha256(key.bytes(), &[t.as_bytes(), b".", &msg.body]);
            found |= any_eq(&expected, std::slice::from_ref(sig));
        }
        found
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let t = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", input.body]);
        Ok(Signed { headers: vec![(self.header.into(), format!("t={t},v1={}", hex::encode(mac)))], body: None })
    }
}
