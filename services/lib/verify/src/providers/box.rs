//! Box (v2 webhooks): `BOX-SIGNATURE-PRIMARY` and `BOX-SIGNATURE-SECONDARY` are the base64
//! HMAC-SHA256 of `<body><BOX-DELIVERY-TIMESTAMP>` (body first, no separator), keyed with the
//! app's primary and secondary signature keys; Box sends both so that either key can be rotated
//! while the other still verifies, and either one matching is enough. The timestamp is RFC 3339;
//! Box's SDKs refuse one more than ten minutes old (box-python-sdk `validate_message`,
//! `max_age = 600`). `BOX-SIGNATURE-VERSION: 1` and `BOX-SIGNATURE-ALGORITHM: HmacSHA256` name
//! the scheme, and the SDKs refuse any other.
//! <https://developer.box.com/guides/webhooks/v2/signatures-v2/>
//!
//! Box computes the signature over the body with every character outside printable ASCII
//! written as a JSON `\uXXXX` escape, while the body it sends may carry them as UTF-8: its
//! SDKs check both forms (`compute_webhook_signature(…, escape_body=True)`), and so does this.

use hookmetry_core::{Timestamp, format_rfc3339};

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, b64, b64_digest, header, hmac_sha256};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct BoxCom;

static INFO: ProviderInfo = ProviderInfo {
    id: "box",
    name: "Box",
    default_tolerance: Some(600),
    url_bound: false,
    asymmetric: false,
    detect: &["BOX-SIGNATURE-PRIMARY", "BOX-DELIVERY-ID", "BOX-DELIVERY-TIMESTAMP"],
    event: EventSpec {
        // `BOX-DELIVERY-ID` changes on every retry; the body's `id` stays the same.
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/trigger")],
        created_at: &[Source::Json("/created_at")],
        resource: &[Source::Json("/source/id")],
        ..EventSpec::NONE
    },
};

const PRIMARY: &str = "BOX-SIGNATURE-PRIMARY";
const SECONDARY: &str = "BOX-SIGNATURE-SECONDARY";
const TIMESTAMP: &str = "BOX-DELIVERY-TIMESTAMP";
const VERSION: &str = "BOX-SIGNATURE-VERSION";
const ALGORITHM: &str = "BOX-SIGNATURE-ALGORITHM";

/// An RFC 3339 timestamp header as a [`Stamp`] (Box, Zendesk).
pub(crate) fn rfc3339_stamp(raw: &str, name: &str) -> Result<Stamp, Failure> {
    let micros = Timestamp::parse_rfc3339(raw.trim())
        .map_err(|_| {
            Failure::malformed(format!(
                "timestamp `{}` in `{name}` is not an RFC 3339 time such as 2021-07-25T10:00:00Z",
                abbreviate(raw)
            ))
        })?
        .micros();
    Ok(Stamp::exact(raw, micros.div_euclid(1_000_000)))
}

/// Whole seconds as RFC 3339 without a fraction, as Box and Zendesk write their timestamps.
pub(crate) fn rfc3339_secs(secs: i64) -> Result<String, SignError> {
    let micros =
        secs.checked_mul(1_000_000).ok_or_else(|| SignError::BadInput(format!("timestamp {secs} is out of range")))?;
    Ok(format_rfc3339(micros).replace(".000000Z", "Z"))
}

/// The body as Box signs it when it carries characters outside printable ASCII: those written as
/// JSON escapes (`\n`, `\r`, `\t`, else `\uXXXX` in lowercase hex, UTF-16 surrogate pairs beyond
/// the BMP), and a backslash not followed by `/` doubled, as Box's SDKs rebuild it. `None` when
/// the body is not UTF-8 or needs no escaping.
fn escaped(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    if text.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'\\') {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'/') => out.push('\\'),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    Some(out.into_bytes())
}

impl Scheme for BoxCom {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let primary = header(req.headers, PRIMARY).transpose()?;
        let secondary = header(req.headers, SECONDARY).transpose()?;
        if primary.is_none() && secondary.is_none() {
            return Err(Failure::missing(format!(
                "headers `{PRIMARY}` and `{SECONDARY}` are missing (the app has no signature keys, or this is not Box)"
            )));
        }
        let ts = header(req.headers, TIMESTAMP).transpose()?.ok_or_else(|| Failure::missing_header(TIMESTAMP))?;
        for (name, known) in [(VERSION, "1"), (ALGORITHM, "HmacSHA256")] {
            if let Some(v) = header(req.headers, name).transpose()?
                && v.trim() != known
            {
                return Err(Failure::malformed(format!(
                    "`{name}` is `{}`; Box's only scheme is `{known}`, and its SDKs refuse any other",
                    abbreviate(v.trim())
                )));
            }
        }
        let mut signatures = Vec::new();
        let mut sources = Vec::new();
        for (name, value) in [(PRIMARY, primary), (SECONDARY, secondary)] {
            if let Some(v) = value {
                signatures.push(b64_digest(v, 32, &format!("the signature in `{name}`"))?);
                sources.push(format!("`{name}`"));
            }
        }
        Ok(Parsed {
            source: sources.join(" or "),
            signatures,
            timestamp: Some(rfc3339_stamp(ts, TIMESTAMP)?),
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        let raw = any_eq(&hmac_sha256(key.bytes(), &[&msg.body, ts.raw.as_bytes()]), &parsed.signatures);
        let escaped = escaped(&msg.body)
            .is_some_and(|b| any_eq(&hmac_sha256(key.bytes(), &[&b, ts.raw.as_bytes()]), &parsed.signatures));
        raw | escaped
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let ts = rfc3339_secs(input.timestamp)?;
        let mac = hmac_sha256(secret.as_bytes(), &[input.body, ts.as_bytes()]);
        // Only the primary header: the secret is one key, and Box signs each header with its own.
        Ok(Signed {
            headers: vec![
                (PRIMARY.into(), b64(&mac)),
                (TIMESTAMP.into(), ts),
                (VERSION.into(), "1".into()),
                (ALGORITHM.into(), "HmacSHA256".into()),
            ],
            body: None,
        })
    }
}
