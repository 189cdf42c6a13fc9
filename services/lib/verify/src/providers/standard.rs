//! Standard Webhooks (<https://www.standardwebhooks.com/>, spec
//! <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>):
//! `webhook-signature: v1,<base64> [v1,<base64> …]`, HMAC-SHA256 over `<id>.<timestamp>.<body>`
//! keyed with the base64 part of a `whsec_…` secret. Svix sends the same scheme under `svix-*`
//! header names (Clerk, Resend and others use it).

use base64::Engine as _;

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{any_eq, b64, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct StandardWebhooks;
pub(crate) struct Svix;

static STANDARD: ProviderInfo = ProviderInfo {
    id: "standard-webhooks",
    name: "Standard Webhooks",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["webhook-signature"],
    event: EventSpec {
        id: &[Source::Header("webhook-id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/timestamp")],
        ..EventSpec::NONE
    },
};

static SVIX: ProviderInfo = ProviderInfo {
    id: "svix",
    name: "Svix",
    default_tolerance: Some(300),
    url_bound: false,
    asymmetric: false,
    detect: &["svix-signature"],
    event: EventSpec {
        id: &[Source::Header("svix-id")],
        kind: &[Source::Json("/type")],
        created_at: &[Source::Json("/timestamp")],
        ..EventSpec::NONE
    },
};

struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const STANDARD_NAMES: Names =
    Names { id: "webhook-id", timestamp: "webhook-timestamp", signature: "webhook-signature" };
const SVIX_NAMES: Names = Names { id: "svix-id", timestamp: "svix-timestamp", signature: "svix-signature" };

/// The key is the base64 after `whsec_`; a bare base64 secret is accepted as well.
fn key(secret: &str) -> Result<Key, String> {
    let b = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(b)
        .map(Key::Bytes)
        .map_err(|_| "expected `whsec_` followed by base64, as the provider shows it".to_string())
}

fn parse(req: &Request<'_>, names: &Names) -> Result<Parsed, Failure> {
    let sig = required(req.headers, names.signature)?;
    let id = required(req.headers, names.id)?;
    let ts = required(req.headers, names.timestamp)?;
    let mut signatures = Vec::new();
    let mut versions = Vec::new();
    for part in sig.split(' ').filter(|p| !p.is_empty()) {
        match part.split_once(',') {
            Some(("v1", s)) => {
                signatures.push(crate::util::unb64(s, &format!("a `v1` signature in `{}`", names.signature))?)
            }
            Some((v, _)) => versions.push(v.to_string()),
            None => {
                return Err(Failure::malformed(format!(
                    "`{}` entries look like `v1,<base64>`; got `{}`",
                    names.signature,
                    crate::util::abbreviate(part)
                )));
            }
        }
    }
    if signatures.is_empty() {
        return Err(Failure::malformed(format!(
            "`{}` has no `v1` signature (found: {})",
            names.signature,
            if versions.is_empty() { "nothing".into() } else { versions.join(", ") }
        )));
    }
    Ok(Parsed {
        source: format!("`{}`", names.signature),
        signatures,
        timestamp: Some(Stamp::secs(ts, names.timestamp)?),
        id: Some(id.to_string()),
        extra: Vec::new(),
    })
}

fn matches(key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
    let (Some(ts), Some(id)) = (&parsed.timestamp, &parsed.id) else { return false };
    let expected = hmac_sha256(key.bytes(), &[id.as_bytes(), b".", ts.raw.as_bytes(), b".", &msg.body]);
    any_eq(&expected, &parsed.signatures)
}

fn sign(secret: &str, input: &SignInput<'_>, names: &Names) -> Result<Signed, SignError> {
    let Key::Bytes(k) = key(secret).map_err(SignError::BadSecret)? else { unreachable!("symmetric") };
    let id = input
        .id
        .map(str::to_string)
        .unwrap_or_else(|| format!("msg_{}", &hex::encode(crate::util::sha256(&[input.body]))[..24]));
    let t = input.timestamp.to_string();
    let mac = hmac_sha256(&k, &[id.as_bytes(), b".", t.as_bytes(), b".", input.body]);
    Ok(Signed {
        headers: vec![
            (names.id.into(), id),
            (names.timestamp.into(), t),
            (names.signature.into(), format!("v1,{}", b64(&mac))),
        ],
        body: None,
    })
}

impl Scheme for StandardWebhooks {
    fn info(&self) -> &'static ProviderInfo {
        &STANDARD
    }
    fn key(&self, secret: &str) -> Result<Key, String> {
        key(secret)
    }
    /// Senders that use the Svix-branded names (Clerk, Resend, …) verify under this id too.
    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let has = |n: &str| req.headers.iter().any(|h| h.name.eq_ignore_ascii_case(n));
        if !has(STANDARD_NAMES.signature) && has(SVIX_NAMES.signature) {
            return parse(req, &SVIX_NAMES);
        }
        parse(req, &STANDARD_NAMES)
    }
    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        matches(key, msg, parsed)
    }
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        sign(secret, input, &STANDARD_NAMES)
    }
}

impl Scheme for Svix {
    fn info(&self) -> &'static ProviderInfo {
        &SVIX
    }
    fn key(&self, secret: &str) -> Result<Key, String> {
        key(secret)
    }
    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        parse(req, &SVIX_NAMES)
    }
    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        matches(key, msg, parsed)
    }
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        sign(secret, input, &SVIX_NAMES)
    }
}
