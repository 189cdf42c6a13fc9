//! Contentful request verification (webhooks and app requests): `x-contentful-signature: <hex>`,
//! HMAC-SHA256 keyed with the 64-character signing secret over the canonical request
//! `<method>\n<path>\n<headers>\n<body>`, where `<headers>` is `name:value` joined with `;` for
//! the headers `x-contentful-signed-headers` lists, names lowercased and sorted, values trimmed,
//! with `x-contentful-signed-headers` and `x-contentful-timestamp` (Unix milliseconds) always
//! among them, and `<path>` is the request path and query as the toolkit normalizes them (the
//! query escaped with Node's `querystring.escape`, then the whole with `encodeURI`). The toolkit
//! (@contentful/node-apps-toolkit `verifyRequest`) refuses requests 30 seconds old or older.
//! <https://www.contentful.com/developers/docs/webhooks/request-verification/>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, hmac_sha256, required, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Contentful;

static INFO: ProviderInfo = ProviderInfo {
    id: "contentful",
    name: "Contentful",
    default_tolerance: Some(30),
    url_bound: true,
    asymmetric: false,
    detect: &["x-contentful-signature", "X-Contentful-Topic"],
    // The body is the entry, asset or content type as it now stands.
    event: EventSpec {
        id: &[Source::Header("X-Contentful-Idempotency-Key")],
        kind: &[Source::Header("X-Contentful-Topic")],
        created_at: &[Source::Json("/sys/updatedAt")],
        attempt: &[Source::Header("X-Contentful-Webhook-Request-Attempt")],
        resource: &[Source::Json("/sys/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "x-contentful-signature";
const SIGNED_HEADERS: &str = "x-contentful-signed-headers";
const TIMESTAMP: &str = "x-contentful-timestamp";

/// Below this a timestamp was written in seconds (it is 1973 in milliseconds). The toolkit
/// refuses anything before 2020; the looser bound keeps `sign` usable for any time.
const MIN_MILLIS: i64 = 100_000_000_000;

/// Methods the toolkit signs; it refuses any other.
const METHODS: &[&str] = &["GET", "PATCH", "HEAD", "POST", "DELETE", "OPTIONS", "PUT"];

impl Scheme for Contentful {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn key(&self, secret: &str) -> Result<Key, String> {
        let len = secret.encode_utf16().count();
        if len != 64 {
            return Err(format!("a Contentful signing secret is 64 characters; this one has {len}"));
        }
        Ok(Key::Bytes(secret.as_bytes().to_vec()))
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let listed = required(req.headers, SIGNED_HEADERS)?;
        let raw = required(req.headers, TIMESTAMP)?;
        let millis = raw.trim().parse::<i64>().ok().filter(|ms| *ms >= MIN_MILLIS).ok_or_else(|| {
            Failure::malformed(format!("timestamp `{raw}` in `{TIMESTAMP}` is not Unix milliseconds"))
        })?;
        let listed: Vec<&str> = listed.trim().split(',').collect();
        if listed.len() < 2 {
            return Err(Failure::malformed(format!(
                "`{SIGNED_HEADERS}` lists `{}`; it always lists at least `{SIGNED_HEADERS}` and `{TIMESTAMP}`",
                abbreviate(&listed.join(","))
            )));
        }
        if !METHODS.contains(&req.method) {
            return Err(Failure::malformed(format!("Contentful signs no `{}` request", abbreviate(req.method))));
        }
        // Only headers that are both listed and present are signed; the list itself is signed as
        // the sorted names of those, so a listed header that never arrived drops out of it.
        let mut signed: Vec<(String, String)> = Vec::new();
        for h in req.headers {
            let name = h.name.trim().to_ascii_lowercase();
            if listed.contains(&name.as_str()) && !signed.iter().any(|(n, _)| *n == name) {
                signed.push((name, String::from_utf8_lossy(&h.value).trim().to_string()));
            }
        }
        let timestamp = Stamp::exact(millis.to_string(), millis.div_euclid(1000));
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![unhex(sig, 32, &format!("the signature in `{SIGNATURE}`"))?],
            extra: vec![header_line(signed, &timestamp.raw)],
            timestamp: Some(timestamp),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(headers) = parsed.extra.first() else { return false };
        any_eq(&mac(key.bytes(), msg.method, &msg.url, headers, &msg.body), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        self.key(secret).map_err(SignError::BadSecret)?;
        if !METHODS.contains(&input.method) {
            return Err(SignError::BadInput(format!("Contentful signs no `{}` request", input.method)));
        }
        let millis = input.timestamp.saturating_mul(1000);
        if millis < MIN_MILLIS {
            return Err(SignError::BadInput(format!(
                "Contentful signs Unix milliseconds after 1973; timestamp {} is earlier",
                input.timestamp
            )));
        }
        let t = millis.to_string();
        let headers = header_line(Vec::new(), &t);
        let sig = mac(secret.as_bytes(), input.method, input.url, &headers, input.body);
        Ok(Signed {
            headers: vec![
                (SIGNATURE.into(), hex::encode(sig)),
                (SIGNED_HEADERS.into(), format!("{SIGNED_HEADERS},{TIMESTAMP}")),
                (TIMESTAMP.into(), t),
            ],
            body: None,
        })
    }
}

fn mac(key: &[u8], method: &str, url: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let path = canonical_path(&path_and_query(url));
    hmac_sha256(key, &[method.as_bytes(), b"\n", path.as_bytes(), b"\n", headers.as_bytes(), b"\n", body])
}

/// `name:value;…` sorted by name, with the signed-headers list and the timestamp as the toolkit
/// rewrites them.
fn header_line(mut signed: Vec<(String, String)>, timestamp: &str) -> String {
    signed.retain(|(n, _)| n != SIGNED_HEADERS && n != TIMESTAMP);
    signed.push((TIMESTAMP.to_string(), timestamp.to_string()));
    let mut names: Vec<&str> = signed.iter().map(|(n, _)| n.as_str()).chain([SIGNED_HEADERS]).collect();
    names.sort_unstable();
    let list = names.join(",");
    signed.push((SIGNED_HEADERS.to_string(), list));
    signed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    signed.iter().map(|(n, v)| format!("{n}:{v}")).collect::<Vec<_>>().join(";")
}

/// `/path?query` of an absolute URL.
fn path_and_query(url: &str) -> std::borrow::Cow<'_, str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].into(),
        Some(i) => format!("/{}", &rest[i..]).into(),
        None => "/".into(),
    }
}

/// The toolkit's `getNormalizedEncodedURI`: the part after the first `?` (up to any second one)
/// escaped with `querystring.escape`, then everything with `encodeURI`.
fn canonical_path(uri: &str) -> String {
    let mut parts = uri.split('?');
    let pathname = parts.next().unwrap_or_default();
    let joined = match parts.next().filter(|s| !s.is_empty()) {
        Some(search) => format!("{pathname}?{}", percent_encode(search, b"-_.!~*'()")),
        None => pathname.to_string(),
    };
    percent_encode(&joined, b";,/?:@&=+$-_.!~*'()#")
}

/// Percent-encodes every UTF-8 byte but ASCII letters, digits and `keep`, as JavaScript does.
fn percent_encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_as_the_toolkit_does() {
        assert_eq!(canonical_path("/api/resources/1"), "/api/resources/1");
        // The query is escaped twice over: `=` and `&` by querystring.escape, then `%` by encodeURI.
        assert_eq!(canonical_path("/api/resources?q=1&w=2"), "/api/resources?q%253D1%2526w%253D2");
        assert_eq!(canonical_path("/a b/é"), "/a%20b/%C3%A9");
        assert_eq!(canonical_path("/a?"), "/a");
        assert_eq!(canonical_path("/a?x=1?y"), "/a?x%253D1");
        assert_eq!(path_and_query("https://hooks.example.com/h/tok/in?x=1"), "/h/tok/in?x=1");
        assert_eq!(path_and_query("https://hooks.example.com"), "/");
        assert_eq!(path_and_query("https://hooks.example.com?x=1"), "/?x=1");
    }

    #[test]
    fn the_header_line_is_sorted_and_rewritten() {
        let signed = vec![
            ("x-contentful-topic".to_string(), "ContentManagement.Entry.publish".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
            (SIGNED_HEADERS.to_string(), "whatever was sent".to_string()),
        ];
        assert_eq!(
            header_line(signed, "1700000000000"),
            "content-type:application/json;\
             x-contentful-signed-headers:content-type,x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic;\
             x-contentful-timestamp:1700000000000;\
             x-contentful-topic:ContentManagement.Entry.publish"
        );
    }
}
