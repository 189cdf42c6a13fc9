//! Telnyx (API v2): `telnyx-signature-ed25519` is the base64 Ed25519 signature of
//! `<telnyx-timestamp>|<body>`, checked with the account's public key (base64, as Mission Control
//! shows it); `telnyx-timestamp` is Unix seconds. The official SDKs refuse a timestamp more than
//! five minutes from the clock (telnyx-python `TIMESTAMP_TOLERANCE_SECONDS = 300`, telnyx-node
//! `webhooks.ts`).
//! <https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks#webhook-signature-verification>
//!
//! To sign, the secret is the private key: 64 hex characters of the 32-byte Ed25519 seed, or the
//! seed in base64.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, b64, required, unb64};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Telnyx;

static INFO: ProviderInfo = ProviderInfo {
    id: "telnyx",
    name: "Telnyx",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: true,
    detect: &["Telnyx-Signature-Ed25519", "Telnyx-Timestamp"],
    event: EventSpec {
        id: &[Source::Json("/data/id")],
        kind: &[Source::Json("/data/event_type")],
        created_at: &[Source::Json("/data/occurred_at")],
        attempt: &[Source::Json("/meta/attempt")],
        resource: &[Source::Json("/data/payload/id"), Source::Json("/data/payload/call_control_id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "Telnyx-Signature-Ed25519";
const TIMESTAMP: &str = "Telnyx-Timestamp";

fn seed(secret: &str) -> Option<[u8; 32]> {
    let secret = secret.trim();
    let bytes = if secret.len() == 64 { hex::decode(secret).ok()? } else { unb64(secret, "").ok()? };
    bytes.try_into().ok()
}

impl Scheme for Telnyx {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn key(&self, secret: &str) -> Result<Key, String> {
        let bytes = unb64(secret, "the public key")
            .map_err(|_| "expected the public key as Telnyx shows it: base64 of 32 bytes".to_string())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!("the public key decodes to {} bytes; a Telnyx (Ed25519) public key has 32", b.len())
        })?;
        VerifyingKey::from_bytes(&bytes)
            .map(Key::Ed25519)
            .map_err(|_| "these 32 bytes are not a valid Ed25519 public key".to_string())
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?.trim();
        let ts = required(req.headers, TIMESTAMP)?;
        let what = format!("the signature in `{SIGNATURE}`");
        if sig.is_empty() {
            return Err(Failure::malformed(format!("{what} is empty")));
        }
        let bytes = unb64(sig, &what)?;
        if bytes.len() != 64 {
            return Err(Failure::malformed(format!(
                "{what} decodes to {} bytes; a base64 Ed25519 signature has 64: `{}`",
                bytes.len(),
                abbreviate(sig)
            )));
        }
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![bytes],
            timestamp: Some(Stamp::secs(ts, TIMESTAMP)?),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let (Key::Ed25519(vk), Some(ts)) = (key, &parsed.timestamp) else { return false };
        let signed = [ts.raw.as_bytes(), b"|", &msg.body].concat();
        parsed
            .signatures
            .iter()
            .any(|s| ed25519_dalek::Signature::from_slice(s).is_ok_and(|sig| vk.verify_strict(&signed, &sig).is_ok()))
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let seed = seed(secret).ok_or_else(|| {
            SignError::BadSecret(
                "expected the Ed25519 private key: its 32-byte seed as 64 hex characters or as base64".into(),
            )
        })?;
        let key = SigningKey::from_bytes(&seed);
        let ts = input.timestamp.to_string();
        let sig = key.sign(&[ts.as_bytes(), b"|", input.body].concat());
        Ok(Signed { headers: vec![(SIGNATURE.into(), b64(&sig.to_bytes())), (TIMESTAMP.into(), ts)], body: None })
    }
}
