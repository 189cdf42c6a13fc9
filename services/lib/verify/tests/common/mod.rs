//! Builders shared by the provider test files.
#![allow(dead_code)]

use hookmetry_core::{Header, SigningSecret, Verdict, VerificationSettings};
use std::time::Duration;

use hookmetry_verify::{ExplainLimits, Outcome, Request, SignInput};

/// A captured request to check: headers as `(name, value)`, body bytes, URL, receive time.
pub struct Req {
    pub method: String,
    pub url: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    pub received_at: i64,
}

impl Req {
    pub fn new(body: impl AsRef<[u8]>) -> Self {
        // Verification judges time against the capture's `received_at`, never the clock, so these
        // cases fix it; CI still runs them with the clock a year ahead
        // (HOOKMETRY_TEST_CLOCK_SHIFT_DAYS) so that a clock read added to the library shows.
        hookmetry_core::clock::shift_from_env();
        Req {
            method: "POST".into(),
            url: "https://hooks.example.com/h/tok".into(),
            headers: Vec::new(),
            body: body.as_ref().to_vec(),
            received_at: 1_700_000_000,
        }
    }
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push(Header::new(name, value.as_ref().to_vec()));
        self
    }
    pub fn url(mut self, url: &str) -> Self {
        self.url = url.into();
        self
    }
    pub fn method(mut self, m: &str) -> Self {
        self.method = m.into();
        self
    }
    pub fn at(mut self, received_at: i64) -> Self {
        self.received_at = received_at;
        self
    }
    /// Adds every header `sign` produced, replacing same-named ones, and its body if it made one.
    pub fn signed(mut self, signed: hookmetry_verify::Signed) -> Self {
        for (n, v) in signed.headers {
            self.headers.retain(|h| !h.name.eq_ignore_ascii_case(&n));
            self.headers.push(Header::new(n, v.into_bytes()));
        }
        if let Some(b) = signed.body {
            self.body = b;
        }
        self
    }
    pub fn as_request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            url: &self.url,
            headers: &self.headers,
            body: &self.body,
            received_at: self.received_at,
        }
    }
    pub fn sign_input(&self, timestamp: i64) -> SignInput<'_> {
        SignInput {
            method: &self.method,
            url: &self.url,
            body: &self.body,
            timestamp,
            id: None,
            headers: &self.headers,
        }
    }
}

pub fn settings(provider: &str, secrets: &[(&str, &str)]) -> VerificationSettings {
    VerificationSettings {
        provider: provider.into(),
        secrets: secrets.iter().map(|(l, v)| SigningSecret::new(*l, *v)).collect(),
        tolerance_seconds: None,
        public_url: None,
        generic: None,
    }
}

/// Verifies with no time budget on the explanation: these cases assert which change explains a
/// mismatch, and a budget on the machine's clock would make that depend on how busy the test
/// machine is.
pub fn check(settings: &VerificationSettings, req: &Req) -> Outcome {
    let patient = ExplainLimits { time_budget: Duration::MAX, ..ExplainLimits::default() };
    hookmetry_verify::verify_with_limits(settings, &req.as_request(), patient)
}

/// Asserts the verdict, and that the reason contains `reason_part`.
#[track_caller]
pub fn expect(outcome: &Outcome, verdict: Verdict, reason_part: &str) {
    assert_eq!(outcome.verdict, verdict, "verdict; reason was: {}", outcome.reason);
    assert!(outcome.reason.contains(reason_part), "reason {:?} should contain {:?}", outcome.reason, reason_part);
}

/// Sign-then-verify round trip through the crate's own signer, plus a tampered-body failure.
#[track_caller]
pub fn round_trip(provider: &str, secret_to_sign: &str, secret_to_verify: &str, base: Req) {
    let signed = hookmetry_verify::sign(provider, secret_to_sign, None, &base.sign_input(base.received_at)).unwrap();
    let req = base.signed(signed);
    let s = settings(provider, &[("current", secret_to_verify)]);
    let ok = check(&s, &req);
    expect(&ok, Verdict::Valid, "matches secret `current`");
    assert_eq!(ok.secret_label.as_deref(), Some("current"));
    let mut tampered = req;
    tampered.body.extend_from_slice(b"x");
    assert_ne!(check(&s, &tampered).verdict, Verdict::Valid, "a changed body must not verify");
}
