//! Mercado Pago: `x-signature: ts=<timestamp>,v1=<hex>`, HMAC-SHA256 keyed with the application's
//! secret signature over the manifest `id:<data.id>;request-id:<x-request-id>;ts:<ts>;`, where
//! `data.id` is the query parameter of the notification URL (lower-cased when alphanumeric) and
//! `x-request-id` a header. A part the notification lacks is left out of the manifest, as the
//! official SDKs do (sdk-java `WebhookSignatureValidator.buildManifest`). The body is not signed.
//! <https://www.mercadopago.com.br/developers/en/docs/your-integrations/notifications/webhooks>
//!
//! The documentation shows `ts` in seconds while the SDK's tests use milliseconds, so its unit is
//! told from its number of digits. The SDKs check no tolerance unless asked to, so none is set by
//! default; a configured tolerance is applied. `x-signature` and `x-request-id` are names other
//! senders use too, so an unconfigured endpoint is not guessed to be Mercado Pago from them.

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, header, hmac_sha256, pairs, required, sha256, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct MercadoPago;

static INFO: ProviderInfo = ProviderInfo {
    id: "mercado-pago",
    name: "Mercado Pago",
    default_tolerance: None,
    url_bound: true,
    asymmetric: false,
    detect: &[],
    event: EventSpec {
        id: &[Source::Json("/id")],
        kind: &[Source::Json("/action"), Source::Json("/type")],
        created_at: &[Source::Json("/date_created")],
        resource: &[Source::Json("/data/id")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "x-signature";
const REQUEST_ID: &str = "x-request-id";

/// The `data.id` query parameter of `url`, percent-decoded; `None` when absent or empty.
fn data_id(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let raw = query.split('&').find_map(|p| p.strip_prefix("data.id=").or_else(|| p.strip_prefix("data%2Eid=")))?;
    let decoded = percent_decode(raw);
    (!decoded.is_empty()).then_some(decoded)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn manifest(data_id: Option<&str>, request_id: Option<&str>, ts: &str) -> String {
    let mut m = String::new();
    if let Some(id) = data_id {
        m.push_str(&format!("id:{id};"));
    }
    if let Some(r) = request_id {
        m.push_str(&format!("request-id:{r};"));
    }
    m.push_str(&format!("ts:{ts};"));
    m
}

impl Scheme for MercadoPago {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, SIGNATURE)?;
        let mut ts = None;
        let mut signatures = Vec::new();
        // Keys as Mercado Pago's SDKs read them: `ts` and `v1`, exactly.
        for (k, v) in pairs(value, ',') {
            match k {
                "ts" => ts = Some(v),
                "v1" => signatures.push(unhex(v, 32, &format!("the `v1` signature in `{SIGNATURE}`"))?),
                _ => {}
            }
        }
        let ts = ts.ok_or_else(|| {
            Failure::malformed(format!("`{SIGNATURE}` has no `ts=` timestamp: `{}`", abbreviate(value.trim())))
        })?;
        if signatures.is_empty() {
            return Err(Failure::malformed(format!(
                "`{SIGNATURE}` has no `v1=` signature: `{}`",
                abbreviate(value.trim())
            )));
        }
        let n: i64 = ts.parse().ok().filter(|_| ts.bytes().all(|b| b.is_ascii_digit())).ok_or_else(|| {
            Failure::malformed(format!("timestamp `{ts}` in `{SIGNATURE}` is not Unix seconds or milliseconds"))
        })?;
        // Ten digits are seconds until the year 2286; thirteen are milliseconds.
        let secs = if ts.len() >= 13 { n.div_euclid(1000) } else { n };
        let request_id = match header(req.headers, REQUEST_ID) {
            Some(v) => Some(v?.trim().to_string()).filter(|v| !v.is_empty()),
            None => None,
        };
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures,
            timestamp: Some(Stamp::exact(ts, secs)),
            id: request_id,
            ..Default::default()
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let Some(ts) = &parsed.timestamp else { return false };
        let request_id = parsed.id.as_deref();
        let id = data_id(&msg.url);
        // The documentation lower-cases an alphanumeric id; the SDKs sign whatever they are given.
        let lower = id.as_deref().map(str::to_ascii_lowercase);
        let check = |id: Option<&str>| {
            any_eq(&hmac_sha256(key.bytes(), &[manifest(id, request_id, &ts.raw).as_bytes()]), &parsed.signatures)
        };
        check(lower.as_deref()) || (lower != id && check(id.as_deref()))
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let request_id = match header(input.headers, REQUEST_ID) {
            Some(Ok(v)) if !v.trim().is_empty() => v.trim().to_string(),
            _ => input.id.map(str::to_string).unwrap_or_else(|| {
                let h = hex::encode(sha256(&[input.body]));
                format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
            }),
        };
        let id = data_id(input.url).map(|d| d.to_ascii_lowercase());
        let ts = input.timestamp.to_string();
        let mac = hmac_sha256(secret.as_bytes(), &[manifest(id.as_deref(), Some(&request_id), &ts).as_bytes()]);
        Ok(Signed {
            headers: vec![
                (SIGNATURE.into(), format!("ts={ts},v1={}", hex::encode(mac))),
                (REQUEST_ID.into(), request_id),
            ],
            body: None,
        })
    }

    fn signs_body(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_id_is_read_from_the_query() {
        assert_eq!(data_id("https://a/h/t?data.id=123&type=payment").as_deref(), Some("123"));
        assert_eq!(data_id("https://a/h/t?type=order&data.id=ORD01%41#x").as_deref(), Some("ORD01A"));
        assert_eq!(data_id("https://a/h/t?xdata.id=1"), None);
        assert_eq!(data_id("https://a/h/t?data.id="), None);
        assert_eq!(data_id("https://a/h/t"), None);
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn manifest_leaves_out_what_is_absent() {
        assert_eq!(manifest(Some("1"), Some("r"), "9"), "id:1;request-id:r;ts:9;");
        assert_eq!(manifest(None, None, "9"), "ts:9;");
    }
}
