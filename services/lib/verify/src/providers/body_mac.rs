//! The most common shape among providers: one header carrying an HMAC of the raw body and nothing
//! else (no timestamp, no id), written in hex or base64, sometimes after a fixed prefix (`sha256=`)
//! and sometimes as a comma-separated list of versioned entries (`v1=<hex>,v1=<hex>`) so that a
//! rotated secret can sign alongside the old one. Each provider that has this shape is a
//! [`BodyMac`] under its own header.

use super::{Failure, Key, Message, Parsed, ProviderInfo, Scheme};
use crate::util::{abbreviate, any_eq, b64, b64_digest, header, hmac_sha1, hmac_sha256, hmac_sha512, unhex};
use crate::{Request, SignError, SignInput, Signed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mac {
    Sha1,
    Sha256,
    Sha512,
}

impl Mac {
    fn len(self) -> usize {
        match self {
            Mac::Sha1 => 20,
            Mac::Sha256 => 32,
            Mac::Sha512 => 64,
        }
    }

    fn compute(self, key: &[u8], body: &[u8]) -> Vec<u8> {
        match self {
            Mac::Sha1 => hmac_sha1(key, &[body]),
            Mac::Sha256 => hmac_sha256(key, &[body]),
            Mac::Sha512 => hmac_sha512(key, &[body]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Hex,
    Base64,
}

/// How the header's value is laid out around the encoded MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The MAC alone, after a fixed prefix (`""` for none): `sha256=<hex>`.
    Single(&'static str),
    /// Comma-separated `<version>=<mac>` entries; entries of other versions are skipped (a
    /// provider may add a version before receivers understand it), and any one matching is enough.
    Versioned(&'static str),
}

pub(crate) struct BodyMac {
    pub info: &'static ProviderInfo,
    pub header: &'static str,
    pub mac: Mac,
    pub encoding: Encoding,
    pub layout: Layout,
    /// Said after "header `…` is missing" when the provider has a reason it might be absent (a
    /// token mode, a second setting), so the user knows what to change.
    pub missing_hint: &'static str,
    /// What the provider sends in the header when the webhook has no secret (Cal.com's
    /// `no-secret-provided`), so the reason can say so rather than call it a bad signature.
    pub unsigned: Option<&'static str>,
}

impl BodyMac {
    fn decode(&self, value: &str, what: &str) -> Result<Vec<u8>, Failure> {
        if value.trim().is_empty() {
            return Err(Failure::malformed(format!("{what} is empty")));
        }
        match self.encoding {
            Encoding::Hex => unhex(value, self.mac.len(), what),
            Encoding::Base64 => b64_digest(value, self.mac.len(), what),
        }
    }

    fn encode(&self, mac: &[u8]) -> String {
        match self.encoding {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => b64(mac),
        }
    }
}

impl Scheme for BodyMac {
    fn info(&self) -> &'static ProviderInfo {
        self.info
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let name = self.header;
        let value = match header(req.headers, name) {
            Some(v) => v?,
            None => return Err(Failure::missing(format!("header `{name}` is missing{}", self.missing_hint))),
        };
        if let Some(unsigned) = self.unsigned.filter(|u| *u == value.trim()) {
            return Err(Failure::malformed(format!(
                "`{name}` is `{unsigned}`: the webhook was saved in {} without a secret, so the request is not signed; give it one there",
                self.info.name
            )));
        }
        let signatures = match self.layout {
            Layout::Single(prefix) => {
                let encoded = value.trim().strip_prefix(prefix).ok_or_else(|| {
                    Failure::malformed(format!("`{name}` should start with `{prefix}`: `{}`", abbreviate(value)))
                })?;
                vec![self.decode(encoded, &format!("the signature in `{name}`"))?]
            }
            Layout::Versioned(version) => {
                let mut signatures = Vec::new();
                for entry in value.split(',') {
                    let Some((v, encoded)) = entry.trim().split_once('=') else { continue };
                    if v.trim() == version {
                        signatures.push(self.decode(encoded, &format!("the `{version}` signature in `{name}`"))?);
                    }
                }
                if signatures.is_empty() {
                    return Err(Failure::malformed(format!(
                        "`{name}` has no `{version}=` signature: `{}`",
                        abbreviate(value)
                    )));
                }
                signatures
            }
        };
        Ok(Parsed { source: format!("`{name}`"), signatures, ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&self.mac.compute(key.bytes(), &msg.body), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = self.encode(&self.mac.compute(secret.as_bytes(), input.body));
        let value = match self.layout {
            Layout::Single(prefix) => format!("{prefix}{mac}"),
            Layout::Versioned(version) => format!("{version}={mac}"),
        };
        Ok(Signed { headers: vec![(self.header.into(), value)], body: None })
    }
}
