//! Sample webhook events, as providers send them, for `hookmetry trigger <provider> <event>`.
//!
//! Each sample is built fresh: new ids and timestamps from the time given, so two triggers are two
//! distinct events, as a receiver that de-duplicates on the event id expects. Bodies follow the
//! shapes in the providers' public payload documentation, compacted to the fields a receiver
//! usually reads; headers are the ones the provider sends, in its order, without the signature.
//! [`sign`] adds that, through `hookmetry_verify::sign`, so a sample verifies exactly as a real
//! delivery would.
//!
//! Provider ids are the verification provider ids (`hookmetry_verify::providers()`), so an
//! endpoint's configured provider picks its samples and its signing scheme alike.

mod error;
mod form;
mod fresh;
mod providers;
pub mod retry;
mod set;

pub use error::SampleError;

use hookmetry_core::{GenericHmac, Header};

use crate::fresh::Cx;
use crate::providers::{Body, Draft};

/// One provider's samples, as listed by `trigger --list`.
#[derive(Debug)]
pub struct ProviderSamples {
    /// The verification provider id: `stripe`, `standard-webhooks`, …
    pub id: &'static str,
    /// As the provider writes its own name.
    pub name: &'static str,
    pub events: &'static [SampleEvent],
    /// Builds one of `events` by name; `None` for a name it does not know.
    draft: fn(&Cx, &str) -> Option<Draft>,
}

/// One event a provider sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleEvent {
    /// The event type as the provider names it (`payment_intent.succeeded`, `orders/create`),
    /// which is also what `hookmetry_verify::event_type` finds in the request.
    pub name: &'static str,
    /// One line on when the provider sends it.
    pub description: &'static str,
}

/// A sample request, ready to send (after [`sign`], when the endpoint checks signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRequest {
    pub provider: &'static str,
    /// The event type, as in [`SampleEvent::name`].
    pub event: &'static str,
    pub method: &'static str,
    /// Path to append to the endpoint URL; `/` for every provider (they call the URL as given).
    pub path: &'static str,
    /// In the order the provider sends them.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Every provider with samples, and its events.
pub fn catalog() -> &'static [ProviderSamples] {
    providers::ALL
}

/// Builds a fresh sample of `event` from `provider`, with ids made up now and timestamps at
/// `now_unix_secs`.
///
/// `sets` change the body before it is serialised, in order. For a JSON body each is a dotted
/// path (`data.object.amount`, `items.0.price`: array elements by index) and a value, read as
/// JSON when it parses as JSON (`42`, `true`, `null`, `{"a":1}`, `"quoted"`) and as a string
/// otherwise. A missing key is created, along with missing objects on the way to it; going
/// through anything but an object or array, or past the end of an array, is an error. For a form
/// body (Twilio) each sets the field of that name, replacing it or adding it at the end; the value
/// is always a string.
///
/// The event type the request names (in its headers or body) is `event`, unless a `set` changes
/// the field that names it.
pub fn build(
    provider: &str,
    event: &str,
    sets: &[(String, String)],
    now_unix_secs: i64,
) -> Result<SampleRequest, SampleError> {
    let samples = catalog().iter().find(|p| p.id == provider).ok_or_else(|| SampleError::UnknownProvider {
        provider: provider.to_string(),
        known: catalog().iter().map(|p| p.id).collect::<Vec<_>>().join(", "),
    })?;
    let unknown_event = || SampleError::UnknownEvent {
        provider: samples.id,
        event: event.to_string(),
        known: samples.events.iter().map(|e| e.name).collect::<Vec<_>>().join(", "),
    };
    let known = samples.events.iter().find(|e| e.name == event).ok_or_else(unknown_event)?;
    let cx = Cx::new(now_unix_secs)?;
    let Draft { headers, body } = (samples.draft)(&cx, known.name).ok_or_else(unknown_event)?;
    let body = match body {
        Body::Json { mut value, pretty } => {
            for (path, raw) in sets {
                set::json(&mut value, path, raw)?;
            }
            let text = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) };
            // A `Value` has only string keys and finite numbers, so it always serialises.
            text.unwrap_or_default()
        }
        Body::Form(mut fields) => {
            for (name, value) in sets {
                set::form(&mut fields, name, value)?;
            }
            form::encode(&fields).into_bytes()
        }
    };
    Ok(SampleRequest { provider: samples.id, event: known.name, method: "POST", path: "/", headers, body })
}

/// `req` with the headers (and for schemes that sign inside the body, the body) that make it
/// verify as `provider` with `secret`, signed at `now_unix_secs`.
///
/// `provider` is usually `req.provider`; it may be another scheme the endpoint is configured with
/// (`svix`, or `generic-hmac` with its `generic` settings). `url` is the URL the request will be
/// sent to, which URL-bound schemes (Twilio, Square) sign. A Standard Webhooks or Svix message id
/// already in the headers is the one signed, so the id a receiver sees is the id that was signed.
/// A signature header replaces any of the same name; new ones go at the end, where providers put
/// them.
pub fn sign(
    req: &SampleRequest,
    provider: &str,
    secret: &str,
    generic: Option<&GenericHmac>,
    url: &str,
    now_unix_secs: i64,
) -> Result<SampleRequest, SampleError> {
    let headers: Vec<Header> =
        req.headers.iter().map(|(n, v)| Header::new(n.clone(), v.clone().into_bytes())).collect();
    let id = header(&req.headers, "webhook-id").or_else(|| header(&req.headers, "svix-id"));
    let input = hookmetry_verify::SignInput {
        method: req.method,
        url,
        body: &req.body,
        timestamp: now_unix_secs,
        id,
        headers: &headers,
    };
    let signed = hookmetry_verify::sign(provider, secret, generic, &input)
        .map_err(|source| SampleError::Sign { provider: provider.to_string(), source })?;
    let mut out = req.clone();
    for (name, value) in signed.headers {
        put_header(&mut out.headers, name, value);
    }
    if let Some(body) = signed.body {
        out.body = body;
    }
    Ok(out)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Replaces the first header named `name` (dropping any later ones) or appends it.
fn put_header(headers: &mut Vec<(String, String)>, name: String, value: String) {
    match headers.iter().position(|(n, _)| n.eq_ignore_ascii_case(&name)) {
        Some(first) => {
            headers[first] = (name, value);
            let mut i = first + 1;
            while i < headers.len() {
                if headers[i].0.eq_ignore_ascii_case(&headers[first].0) {
                    headers.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        None => headers.push((name, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_735_689_600;

    #[test]
    fn unknown_provider_lists_the_known_ones() {
        let e = build("strype", "charge.succeeded", &[], NOW).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`strype`"), "{msg}");
        assert!(msg.contains("stripe, github, shopify"), "{msg}");
        assert!(matches!(e, SampleError::UnknownProvider { .. }));
    }

    #[test]
    fn unknown_event_lists_that_providers_events() {
        let msg = build("shopify", "orders/created", &[], NOW).unwrap_err().to_string();
        assert!(msg.contains("`orders/created`"), "{msg}");
        assert!(msg.contains("orders/create, orders/paid"), "{msg}");
        assert!(!msg.contains("payment_intent"), "{msg}");
    }

    #[test]
    fn a_time_outside_what_can_be_written_is_refused() {
        assert!(matches!(build("stripe", "charge.succeeded", &[], -1), Err(SampleError::BadTime(-1))));
        assert!(build("stripe", "charge.succeeded", &[], 253_402_300_800).is_err());
    }

    #[test]
    fn every_event_has_a_distinct_name_and_a_description() {
        for p in catalog() {
            assert!((4..=8).contains(&p.events.len()), "{} has {} events", p.id, p.events.len());
            let mut names: Vec<_> = p.events.iter().map(|e| e.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), p.events.len(), "{} lists an event twice", p.id);
            for e in p.events {
                assert!(!e.description.is_empty() && !e.description.contains('\n'), "{} {}", p.id, e.name);
            }
        }
    }

    #[test]
    fn two_builds_are_two_events() {
        let a = build("stripe", "customer.created", &[], NOW).unwrap();
        let b = build("stripe", "customer.created", &[], NOW).unwrap();
        assert_ne!(a.body, b.body, "ids are made up afresh");
        let a = build("github", "ping", &[], NOW).unwrap();
        let b = build("github", "ping", &[], NOW).unwrap();
        assert_ne!(header(&a.headers, "X-GitHub-Delivery"), header(&b.headers, "X-GitHub-Delivery"));
    }

    #[test]
    fn put_header_replaces_in_place_and_drops_duplicates() {
        let mut hs = vec![
            ("a".to_string(), "1".to_string()),
            ("Sig".to_string(), "old".to_string()),
            ("b".to_string(), "2".to_string()),
            ("sig".to_string(), "older".to_string()),
        ];
        put_header(&mut hs, "SIG".into(), "new".into());
        put_header(&mut hs, "c".into(), "3".into());
        let names: Vec<_> = hs.iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(names, ["a=1", "SIG=new", "b=2", "c=3"]);
    }
}
