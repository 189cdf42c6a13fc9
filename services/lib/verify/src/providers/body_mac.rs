//! The simplest scheme there is: one header holding an HMAC of the raw body, nothing else signed.
//! Checkout.com, Paystack, Lemon Squeezy, Coinbase Commerce, GoCardless and Xero differ only in
//! the header, the hash and the encoding, so each is a [`BodyMac`] with its own [`ProviderInfo`].

use super::{Failure, Key, Message, Parsed, ProviderInfo, Scheme};
use crate::util::{any_eq, b64, b64_digest, hmac_sha256, hmac_sha512, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Hex,
    Base64,
}

/// `<header>: <MAC of the body>`, keyed with the secret's bytes as they are written.
pub(crate) struct BodyMac {
    pub info: &'static ProviderInfo,
    pub header: &'static str,
    pub hash: Hash,
    pub encoding: Encoding,
}

impl BodyMac {
    fn mac(&self, key: &[u8], body: &[u8]) -> Vec<u8> {
        match self.hash {
            Hash::Sha256 => hmac_sha256(key, &[body]),
            Hash::Sha512 => hmac_sha512(key, &[body]),
        }
    }

    fn len(&self) -> usize {
        match self.hash {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }
}

impl Scheme for BodyMac {
    fn info(&self) -> &'static ProviderInfo {
        self.info
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, self.header)?;
        let what = format!("the signature in `{}`", self.header);
        let sig = match self.encoding {
            Encoding::Hex => unhex(value, self.len(), &what)?,
            Encoding::Base64 => b64_digest(value, self.len(), &what)?,
        };
        Ok(Parsed { source: format!("`{}`", self.header), signatures: vec![sig], ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&self.mac(key.bytes(), &msg.body), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = self.mac(secret.as_bytes(), input.body);
        let value = match self.encoding {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => b64(&mac),
        };
        Ok(Signed { headers: vec![(self.header.into(), value)], body: None })
    }
}
