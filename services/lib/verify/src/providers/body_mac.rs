//! The plainest scheme there is, shared by several providers: one header holding a MAC of the raw
//! body keyed with the shared secret, with no timestamp. Only the header name, the hash and the
//! encoding differ (Alchemy, Help Scout, Tally, Segment).

use super::{Failure, Key, Message, Parsed, ProviderInfo, Scheme};
use crate::util::{any_eq, b64, b64_digest, hmac_sha1, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Hex,
    Base64,
}

pub(crate) struct BodyMac {
    pub info: &'static ProviderInfo,
    pub header: &'static str,
    pub hash: Hash,
    pub encoding: Encoding,
}

impl BodyMac {
    fn mac(&self, key: &[u8], body: &[u8]) -> Vec<u8> {
        match self.hash {
            Hash::Sha1 => hmac_sha1(key, &[body]),
            Hash::Sha256 => hmac_sha256(key, &[body]),
        }
    }

    fn len(&self) -> usize {
        match self.hash {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
        }
    }
}

impl Scheme for BodyMac {
    fn info(&self) -> &'static ProviderInfo {
        self.info
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, self.header)?.trim();
        let what = format!("the signature in `{}`", self.header);
        if value.is_empty() {
            return Err(Failure::malformed(format!("{what} is empty")));
        }
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
