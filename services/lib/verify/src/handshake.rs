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

/// The answer a handshake request expects, or `None` when the request is not one (or, for Zoom,
/// when no Zoom secret is configured to compute it with).
///
/// - Slack `url_verification`: echo `challenge`
///   (<https://api.slack.com/events/url_verification>).
/// - Zoom `endpoint.url_validation`: `plainToken` and its HMAC-SHA256 under the secret token, hex
///   (<https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint>).
/// - Twitch `webhook_callback_verification`: echo `challenge` as plain text
///   (<https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#responding-to-a-challenge-request>).
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
    if twitch {
        let challenge = json.get("challenge")?.as_str()?;
        return Some(HandshakeAnswer { provider: "twitch", content_type: "text/plain", body: challenge.to_string() });
    }
    if json.get("type").and_then(|t| t.as_str()) == Some("url_verification") {
        let challenge = json.get("challenge")?.as_str()?;
        return Some(HandshakeAnswer { provider: "slack", content_type: "text/plain", body: challenge.to_string() });
    }
    if json.get("event").and_then(|e| e.as_str()) == Some("endpoint.url_validation") {
        let plain = json.pointer("/payload/plainToken")?.as_str()?;
        let secret = settings.filter(|s| s.provider == "zoom")?.secrets.first()?;
        let encrypted = hex::encode(hmac_sha256(secret.value.as_bytes(), &[plain.as_bytes()]));
        let body = serde_json::json!({ "plainToken": plain, "encryptedToken": encrypted }).to_string();
        return Some(HandshakeAnswer { provider: "zoom", content_type: "application/json", body });
    }
    None
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

    #[test]
    fn ordinary_deliveries_are_not_handshakes() {
        assert_eq!(handshake(None, &[], br#"{"type":"event_callback","challenge":"x"}"#), None);
        assert_eq!(handshake(None, &[], b"type=url_verification&challenge=x"), None);
    }
}
