//! Answers to the URL-verification handshakes some providers send before they deliver anything,
//! so those providers can be pointed at a capture URL directly.

use hookmetry_core::{Header, VerificationSettings};

use crate::util::hmac_sha256;

/// What to answer instead of the endpoint's usual response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeAnswer {
    /// `slack`, `zoom` or `twitch`.
    pub provider: &'static str,
    pub content_type: &'static str,
    pub body: String,
}

/// The longest challenge echoed back. The examples in Slack's and Twitch's docs are 52 and 32
/// characters; an echo signs nothing, but there is no reason to reflect kilobytes a stranger chose.
const MAX_CHALLENGE: usize = 256;

/// The answer a handshake request expects, or `None` when the request is not one, or is not
/// shaped like one the provider sends (the capture is then stored and answered like any other),
/// or, for Zoom, when no Zoom secret is configured to compute it with.
///
/// - Slack `url_verification`: echo `challenge`
///   (<https://api.slack.com/events/url_verification>).
/// - Zoom `endpoint.url_validation`: `plainToken` and its HMAC-SHA256 under the secret token, hex
///   (<https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint>), only for a
///   token shaped like Zoom's: 1 to 64 characters of `A-Z`, `a-z`, `0-9`, `-` and `_`.
/// - Twitch `webhook_callback_verification`: echo `challenge` as plain text
///   (<https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request>).
///
/// Challenges are echoed only when 1 to 256 bytes long.
pub fn handshake(settings: Option<&VerificationSettings>, headers: &[Header], body: &[u8]) -> Option<HandshakeAnswer> {
    let twitch = headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("Twitch-Eventsub-Message-Type")
            && h.value.as_ref() == b"webhook_callback_verification"
    });
    // Only small JSON bodies can be handshakes; anything else is not parsed at all.
    if body.len() > 64 * 1024 || !body.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let challenge = || json.get("challenge")?.as_str().filter(|c| (1..=MAX_CHALLENGE).contains(&c.len()));
    if twitch {
        return Some(HandshakeAnswer {
            provider: "twitch",
            content_type: "text/plain",
            body: challenge()?.to_string(),
        });
    }
    if json.get("type").and_then(|t| t.as_str()) == Some("url_verification") {
        return Some(HandshakeAnswer { provider: "slack", content_type: "text/plain", body: challenge()?.to_string() });
    }
    if json.get("event").and_then(|e| e.as_str()) == Some("endpoint.url_validation") {
        let plain = json.pointer("/payload/plainToken")?.as_str().filter(|t| is_zoom_token(t))?;
        let secret = settings.filter(|s| s.provider == "zoom")?.secrets.first()?;
        let encrypted = hex::encode(hmac_sha256(secret.value.as_bytes(), &[plain.as_bytes()]));
        let body = serde_json::json!({ "plainToken": plain, "encryptedToken": encrypted }).to_string();
        return Some(HandshakeAnswer { provider: "zoom", content_type: "application/json", body });
    }
    None
}

/// Whether `token` is shaped like the `plainToken` Zoom sends: base64url without padding, 22
/// characters for its 16 random bytes (`qgg8vlvZRS6UYooatFL8Aw` in Zoom's docs, and
/// `2oXY7bAKQLCwXDMECt8m_g`, with the `_` of base64url, from a real validation). Up to 64 leaves
/// room for Zoom lengthening it.
///
/// The answer is the token's HMAC-SHA256 under the secret Zoom also signs deliveries with, over
/// `v0:<timestamp>:<body>`. Answering any string would let anyone who knows the capture URL have
/// a delivery signature minted for a body of their choosing; no token of this alphabet contains
/// the `:` every signed message has.
fn is_zoom_token(token: &str) -> bool {
    (1..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use hookmetry_core::SigningSecret;

    use super::*;

    fn zoom(secret: &str) -> VerificationSettings {
        VerificationSettings {
            provider: "zoom".into(),
            secrets: vec![SigningSecret::new("current", secret)],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        }
    }

    #[test]
    fn slack_challenge_is_echoed() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let a = handshake(None, &[], body).unwrap();
        assert_eq!((a.provider, a.content_type), ("slack", "text/plain"));
        assert_eq!(a.body, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    }

    #[test]
    fn twitch_challenge_needs_its_header() {
        let body = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387"}}"#;
        assert_eq!(handshake(None, &[], body), None);
        let h = [Header::new("Twitch-Eventsub-Message-Type", &b"webhook_callback_verification"[..])];
        assert_eq!(handshake(None, &h, body).unwrap().body, "pogchamp-kappa-360noscope-vohiyo");
    }

    #[test]
    fn zoom_token_is_signed_with_the_zoom_secret() {
        let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
        assert_eq!(handshake(None, &[], body), None, "no secret, no answer");
        let a = handshake(Some(&zoom("secret-token")), &[], body).unwrap();
        let got: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(got["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
        // HMAC-SHA256("secret-token", "qgg8vlvZRS6UYooatFL8Aw"), computed independently with Python's hmac.
        assert_eq!(got["encryptedToken"], "5b72bd117f184f54093c1c3c11499c1d13e6d56dc0d96e6b78fbfecedc953b75");
    }

    fn zoom_validation(plain_token: &str) -> Vec<u8> {
        serde_json::json!({"payload": {"plainToken": plain_token}, "event_ts": 1654503849680_u64, "event": "endpoint.url_validation"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn zoom_answers_only_tokens_shaped_like_zooms() {
        let zoom = zoom("secret-token");
        for token in ["2oXY7bAKQLCwXDMECt8m_g", "q9ibPhGeRZ6ayx5WTrXjRw", "a", &"A".repeat(64)] {
            let a = handshake(Some(&zoom), &[], &zoom_validation(token)).unwrap_or_else(|| panic!("{token}"));
            let got: serde_json::Value = serde_json::from_str(&a.body).unwrap();
            assert_eq!(got["plainToken"], token);
            let expected = hex::encode(hmac_sha256(b"secret-token", &[token.as_bytes()]));
            assert_eq!(got["encryptedToken"], expected.as_str());
        }
    }

    #[test]
    fn zoom_refuses_to_sign_what_a_delivery_signature_covers() {
        let zoom = zoom("secret-token");
        let refused = [
            // Exactly what `x-zm-signature` covers: an answer would be a valid delivery signature.
            r#"v0:1700000000:{"event":"meeting.started","payload":{}}"#,
            "v0:1700000000:",
            "a:b",
            "{token}",
            "two words",
            "tab\there",
            "padded==",
            "plus+slash/",
            "ünïcode",
            "",
            &"A".repeat(65),
            &"A".repeat(64 * 1024),
        ];
        for token in refused {
            assert_eq!(handshake(Some(&zoom), &[], &zoom_validation(token)), None, "{token:.40}");
        }
        // A token that is not a string at all.
        let body = br#"{"payload":{"plainToken":12345},"event":"endpoint.url_validation"}"#;
        assert_eq!(handshake(Some(&zoom), &[], body), None);
    }

    #[test]
    fn challenges_are_echoed_only_up_to_256_bytes() {
        let slack = |c: &str| serde_json::json!({"type": "url_verification", "challenge": c}).to_string().into_bytes();
        let at_limit = "c".repeat(256);
        assert_eq!(handshake(None, &[], &slack(&at_limit)).unwrap().body, at_limit);
        assert_eq!(handshake(None, &[], &slack(&"c".repeat(257))), None);
        assert_eq!(handshake(None, &[], &slack("")), None);

        let h = [Header::new("Twitch-Eventsub-Message-Type", &b"webhook_callback_verification"[..])];
        let twitch = |c: &str| serde_json::json!({"challenge": c, "subscription": {"id": "f1c2a387"}}).to_string();
        let a = handshake(None, &h, twitch(&at_limit).as_bytes()).unwrap();
        assert_eq!((a.provider, a.content_type, a.body.as_str()), ("twitch", "text/plain", at_limit.as_str()));
        assert_eq!(handshake(None, &h, twitch(&"c".repeat(257)).as_bytes()), None);
    }

    #[test]
    fn ordinary_deliveries_are_not_handshakes() {
        assert_eq!(handshake(None, &[], br#"{"type":"event_callback","challenge":"x"}"#), None);
        assert_eq!(handshake(None, &[], b"type=url_verification&challenge=x"), None);
    }
}
