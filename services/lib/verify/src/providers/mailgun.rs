//! Mailgun: the signature travels in the body, not a header. Webhooks post JSON
//! `{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}`; legacy webhooks and
//! routes post a form with `timestamp`, `token` and `signature` fields. `signature` is the hex
//! HMAC-SHA256 of `<timestamp><token>` keyed with the HTTP webhook signing key, so the rest of
//! the body is not covered. Events of a subaccount also carry `parent-signature`, made with the
//! parent account's key; either one matching is enough.
//! <https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks>

use hookmetry_core::form_decode;

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, header, hmac_sha256, sha256, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Mailgun;

static INFO: ProviderInfo = ProviderInfo {
    id: "mailgun",
    name: "Mailgun",
    // Mailgun calls the timestamp check optional and warns that "there can be delays in webhook
    // processing that are outside of Mailgun's control so you don't want to be too aggressive
    // with this check"; with no number given, none is applied unless one is configured.
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    // Mailgun sends no header of its own.
    detect: &[],
    event: EventSpec {
        id: &[Source::Json("/event-data/id")],
        kind: &[Source::Json("/event-data/event")],
        created_at: &[Source::Json("/event-data/timestamp")],
        resource: &[Source::Json("/event-data/message/headers/message-id")],
        ..EventSpec::NONE
    },
};

/// The three signed fields, however the body carried them.
struct Fields {
    timestamp: Option<String>,
    token: Option<String>,
    signatures: Vec<(&'static str, String)>,
}

const MISSING: &str =
    "the body holds no Mailgun signature: neither a JSON `signature` object nor a form `signature` field";

fn from_json(body: &[u8]) -> Result<Fields, Failure> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Failure::malformed(format!("the body looks like JSON but does not parse: {e}")))?;
    let Some(obj) = value.get("signature") else { return Err(Failure::missing(MISSING)) };
    let serde_json::Value::Object(obj) = obj else {
        return Err(Failure::malformed(
            "`signature` in the body is not an object with `timestamp`, `token` and `signature`",
        ));
    };
    let text = |k: &str| -> Result<Option<String>, Failure> {
        match obj.get(k) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(Failure::malformed(format!("`signature.{k}` in the body is not a string"))),
        }
    };
    let mut signatures = Vec::new();
    for k in ["signature", "parent-signature"] {
        if let Some(s) = text(k)? {
            signatures.push((k, s));
        }
    }
    Ok(Fields { timestamp: text("timestamp")?, token: text("token")?, signatures })
}

/// `name=value` pairs of a form body, decoded.
fn from_urlencoded(body: &[u8]) -> Fields {
    let mut fields = Fields { timestamp: None, token: None, signatures: Vec::new() };
    for pair in body.split(|b| *b == b'&') {
        let text = String::from_utf8_lossy(pair);
        let (k, v) = text.split_once('=').unwrap_or((text.as_ref(), ""));
        let value = || String::from_utf8_lossy(&form_decode(v)).into_owned();
        match String::from_utf8_lossy(&form_decode(k)).as_ref() {
            "timestamp" => fields.timestamp = Some(value()),
            "token" => fields.token = Some(value()),
            "signature" => fields.signatures.push(("signature", value())),
            _ => {}
        }
    }
    fields
}

/// The fields of a `multipart/form-data` body (routes that forward attachments post this).
fn from_multipart(body: &[u8], boundary: &str) -> Fields {
    let mut fields = Fields { timestamp: None, token: None, signatures: Vec::new() };
    let delimiter = format!("--{boundary}");
    for part in split(body, delimiter.as_bytes()).into_iter().skip(1) {
        let part = part.strip_prefix(b"\r\n").or_else(|| part.strip_prefix(b"\n")).unwrap_or(part);
        let Some(end) = find(part, b"\r\n\r\n").map(|i| (i, 4)).or_else(|| find(part, b"\n\n").map(|i| (i, 2))) else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..end.0]);
        let value = &part[end.0 + end.1..];
        let value = value.strip_suffix(b"\r\n").or_else(|| value.strip_suffix(b"\n")).unwrap_or(value);
        let Some(name) = head.lines().find_map(|l| {
            let (h, rest) = l.split_once(':')?;
            if !h.trim().eq_ignore_ascii_case("content-disposition") {
                return None;
            }
            rest.split(';').find_map(|p| p.trim().strip_prefix("name=").map(|n| n.trim_matches('"').to_string()))
        }) else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match name.as_str() {
            "timestamp" => fields.timestamp = Some(value),
            "token" => fields.token = Some(value),
            "signature" => fields.signatures.push(("signature", value)),
            _ => {}
        }
    }
    fields
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(i) = find(hay, sep) {
        out.push(&hay[..i]);
        hay = &hay[i + sep.len()..];
    }
    out.push(hay);
    out
}

fn boundary(req: &Request<'_>) -> Option<String> {
    let ct = header(req.headers, "Content-Type")?.ok()?;
    let (kind, params) = ct.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })
}

fn is_json(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

impl Scheme for Mailgun {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let (fields, source, at) = if is_json(req.body) {
            (from_json(req.body)?, "the body's `signature` object", "`signature.")
        } else if let Some(b) = boundary(req) {
            (from_multipart(req.body, &b), "the form field `signature`", "form field `")
        } else {
            (from_urlencoded(req.body), "the form field `signature`", "form field `")
        };
        if fields.signatures.is_empty() {
            // A JSON body got here with a `signature` object, just not the field inside it.
            return Err(if is_json(req.body) {
                Failure::malformed("`signature.signature` is missing from the body's `signature` object")
            } else {
                Failure::missing(MISSING)
            });
        }
        let Some(ts) = fields.timestamp else { return Err(Failure::malformed(format!("{at}timestamp` is missing"))) };
        let Some(token) = fields.token else { return Err(Failure::malformed(format!("{at}token` is missing"))) };
        let secs = ts
            .trim()
            .parse::<i64>()
            .map_err(|_| Failure::malformed(format!("{at}timestamp` is `{}`, not Unix seconds", abbreviate(&ts))))?;
        let mut signatures = Vec::new();
        for (name, hex) in fields.signatures {
            signatures.push(unhex(&hex, 32, &format!("{at}{name}`"))?);
        }
        Ok(Parsed {
            source: source.to_string(),
            signatures,
            timestamp: Some(Stamp::exact(ts, secs)),
            extra: vec![token],
            ..Default::default()
        })
    }

    /// The body is not signed, so the message is not consulted: only the timestamp and token.
    fn matches(&self, key: &Key, _msg: &Message<'_>, parsed: &Parsed) -> bool {
        let (Some(ts), Some(token)) = (&parsed.timestamp, parsed.extra.first()) else { return false };
        any_eq(&hmac_sha256(key.bytes(), &[ts.raw.as_bytes(), token.as_bytes()]), &parsed.signatures)
    }

    /// A JSON body gets its `signature` object set (the rest kept byte for byte); any other body
    /// is treated as a form and gets `timestamp`, `token` and `signature` fields.
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let ts = input.timestamp.to_string();
        let token = match input.id {
            Some(id) => id.to_string(),
            // 50 characters like Mailgun's, derived so that signing is repeatable.
            None => hex::encode(sha256(&[ts.as_bytes(), input.body]))[..50].to_string(),
        };
        let sig = hex::encode(hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), token.as_bytes()]));
        let body = if input.body.iter().all(u8::is_ascii_whitespace) {
            signature_object(&ts, &token, &sig).into_bytes()
        } else if is_json(input.body) {
            let value: serde_json::Value = serde_json::from_slice(input.body)
                .map_err(|e| SignError::BadInput(format!("the body looks like JSON but does not parse: {e}")))?;
            if !value.is_object() {
                return Err(SignError::BadInput("the JSON body is not an object".into()));
            }
            with_member(input.body, "signature", &signature_object(&ts, &token, &sig))
        } else {
            let mut kept: Vec<&[u8]> = input
                .body
                .split(|b| *b == b'&')
                .filter(|p| {
                    let k = p.split(|b| *b == b'=').next().unwrap_or_default();
                    !matches!(
                        form_decode(&String::from_utf8_lossy(k)).as_slice(),
                        b"timestamp" | b"token" | b"signature"
                    )
                })
                .collect();
            let added = format!("timestamp={ts}&token={}&signature={sig}", urlencode(&token));
            kept.push(added.as_bytes());
            kept.join(&b'&')
        };
        Ok(Signed { headers: Vec::new(), body: Some(body) })
    }

    fn signs_body(&self) -> bool {
        false
    }
}

fn signature_object(ts: &str, token: &str, sig: &str) -> String {
    let s = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    format!(r#"{{"signature":{{"timestamp":{},"token":{},"signature":{}}}}}"#, s(ts), s(token), s(sig))
}

/// Form-encodes a token (Mailgun's are alphanumeric; a caller-chosen id may not be).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `body` (a JSON object) with its top-level `key` set to the value of `{"key":…}` in `member`:
/// replaced where it is, or added first; everything else stays byte for byte.
fn with_member(body: &[u8], key: &str, member: &str) -> Vec<u8> {
    // `member` is `{"key":VALUE}`; take VALUE.
    let value = &member[key.len() + 4..member.len() - 1];
    if let Some((start, end)) = member_value_span(body, key) {
        return [&body[..start], value.as_bytes(), &body[end..]].concat();
    }
    let open = body.iter().position(|b| *b == b'{').unwrap_or(0);
    let empty = body[open + 1..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let inner = &member[1..member.len() - 1];
    let insert = if empty { inner.to_string() } else { format!("{inner},") };
    [&body[..=open], insert.as_bytes(), &body[open + 1..]].concat()
}

/// The byte range of the value of top-level `key` in a JSON object, if present.
fn member_value_span(body: &[u8], key: &str) -> Option<(usize, usize)> {
    let skip_ws = |mut i: usize| {
        while i < body.len() && body[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    // Index just past the string starting at `i` (which is `"`).
    let skip_string = |mut i: usize| {
        i += 1;
        while i < body.len() && body[i] != b'"' {
            i += if body[i] == b'\\' { 2 } else { 1 };
        }
        i + 1
    };
    let mut i = skip_ws(0);
    if body.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(i);
        if body.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_string(i);
        let name = body.get(i + 1..key_end - 1)?;
        i = skip_ws(key_end);
        if body.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(i + 1);
        let mut j = start;
        let mut depth = 0usize;
        while j < body.len() {
            match body[j] {
                b'"' => {
                    j = skip_string(j);
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => break,
                b'}' | b']' => depth -= 1,
                b',' if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        let mut end = j;
        while end > start && body[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        if name == key.as_bytes() {
            return Some((start, end));
        }
        if body.get(j) != Some(&b',') {
            return None;
        }
        i = j + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_replaced_or_added_in_place() {
        let m = r#"{"signature":{"a":1}}"#;
        assert_eq!(
            with_member(br#"{"x": [1, {"y": "}"}], "signature": {"old": "v,}"} }"#, "signature", m),
            br#"{"x": [1, {"y": "}"}], "signature": {"a":1} }"#
        );
        assert_eq!(
            with_member(br#" { "event-data": {"e": 1} }"#, "signature", m),
            br#" {"signature":{"a":1}, "event-data": {"e": 1} }"#
        );
        assert_eq!(with_member(b"{ }", "signature", m), br#"{"signature":{"a":1} }"#);
        assert_eq!(
            with_member(br#"{"sig\"nature":1,"signature":2}"#, "signature", m),
            br#"{"sig\"nature":1,"signature":{"a":1}}"#
        );
    }
}
