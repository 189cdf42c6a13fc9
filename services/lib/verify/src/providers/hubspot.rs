//! HubSpot signs requests three ways, and sends the older signatures alongside the newer ones:
//! v1 `X-HubSpot-Signature` = hex SHA-256 of `<client secret><body>` (a plain hash, not an HMAC);
//! v2 the same header = hex SHA-256 of `<client secret><method><URI><body>`; v3
//! `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 of `<method><URI><body><timestamp>` with the
//! timestamp in milliseconds from `X-HubSpot-Request-Timestamp`. `X-HubSpot-Signature-Version`
//! says which of v1/v2 the first header holds.
//! <https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, b64, header, hmac_sha256, sha256, unb64, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct HubSpotV1;
pub(crate) struct HubSpotV2;
pub(crate) struct HubSpotV3;

static V1: ProviderInfo = ProviderInfo {
    id: "hubspot-v1",
    name: "HubSpot v1",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    // Presence cannot tell v1 from v2 (the version is in the header's value); webhook
    // subscriptions, the most common sender of the legacy header, use v1.
    detect: &["X-HubSpot-Signature-Version", "X-HubSpot-Signature"],
    event: EventSpec {
        id: &[Source::Json("/0/eventId")],
        kind: &[Source::Json("/0/subscriptionType")],
        created_at: &[Source::Json("/0/occurredAt")],
        retries: &[Source::Json("/0/attemptNumber")],
        resource: &[Source::Json("/0/objectId")],
        ..EventSpec::NONE
    },
};

static V2: ProviderInfo = ProviderInfo {
    id: "hubspot-v2",
    name: "HubSpot v2",
    default_tolerance: None,
    url_bound: true,
    asymmetric: false,
    detect: &[],
    event: EventSpec {
        id: &[Source::Json("/0/eventId")],
        kind: &[Source::Json("/0/subscriptionType")],
        created_at: &[Source::Json("/0/occurredAt")],
        retries: &[Source::Json("/0/attemptNumber")],
        resource: &[Source::Json("/0/objectId")],
        ..EventSpec::NONE
    },
};

static V3: ProviderInfo = ProviderInfo {
    id: "hubspot-v3",
    name: "HubSpot v3",
    // "Reject the request if the timestamp is older than 5 minutes" (HubSpot's docs; the SDKs'
    // MAX_ALLOWED_TIMESTAMP is 300000 ms).
    default_tolerance: Some(300),
    url_bound: true,
    asymmetric: false,
    detect: &["X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"],
    event: EventSpec {
        id: &[Source::Json("/0/eventId")],
        kind: &[Source::Json("/0/subscriptionType")],
        created_at: &[Source::Json("/0/occurredAt")],
        retries: &[Source::Json("/0/attemptNumber")],
        resource: &[Source::Json("/0/objectId")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "X-HubSpot-Signature";
const VERSION: &str = "X-HubSpot-Signature-Version";
const SIGNATURE_V3: &str = "X-HubSpot-Signature-v3";
const TIMESTAMP: &str = "X-HubSpot-Request-Timestamp";

fn has(req: &Request<'_>, name: &str) -> bool {
    req.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name))
}

/// The legacy `X-HubSpot-Signature`, checking `X-HubSpot-Signature-Version` names `version`.
fn parse_legacy(req: &Request<'_>, version: &str) -> Result<Parsed, Failure> {
    let Some(value) = header(req.headers, SIGNATURE) else {
        if has(req, SIGNATURE_V3) {
            return Err(Failure::missing(format!(
                "header `{SIGNATURE}` is missing; the request has `{SIGNATURE_V3}`: choose HubSpot v3"
            )));
        }
        return Err(Failure::missing_header(SIGNATURE));
    };
    let value = value?;
    if let Some(sent) = header(req.headers, VERSION) {
        let sent = sent?.trim();
        if !sent.eq_ignore_ascii_case(version) {
            let hint = match sent.to_ascii_lowercase().as_str() {
                "v1" => ": choose HubSpot v1".to_string(),
                "v2" => ": choose HubSpot v2".to_string(),
                _ => String::new(),
            };
            return Err(Failure::malformed(format!(
                "`{VERSION}` is `{}`, so `{SIGNATURE}` is not a {version} signature{hint}",
                abbreviate(sent)
            )));
        }
    }
    let sig = unhex(value, 32, &format!("the signature in `{SIGNATURE}`"))?;
    Ok(Parsed { source: format!("`{SIGNATURE}`"), signatures: vec![sig], ..Default::default() })
}

fn legacy_headers(digest: &[u8], version: &str) -> Signed {
    Signed { headers: vec![(SIGNATURE.into(), hex::encode(digest)), (VERSION.into(), version.into())], body: None }
}

impl Scheme for HubSpotV1 {
    fn info(&self) -> &'static ProviderInfo {
        &V1
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        parse_legacy(req, "v1")
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&sha256(&[key.bytes(), &msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        Ok(legacy_headers(&sha256(&[secret.as_bytes(), input.body]), "v1"))
    }
}

impl Scheme for HubSpotV2 {
    fn info(&self) -> &'static ProviderInfo {
        &V2
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        parse_legacy(req, "v2")
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let digest = sha256(&[key.bytes(), msg.method.as_bytes(), msg.url.as_bytes(), &msg.body]);
        any_eq(&digest, &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let digest = sha256(&[secret.as_bytes(), input.method.as_bytes(), input.url.as_bytes(), input.body]);
        Ok(legacy_headers(&digest, "v2"))
    }
}

/// The URI as v3 signs it: HubSpot's docs have the receiver decode these escapes (and only
/// these) before signing. None of the decoded characters is `%` or a hex digit, so one pass
/// gives the same result as HubSpot's replace-one-after-another.
pub(crate) fn v3_uri(url: &str) -> String {
    const DECODE: [(&str, char); 12] = [
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let escape = rest.get(i + 1..i + 3);
        match escape.and_then(|e| DECODE.iter().find(|(code, _)| code.eq_ignore_ascii_case(e))) {
            Some((_, c)) => {
                out.push(*c);
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn v3_mac(key: &[u8], method: &str, url: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    hmac_sha256(key, &[method.as_bytes(), v3_uri(url).as_bytes(), body, timestamp.as_bytes()])
}

impl Scheme for HubSpotV3 {
    fn info(&self) -> &'static ProviderInfo {
        &V3
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let Some(value) = header(req.headers, SIGNATURE_V3) else {
            if has(req, SIGNATURE) {
                return Err(Failure::missing(format!(
                    "header `{SIGNATURE_V3}` is missing; the request has only the older `{SIGNATURE}`: choose HubSpot v1 or v2"
                )));
            }
            return Err(Failure::missing_header(SIGNATURE_V3));
        };
        let value = value?;
        let Some(ts) = header(req.headers, TIMESTAMP) else { return Err(Failure::missing_header(TIMESTAMP)) };
        let ts = ts?;
        let millis: i64 = ts.trim().parse().map_err(|_| {
            Failure::malformed(format!("timestamp `{}` in `{TIMESTAMP}` is not Unix milliseconds", abbreviate(ts)))
        })?;
        let sig = unb64(value, &format!("the signature in `{SIGNATURE_V3}`"))?;
        if sig.len() != 32 {
            return Err(Failure::malformed(format!(
                "the signature in `{SIGNATURE_V3}` decodes to {} bytes; an HMAC-SHA256 has 32",
                sig.len()
            )));
        }
        Ok(Parsed {
            source: format!("`{SIGNATURE_V3}`"),
            signatures: vec![sig],
            // Signed as sent (milliseconds); judged in seconds.
            timestamp: Some(Stamp::exact(ts, millis.div_euclid(1000))),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        any_eq(&v3_mac(key.bytes(), msg.method, &msg.url, &msg.body, &ts.raw), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let millis = input.timestamp.saturating_mul(1000).to_string();
        let mac = v3_mac(secret.as_bytes(), input.method, input.url, input.body, &millis);
        Ok(Signed { headers: vec![(SIGNATURE_V3.into(), b64(&mac)), (TIMESTAMP.into(), millis)], body: None })
    }
}

#[cfg(test)]
mod tests {
    use super::v3_uri;

    #[test]
    fn v3_uri_decodes_only_the_listed_escapes() {
        assert_eq!(
            v3_uri("https://h.example/a%3Ab%2fc?x=%28y%29&z=%2C%3B%40%21%24%27%2A%3F"),
            "https://h.example/a:b/c?x=(y)&z=,;@!$'*?"
        );
        assert_eq!(v3_uri("https://h.example/?q=a%20b%25%2"), "https://h.example/?q=a%20b%25%2");
        assert_eq!(v3_uri("%253A"), "%253A");
    }
}
