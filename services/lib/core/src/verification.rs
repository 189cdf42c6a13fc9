//! Per-endpoint signature-verification settings and the stored result of checking one capture.
//!
//! The checking itself lives in `hookmetry-verify`; these are the plain data every role and
//! backend passes around.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// How an endpoint's captures are checked for authenticity.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationSettings {
    /// Provider id, lowercase with hyphens: `stripe`, `standard-webhooks`, `generic-hmac`, …
    pub provider: String,
    /// Tried in order; the first is the current one, later ones are being rotated out.
    pub secrets: Vec<SigningSecret>,
    /// Largest accepted distance between the signed timestamp and the receive time. `None` uses
    /// the provider's default; `Some(0)` turns the check off.
    #[serde(default)]
    pub tolerance_seconds: Option<u32>,
    /// The URL the provider was told to call, for schemes that sign it (Twilio, Square, HubSpot).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Only for `generic-hmac`.
    #[serde(default)]
    pub generic: Option<GenericHmac>,
}

// Secrets never reach logs, not even through a stray `{:?}`.
impl fmt::Debug for VerificationSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationSettings")
            .field("provider", &self.provider)
            .field("secrets", &self.secrets)
            .field("tolerance_seconds", &self.tolerance_seconds)
            .field("public_url", &self.public_url)
            .field("generic", &self.generic)
            .finish()
    }
}

/// A named signing secret, or for asymmetric schemes (SendGrid, Discord) the provider's public key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub label: String,
    pub value: String,
}

impl SigningSecret {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Self { label: label.into(), value: value.into() }
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningSecret").field("label", &self.label).field("value", &"<redacted>").finish()
    }
}

/// A signature scheme described by its parts, for senders no built-in provider covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenericHmac {
    /// Header carrying the signature.
    pub header: String,
    /// `sha1`, `sha256` or `sha512`.
    pub algorithm: String,
    /// `hex` or `base64`.
    pub encoding: String,
    /// Text before the encoded signature in the header, e.g. `sha256=`; removed before decoding.
    #[serde(default)]
    pub prefix: String,
    /// What is signed: text with `{timestamp}`, `{id}`, `{body}`, `{url}` and `{method}` placeholders.
    pub template: String,
    /// Header carrying the signed timestamp (Unix seconds); needed when the template uses it.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Header carrying the message id; needed when the template uses `{id}`.
    #[serde(default)]
    pub id_header: Option<String>,
}

/// The answer to "is this capture authentic?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    Valid,
    InvalidSignature,
    MissingSignature,
    TimestampOutOfTolerance,
    Malformed,
    NotConfigured,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Valid,
        Verdict::InvalidSignature,
        Verdict::MissingSignature,
        Verdict::TimestampOutOfTolerance,
        Verdict::Malformed,
        Verdict::NotConfigured,
    ];

    /// The name used in GraphQL, storage and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "VALID",
            Verdict::InvalidSignature => "INVALID_SIGNATURE",
            Verdict::MissingSignature => "MISSING_SIGNATURE",
            Verdict::TimestampOutOfTolerance => "TIMESTAMP_OUT_OF_TOLERANCE",
            Verdict::Malformed => "MALFORMED",
            Verdict::NotConfigured => "NOT_CONFIGURED",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The words people read (CLI lines, `capture show`, docs): the one place they are spelled,
    /// so a verdict reads the same wherever it is shown.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::InvalidSignature => "invalid signature",
            Verdict::MissingSignature => "missing signature",
            Verdict::TimestampOutOfTolerance => "outside tolerance",
            Verdict::Malformed => "malformed",
            Verdict::NotConfigured => "not checked",
        }
    }

    /// The verdict a person typed: its GraphQL name in any case (`invalid_signature`), or its
    /// label (`invalid signature`, `outside-tolerance`).
    pub fn parse_loose(s: &str) -> Option<Verdict> {
        let s = s.trim();
        Verdict::ALL.into_iter().find(|v| {
            v.as_str().eq_ignore_ascii_case(s)
                || v.label().eq_ignore_ascii_case(s)
                || v.label().replace(' ', "-").eq_ignore_ascii_case(s)
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored result of checking one capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The configured provider, or for an unconfigured endpoint the one the request looks like.
    pub provider: Option<String>,
    pub verdict: Verdict,
    /// What a person can act on, e.g. "signed 7m12s before receipt; tolerance is 5m".
    pub reason: String,
    /// Which secret matched, when one did.
    pub secret_label: Option<String>,
    pub verified_at: Timestamp,
    /// The event the request names, read where the provider (configured or guessed) names it.
    pub event: crate::CaptureEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret_value() {
        let s = VerificationSettings {
            provider: "stripe".into(),
            secrets: vec![SigningSecret::new("current", "whsec_do_not_print")],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        };
        let printed = format!("{s:?} {:?} {:#?}", s.secrets[0], s);
        assert!(!printed.contains("whsec_do_not_print"), "{printed}");
        assert!(printed.contains("current") && printed.contains("<redacted>"));
    }

    #[test]
    fn verdict_names_round_trip() {
        for v in Verdict::ALL {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{}\"", v.as_str()));
        }
        assert_eq!(Verdict::parse("valid"), None);
    }

    #[test]
    fn labels_are_distinct_and_parse_back_loosely() {
        let labels: std::collections::HashSet<_> = Verdict::ALL.iter().map(|v| v.label()).collect();
        assert_eq!(labels.len(), Verdict::ALL.len());
        assert_eq!(Verdict::TimestampOutOfTolerance.label(), "outside tolerance");
        assert_eq!(Verdict::NotConfigured.label(), "not checked");
        for v in Verdict::ALL {
            assert_eq!(Verdict::parse_loose(v.label()), Some(v));
            assert_eq!(Verdict::parse_loose(&v.as_str().to_lowercase()), Some(v));
        }
        assert_eq!(Verdict::parse_loose("invalid-signature"), Some(Verdict::InvalidSignature));
        assert_eq!(Verdict::parse_loose("maybe"), None);
    }
}
