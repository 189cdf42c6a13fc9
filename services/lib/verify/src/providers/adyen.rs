//! Adyen signs with the HMAC key from the Customer Area, hex-decoded, in two ways:
//! - `adyen` (standard webhooks): every `NotificationRequestItem` carries
//!   `additionalData.hmacSignature`, the base64 HMAC-SHA256 of
//!   `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
//!   (`amount.value` and `amount.currency`; a missing field is empty). Every item must match.
//! - `adyen-hmac-header` (platform, management and the other webhooks signed in a header):
//!   `HmacSignature: <base64>`, the HMAC-SHA256 of the raw body.
//!
//! <https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures>

use serde_json::{Map, Value};

use crate::providers::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::b64_digest;
use crate::util::{abbreviate, any_eq, b64, header, hmac_sha256, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Adyen;
pub(crate) struct AdyenHmacHeader;

static STANDARD: ProviderInfo = ProviderInfo {
    id: "adyen",
    name: "Adyen",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    // The signature is in the body; no header tells a standard webhook apart.
    detect: &[],
    event: EventSpec {
        id: &[Source::Joined(
            &[
                Source::Json("/notificationItems/0/NotificationRequestItem/pspReference"),
                Source::Json("/notificationItems/0/NotificationRequestItem/eventCode"),
            ],
            ":",
        )],
        kind: &[Source::Json("/notificationItems/0/NotificationRequestItem/eventCode")],
        created_at: &[Source::Json("/notificationItems/0/NotificationRequestItem/eventDate")],
        resource: &[
            Source::Json("/notificationItems/0/NotificationRequestItem/originalReference"),
            Source::Json("/notificationItems/0/NotificationRequestItem/pspReference"),
        ],
        ..EventSpec::NONE
    },
};

static HEADER_INFO: ProviderInfo = ProviderInfo {
    id: "adyen-hmac-header",
    name: "Adyen platform webhooks",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    detect: &["HmacSignature"],
    event: EventSpec {
        id: &[Source::Joined(
            &[
                Source::Json("/notificationItems/0/NotificationRequestItem/pspReference"),
                Source::Json("/notificationItems/0/NotificationRequestItem/eventCode"),
            ],
            ":",
        )],
        kind: &[Source::Json("/notificationItems/0/NotificationRequestItem/eventCode")],
        created_at: &[Source::Json("/notificationItems/0/NotificationRequestItem/eventDate")],
        resource: &[
            Source::Json("/notificationItems/0/NotificationRequestItem/originalReference"),
            Source::Json("/notificationItems/0/NotificationRequestItem/pspReference"),
        ],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "HmacSignature";
const SIGNATURE_FIELD: &str = "`additionalData.hmacSignature`";

/// The key is the hex HMAC key Adyen generates (64 characters); surrounding whitespace is
/// ignored, since it can never be part of hex.
fn key(secret: &str) -> Result<Vec<u8>, String> {
    let s = secret.trim();
    let bad = "expected the HMAC key as Adyen shows it: hex characters, 64 for a key the Customer Area generates";
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return Err(bad.to_string());
    }
    hex::decode(s).map_err(|_| bad.to_string())
}

/// Where a body that is not a standard webhook may have its signature instead.
fn header_hint(req: &Request<'_>) -> &'static str {
    if header(req.headers, HEADER).is_some() {
        " (this request has an `HmacSignature` header: verify it as `adyen-hmac-header`)"
    } else {
        ""
    }
}

/// Every `NotificationRequestItem` of a standard webhook body.
fn items(doc: &Value) -> Result<Vec<&Map<String, Value>>, String> {
    let list = doc
        .get("notificationItems")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| "the body has no `notificationItems`, so it is not an Adyen standard webhook".to_string())?;
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            entry
                .get("NotificationRequestItem")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("notification item {} has no `NotificationRequestItem` object", i + 1))
        })
        .collect()
}

/// "notification item 2 (pspReference `…`)".
fn describe(i: usize, item: &Map<String, Value>) -> String {
    match item.get("pspReference").and_then(Value::as_str) {
        Some(psp) => format!("notification item {} (pspReference `{}`)", i + 1, abbreviate(psp)),
        None => format!("notification item {}", i + 1),
    }
}

/// `pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`,
/// each field as its JSON string (numbers and booleans as written), empty when absent.
fn signing_string(item: &Map<String, Value>) -> String {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    };
    let amount = item.get("amount");
    [
        text(item.get("pspReference")),
        text(item.get("originalReference")),
        text(item.get("merchantAccountCode")),
        text(item.get("merchantReference")),
        text(amount.and_then(|a| a.get("value"))),
        text(amount.and_then(|a| a.get("currency"))),
        text(item.get("eventCode")),
        text(item.get("success")),
    ]
    .join(":")
}

impl Adyen {
    /// For each notification item of `body`, whether its signature (in item order) matches under
    /// `key`; `None` when the body does not hold as many items as there are signatures.
    fn item_matches(key: &[u8], body: &[u8], signatures: &[Vec<u8>]) -> Option<Vec<bool>> {
        let doc: Value = serde_json::from_slice(body).ok()?;
        let items = items(&doc).ok()?;
        if items.len() != signatures.len() {
            return None;
        }
        Some(
            items
                .iter()
                .zip(signatures)
                .map(|(item, sig)| {
                    let expected = hmac_sha256(key, &[signing_string(item).as_bytes()]);
                    any_eq(&expected, std::slice::from_ref(sig))
                })
                .collect(),
        )
    }
}

impl Scheme for Adyen {
    fn info(&self) -> &'static ProviderInfo {
        &STANDARD
    }

    fn key(&self, secret: &str) -> Result<Key, String> {
        key(secret).map(Key::Bytes)
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let doc: Value = serde_json::from_slice(req.body).map_err(|_| {
            Failure::malformed(format!(
                "the body is not JSON, so it holds no Adyen standard webhook{}",
                header_hint(req)
            ))
        })?;
        let items = items(&doc).map_err(|m| Failure::malformed(format!("{m}{}", header_hint(req))))?;
        let mut signatures = Vec::with_capacity(items.len());
        let mut unsigned = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get("additionalData").and_then(|a| a.get("hmacSignature")) {
                Some(Value::String(s)) if !s.is_empty() => {
                    signatures.push(b64_digest(s, 32, &format!("{SIGNATURE_FIELD} of {}", describe(i, item)))?);
                }
                None | Some(Value::Null) | Some(Value::String(_)) => unsigned.push(i),
                Some(_) => {
                    return Err(Failure::malformed(format!(
                        "{SIGNATURE_FIELD} of {} is not a string",
                        describe(i, item)
                    )));
                }
            }
        }
        if unsigned.len() == items.len() {
            return Err(Failure::missing(format!(
                "no notification item has {SIGNATURE_FIELD}: HMAC signing is not enabled for this webhook in the Adyen Customer Area{}",
                header_hint(req)
            )));
        }
        if let Some(&i) = unsigned.first() {
            return Err(Failure::malformed(format!(
                "{} has no {SIGNATURE_FIELD} while the other items are signed",
                describe(i, items[i])
            )));
        }
        let source = if items.len() == 1 {
            format!("{SIGNATURE_FIELD} of {}", describe(0, items[0]))
        } else {
            format!("{SIGNATURE_FIELD} of the {} notification items (every one must match)", items.len())
        };
        Ok(Parsed { source, signatures, ..Default::default() })
    }

    /// Re-derives every item's signing string from `msg.body`; all items must match.
    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        Adyen::item_matches(key.bytes(), &msg.body, &parsed.signatures).is_some_and(|r| r.iter().all(|ok| *ok))
    }

    /// Returns the body with `additionalData.hmacSignature` set in every notification item.
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let key = key(secret).map_err(SignError::BadSecret)?;
        let not_a_notification = |why: &str| {
            SignError::BadInput(format!(
                "an Adyen standard webhook is JSON with `notificationItems[].NotificationRequestItem`; {why}"
            ))
        };
        let mut doc: Value =
            serde_json::from_slice(input.body).map_err(|_| not_a_notification("this body is not JSON"))?;
        let list = doc
            .get_mut("notificationItems")
            .and_then(Value::as_array_mut)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| not_a_notification("this body has no `notificationItems`"))?;
        for (i, entry) in list.iter_mut().enumerate() {
            let item = entry.get_mut("NotificationRequestItem").and_then(Value::as_object_mut).ok_or_else(|| {
                not_a_notification(&format!("item {} has no `NotificationRequestItem` object", i + 1))
            })?;
            let sig = b64(&hmac_sha256(&key, &[signing_string(item).as_bytes()]));
            let additional = item.entry("additionalData").or_insert(Value::Null);
            if additional.is_null() {
                *additional = Value::Object(Map::new());
            }
            let Some(additional) = additional.as_object_mut() else {
                return Err(not_a_notification(&format!("`additionalData` of item {} is not an object", i + 1)));
            };
            additional.insert("hmacSignature".into(), Value::String(sig));
        }
        let body = serde_json::to_vec(&doc).map_err(|e| SignError::BadInput(e.to_string()))?;
        Ok(Signed { headers: Vec::new(), body: Some(body) })
    }

    fn signs_body(&self) -> bool {
        false
    }
}

impl Scheme for AdyenHmacHeader {
    fn info(&self) -> &'static ProviderInfo {
        &HEADER_INFO
    }

    fn key(&self, secret: &str) -> Result<Key, String> {
        key(secret).map(Key::Bytes)
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        let sig = b64_digest(value, 32, &format!("the signature in `{HEADER}`"))?;
        Ok(Parsed { source: format!("`{HEADER}`"), signatures: vec![sig], ..Default::default() })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(&hmac_sha256(key.bytes(), &[&msg.body]), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let key = key(secret).map_err(SignError::BadSecret)?;
        Ok(Signed { headers: vec![(HEADER.into(), b64(&hmac_sha256(&key, &[input.body])))], body: None })
    }
}
