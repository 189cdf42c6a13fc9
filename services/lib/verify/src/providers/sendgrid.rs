//! Twilio SendGrid's signed Event Webhook: `X-Twilio-Email-Event-Webhook-Signature` is a base64
//! DER ECDSA P-256 / SHA-256 signature of `<X-Twilio-Email-Event-Webhook-Timestamp><body>`,
//! checked with the verification key SendGrid shows (base64 DER SubjectPublicKeyInfo).
//! <https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features>
//!
//! To sign, the secret is the private key: base64 PKCS#8 DER (PEM armour allowed) or 64 hex
//! characters of the scalar.

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{b64, required, unb64};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct SendGrid;

static INFO: ProviderInfo = ProviderInfo {
    id: "sendgrid",
    name: "SendGrid",
    // SendGrid documents no age limit and its SDKs check none; a configured tolerance applies.
    default_tolerance: None,
    url_bound: false,
    asymmetric: true,
    detect: &["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"],
    event: EventSpec {
        id: &[Source::Json("/0/sg_event_id")],
        kind: &[Source::Json("/0/event")],
        created_at: &[Source::Json("/0/timestamp")],
        resource: &[Source::Json("/0/sg_message_id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// The DER inside base64, with or without `-----BEGIN …-----` armour and line breaks.
fn der(text: &str) -> Option<Vec<u8>> {
    let b64: String =
        text.lines().filter(|l| !l.trim_start().starts_with("-----")).flat_map(|l| l.split_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn signing_key(secret: &str) -> Option<SigningKey> {
    let s = secret.trim();
    if s.len() == 64
        && let Ok(scalar) = hex::decode(s)
    {
        return SigningKey::from_slice(&scalar).ok();
    }
    SigningKey::from_pkcs8_der(&der(s)?).ok()
}

impl Scheme for SendGrid {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn key(&self, secret: &str) -> Result<Key, String> {
        let bytes = der(secret).ok_or(
            "expected the verification key as SendGrid shows it: base64 starting `MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE`",
        )?;
        VerifyingKey::from_public_key_der(&bytes)
            .map(Key::P256)
            .map_err(|_| "this base64 is not a P-256 public key (SubjectPublicKeyInfo), as SendGrid shows it".into())
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let ts = required(req.headers, TIMESTAMP)?;
        let bytes = unb64(sig, &format!("the signature in `{SIGNATURE}`"))?;
        if Signature::from_der(&bytes).is_err() {
            return Err(Failure::malformed(format!(
                "the signature in `{SIGNATURE}` is base64 but not a DER-encoded ECDSA signature"
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
        let (Key::P256(vk), Some(ts)) = (key, &parsed.timestamp) else { return false };
        let signed = [ts.raw.as_bytes(), &msg.body].concat();
        // Plain ECDSA verification accepts either form of `s`, as SendGrid's SDKs do.
        parsed.signatures.iter().any(|s| Signature::from_der(s).is_ok_and(|sig| vk.verify(&signed, &sig).is_ok()))
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let key = signing_key(secret).ok_or_else(|| {
            SignError::BadSecret(
                "expected the P-256 private key as base64 PKCS#8 DER (PEM allowed) or 64 hex characters".into(),
            )
        })?;
        let ts = input.timestamp.to_string();
        let sig: DerSignature = key.sign(&[ts.as_bytes(), input.body].concat());
        Ok(Signed { headers: vec![(SIGNATURE.into(), b64(sig.as_bytes())), (TIMESTAMP.into(), ts)], body: None })
    }
}
