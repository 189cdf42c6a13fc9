//! The simplest scheme there is, which several providers use under their own header names: one
//! header carrying the HMAC-SHA256 of the raw body keyed with a shared secret, hex or base64,
//! sometimes after a `sha256=` prefix. Nothing else is signed, so nothing stops a replay: these
//! providers sign no timestamp.

use super::{Failure, Key, Message, Parsed, ProviderInfo, Scheme};
use crate::util::{abbreviate, any_eq, b64, b64_digest, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

/// How the MAC is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Hex,
    Base64,
}

/// HMAC-SHA256 of the body in `header`, after `prefix` (empty for none), as one provider sends it.
pub(crate) struct BodyHmac {
    pub info: &'static ProviderInfo,
    pub header: &'static str,
    pub prefix: &'static str,
    pub encoding: Encoding,
    /// What the provider sends in `header` when the webhook has no secret (Cal.com's
    /// `no-secret-provided`), so the reason can say so rather than call it a bad signature.
    pub unsigned: Option<&'static str>,
}

impl Scheme for BodyHmac {
    fn info(&self) -> &'static ProviderInfo {
        self.info
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let header = self.header;
        let value = required(req.headers, header)?.trim();
        if self.unsigned == Some(value) {
            return Err(Failure::malformed(format!(
                "`{header}` is `{value}`: the webhook was saved in {} without a secret, so the request is not signed; give it one there",
                self.info.name
            )));
        }
        let sig = value.strip_prefix(self.prefix).ok_or_else(|| {
            Failure::malformed(format!("`{header}` should start with `{}`: `{}`", self.prefix, abbreviate(value)))
        })?;
        let what = format!("the signature in `{header}`");
        let sig = match self.encoding {
            Encoding::Hex => unhex(sig, 32, &what)?,
            Encoding::Base64 => b64_digest(sig, 32, &what)?,
        };
        Ok(Parsed { source: format!("`{header}`"), signatures: vec![sig], ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let mac = hmac_sha256(secret.as_bytes(), &[input.body]);
        let encoded = match self.encoding {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => b64(&mac),
        };
        Ok(Signed { headers: vec![(self.header.into(), format!("{}{encoded}", self.prefix))], body: None })
    }
}
