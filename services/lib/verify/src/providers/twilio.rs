//! Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 keyed with the auth token over the full URL
//! Twilio called followed, for a form POST, by every POST parameter sorted by name as
//! `<name><value>`. For a JSON body the URL carries `bodySHA256=<hex SHA-256 of the body>` and the
//! signature covers the URL alone. Like Twilio's SDKs, the URL is tried without its port and with
//! it (`:443` for https, `:80` for http when none is written).
//! <https://www.twilio.com/docs/usage/webhooks/webhooks-security>
//!
//! When a Webhooks Rule signs with a SharedKey instead of the auth token, Twilio adds
//! `X-Twilio-Webhooks-Signature-Settings: key=<KeySid>,algorithm=HMAC_SHA256` and only the MAC
//! changes. The header decides the algorithm, as in Twilio's SDKs: a signature of another length
//! under it is refused, so rewriting the header cannot downgrade the check to HMAC-SHA1.
//! <https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys>

use hookmetry_core::form_decode;

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, StatedDigest};
use crate::util::b64_digest;
use crate::util::{abbreviate, any_eq, b64, header, hmac_sha1, hmac_sha256, pairs, required, sha256, unb64};
use crate::{Request, SignError, SignInput, Signed, Verdict};

pub(crate) struct Twilio;

static INFO: ProviderInfo = ProviderInfo {
    id: "twilio",
    name: "Twilio",
    default_tolerance: None,
    url_bound: true,
    asymmetric: false,
    detect: &["X-Twilio-Signature"],
    event: EventSpec { id: &[Source::Header("I-Twilio-Idempotency-Token")], ..EventSpec::NONE },
};

const HEADER: &str = "X-Twilio-Signature";
const SETTINGS: &str = "X-Twilio-Webhooks-Signature-Settings";

/// The MACs Twilio signs with, as `X-Twilio-Webhooks-Signature-Settings` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "HMAC_SHA1",
            Algorithm::Sha256 => "HMAC_SHA256",
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "HMAC_SHA1" => Some(Algorithm::Sha1),
            "HMAC_SHA256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    fn len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
        }
    }

    fn mac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Algorithm::Sha1 => hmac_sha1(key, parts),
            Algorithm::Sha256 => hmac_sha256(key, parts),
        }
    }
}

/// The algorithm and SharedKey `headers` name; HMAC-SHA1 with the auth token when there is no
/// settings header.
fn settings(headers: &[hookmetry_core::Header]) -> Result<(Algorithm, Option<String>), Failure> {
    let Some(value) = header(headers, SETTINGS) else { return Ok((Algorithm::Sha1, None)) };
    let value = value?;
    let mut algorithm = None;
    let mut key = None;
    for (k, v) in pairs(value, ',') {
        match k {
            "algorithm" => algorithm = Some(v),
            "key" if !v.is_empty() => key = Some(abbreviate(v)),
            _ => {}
        }
    }
    let name = algorithm.ok_or_else(|| Failure::malformed(format!("`{SETTINGS}` names no `algorithm=`")))?;
    let algorithm = Algorithm::from_name(name).ok_or_else(|| {
        Failure::malformed(format!(
            "`{SETTINGS}` names algorithm `{}`, which Twilio's SDKs do not accept (HMAC_SHA1, HMAC_SHA256)",
            abbreviate(name)
        ))
    })?;
    Ok((algorithm, key))
}
const BODY_HASH: &str = "bodySHA256";

/// The `bodySHA256` query parameter of `url`, as written.
fn body_hash_param(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|p| p.strip_prefix("bodySHA256="))
}

/// Every form parameter of `body`, sorted by name (then value), as `<name><value>…`, decoded.
fn form_params(body: &[u8]) -> Vec<u8> {
    let mut params: Vec<(Vec<u8>, Vec<u8>)> = body
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = match p.iter().position(|b| *b == b'=') {
                Some(i) => (&p[..i], &p[i + 1..]),
                None => (p, &[][..]),
            };
            (form_decode(&String::from_utf8_lossy(k)), form_decode(&String::from_utf8_lossy(v)))
        })
        .collect();
    params.sort();
    params.into_iter().flat_map(|(k, v)| [k, v]).flatten().collect()
}

/// `url` without its port, and with one (as written, or the scheme's default), the two forms
/// Twilio's SDKs accept since Twilio's own signing is inconsistent about it.
fn port_variants(url: &str) -> [String; 2] {
    let Some(start) = url.find("://").map(|i| i + 3) else { return [url.to_string(), url.to_string()] };
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    let authority = &url[host_start..end];
    let colon = if authority.starts_with('[') { authority.find("]:").map(|i| i + 1) } else { authority.rfind(':') };
    let port = colon.filter(|&i| i + 1 < authority.len() && authority[i + 1..].bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(i) => [format!("{}{}", &url[..host_start + i], &url[end..]), url.to_string()],
        None => {
            let default = if url[..start].eq_ignore_ascii_case("https://") { ":443" } else { ":80" };
            [url.to_string(), format!("{}{default}{}", &url[..end], &url[end..])]
        }
    }
}

/// The body does not hash to the URL's `bodySHA256`. The engine looks for the common change that
/// explains it and, when it finds one, names it instead of this reason.
fn body_changed(body: &[u8], expected: Vec<u8>) -> Failure {
    let reason = format!(
        "body changed: its SHA-256 is `{}` but the signed URL's `{BODY_HASH}` is `{}`; something between Twilio and here changed the body",
        abbreviate(&hex::encode(sha256(&[body]))),
        abbreviate(&hex::encode(&expected))
    );
    Failure {
        verdict: Verdict::InvalidSignature,
        reason,
        stated_digest: Some(StatedDigest { sha256: expected, source: format!("the `{BODY_HASH}` in the signed URL") }),
    }
}

impl Scheme for Twilio {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    /// A JSON body whose hash is not the URL's `bodySHA256` is reported here, before any secret is
    /// tried: the hash is not keyed, so no secret can make it match.
    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let (algorithm, key) = settings(req.headers)?;
        let what = format!("the signature in `{HEADER}`");
        let signature = if algorithm == Algorithm::Sha1 {
            b64_digest(value, 20, &what)?
        } else {
            let decoded = unb64(value, &what)?;
            if decoded.len() == Algorithm::Sha1.len() {
                return Err(Failure {
                    verdict: Verdict::InvalidSignature,
                    reason: format!(
                        "{what} is 20 bytes, an HMAC-SHA1, but `{SETTINGS}` says {}: refused, as Twilio's SDKs refuse it, so that a rewritten header cannot weaken the check",
                        algorithm.name()
                    ),
                    stated_digest: None,
                });
            }
            b64_digest(value, algorithm.len(), &what)?
        };
        if let Some(hash) = body_hash_param(req.url) {
            let expected = hex::decode(hash).ok().filter(|h| h.len() == 32).ok_or_else(|| {
                Failure::malformed(format!(
                    "`{BODY_HASH}` in the URL should be the SHA-256 of the body as 64 hex characters: `{}`",
                    abbreviate(hash)
                ))
            })?;
            if sha256(&[req.body]) != expected {
                return Err(body_changed(req.body, expected));
            }
        }
        let source = match (algorithm, key) {
            (Algorithm::Sha1, None) => format!("`{HEADER}`"),
            (a, Some(key)) => format!("`{HEADER}` ({}, SharedKey `{key}`)", a.name()),
            (a, None) => format!("`{HEADER}` ({})", a.name()),
        };
        Ok(Parsed {
            source,
            signatures: vec![signature],
            extra: vec![algorithm.name().to_string()],
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let params = match body_hash_param(&msg.url) {
            // The URL covers the body through its hash.
            Some(hash) => {
                if hex::decode(hash).ok() != Some(sha256(&[&msg.body])) {
                    return false;
                }
                Vec::new()
            }
            None => form_params(&msg.body),
        };
        let algorithm = parsed.extra.first().and_then(|a| Algorithm::from_name(a)).unwrap_or(Algorithm::Sha1);
        let [without, with] = port_variants(&msg.url);
        let a = any_eq(&algorithm.mac(key.bytes(), &[without.as_bytes(), &params]), &parsed.signatures);
        let b = any_eq(&algorithm.mac(key.bytes(), &[with.as_bytes(), &params]), &parsed.signatures);
        a | b
    }

    /// Signs `input.url` as given. For a JSON body the URL must already carry its `bodySHA256`.
    /// When the original request names a SharedKey algorithm, that one is used and its settings
    /// header kept.
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let params = match body_hash_param(input.url) {
            Some(hash) => {
                let actual = sha256(&[input.body]);
                if hex::decode(hash).ok() != Some(actual.clone()) {
                    return Err(SignError::BadInput(format!(
                        "the URL's `{BODY_HASH}` is not the SHA-256 of the body, which is `{}`",
                        hex::encode(actual)
                    )));
                }
                Vec::new()
            }
            None => form_params(input.body),
        };
        let (algorithm, _) = settings(input.headers).map_err(|f| SignError::BadInput(f.reason))?;
        let mac = algorithm.mac(secret.as_bytes(), &[input.url.as_bytes(), &params]);
        Ok(Signed { headers: vec![(HEADER.into(), b64(&mac))], body: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variants_add_or_drop_the_port() {
        assert_eq!(
            port_variants("https://a.example/x?p=1"),
            ["https://a.example/x?p=1", "https://a.example:443/x?p=1"]
        );
        assert_eq!(port_variants("http://a.example"), ["http://a.example", "http://a.example:80"]);
        assert_eq!(
            port_variants("https://u:p@a.example:8443/x"),
            ["https://u:p@a.example/x", "https://u:p@a.example:8443/x"]
        );
        assert_eq!(port_variants("https://[::1]:9/x"), ["https://[::1]/x", "https://[::1]:9/x"]);
        assert_eq!(port_variants("https://[::1]/x"), ["https://[::1]/x", "https://[::1]:443/x"]);
    }

    #[test]
    fn form_params_are_decoded_and_sorted() {
        assert_eq!(form_params(b"b=2&a=%2B1&a=0&c=x+y&d"), b"a+1a0b2cx yd".to_vec());
        assert_eq!(form_params(b""), Vec::<u8>::new());
    }

    #[test]
    fn body_hash_is_read_from_the_query() {
        assert_eq!(body_hash_param("https://a/x?foo=1&bodySHA256=ab#f"), Some("ab"));
        assert_eq!(body_hash_param("https://a/x?xbodySHA256=ab"), None);
        assert_eq!(body_hash_param("https://a/x"), None);
    }
}
