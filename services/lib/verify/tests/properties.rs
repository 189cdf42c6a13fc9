//! Properties every provider's scheme must have, checked with generated secrets, bodies and
//! changes:
//!
//! 1. what `sign` produces verifies as VALID, naming the secret that matched (a decoy secret is
//!    configured first, so the label must be the right one), and the decoy alone does not verify it;
//! 2. changing any one byte of the body makes it not VALID, for schemes whose signature covers the
//!    body ([`BODY_NOT_COVERED`] lists the others, and a test checks each one needs to be there);
//! 3. changing any one byte of the signature makes it not VALID: of the header the verdict names
//!    as the signature's source, or for schemes that sign inside the body, of that body field;
//! 4. arbitrary values in the provider's headers never panic, and every outcome has a reason.
//!
//! The symmetric providers come from `providers()`, so a new one is covered without editing this
//! file (a test fails if its secret format is one this file cannot make). `generic-hmac` gets
//! generated settings; the asymmetric providers (SendGrid, Discord, Telnyx) get generated key pairs.

use crate::common;

use std::ops::Range;
use std::sync::LazyLock;

use base64::Engine as _;
use common::Req;
use hookmetry_core::{GenericHmac, Header, SigningSecret, Verdict, VerificationSettings};
use hookmetry_verify::{Outcome, providers};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// Cases per property; every case checks every provider, so the suite stays at a few seconds.
const CASES: u32 = 64;

fn config() -> Config {
    // PROPTEST_CASES overrides, for a longer run: `PROPTEST_CASES=5000 cargo test … --test signatures properties::`.
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Schemes whose signature does not cover the raw body, so property 2 does not apply to them:
/// - `gitlab`: no signature at all; `X-Gitlab-Token` carries the secret token itself;
/// - `mailgun`: signs `<timestamp><token>` (carried in the body); the rest of the body is not covered;
/// - `adyen`: signs eight fields of each notification item (pspReference, amount, …), not the body;
/// - `mercado-pago`: signs the URL's `data.id`, the `x-request-id` header and the timestamp.
///
/// `body_not_covered_lists_only_schemes_that_need_it` fails for an entry that is not needed.
const BODY_NOT_COVERED: &[&str] = &["gitlab", "mailgun", "adyen", "mercado-pago"];

/// Schemes that carry the signature inside the body rather than in a header, with the JSON key
/// whose string value holds it (property 3 changes a byte of that value).
const SIGNATURE_IN_BODY: &[(&str, &str)] = &[("mailgun", "signature"), ("adyen", "hmacSignature")];

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------------
// Generated material

/// Everything one case is made from; each provider takes the parts it needs.
#[derive(Debug, Clone)]
struct Material {
    /// Key bytes: a secret's bytes (hex, `whsec_` + base64) or a private key.
    key: Vec<u8>,
    decoy_key: Vec<u8>,
    /// A secret for schemes that take any text.
    text: String,
    label: String,
    body: Vec<u8>,
    /// Text for the fields of structured (JSON) bodies.
    field: String,
    amount: u32,
    method: &'static str,
    /// Path and query after `/h/tok`.
    path: String,
    timestamp: i64,
    /// For SendGrid: sign with the PKCS#8 form of the private key instead of the hex scalar.
    pkcs8: bool,
}

impl Material {
    /// Fixed material for the plain tests and for probing secret formats.
    fn fixed() -> Material {
        Material {
            key: vec![0x42; 32],
            decoy_key: vec![0x24; 32],
            text: "pr0be secret ~!&".into(),
            label: "current".into(),
            body: br#"{"id":"evt_1","object":"event"}"#.to_vec(),
            field: "psp_1".into(),
            amount: 1234,
            method: "POST",
            path: "/in?x=1".into(),
            timestamp: 1_700_000_000,
            pkcs8: false,
        }
    }
}

fn material() -> impl Strategy<Value = Material> {
    (
        (prop::collection::vec(any::<u8>(), 32), prop::collection::vec(any::<u8>(), 32)),
        // Printable, without surrounding spaces (a header value could not carry them anyway).
        "[!-~]([ -~]{0,30}[!-~])?",
        "k[a-z0-9_-]{0,11}",
        prop::collection::vec(any::<u8>(), 1..160),
        "\\PC{0,24}",
        any::<u32>(),
        prop::sample::select(vec!["POST", "PUT", "PATCH", "GET"]),
        "(/[a-zA-Z0-9._~-]{1,8}){0,2}(\\?[a-z]{1,4}=[a-zA-Z0-9%]{0,8})?",
        1_000_000_000i64..4_000_000_000,
        any::<bool>(),
    )
        .prop_map(|((key, decoy_key), text, label, body, field, amount, method, path, timestamp, pkcs8)| {
            Material { key, decoy_key, text, label, body, field, amount, method, path, timestamp, pkcs8 }
        })
}

/// The unsigned request for `id`: most schemes take any body; a few need a body of their shape.
fn request_for(id: &str, m: &Material) -> Req {
    let body = match id {
        "adyen" => serde_json::to_vec(&serde_json::json!({
            "live": "false",
            "notificationItems": [{"NotificationRequestItem": {
                "pspReference": m.field,
                "merchantAccountCode": "AcmeShop",
                "merchantReference": format!("order-{}", m.amount),
                "amount": {"value": m.amount, "currency": "EUR"},
                "eventCode": "AUTHORISATION",
                "eventDate": "2024-01-01T00:00:00+01:00",
                "success": "true",
                "additionalData": {}
            }}]
        }))
        .unwrap(),
        "mailgun" => serde_json::to_vec(&serde_json::json!({
            "event-data": {"event": "delivered", "id": m.field, "n": m.amount}
        }))
        .unwrap(),
        _ => m.body.clone(),
    };
    let mut url = format!("https://hooks.example.com/h/tok{}", m.path);
    if id == "twilio" {
        // Twilio's JSON mode: the URL carries the body's SHA-256 and the signature covers the URL.
        // (In form mode Twilio signs the decoded parameters concatenated without separators, so
        // `a=bc` and `ab=c` sign alike: a single changed byte can keep a form body valid.)
        use sha2::Digest as _;
        let hash = hex::encode(sha2::Sha256::digest(&body));
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("bodySHA256={hash}"));
    }
    Req::new(body).url(&url).method(m.method).at(m.timestamp)
}

/// How a symmetric scheme wants its secret written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretKind {
    /// Any text, used as it is.
    Text,
    /// `whsec_` followed by base64 (Standard Webhooks, Svix).
    Whsec,
    /// Hex (Adyen).
    Hex,
}

impl SecretKind {
    fn make(self, key: &[u8], text: &str) -> String {
        match self {
            SecretKind::Text => text.to_string(),
            SecretKind::Whsec => format!("whsec_{}", B64.encode(key)),
            SecretKind::Hex => hex::encode(key),
        }
    }
}

fn symmetric_ids() -> Vec<&'static str> {
    providers().iter().filter(|p| !p.asymmetric && p.id != "generic-hmac").map(|p| p.id).collect()
}

/// Each symmetric provider's secret format: the first one `validate` and `sign` both accept.
static KINDS: LazyLock<Vec<(&'static str, SecretKind)>> = LazyLock::new(|| {
    let m = Material::fixed();
    symmetric_ids()
        .into_iter()
        .map(|id| {
            let kind = [SecretKind::Text, SecretKind::Whsec, SecretKind::Hex]
                .into_iter()
                .find(|kind| {
                    let secret = kind.make(&m.key, &m.text);
                    let base = request_for(id, &m);
                    hookmetry_verify::validate(&common::settings(id, &[("probe", &secret)])).is_ok()
                        && hookmetry_verify::sign(id, &secret, None, &base.sign_input(m.timestamp)).is_ok()
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{id}: neither text, `whsec_` + base64 nor hex is a secret it takes: teach this file its format"
                    )
                });
            (id, kind)
        })
        .collect()
});

fn kind_of(id: &str) -> SecretKind {
    KINDS.iter().find(|(i, _)| *i == id).map(|(_, k)| *k).unwrap()
}

/// A private key to sign with and the public key to verify with, as the provider's `sign` and
/// settings take them; `None` for a provider this file cannot make keys for (or, rarely, bytes
/// that are not a valid P-256 scalar).
fn key_pair(id: &str, seed: &[u8], pkcs8: bool) -> Option<(String, String)> {
    let seed: [u8; 32] = seed.try_into().ok()?;
    match id {
        "discord" => {
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            Some((hex::encode(seed), hex::encode(sk.verifying_key().to_bytes())))
        }
        "telnyx" => {
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            Some((hex::encode(seed), B64.encode(sk.verifying_key().to_bytes())))
        }
        "sendgrid" => {
            use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
            let sk = p256::SecretKey::from_slice(&seed).ok()?;
            let public = B64.encode(sk.public_key().to_public_key_der().ok()?.as_bytes());
            let private = if pkcs8 { B64.encode(sk.to_pkcs8_der().ok()?.as_bytes()) } else { hex::encode(seed) };
            Some((private, public))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

struct Case {
    id: String,
    label: String,
    /// The decoy secret first, then the one the request was signed with.
    settings: VerificationSettings,
    /// Only the decoy.
    wrong: VerificationSettings,
    /// The signed request.
    req: Req,
    /// Names of the headers `sign` set.
    signed_headers: Vec<String>,
}

/// Signs `request_for(id, m)` with `signing`; `verifying` and `decoy` are the configured secrets.
fn case(id: &str, generic: Option<&GenericHmac>, signing: &str, verifying: &str, decoy: &str, m: &Material) -> Case {
    let base = request_for(id, m);
    let signed = hookmetry_verify::sign(id, signing, generic, &base.sign_input(m.timestamp))
        .unwrap_or_else(|e| panic!("{id}: sign failed: {e}"));
    let signed_headers = signed.headers.iter().map(|(n, _)| n.clone()).collect();
    let settings = |secrets: Vec<SigningSecret>| VerificationSettings {
        provider: id.into(),
        secrets,
        tolerance_seconds: None,
        public_url: None,
        generic: generic.cloned(),
    };
    Case {
        id: id.to_string(),
        label: m.label.clone(),
        settings: settings(vec![SigningSecret::new("decoy", decoy), SigningSecret::new(&m.label, verifying)]),
        wrong: settings(vec![SigningSecret::new("decoy", decoy)]),
        req: base.signed(signed),
        signed_headers,
    }
}

fn symmetric_case(id: &str, m: &Material) -> Case {
    let kind = kind_of(id);
    let secret = kind.make(&m.key, &m.text);
    let decoy = kind.make(&m.decoy_key, &format!("decoy {}", m.text));
    case(id, None, &secret, &secret, &decoy, m)
}

fn asymmetric_case(id: &str, m: &Material) -> Option<Case> {
    let (private, public) = key_pair(id, &m.key, m.pkcs8)?;
    let (_, decoy) = key_pair(id, &m.decoy_key, false)?;
    Some(case(id, None, &private, &public, &decoy, m))
}

fn dup(r: &Req) -> Req {
    Req {
        method: r.method.clone(),
        url: r.url.clone(),
        headers: r.headers.clone(),
        body: r.body.clone(),
        received_at: r.received_at,
    }
}

fn check(settings: &VerificationSettings, req: &Req) -> Outcome {
    hookmetry_verify::verify(settings, &req.as_request())
}

/// Where the signature is.
enum Location {
    /// Index into the request's headers.
    Header(usize),
    /// Byte range of the body.
    Body(Range<usize>),
}

/// The header the verdict for a wrong secret names as the signature's source, else the body field
/// [`SIGNATURE_IN_BODY`] gives.
fn locate(c: &Case) -> Location {
    let reason = check(&c.wrong, &c.req).reason.to_ascii_lowercase();
    if let Some(name) = c.signed_headers.iter().find(|n| reason.contains(&format!("`{}`", n.to_ascii_lowercase()))) {
        return Location::Header(c.req.headers.iter().position(|h| h.name.eq_ignore_ascii_case(name)).unwrap());
    }
    if let Some((_, key)) = SIGNATURE_IN_BODY.iter().find(|(id, _)| *id == c.id) {
        let needle = format!("\"{key}\":\"");
        let body = &c.req.body;
        let at = body
            .windows(needle.len())
            .rposition(|w| w == needle.as_bytes())
            .unwrap_or_else(|| panic!("{}: no {needle}…\" in the signed body", c.id));
        let start = at + needle.len();
        let end = start + body[start..].iter().position(|b| *b == b'"').unwrap();
        return Location::Body(start..end);
    }
    panic!(
        "{}: the reason for a wrong secret ({reason:?}) names none of the headers `sign` set ({:?}); \
         if the signature is in the body, add the provider to SIGNATURE_IN_BODY",
        c.id, c.signed_headers
    );
}

/// Changes that leave the signature, as decoded, what it was, which a scheme may rightly accept
/// (found by changing every byte of every provider's signature every way: see
/// `exhaustive_single_byte_changes`):
/// - hex is read case-insensitively;
/// - values are trimmed and base64 is accepted without its `=` padding, so trailing padding that
///   became whitespace decodes the same;
/// - whitespace after a list separator is trimmed and an empty entry skipped (WorkOS's
///   `t=…, v1=…`), so that space may become other whitespace or another `,`;
/// - `generic-hmac` reads base64 in either alphabet (custom senders use the URL-safe one too),
///   so `+`/`-` and `/`/`_` stand for the same bits (`url_safe_too`).
fn same_signature(value: &[u8], i: usize, new: u8, url_safe_too: bool, separators_alike: bool) -> bool {
    // What `str::trim` removes: Unicode whitespace, so vertical tab too (unlike `is_ascii_whitespace`).
    let space = |b: u8| b.is_ascii() && char::from(b).is_whitespace();
    let old = value[i];
    let hex_case = old.is_ascii_hexdigit() && new.is_ascii_hexdigit() && old.eq_ignore_ascii_case(&new);
    let padding = old == b'=' && space(new) && value[i..].iter().all(|b| *b == b'=' || space(*b));
    let separator = space(old) && (space(new) || new == b',') && i > 0 && value[i - 1] == b',';
    let alphabet = url_safe_too && matches!((old, new), (b'+', b'-') | (b'-', b'+') | (b'/', b'_') | (b'_', b'/'));
    // Mux, Persona and Sanity headers are read with `,` and whitespace as one separator (Persona
    // puts a space between the `t=…,v1=…` sets of a rotation): swapping one for the other changes
    // nothing.
    let separators =
        separators_alike && ((old == b',' && new.is_ascii_whitespace()) || (old.is_ascii_whitespace() && new == b','));
    hex_case || padding || separator || alphabet || separators
}

/// Whatever arrives, an outcome has a reason, names the configured provider, and has a secret
/// label exactly when a signature matched.
fn sane(out: &Outcome, provider: Option<&str>) -> Result<(), TestCaseError> {
    prop_assert!(!out.reason.trim().is_empty(), "empty reason: {:?}", out);
    if let Some(p) = provider {
        prop_assert_eq!(out.provider.as_deref(), Some(p));
    }
    let matched = matches!(out.verdict, Verdict::Valid | Verdict::TimestampOutOfTolerance);
    prop_assert_eq!(out.secret_label.is_some(), matched, "label exactly when a secret matched: {:?}", out);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The properties, for one case

/// 1. Sign then verify: VALID with the signing secret's label; the decoy alone: not VALID.
fn sign_then_verify(c: &Case) -> Result<(), TestCaseError> {
    let out = check(&c.settings, &c.req);
    prop_assert_eq!(out.verdict, Verdict::Valid, "{}: {}", c.id, out.reason);
    prop_assert_eq!(out.secret_label.as_deref(), Some(c.label.as_str()), "{}: {}", c.id, out.reason);
    prop_assert!(out.reason.contains(&format!("`{}`", c.label)), "{}: {}", c.id, out.reason);
    let wrong = check(&c.wrong, &c.req);
    prop_assert_ne!(wrong.verdict, Verdict::Valid, "{}: the decoy secret verified it: {}", c.id, wrong.reason);
    sane(&wrong, Some(&c.id))
}

/// The outcome once body byte `at` is XORed with `delta`.
fn with_body_byte_changed(c: &Case, at: Index, delta: u8) -> (usize, u8, Outcome) {
    let mut req = dup(&c.req);
    let i = at.index(req.body.len());
    let old = req.body[i];
    req.body[i] ^= delta;
    (i, old, check(&c.settings, &req))
}

/// 2. A changed body byte is not VALID.
fn body_change_is_caught(c: &Case, at: Index, delta: u8) -> Result<(), TestCaseError> {
    if c.req.body.is_empty() {
        return Ok(());
    }
    let (i, old, out) = with_body_byte_changed(c, at, delta);
    prop_assert_ne!(
        out.verdict,
        Verdict::Valid,
        "{}: body byte {} changed from {:#04x} to {:#04x} and it still verifies: {}",
        c.id,
        i,
        old,
        old ^ delta,
        out.reason
    );
    sane(&out, Some(&c.id))
}

/// The signature's bytes as sent: the header value, or the body field.
fn signature_bytes<'a>(c: &'a Case, loc: &Location) -> &'a [u8] {
    match loc {
        Location::Header(h) => &c.req.headers[*h].value,
        Location::Body(range) => &c.req.body[range.clone()],
    }
}

/// The request with byte `at(len)` of the signature (at `loc`) XORed with `delta`, a description
/// of the change, and whether it leaves the signature as it was (see [`same_signature`]); `None`
/// when the signature is empty.
fn with_signature_byte_changed(
    c: &Case,
    loc: &Location,
    at: impl FnOnce(usize) -> usize,
    delta: u8,
) -> Option<(Req, String, bool)> {
    let mut req = dup(&c.req);
    let value = signature_bytes(c, loc).to_vec();
    let place = match loc {
        Location::Header(h) => Ok(*h),
        Location::Body(range) => Err(range.start),
    };
    if value.is_empty() {
        return None;
    }
    let i = at(value.len());
    let new = value[i] ^ delta;
    let what = format!(
        "byte {i} of {} ({:?}) changed from {:?} to {:?}",
        match place {
            Ok(h) => format!("`{}`", c.req.headers[h].name),
            Err(_) => "the signature in the body".into(),
        },
        String::from_utf8_lossy(&value),
        value[i] as char,
        new as char
    );
    let same =
        same_signature(&value, i, new, c.id == "generic-hmac", matches!(c.id.as_str(), "mux" | "persona" | "sanity"));
    match place {
        Ok(h) => {
            let mut changed = value;
            changed[i] = new;
            req.headers[h].value = changed.into();
        }
        Err(start) => req.body[start + i] = new,
    }
    Some((req, what, same))
}

/// 3. A changed signature byte is not VALID.
fn signature_change_is_caught(c: &Case, at: Index, delta: u8) -> Result<(), TestCaseError> {
    let Some((req, what, same)) = with_signature_byte_changed(c, &locate(c), |len| at.index(len), delta) else {
        return Ok(());
    };
    if same {
        return Ok(());
    }
    let out = check(&c.settings, &req);
    prop_assert_ne!(out.verdict, Verdict::Valid, "{}: {} and it still verifies: {}", c.id, what, out.reason);
    sane(&out, Some(&c.id))
}

/// 4. Arbitrary values (or none) in every header the provider signs or detects never panic.
fn arbitrary_headers_are_judged(c: &Case, values: &[Option<Vec<u8>>]) -> Result<(), TestCaseError> {
    let info = providers().into_iter().find(|p| p.id == c.id).unwrap();
    let mut names: Vec<String> = c.signed_headers.clone();
    for d in info.detect {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(d)) {
            names.push(d.to_string());
        }
    }
    let mut req = dup(&c.req);
    for (name, value) in names.iter().zip(values) {
        req.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            req.headers.push(Header::new(name.clone(), v.clone()));
        }
    }
    sane(&check(&c.settings, &req), Some(&c.id))?;
    let guessed = hookmetry_verify::guess(&req.as_request());
    prop_assert_eq!(guessed.verdict, Verdict::NotConfigured);
    sane(&guessed, None)
}

/// Header values: raw bytes, printable text, or text shaped like the signature headers.
fn header_values() -> impl Strategy<Value = Vec<Option<Vec<u8>>>> {
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80),
        "[ -~]{0,80}".prop_map(String::into_bytes),
        "-?[0-9]{0,20}".prop_map(String::into_bytes),
        "((t|v0|v1|ts|h1|sha1|sha256|v3)[=,:])?([0-9a-fA-F]{0,130}|[A-Za-z0-9+/]{0,100}={0,3})([,; ](t|v1|h1)=[0-9a-f]{0,64})?"
            .prop_map(String::into_bytes),
    ];
    prop::collection::vec(prop::option::weighted(0.8, value), 8)
}

// ---------------------------------------------------------------------------------------------
// Symmetric providers

proptest! {
    #![proptest_config(config())]

    #[test]
    fn symmetric_sign_then_verify(m in material()) {
        for id in symmetric_ids() {
            sign_then_verify(&symmetric_case(id, &m))?;
        }
    }

    #[test]
    fn symmetric_body_change_is_caught(m in material(), at in any::<Index>(), delta in 1u8..=255) {
        for id in symmetric_ids().into_iter().filter(|id| !BODY_NOT_COVERED.contains(id)) {
            body_change_is_caught(&symmetric_case(id, &m), at, delta)?;
        }
    }

    #[test]
    fn symmetric_signature_change_is_caught(m in material(), at in any::<Index>(), delta in 1u8..=255) {
        for id in symmetric_ids() {
            signature_change_is_caught(&symmetric_case(id, &m), at, delta)?;
        }
    }

    #[test]
    fn symmetric_arbitrary_headers_are_judged(m in material(), values in header_values()) {
        for id in symmetric_ids() {
            arbitrary_headers_are_judged(&symmetric_case(id, &m), &values)?;
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Twilio's form mode (no `bodySHA256` in the URL), which `request_for` does not use: what
    /// `sign` produces verifies. (Body changes are not checked here: Twilio signs the decoded
    /// parameters concatenated without separators, so `a=bc` and `ab=c` sign alike by design.)
    #[test]
    fn twilio_form_body_sign_then_verify(
        m in material(),
        form in "([a-zA-Z0-9%+._-]{0,8}(=[a-zA-Z0-9%+._ -]{0,12})?&?){0,6}",
    ) {
        let secret = kind_of("twilio").make(&m.key, &m.text);
        let url = format!("https://hooks.example.com/h/tok{}", m.path);
        let base = Req::new(&form).url(&url).method(m.method).at(m.timestamp);
        let signed = hookmetry_verify::sign("twilio", &secret, None, &base.sign_input(m.timestamp)).unwrap();
        let out = check(&common::settings("twilio", &[("current", &secret)]), &base.signed(signed));
        prop_assert_eq!(out.verdict, Verdict::Valid, "{}", out.reason);
    }
}

#[test]
fn every_symmetric_provider_has_a_secret_format() {
    assert!(KINDS.len() >= 5, "{:?}", *KINDS);
}

#[test]
fn body_not_covered_lists_only_schemes_that_need_it() {
    let m = Material::fixed();
    for id in BODY_NOT_COVERED {
        assert!(symmetric_ids().contains(id), "{id} in BODY_NOT_COVERED is not a symmetric provider");
        let c = symmetric_case(id, &m);
        let signature = match locate(&c) {
            Location::Body(range) => range,
            Location::Header(_) => 0..0,
        };
        let unsigned_byte = (0..c.req.body.len()).filter(|i| !signature.contains(i)).find(|&i| {
            let mut req = dup(&c.req);
            req.body[i] ^= 1;
            check(&c.settings, &req).verdict == Verdict::Valid
        });
        assert!(
            unsigned_byte.is_some(),
            "{id}: every body byte is covered by its signature; take it out of BODY_NOT_COVERED"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// generic-hmac

fn generic_config() -> impl Strategy<Value = GenericHmac> {
    let part = prop_oneof![
        "[^{}]{1,6}",
        Just("{timestamp}".to_string()),
        Just("{id}".to_string()),
        Just("{body}".to_string()),
        Just("{url}".to_string()),
        Just("{method}".to_string()),
    ];
    (
        prop::sample::select(vec!["X-Signature", "X-Webhook-Signature", "Signature", "x-acme-hmac"]),
        prop::sample::select(vec!["sha1", "sha256", "sha512", "SHA256"]),
        prop::sample::select(vec!["hex", "base64", "Base64", "HEX"]),
        // KNOWN BUG (see `generic_hmac_prefix_with_leading_whitespace`): a prefix starting with
        // whitespace never verifies, so generated prefixes start with a non-space character.
        "([!-~][ -~]{0,7})?",
        prop::collection::vec(part, 1..6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(header, algorithm, encoding, prefix, parts, with_ts, with_id)| {
            let template = parts.concat();
            let timestamp_header = (with_ts || template.contains("{timestamp}")).then(|| "X-Timestamp".to_string());
            let id_header = (with_id || template.contains("{id}")).then(|| "X-Id".to_string());
            GenericHmac {
                header: header.into(),
                algorithm: algorithm.into(),
                encoding: encoding.into(),
                prefix,
                template,
                timestamp_header,
                id_header,
            }
        })
}

fn generic_case(cfg: &GenericHmac, m: &Material) -> Case {
    case("generic-hmac", Some(cfg), &m.text, &m.text, &format!("decoy {}", m.text), m)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn generic_sign_then_verify(cfg in generic_config(), m in material()) {
        let mut settings = common::settings("generic-hmac", &[("current", "k")]);
        settings.generic = Some(cfg.clone());
        prop_assert!(hookmetry_verify::validate(&settings).is_ok(), "{:?}", hookmetry_verify::validate(&settings));
        sign_then_verify(&generic_case(&cfg, &m))?;
    }

    /// Covered when the template has `{body}`; otherwise a changed body still verifies.
    #[test]
    fn generic_body_change_is_caught_when_signed(cfg in generic_config(), m in material(), at in any::<Index>(), delta in 1u8..=255) {
        let c = generic_case(&cfg, &m);
        if cfg.template.contains("{body}") {
            body_change_is_caught(&c, at, delta)?;
        } else {
            let (_, _, out) = with_body_byte_changed(&c, at, delta);
            prop_assert_eq!(out.verdict, Verdict::Valid, "the template signs no body: {}", out.reason);
        }
    }

    #[test]
    fn generic_signature_change_is_caught(cfg in generic_config(), m in material(), at in any::<Index>(), delta in 1u8..=255) {
        signature_change_is_caught(&generic_case(&cfg, &m), at, delta)?;
    }

    #[test]
    fn generic_arbitrary_headers_are_judged(cfg in generic_config(), m in material(), values in header_values()) {
        arbitrary_headers_are_judged(&generic_case(&cfg, &m), &values)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Asymmetric providers: signed with a generated private key, verified with its public key.

fn asymmetric_ids() -> Vec<&'static str> {
    providers().iter().filter(|p| p.asymmetric).map(|p| p.id).collect()
}

#[test]
fn every_asymmetric_provider_gets_generated_keys() {
    let ids = asymmetric_ids();
    assert!(!ids.is_empty());
    for id in ids {
        assert!(key_pair(id, &[7; 32], false).is_some(), "{id} is asymmetric: teach `key_pair` its key formats");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn asymmetric_sign_then_verify(m in material()) {
        for id in asymmetric_ids() {
            if let Some(c) = asymmetric_case(id, &m) {
                sign_then_verify(&c)?;
            }
        }
    }

    #[test]
    fn asymmetric_body_change_is_caught(m in material(), at in any::<Index>(), delta in 1u8..=255) {
        for id in asymmetric_ids() {
            if let Some(c) = asymmetric_case(id, &m) {
                body_change_is_caught(&c, at, delta)?;
            }
        }
    }

    #[test]
    fn asymmetric_signature_change_is_caught(m in material(), at in any::<Index>(), delta in 1u8..=255) {
        for id in asymmetric_ids() {
            if let Some(c) = asymmetric_case(id, &m) {
                signature_change_is_caught(&c, at, delta)?;
            }
        }
    }

    #[test]
    fn asymmetric_arbitrary_headers_are_judged(m in material(), values in header_values()) {
        for id in asymmetric_ids() {
            if let Some(c) = asymmetric_case(id, &m) {
                arbitrary_headers_are_judged(&c, &values)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exhaustive and known-bug checks, not run by default.

/// Every single-byte change of every provider's signature, and four of every body byte for
/// schemes that sign the body, with fixed material. About 30 s in a debug build:
/// `cargo test -p hookmetry-verify --test signatures properties:: -- --ignored`.
#[test]
#[ignore = "exhaustive: about 30 s in a debug build"]
fn exhaustive_single_byte_changes() {
    let m = Material::fixed();
    let mut cases: Vec<Case> = symmetric_ids().into_iter().map(|id| symmetric_case(id, &m)).collect();
    cases.extend(asymmetric_ids().into_iter().filter_map(|id| asymmetric_case(id, &m)));
    let cfg = GenericHmac {
        header: "X-Signature".into(),
        algorithm: "sha512".into(),
        encoding: "base64".into(),
        prefix: "v1, ".into(),
        template: "{id}.{timestamp}.{method}.{url}.{body}".into(),
        timestamp_header: Some("X-Timestamp".into()),
        id_header: Some("X-Id".into()),
    };
    cases.push(generic_case(&cfg, &m));
    let mut escapes = Vec::new();
    for c in &cases {
        let loc = locate(c);
        for i in 0..signature_bytes(c, &loc).len() {
            for delta in 1u8..=255 {
                let Some((req, what, same)) = with_signature_byte_changed(c, &loc, |_| i, delta) else { continue };
                if !same && check(&c.settings, &req).verdict == Verdict::Valid {
                    escapes.push(format!("{}: {what}", c.id));
                }
            }
        }
        if !BODY_NOT_COVERED.contains(&c.id.as_str()) {
            for i in 0..c.req.body.len() {
                for delta in [0x01, 0x20, 0x80, 0xff] {
                    let mut req = dup(&c.req);
                    req.body[i] ^= delta;
                    if check(&c.settings, &req).verdict == Verdict::Valid {
                        escapes.push(format!("{}: body byte {i} ^ {delta:#04x}", c.id));
                    }
                }
            }
        }
    }
    assert!(escapes.is_empty(), "changes that still verify:\n{}", escapes.join("\n"));
}

/// A generic-hmac `prefix` starting with whitespace could never verify (header values are read
/// trimmed), so `validate` refuses it; found by this suite.
#[test]
fn generic_hmac_prefix_with_leading_whitespace() {
    let m = Material::fixed();
    for prefix in [" v1=", " ", "\tsha256="] {
        let cfg = GenericHmac {
            header: "X-Signature".into(),
            algorithm: "sha256".into(),
            encoding: "hex".into(),
            prefix: prefix.into(),
            template: "{body}".into(),
            timestamp_header: None,
            id_header: None,
        };
        let mut settings = common::settings("generic-hmac", &[("current", &m.text)]);
        settings.generic = Some(cfg.clone());
        let (field, message) = hookmetry_verify::validate(&settings).unwrap_err();
        assert_eq!(field, "generic", "prefix {prefix:?}");
        assert!(message.starts_with("prefix: must not start with whitespace"), "{message}");
    }
}

/// `sign` either refuses a time it cannot write or produces a request that verifies. The fuzz
/// target found Twitch writing years its own parser refuses and millisecond schemes clamping at
/// the ends of `i64`; `sign` now refuses times outside 1970–9999.
#[test]
fn sign_refuses_or_round_trips_at_extreme_times() {
    let mut failures = Vec::new();
    for t in [-62_167_219_201, 253_402_300_800, i64::MAX / 1000 + 1, i64::MIN / 1000 - 1, i64::MAX, i64::MIN] {
        let m = Material { timestamp: t, ..Material::fixed() };
        let mut cases = Vec::new();
        for id in symmetric_ids() {
            let kind = kind_of(id);
            let secret = kind.make(&m.key, &m.text);
            let base = request_for(id, &m);
            if hookmetry_verify::sign(id, &secret, None, &base.sign_input(t)).is_ok() {
                cases.push(symmetric_case(id, &m));
            }
        }
        for id in asymmetric_ids() {
            let (private, _) = key_pair(id, &m.key, false).unwrap();
            if hookmetry_verify::sign(id, &private, None, &request_for(id, &m).sign_input(t)).is_ok() {
                cases.extend(asymmetric_case(id, &m));
            }
        }
        for c in cases {
            let out = check(&c.settings, &c.req);
            if out.verdict != Verdict::Valid {
                failures.push(format!("{} at {t}: {:?} {}", c.id, out.verdict, out.reason));
            }
        }
    }
    assert!(failures.is_empty(), "signed but not verifying:\n{}", failures.join("\n"));
}
