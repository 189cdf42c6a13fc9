//! Discord interactions: `X-Signature-Ed25519` is the hex Ed25519 signature of
//! `<X-Signature-Timestamp><body>`, checked with the application's public key (hex, as the
//! developer portal shows it).
//! <https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers>
//!
//! To sign, the secret is the private key: 64 hex characters of the 32-byte seed (the 128-hex
//! libsodium form, seed followed by public key, is accepted too).

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Discord;

static INFO: ProviderInfo = ProviderInfo {
    id: "discord",
    name: "Discord",
    // Discord documents no age limit for the timestamp (and its libraries check none); a
    // configured tolerance still applies.
    default_tolerance: None,
    url_bound: false,
    asymmetric: true,
    detect: &["X-Signature-Ed25519", "X-Signature-Timestamp"],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/event/type"), Source::Json("/type")],
        created_at: &[Source::Json("/event/timestamp")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "X-Signature-Ed25519";
const TIMESTAMP: &str = "X-Signature-Timestamp";

fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = hex::decode(s.trim()).ok()?;
    bytes.try_into().ok()
}

impl Scheme for Discord {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn key(&self, secret: &str) -> Result<Key, String> {
        let bytes = hex_bytes::<32>(secret)
            .ok_or("expected the application's public key as Discord shows it: 64 hex characters")?;
        VerifyingKey::from_bytes(&bytes)
            .map(Key::Ed25519)
            .map_err(|_| "these 64 hex characters are not a valid Ed25519 public key".to_string())
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let ts = required(req.headers, TIMESTAMP)?;
        let sig = sig.trim();
        if sig.len() != 128 {
            return Err(Failure::malformed(format!(
                "the signature in `{SIGNATURE}` is {} characters; a hex Ed25519 signature has 128",
                sig.len()
            )));
        }
        let bytes = hex::decode(sig).map_err(|_| {
            Failure::malformed(format!("the signature in `{SIGNATURE}` `{}` is not hex", abbreviate(sig)))
        })?;
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![bytes],
            timestamp: Some(Stamp::secs(ts, TIMESTAMP)?),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let (Key::Ed25519(vk), Some(ts)) = (key, &parsed.timestamp) else { return false };
        let signed = [ts.raw.as_bytes(), &msg.body].concat();
        parsed
            .signatures
            .iter()
            .any(|s| ed25519_dalek::Signature::from_slice(s).is_ok_and(|sig| vk.verify_strict(&signed, &sig).is_ok()))
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let secret = secret.trim();
        let seed = match secret.len() {
            64 => hex_bytes::<32>(secret),
            128 => hex_bytes::<64>(secret).map(|b| {
                let mut seed = [0u8; 32];
                seed.copy_from_slice(&b[..32]);
                seed
            }),
            _ => None,
        }
        .ok_or_else(|| {
            SignError::BadSecret("expected the Ed25519 private key as 64 hex characters of its 32-byte seed".into())
        })?;
        let key = SigningKey::from_bytes(&seed);
        let ts = input.timestamp.to_string();
        let sig = key.sign(&[ts.as_bytes(), input.body].concat());
        Ok(Signed {
            headers: vec![(SIGNATURE.into(), hex::encode(sig.to_bytes())), (TIMESTAMP.into(), ts)],
            body: None,
        })
    }
}
