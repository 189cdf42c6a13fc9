//! A signature scheme described by its parts: which header, which HMAC, which encoding, and a
//! template of what is signed. Covers in-house senders and providers without a built-in scheme.

use base64::Engine as _;
use hookmetry_core::GenericHmac;

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Stamp};
use crate::util::{any_eq, b64, hmac_sha1, hmac_sha256, hmac_sha512, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) static INFO: ProviderInfo = ProviderInfo {
    id: "generic-hmac",
    name: "generic HMAC",
    default_tolerance: Some(300),
    url_bound: true,
    asymmetric: false,
    detect: &[],
    event: EventSpec::NONE,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Hex,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Timestamp,
    Id,
    Body,
    Url,
    Method,
}

pub(crate) struct Generic {
    header: String,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    template: Vec<Part>,
    timestamp_header: Option<String>,
    id_header: Option<String>,
}

fn parse_template(t: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_string()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("template: `{{` at {} is never closed", t.len() - rest.len() + open))?;
        let name = &rest[open + 1..open + close];
        parts.push(match name {
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            "body" => Part::Body,
            "url" => Part::Url,
            "method" => Part::Method,
            other => {
                return Err(format!(
                    "template: unknown placeholder `{{{other}}}`; use {{timestamp}}, {{id}}, {{body}}, {{url}} or {{method}}"
                ));
            }
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

impl Generic {
    pub(crate) fn new(cfg: &GenericHmac) -> Result<Self, String> {
        if cfg.header.trim().is_empty() {
            return Err("header: name the header that carries the signature".into());
        }
        let algorithm = match cfg.algorithm.to_ascii_lowercase().as_str() {
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => return Err(format!("algorithm: `{other}` is not one of sha1, sha256, sha512")),
        };
        let encoding = match cfg.encoding.to_ascii_lowercase().as_str() {
            "hex" => Encoding::Hex,
            "base64" => Encoding::Base64,
            other => return Err(format!("encoding: `{other}` is not one of hex, base64")),
        };
        if cfg.prefix.starts_with(char::is_whitespace) {
            return Err("prefix: must not start with whitespace (header values are read trimmed)".into());
        }
        let template = parse_template(&cfg.template)?;
        if template.is_empty() {
            return Err("template: say what is signed, e.g. `{body}` or `{timestamp}.{body}`".into());
        }
        let empty = |h: &Option<String>| h.as_deref().is_none_or(|h| h.trim().is_empty());
        if template.contains(&Part::Timestamp) && empty(&cfg.timestamp_header) {
            return Err("timestampHeader: the template signs {timestamp}, so name the header that carries it".into());
        }
        if template.contains(&Part::Id) && empty(&cfg.id_header) {
            return Err("idHeader: the template signs {id}, so name the header that carries it".into());
        }
        let header = cfg.header.trim();
        for (field, other) in [("timestampHeader", &cfg.timestamp_header), ("idHeader", &cfg.id_header)] {
            if other.as_deref().is_some_and(|h| h.trim().eq_ignore_ascii_case(header)) {
                return Err(format!("{field}: must differ from `header`, which carries the signature"));
            }
        }
        if let (Some(t), Some(i)) = (&cfg.timestamp_header, &cfg.id_header)
            && !t.trim().is_empty()
            && t.trim().eq_ignore_ascii_case(i.trim())
        {
            return Err("idHeader: must differ from `timestampHeader`".into());
        }
        Ok(Generic {
            header: header.to_string(),
            algorithm,
            encoding,
            prefix: cfg.prefix.clone(),
            template,
            timestamp_header: cfg.timestamp_header.clone().filter(|h| !h.trim().is_empty()),
            id_header: cfg.id_header.clone().filter(|h| !h.trim().is_empty()),
        })
    }

    fn digest_len(&self) -> usize {
        match self.algorithm {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    fn mac(&self, key: &[u8], method: &str, url: &str, body: &[u8], ts: &str, id: &str) -> Vec<u8> {
        let parts: Vec<&[u8]> = self
            .template
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_bytes(),
                Part::Timestamp => ts.as_bytes(),
                Part::Id => id.as_bytes(),
                Part::Body => body,
                Part::Url => url.as_bytes(),
                Part::Method => method.as_bytes(),
            })
            .collect();
        match self.algorithm {
            Algorithm::Sha1 => hmac_sha1(key, &parts),
            Algorithm::Sha256 => hmac_sha256(key, &parts),
            Algorithm::Sha512 => hmac_sha512(key, &parts),
        }
    }

    fn encode(&self, mac: &[u8]) -> String {
        match self.encoding {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => b64(mac),
        }
    }
}

impl Scheme for Generic {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, &self.header)?.trim();
        let encoded = value.strip_prefix(self.prefix.as_str()).ok_or_else(|| {
            Failure::malformed(format!(
                "`{}` should start with `{}`: `{}`",
                self.header,
                self.prefix,
                crate::util::abbreviate(value)
            ))
        })?;
        let what = format!("the signature in `{}`", self.header);
        let sig = match self.encoding {
            Encoding::Hex => crate::util::unhex(encoded, self.digest_len(), &what)?,
            Encoding::Base64 => {
                let s = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded.trim()))
                    .map_err(|_| Failure::malformed(format!("{what} is not base64")))?;
                if s.len() != self.digest_len() {
                    return Err(Failure::malformed(format!(
                        "{what} decodes to {} bytes; this algorithm makes {}",
                        s.len(),
                        self.digest_len()
                    )));
                }
                s
            }
        };
        let timestamp = match &self.timestamp_header {
            Some(h) => Some(Stamp::secs(required(req.headers, h)?, h)?),
            None => None,
        };
        let id = match &self.id_header {
            Some(h) => Some(required(req.headers, h)?.to_string()),
            None => None,
        };
        Ok(Parsed { source: format!("`{}`", self.header), signatures: vec![sig], timestamp, id, extra: Vec::new() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let ts = parsed.timestamp.as_ref().map(|t| t.raw.as_str()).unwrap_or("");
        let id = parsed.id.as_deref().unwrap_or("");
        any_eq(&self.mac(key.bytes(), msg.method, &msg.url, &msg.body, ts, id), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let ts = input.timestamp.to_string();
        let id = input.id.unwrap_or("msg_1").to_string();
        let mac = self.mac(secret.as_bytes(), input.method, input.url, input.body, &ts, &id);
        let mut headers = vec![(self.header.clone(), format!("{}{}", self.prefix, self.encode(&mac)))];
        if let Some(h) = &self.timestamp_header {
            headers.push((h.clone(), ts));
        }
        if let Some(h) = &self.id_header {
            headers.push((h.clone(), id));
        }
        Ok(Signed { headers, body: None })
    }

    fn signs_body(&self) -> bool {
        self.template.contains(&Part::Body)
    }
}
