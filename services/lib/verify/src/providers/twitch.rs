//! Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex>`, HMAC-SHA256 over
//! `<Twitch-Eventsub-Message-Id><Twitch-Eventsub-Message-Timestamp><body>` keyed with the secret
//! given when subscribing; the timestamp is RFC 3339 and Twitch asks receivers to drop messages
//! more than 10 minutes old.
//! <https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message>

use hookmetry_core::{Timestamp, format_rfc3339};

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source, Stamp};
use crate::util::{abbreviate, any_eq, hmac_sha256, required, sha256, unhex};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct Twitch;

static INFO: ProviderInfo = ProviderInfo {
    id: "twitch",
    name: "Twitch EventSub",
    // "Make sure the value in the timestamp field isn't older than 10 minutes."
    default_tolerance: Some(600),
    url_bound: false,
    asymmetric: false,
    detect: &["Twitch-Eventsub-Message-Signature", "Twitch-Eventsub-Message-Id"],
    event: EventSpec {
        id: &[Source::Header("Twitch-Eventsub-Message-Id")],
        kind: &[Source::Header("Twitch-Eventsub-Subscription-Type")],
        created_at: &[Source::Header("Twitch-Eventsub-Message-Timestamp")],
        ..EventSpec::NONE
    },
};

const SIGNATURE: &str = "Twitch-Eventsub-Message-Signature";
const ID: &str = "Twitch-Eventsub-Message-Id";
const TIMESTAMP: &str = "Twitch-Eventsub-Message-Timestamp";
const TYPE: &str = "Twitch-Eventsub-Message-Type";

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    hmac_sha256(key, &[id.as_bytes(), timestamp.as_bytes(), body])
}

impl Scheme for Twitch {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let sig = required(req.headers, SIGNATURE)?;
        let id = required(req.headers, ID)?;
        let ts = required(req.headers, TIMESTAMP)?;
        let hex = sig.trim().strip_prefix("sha256=").ok_or_else(|| {
            Failure::malformed(format!("`{SIGNATURE}` should start with `sha256=`: `{}`", abbreviate(sig)))
        })?;
        let signature = unhex(hex, 32, &format!("the signature in `{SIGNATURE}`"))?;
        let micros = Timestamp::parse_rfc3339(ts.trim())
            .map_err(|_| {
                Failure::malformed(format!(
                    "timestamp `{}` in `{TIMESTAMP}` is not an RFC 3339 time such as 2023-07-19T14:56:51.634234626Z",
                    abbreviate(ts)
                ))
            })?
            .micros();
        Ok(Parsed {
            source: format!("`{SIGNATURE}`"),
            signatures: vec![signature],
            timestamp: Some(Stamp::exact(ts, micros.div_euclid(1_000_000))),
            id: Some(id.to_string()),
            extra: Vec::new(),
        })
    }

    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool {
        let (Some(ts), Some(id)) = (&parsed.timestamp, &parsed.id) else { return false };
        any_eq(&mac(key.bytes(), id, &ts.raw, &msg.body), &parsed.signatures)
    }

    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError> {
        let id = input.id.map(str::to_string).unwrap_or_else(|| {
            // A UUID-shaped id derived from the body, so signing is repeatable.
            let h = hex::encode(sha256(&[input.body]));
            format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
        });
        // Twitch writes nanoseconds; whole seconds padded to nine digits look the same.
        let micros = input
            .timestamp
            .checked_mul(1_000_000)
            .ok_or_else(|| SignError::BadInput(format!("timestamp {} is out of range", input.timestamp)))?;
        let ts = format_rfc3339(micros).replace('Z', "000Z");
        let signature = format!("sha256={}", hex::encode(mac(secret.as_bytes(), &id, &ts, input.body)));
        let mut headers = vec![(ID.into(), id), (TIMESTAMP.into(), ts), (SIGNATURE.into(), signature)];
        if !input.headers.iter().any(|h| h.name.eq_ignore_ascii_case(TYPE)) {
            headers.push((TYPE.into(), "notification".into()));
        }
        Ok(Signed { headers, body: None })
    }
}
