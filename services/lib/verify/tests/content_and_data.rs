//! Known-answer, per-verdict and event-identity tests for Alchemy, Mux, Persona, Webflow,
//! Help Scout, Tally, Sanity, Segment and Contentful.

use crate::common;

use common::*;
use hookmetry_core::{CaptureEvent, Header, Timestamp, Verdict, VerificationSettings};

fn with_tolerance(mut s: VerificationSettings, seconds: u32) -> VerificationSettings {
    s.tolerance_seconds = Some(seconds);
    s
}

fn at(rfc3339: &str) -> Option<Timestamp> {
    Some(Timestamp::parse_rfc3339(rfc3339).unwrap())
}

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs.iter().map(|(n, v)| Header::new(*n, v.as_bytes().to_vec())).collect()
}

// ---------------------------------------------------------------------------------------------
// Alchemy

// The address-activity example of https://www.alchemy.com/docs/reference/notify-api-quickstart,
// trimmed to one activity; `whsec_test` is the quickstart's default SIGNING_KEY. Alchemy publishes
// no signed example: computed with Python `hmac.new(key, body, sha256).hexdigest()`.
const ALCHEMY_BODY: &str = r#"{"webhookId":"wh_octjglnywaupz6th","id":"whevt_ogrc5v64myey69ux","createdAt":"2022-02-28T17:48:53.306Z","type":"ADDRESS_ACTIVITY","event":{"network":"MATIC_MUMBAI","activity":[{"category":"token","fromAddress":"0x59479de9d374bdbcba6c791e5d036591976fe422","toAddress":"0x59479de9d374bdbcba6c791e5d036591976fe425","erc721TokenId":"0x1","rawContract":{"rawValue":"0x","address":"0x93c46aa4ddfd0413d95d0ef3c478982997ce9861"},"log":{"removed":false}}]}}"#;
const ALCHEMY_KEY: &str = "whsec_test";
const ALCHEMY_SIG: &str = "667b80f9508cc4044e13056c9af872fb7fc90845d1dd155765efedac7d8ddf32";

fn alchemy_req(sig: &str) -> Req {
    Req::new(ALCHEMY_BODY).header("X-Alchemy-Signature", sig)
}

#[test]
fn alchemy_known_answer_and_verdicts() {
    let s = settings("alchemy", &[("current", ALCHEMY_KEY)]);
    expect(&check(&s, &alchemy_req(ALCHEMY_SIG)), Verdict::Valid, "matches secret `current`");
    let rotated = settings("alchemy", &[("old", "whsec_old"), ("new", ALCHEMY_KEY)]);
    expect(&check(&rotated, &alchemy_req(ALCHEMY_SIG)), Verdict::Valid, "matches secret `new` (rotated)");

    expect(&check(&s, &Req::new(ALCHEMY_BODY)), Verdict::MissingSignature, "header `X-Alchemy-Signature` is missing");
    expect(&check(&s, &alchemy_req("")), Verdict::Malformed, "the signature in `X-Alchemy-Signature` is empty");
    expect(&check(&s, &alchemy_req(&ALCHEMY_SIG[..40])), Verdict::Malformed, "a hex SHA-256 signature has 64");
    expect(&check(&s, &alchemy_req(&"zz".repeat(32))), Verdict::Malformed, "is not hex");
    expect(
        &check(&settings("alchemy", &[("current", "whsec_wrong")]), &alchemy_req(ALCHEMY_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Alchemy-Signature` (tried `current`)",
    );
    let mut changed = alchemy_req(ALCHEMY_SIG);
    changed.body = ALCHEMY_BODY.replace("0x1", "0x2").into_bytes();
    expect(&check(&s, &changed), Verdict::InvalidSignature, "no secret matches");

    round_trip("alchemy", ALCHEMY_KEY, ALCHEMY_KEY, Req::new(ALCHEMY_BODY));
}

#[test]
fn alchemy_event_identity() {
    let event = hookmetry_verify::identify(Some("alchemy"), None, &[], ALCHEMY_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            id: Some("whevt_ogrc5v64myey69ux".into()),
            kind: Some("ADDRESS_ACTIVITY".into()),
            created_at: at("2022-02-28T17:48:53.306Z"),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Mux

// muxinc/mux-node-sdk tests/api-resources/webhooks.test.ts (removed in 14.0.0; last at
// 4fdc0154^), `verifySignature` "should pass for valid signature": secret `SuperSecret123`.
const MUX_BODY: &str = r#"{"test":"body"}"#;
const MUX_SECRET: &str = "SuperSecret123";
const MUX_HASH: &str = "854ece4c22acef7c66b57d4e504153bc512595e8e9c772ece2a68150548c19a7";
const MUX_T: i64 = 1_565_125_718;

fn mux_req(header: &str) -> Req {
    Req::new(MUX_BODY).header("Mux-Signature", header).at(MUX_T + 10)
}

#[test]
fn mux_known_answer_and_verdicts() {
    let s = settings("mux", &[("current", MUX_SECRET)]);
    let good = format!("t={MUX_T},v1={MUX_HASH}");
    expect(&check(&s, &mux_req(&good)), Verdict::Valid, "matches secret `current`");
    // The SDK's "multiple signatures" cases: a `v1` that is not even hex does not spoil a good one,
    // and other versions are ignored.
    expect(&check(&s, &mux_req(&format!("t={MUX_T},v1=invalid-sig,v1={MUX_HASH}"))), Verdict::Valid, "current");
    expect(&check(&s, &mux_req(&format!("t={MUX_T},v2={MUX_HASH},v1={MUX_HASH}"))), Verdict::Valid, "current");
    let rotated = settings("mux", &[("old", "OldSecret"), ("new", MUX_SECRET)]);
    expect(&check(&rotated, &mux_req(&good)), Verdict::Valid, "matches secret `new` (rotated)");

    expect(&check(&s, &Req::new(MUX_BODY)), Verdict::MissingSignature, "header `Mux-Signature` is missing");
    // The SDK's "different signature version" and "timestamp is missing" cases.
    expect(
        &check(&s, &mux_req(&format!("t={MUX_T},v2={MUX_HASH}"))),
        Verdict::Malformed,
        "`Mux-Signature` has no `v1=` signature",
    );
    expect(&check(&s, &mux_req(MUX_HASH)), Verdict::Malformed, "`Mux-Signature` has no `t=` timestamp");
    expect(
        &check(&s, &mux_req(&format!("t=yesterday,v1={MUX_HASH}"))),
        Verdict::Malformed,
        "timestamp `yesterday` in `Mux-Signature` is not Unix seconds",
    );
    expect(
        &check(&s, &mux_req(&format!("t={MUX_T},v1=invalid-sig"))),
        Verdict::Malformed,
        "the `v1` signature in `Mux-Signature` is 11 characters; a hex SHA-256 signature has 64",
    );
    expect(
        &check(&settings("mux", &[("current", "wrong")]), &mux_req(&good)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `Mux-Signature` (tried `current`)",
    );
    expect(
        &check(&s, &mux_req(&format!("t={},v1={MUX_HASH}", MUX_T + 1))),
        Verdict::InvalidSignature,
        "no secret matches",
    );

    // The SDK allows 300 seconds ("should throw for timestamp outside threshold" uses 6 minutes).
    expect(&check(&s, &mux_req(&good).at(MUX_T + 300)), Verdict::Valid, "current");
    let out = check(&s, &mux_req(&good).at(MUX_T + 360));
    expect(&out, Verdict::TimestampOutOfTolerance, "signed 6m before receipt; tolerance is 5m");
    assert_eq!(out.secret_label.as_deref(), Some("current"));

    round_trip("mux", MUX_SECRET, MUX_SECRET, Req::new(MUX_BODY));
}

// The `video.asset.ready` example of https://docs.mux.com/core/listen-for-webhooks, trimmed.
const MUX_EVENT: &str = r#"{"type":"video.asset.ready","object":{"type":"asset","id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002"},"id":"3a56ac3d-33da-4366-855b-f592d898409d","environment":{"name":"Demo pages","id":"j0863n"},"data":{"status":"ready","id":"0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002"},"created_at":"2021-01-13T19:41:32.000000Z","attempts":[],"request_id":null}"#;

#[test]
fn mux_event_identity() {
    let event = hookmetry_verify::identify(Some("mux"), None, &[], MUX_EVENT.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            id: Some("3a56ac3d-33da-4366-855b-f592d898409d".into()),
            kind: Some("video.asset.ready".into()),
            created_at: at("2021-01-13T19:41:32Z"),
            resource: Some("0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Persona

// The example event of https://docs.withpersona.com/docs/webhooks, trimmed to valid JSON.
// Persona publishes no signed example: computed with Python
// `hmac.new(secret, b"1700000000." + body, sha256).hexdigest()` for `wbhsec_old` and `wbhsec_new`.
const PERSONA_BODY: &str = r#"{"data":{"type":"event","id":"evt_XGuYWp7WuDzNxie5z16s7sGJ","attributes":{"name":"inquiry.approved","payload":{"data":{"type":"inquiry","id":"inq_2CVZ4HyVg7qaboXz2PUHknAn","attributes":{"status":"approved","reference-id":null,"created-at":"2019-09-09T22:40:56.000Z","completed-at":"2019-09-09T22:44:51.000Z","expired-at":null}}},"created-at":"2019-09-09T22:46:04.561Z"}}}"#;
const PERSONA_OLD: &str = "47c2fc69a1bbb517b60f0e56faa4c134678222d5dc15e91a721b53e61286cc43";
const PERSONA_NEW: &str = "7d7eab13589fd3e1cbb16092646a46aa18bfc08b2f2f29036d3ffdaaa789de45";

fn persona_req(header: &str) -> Req {
    Req::new(PERSONA_BODY).header("Persona-Signature", header).at(1_700_000_030)
}

#[test]
fn persona_known_answer_and_verdicts() {
    let s = settings("persona", &[("current", "wbhsec_new")]);
    let good = format!("t=1700000000,v1={PERSONA_NEW}");
    expect(&check(&s, &persona_req(&good)), Verdict::Valid, "matches secret `current`");
    // While a secret rotates Persona sends one space-separated set per secret; either verifies.
    let both = format!("t=1700000000,v1={PERSONA_OLD} t=1700000000,v1={PERSONA_NEW}");
    expect(&check(&s, &persona_req(&both)), Verdict::Valid, "matches secret `current`");
    expect(&check(&settings("persona", &[("old", "wbhsec_old")]), &persona_req(&both)), Verdict::Valid, "`old`");
    let rotated = settings("persona", &[("old", "wbhsec_old"), ("new", "wbhsec_new")]);
    expect(&check(&rotated, &persona_req(&good)), Verdict::Valid, "matches secret `new` (rotated)");
    // Each set is checked with its own timestamp.
    let other_t = format!("t=1700000001,v1={PERSONA_OLD} t=1700000000,v1={PERSONA_NEW}");
    expect(&check(&s, &persona_req(&other_t)), Verdict::Valid, "current");
    expect(
        &check(&settings("persona", &[("old", "wbhsec_old")]), &persona_req(&other_t)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `Persona-Signature` (tried `old`)",
    );

    expect(&check(&s, &Req::new(PERSONA_BODY)), Verdict::MissingSignature, "header `Persona-Signature` is missing");
    expect(&check(&s, &persona_req(&format!("v1={PERSONA_NEW}"))), Verdict::Malformed, "has no `t=` timestamp");
    expect(&check(&s, &persona_req("t=1700000000")), Verdict::Malformed, "`Persona-Signature` has no `v1=` signature");
    expect(&check(&s, &persona_req("t=1700000000,v1=abc")), Verdict::Malformed, "a hex SHA-256 signature has 64");
    expect(
        &check(&settings("persona", &[("current", "wbhsec_wrong")]), &persona_req(&good)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `Persona-Signature` (tried `current`)",
    );
    let mut changed = persona_req(&good);
    changed.body = PERSONA_BODY.replace("approved", "declined").into_bytes();
    expect(&check(&s, &changed), Verdict::InvalidSignature, "no secret matches");

    // Persona names no tolerance, so an old signature is judged only when one is configured.
    expect(&check(&s, &persona_req(&good).at(1_700_086_400)), Verdict::Valid, "current");
    let five = with_tolerance(s.clone(), 300);
    expect(&check(&five, &persona_req(&good).at(1_700_000_300)), Verdict::Valid, "current");
    expect(
        &check(&five, &persona_req(&good).at(1_700_000_301)),
        Verdict::TimestampOutOfTolerance,
        "signed 5m1s before receipt; tolerance is 5m",
    );

    round_trip("persona", "wbhsec_new", "wbhsec_new", Req::new(PERSONA_BODY));
}

#[test]
fn persona_event_identity() {
    let hs = headers(&[("Persona-Webhook-Attempts-Made", "3"), ("Persona-Webhook-Attempts-Left", "5")]);
    let event = hookmetry_verify::identify(Some("persona"), None, &hs, PERSONA_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            id: Some("evt_XGuYWp7WuDzNxie5z16s7sGJ".into()),
            kind: Some("inquiry.approved".into()),
            created_at: at("2019-09-09T22:46:04.561Z"),
            attempt: Some(3),
            resource: Some("inq_2CVZ4HyVg7qaboXz2PUHknAn".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Webflow

// The form_submission example of https://developers.webflow.com/data/docs/working-with-webhooks
// (without its `schema` list) and the timestamp of its signature example (1663849649733 ms). The
// docs' signature has no body or secret to go with it: computed with Python
// `hmac.new(secret, b"1663849649733:" + body, sha256).hexdigest()`.
const WEBFLOW_BODY: &str = r#"{"triggerType":"form_submission","payload":{"name":"Contact Us","siteId":"65427cf400e02b306eaa049c","data":{"First Name":"Zaphod","Last Name":"Beeblebrox","email":"zaphod@heartofgold.ai","Phone Number":15550000000},"submittedAt":"2022-09-14T12:35:16.117Z","id":"6321ca84df3949bfc6752327","formId":"65429eadebe8a9f3a30f62d0","formElementId":"4e038d2c-6a1e-4953-7be9-a59a2b453177"}}"#;
const WEBFLOW_SECRET: &str = "webflow_client_secret";
const WEBFLOW_TS: &str = "1663849649733";
const WEBFLOW_SIG: &str = "f225adb35853a110b72609436ef09c3c1292c04ef59a2173ff0e2be16b578971";
const WEBFLOW_SECS: i64 = 1_663_849_649;

fn webflow_req(ts: &str, sig: &str) -> Req {
    Req::new(WEBFLOW_BODY).header("x-webflow-timestamp", ts).header("x-webflow-signature", sig).at(WEBFLOW_SECS + 20)
}

#[test]
fn webflow_known_answer_and_verdicts() {
    let s = settings("webflow", &[("current", WEBFLOW_SECRET)]);
    expect(&check(&s, &webflow_req(WEBFLOW_TS, WEBFLOW_SIG)), Verdict::Valid, "matches secret `current`");
    let rotated = settings("webflow", &[("old", "old_secret"), ("new", WEBFLOW_SECRET)]);
    expect(&check(&rotated, &webflow_req(WEBFLOW_TS, WEBFLOW_SIG)), Verdict::Valid, "matches secret `new` (rotated)");

    expect(
        &check(&s, &Req::new(WEBFLOW_BODY).header("x-webflow-timestamp", WEBFLOW_TS)),
        Verdict::MissingSignature,
        "header `x-webflow-signature` is missing",
    );
    expect(
        &check(&s, &Req::new(WEBFLOW_BODY).header("x-webflow-signature", WEBFLOW_SIG)),
        Verdict::MissingSignature,
        "header `x-webflow-timestamp` is missing",
    );
    expect(
        &check(&s, &webflow_req("2022-09-22T12:27:29Z", WEBFLOW_SIG)),
        Verdict::Malformed,
        "timestamp `2022-09-22T12:27:29Z` in `x-webflow-timestamp` is not Unix milliseconds",
    );
    expect(&check(&s, &webflow_req(WEBFLOW_TS, "sha256=abc")), Verdict::Malformed, "a hex SHA-256 signature has 64");
    expect(
        &check(&settings("webflow", &[("current", "wrong")]), &webflow_req(WEBFLOW_TS, WEBFLOW_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `x-webflow-signature` (tried `current`)",
    );
    // Signed with another timestamp than the one sent.
    expect(&check(&s, &webflow_req("1663849649734", WEBFLOW_SIG)), Verdict::InvalidSignature, "no secret matches");

    // Webflow's guide refuses requests more than five minutes old; milliseconds are judged in seconds.
    expect(&check(&s, &webflow_req(WEBFLOW_TS, WEBFLOW_SIG).at(WEBFLOW_SECS + 300)), Verdict::Valid, "current");
    let out = check(&s, &webflow_req(WEBFLOW_TS, WEBFLOW_SIG).at(WEBFLOW_SECS + 301));
    expect(&out, Verdict::TimestampOutOfTolerance, "signed 5m1s before receipt; tolerance is 5m");
    assert_eq!(out.secret_label.as_deref(), Some("current"));

    round_trip("webflow", WEBFLOW_SECRET, WEBFLOW_SECRET, Req::new(WEBFLOW_BODY));
    let signed = hookmetry_verify::sign("webflow", "k", None, &Req::new("{}").sign_input(1_700_000_000)).unwrap();
    assert!(signed.headers.contains(&("x-webflow-timestamp".into(), "1700000000000".into())), "{signed:?}");
}

#[test]
fn webflow_event_identity() {
    let hs = headers(&[("x-webflow-timestamp", WEBFLOW_TS), ("x-webflow-signature", WEBFLOW_SIG)]);
    let event = hookmetry_verify::identify(Some("webflow"), None, &hs, WEBFLOW_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            kind: Some("form_submission".into()),
            created_at: at("2022-09-14T12:35:16.117Z"),
            resource: Some("6321ca84df3949bfc6752327".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Help Scout

// helpscout/helpscout-api-php tests/Webhooks/IncomingWebhookTest.php signs its payloads with the
// secret `asdffdsa` but computes each signature at run time: computed with Python
// `base64.b64encode(hmac.new(b"asdffdsa", body, sha1).digest())`.
const HELP_SCOUT_BODY: &str = r#"{"id":123,"number":456,"type":"email","subject":"Order question","status":"active","createdAt":"2026-03-01T10:00:00Z"}"#;
const HELP_SCOUT_SECRET: &str = "asdffdsa";
const HELP_SCOUT_SIG: &str = "hNmetmAeB+UJW57kcgnmDJ1E+ys=";

fn help_scout_req(sig: &str) -> Req {
    Req::new(HELP_SCOUT_BODY).header("X-HelpScout-Signature", sig).header("X-HelpScout-Event", "convo.created")
}

#[test]
fn help_scout_known_answer_and_verdicts() {
    let s = settings("help-scout", &[("current", HELP_SCOUT_SECRET)]);
    expect(&check(&s, &help_scout_req(HELP_SCOUT_SIG)), Verdict::Valid, "matches secret `current`");
    let rotated = settings("help-scout", &[("old", "old"), ("new", HELP_SCOUT_SECRET)]);
    expect(&check(&rotated, &help_scout_req(HELP_SCOUT_SIG)), Verdict::Valid, "matches secret `new` (rotated)");

    expect(
        &check(&s, &Req::new(HELP_SCOUT_BODY)),
        Verdict::MissingSignature,
        "header `X-HelpScout-Signature` is missing",
    );
    expect(&check(&s, &help_scout_req("not base64!")), Verdict::Malformed, "is not base64");
    // A hex SHA-1 is base64 too, but of 30 bytes.
    expect(
        &check(&s, &help_scout_req("84d99eb6601ef9e5095b9ee47209e60c9d44fb2b")),
        Verdict::Malformed,
        "decodes to 30 bytes; a base64 HMAC-SHA1 signature has 20",
    );
    expect(
        &check(&settings("help-scout", &[("current", "wrong")]), &help_scout_req(HELP_SCOUT_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-HelpScout-Signature` (tried `current`)",
    );
    let mut changed = help_scout_req(HELP_SCOUT_SIG);
    changed.body = HELP_SCOUT_BODY.replace("active", "closed").into_bytes();
    expect(&check(&s, &changed), Verdict::InvalidSignature, "no secret matches");

    round_trip("help-scout", HELP_SCOUT_SECRET, HELP_SCOUT_SECRET, Req::new(HELP_SCOUT_BODY));
}

#[test]
fn help_scout_event_identity() {
    let hs = headers(&[("X-HelpScout-Signature", HELP_SCOUT_SIG), ("X-HelpScout-Event", "convo.created")]);
    let event = hookmetry_verify::identify(Some("help-scout"), None, &hs, HELP_SCOUT_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent { kind: Some("convo.created".into()), resource: Some("123".into()), ..CaptureEvent::default() }
    );
}

// ---------------------------------------------------------------------------------------------
// Tally

// The FORM_RESPONSE example of https://tally.so/help/webhooks, trimmed to one field. Tally
// publishes no signed example: computed with Python
// `base64.b64encode(hmac.new(b"tally_signing_secret", body, sha256).digest())`.
const TALLY_BODY: &str = r#"{"eventId":"a4cb511e-d513-4fa5-baee-b815d718dfd1","eventType":"FORM_RESPONSE","createdAt":"2023-06-28T15:00:21.889Z","data":{"responseId":"2wgx4n","submissionId":"2wgx4n","respondentId":"dwQKYm","formId":"VwbNEw","formName":"Webhook payload","createdAt":"2023-06-28T15:00:21.000Z","fields":[{"key":"question_3EKz4n","label":"Text","type":"INPUT_TEXT","value":"Hello"}]}}"#;
const TALLY_SECRET: &str = "tally_signing_secret";
const TALLY_SIG: &str = "t9sCpPQezG6WDIj+cu3DkGW8TDfY2GNnTyg6gjbSbNo=";

fn tally_req(sig: &str) -> Req {
    Req::new(TALLY_BODY).header("Tally-Signature", sig)
}

#[test]
fn tally_known_answer_and_verdicts() {
    let s = settings("tally", &[("current", TALLY_SECRET)]);
    expect(&check(&s, &tally_req(TALLY_SIG)), Verdict::Valid, "matches secret `current`");
    let rotated = settings("tally", &[("old", "old"), ("new", TALLY_SECRET)]);
    expect(&check(&rotated, &tally_req(TALLY_SIG)), Verdict::Valid, "matches secret `new` (rotated)");

    expect(&check(&s, &Req::new(TALLY_BODY)), Verdict::MissingSignature, "header `Tally-Signature` is missing");
    expect(&check(&s, &tally_req("")), Verdict::Malformed, "the signature in `Tally-Signature` is empty");
    expect(&check(&s, &tally_req("%%%")), Verdict::Malformed, "is not base64");
    expect(
        &check(&s, &tally_req("hNmetmAeB+UJW57kcgnmDJ1E+ys=")),
        Verdict::Malformed,
        "decodes to 20 bytes; a base64 HMAC-SHA256 signature has 32",
    );
    expect(
        &check(&settings("tally", &[("current", "wrong")]), &tally_req(TALLY_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `Tally-Signature` (tried `current`)",
    );
    let mut changed = tally_req(TALLY_SIG);
    changed.body = TALLY_BODY.replace("Hello", "Hallo").into_bytes();
    expect(&check(&s, &changed), Verdict::InvalidSignature, "no secret matches");

    round_trip("tally", TALLY_SECRET, TALLY_SECRET, Req::new(TALLY_BODY));
}

#[test]
fn tally_event_identity() {
    let event = hookmetry_verify::identify(Some("tally"), None, &[], TALLY_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            id: Some("a4cb511e-d513-4fa5-baee-b815d718dfd1".into()),
            kind: Some("FORM_RESPONSE".into()),
            created_at: at("2023-06-28T15:00:21.889Z"),
            resource: Some("2wgx4n".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Sanity

// sanity-io/webhook-toolkit test/signature.test.ts, `isValidSignature` "returns true on valid
// signatures": secret `test`, payload `JSON.stringify({_id: 'resume'})`.
const SANITY_BODY: &str = r#"{"_id":"resume"}"#;
const SANITY_SECRET: &str = "test";
const SANITY_HEADER: &str = "t=1633519811129,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0";
const SANITY_SECS: i64 = 1_633_519_811;

fn sanity_req(header: &str) -> Req {
    Req::new(SANITY_BODY).header("sanity-webhook-signature", header).at(SANITY_SECS + 2)
}

#[test]
fn sanity_known_answer_and_verdicts() {
    let s = settings("sanity", &[("current", SANITY_SECRET)]);
    expect(&check(&s, &sanity_req(SANITY_HEADER)), Verdict::Valid, "matches secret `current`");
    // The toolkit's header pattern allows spaces around the separator (its final comparison of
    // the whole header text would not; the signature is what is judged here).
    expect(&check(&s, &sanity_req(&SANITY_HEADER.replace(',', ", "))), Verdict::Valid, "current");
    expect(&check(&s, &sanity_req(&SANITY_HEADER.replace(',', " "))), Verdict::Valid, "current");
    let rotated = settings("sanity", &[("old", "old"), ("new", SANITY_SECRET)]);
    expect(&check(&rotated, &sanity_req(SANITY_HEADER)), Verdict::Valid, "matches secret `new` (rotated)");

    expect(
        &check(&s, &Req::new(SANITY_BODY)),
        Verdict::MissingSignature,
        "header `sanity-webhook-signature` is missing",
    );
    // The toolkit's "returns false on invalid signature" case: `v5` is no signature.
    expect(
        &check(&s, &sanity_req(&SANITY_HEADER.replace("v1=", "v5="))),
        Verdict::Malformed,
        "`sanity-webhook-signature` has no `v1=` signature",
    );
    expect(
        &check(&s, &sanity_req("v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0")),
        Verdict::Malformed,
        "`sanity-webhook-signature` has no `t=` timestamp",
    );
    // Seconds instead of milliseconds.
    expect(
        &check(&s, &sanity_req("t=1633519811,v1=tLa470fx7qkLLEcMOcEUFuBbRSkGujyskxrNXcoh0N0")),
        Verdict::Malformed,
        "timestamp `1633519811` in `sanity-webhook-signature` is not Unix milliseconds",
    );
    expect(
        &check(&s, &sanity_req("t=1633519811129,v1=tLa470fx7q+LLEcMOcEUFuBbRSkGujyskxrNXcoh0N0")),
        Verdict::Malformed,
        "the `v1` signature in `sanity-webhook-signature` is not base64url",
    );
    expect(
        &check(&s, &sanity_req("t=1633519811129,v1=tLa470fx7qkLLEcMOcEU")),
        Verdict::Malformed,
        "decodes to 15 bytes; an HMAC-SHA256 signature has 32",
    );
    // The toolkit's "invalid signatures (timestamp)", "(hash)" and "(payload)" cases. Its "(hash)"
    // case changes the last character, which in 43 base64url characters holds only two bits of
    // the digest: that is an unreadable signature here, so a middle character is changed instead.
    expect(
        &check(&s, &sanity_req(&SANITY_HEADER.replace("129,", "128,"))),
        Verdict::InvalidSignature,
        "no secret matches the signature in `sanity-webhook-signature` (tried `current`)",
    );
    expect(&check(&s, &sanity_req(&SANITY_HEADER.replace("Xcoh", "Xcoi"))), Verdict::InvalidSignature, "no secret");
    let mut changed = sanity_req(SANITY_HEADER);
    changed.body = br#"{"_id":"structure"}"#.to_vec();
    expect(&check(&s, &changed), Verdict::InvalidSignature, "no secret matches");
    expect(
        &check(&settings("sanity", &[("current", "wrong")]), &sanity_req(SANITY_HEADER)),
        Verdict::InvalidSignature,
        "no secret matches",
    );

    // The toolkit checks no age; a configured tolerance is applied in seconds.
    expect(&check(&s, &sanity_req(SANITY_HEADER).at(SANITY_SECS + 86_400)), Verdict::Valid, "current");
    let five = with_tolerance(s.clone(), 300);
    expect(&check(&five, &sanity_req(SANITY_HEADER).at(SANITY_SECS + 300)), Verdict::Valid, "current");
    expect(
        &check(&five, &sanity_req(SANITY_HEADER).at(SANITY_SECS + 301)),
        Verdict::TimestampOutOfTolerance,
        "signed 5m1s before receipt; tolerance is 5m",
    );

    round_trip("sanity", SANITY_SECRET, SANITY_SECRET, Req::new(SANITY_BODY));
    // What `sign` writes is what the toolkit's `encodeSignatureHeader` writes.
    let signed = hookmetry_verify::sign(
        "sanity",
        SANITY_SECRET,
        None,
        &Req::new(r#"{"_id":"resume"}"#).sign_input(1_633_519_811),
    )
    .unwrap();
    let header = &signed.headers[0];
    assert_eq!(header.0, "sanity-webhook-signature");
    assert!(header.1.starts_with("t=1633519811000,v1="), "{}", header.1);
    assert!(!header.1.ends_with('='), "unpadded: {}", header.1);
    assert!(hookmetry_verify::sign("sanity", "k", None, &Req::new("{}").sign_input(1_000)).is_err());
}

#[test]
fn sanity_event_identity() {
    let hs = headers(&[
        ("sanity-webhook-signature", SANITY_HEADER),
        ("idempotency-key", "evt_01J8Z7K8R3Q1V0ZP8Y7M4T6N2B"),
        ("sanity-operation", "update"),
        ("sanity-transaction-time", "2026-09-20T12:00:00Z"),
        ("sanity-document-id", "resume"),
        ("sanity-webhook-id", "hook-1"),
    ]);
    let event = hookmetry_verify::identify(Some("sanity"), None, &hs, SANITY_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            id: Some("evt_01J8Z7K8R3Q1V0ZP8Y7M4T6N2B".into()),
            kind: Some("update".into()),
            created_at: at("2026-09-20T12:00:00Z"),
            resource: Some("resume".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Segment

// A track call as Segment's Webhooks destination sends it (https://segment.com/docs/connections/spec/track/).
// Segment publishes no signed example: computed with Python
// `hmac.new(b"segment_shared_secret", body, sha1).hexdigest()`.
const SEGMENT_BODY: &str = r#"{"type":"track","event":"Order Completed","messageId":"ajs-next-1700000000000-3b5ad6d4","userId":"user_42","anonymousId":"507f191e810c19729de860ea","timestamp":"2023-11-14T22:13:20.000Z","properties":{"revenue":19.99}}"#;
const SEGMENT_SECRET: &str = "segment_shared_secret";
const SEGMENT_SIG: &str = "9cde6183ae819cffbd99ae563d8cf6ec074c8d06";

fn segment_req(sig: &str) -> Req {
    Req::new(SEGMENT_BODY).header("X-Signature", sig)
}

#[test]
fn segment_known_answer_and_verdicts() {
    let s = settings("segment", &[("current", SEGMENT_SECRET)]);
    expect(&check(&s, &segment_req(SEGMENT_SIG)), Verdict::Valid, "matches secret `current`");
    let rotated = settings("segment", &[("old", "old"), ("new", SEGMENT_SECRET)]);
    expect(&check(&rotated, &segment_req(SEGMENT_SIG)), Verdict::Valid, "matches secret `new` (rotated)");

    expect(&check(&s, &Req::new(SEGMENT_BODY)), Verdict::MissingSignature, "header `X-Signature` is missing");
    // A SHA-256 digest where Segment sends SHA-1.
    expect(&check(&s, &segment_req(ALCHEMY_SIG)), Verdict::Malformed, "a hex SHA-1 signature has 40");
    expect(&check(&s, &segment_req(&"g".repeat(40))), Verdict::Malformed, "is not hex");
    expect(
        &check(&settings("segment", &[("current", "wrong")]), &segment_req(SEGMENT_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Signature` (tried `current`)",
    );
    let mut changed = segment_req(SEGMENT_SIG);
    changed.body = SEGMENT_BODY.replace("19.99", "29.99").into_bytes();
    expect(&check(&s, &changed), Verdict::InvalidSignature, "no secret matches");

    round_trip("segment", SEGMENT_SECRET, SEGMENT_SECRET, Req::new(SEGMENT_BODY));
}

#[test]
fn segment_event_identity() {
    let event = hookmetry_verify::identify(Some("segment"), None, &[], SEGMENT_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            id: Some("ajs-next-1700000000000-3b5ad6d4".into()),
            kind: Some("Order Completed".into()),
            created_at: at("2023-11-14T22:13:20Z"),
            resource: Some("user_42".into()),
            ..CaptureEvent::default()
        }
    );
    // An identify call has no event name; its type stands in.
    let identify = r#"{"type":"identify","messageId":"m-2","anonymousId":"anon-7","timestamp":"2023-11-14T22:13:20Z"}"#;
    let event = hookmetry_verify::identify(Some("segment"), None, &[], identify.as_bytes());
    assert_eq!(event.kind.as_deref(), Some("identify"));
    assert_eq!(event.resource.as_deref(), Some("anon-7"));
}

// ---------------------------------------------------------------------------------------------
// Contentful

// An entry as Contentful's webhooks send it (https://www.contentful.com/developers/docs/webhooks/),
// signed as @contentful/node-apps-toolkit `signRequest` signs with the `VALID_SECRET` ("a" x 64)
// and `VALID_TIMESTAMP` (1603379941037) of src/requests/sign-request.spec.ts. The toolkit's tests
// assert no signature value: computed with a Node.js transcription of its `signRequest` and
// `getNormalizedEncodedURI` (Node's own `querystring.escape` and `encodeURI`) for POST
// `/h/tok/contentful?env=master&x=1` with `Content-Type` and `X-Contentful-Topic` signed.
const CONTENTFUL_BODY: &str = r#"{"sys":{"type":"Entry","id":"5KsDBWseXY6QegucYAoacS","space":{"sys":{"type":"Link","linkType":"Space","id":"yadj1kx9rmg0"}},"environment":{"sys":{"id":"master","type":"Link","linkType":"Environment"}},"contentType":{"sys":{"type":"Link","linkType":"ContentType","id":"blogPost"}},"revision":1,"createdAt":"2020-10-22T15:18:59.937Z","updatedAt":"2020-10-22T15:19:01.037Z"},"fields":{"title":{"en-US":"Hello, World!"}}}"#;
const CONTENTFUL_URL: &str = "https://hooks.example.com/h/tok/contentful?env=master&x=1";
const CONTENTFUL_SIG: &str = "28183203246445b0f096f589a92c1834dc20c68e1b5d93fdfcaf80de3b02e399";
const CONTENTFUL_SIGNED: &str = "content-type,x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic";
const CONTENTFUL_TS: &str = "1603379941037";
const CONTENTFUL_SECS: i64 = 1_603_379_941;
const CONTENTFUL_TOPIC: &str = "ContentManagement.Entry.publish";

fn contentful_secret() -> String {
    "a".repeat(64)
}

fn contentful_req(sig: &str, signed: &str, ts: &str, topic: &str) -> Req {
    Req::new(CONTENTFUL_BODY)
        .url(CONTENTFUL_URL)
        .header("Content-Type", "application/vnd.contentful.management.v1+json")
        .header("X-Contentful-Topic", topic)
        .header("X-Contentful-Webhook-Name", "Publish hook")
        .header("X-Contentful-Idempotency-Key", "c0ffee")
        .header("x-contentful-signature", sig)
        .header("x-contentful-signed-headers", signed)
        .header("x-contentful-timestamp", ts)
        .at(CONTENTFUL_SECS + 5)
}

fn contentful_good() -> Req {
    contentful_req(CONTENTFUL_SIG, CONTENTFUL_SIGNED, CONTENTFUL_TS, CONTENTFUL_TOPIC)
}

#[test]
fn contentful_known_answer_and_verdicts() {
    let secret = contentful_secret();
    let s = settings("contentful", &[("current", &secret)]);
    expect(&check(&s, &contentful_good()), Verdict::Valid, "matches secret `current`");
    let other = "b".repeat(64);
    let rotated = settings("contentful", &[("old", &other), ("new", &secret)]);
    expect(&check(&rotated, &contentful_good()), Verdict::Valid, "matches secret `new` (rotated)");
    // Headers outside the signed list may change.
    let mut unsigned_changed = contentful_good();
    unsigned_changed.headers.retain(|h| !h.name.eq_ignore_ascii_case("X-Contentful-Webhook-Name"));
    expect(&check(&s, &unsigned_changed), Verdict::Valid, "current");

    let mut unsigned = contentful_good();
    unsigned.headers.retain(|h| !h.name.eq_ignore_ascii_case("x-contentful-signature"));
    expect(&check(&s, &unsigned), Verdict::MissingSignature, "header `x-contentful-signature` is missing");
    expect(
        &check(&s, &contentful_req(CONTENTFUL_SIG, CONTENTFUL_SIGNED, "2020-10-22T15:19:01Z", CONTENTFUL_TOPIC)),
        Verdict::Malformed,
        "timestamp `2020-10-22T15:19:01Z` in `x-contentful-timestamp` is not Unix milliseconds",
    );
    expect(
        &check(&s, &contentful_req(CONTENTFUL_SIG, CONTENTFUL_SIGNED, "1603379941", CONTENTFUL_TOPIC)),
        Verdict::Malformed,
        "timestamp `1603379941` in `x-contentful-timestamp` is not Unix milliseconds",
    );
    expect(
        &check(&s, &contentful_req(CONTENTFUL_SIG, "x-contentful-timestamp", CONTENTFUL_TS, CONTENTFUL_TOPIC)),
        Verdict::Malformed,
        "`x-contentful-signed-headers` lists `x-contentful-timestamp`; it always lists at least",
    );
    expect(
        &check(&s, &contentful_req("abc", CONTENTFUL_SIGNED, CONTENTFUL_TS, CONTENTFUL_TOPIC)),
        Verdict::Malformed,
        "the signature in `x-contentful-signature` is 3 characters; a hex SHA-256 signature has 64",
    );
    expect(&check(&s, &contentful_good().method("TRACE")), Verdict::Malformed, "Contentful signs no `TRACE` request");

    expect(
        &check(&settings("contentful", &[("current", &other)]), &contentful_good()),
        Verdict::InvalidSignature,
        "no secret matches the signature in `x-contentful-signature` (tried `current`)",
    );
    // A signed header, the body, the method and the path are each covered.
    expect(
        &check(&s, &contentful_req(CONTENTFUL_SIG, CONTENTFUL_SIGNED, CONTENTFUL_TS, "ContentManagement.Entry.delete")),
        Verdict::InvalidSignature,
        "no secret matches",
    );
    let mut changed = contentful_good();
    changed.body = CONTENTFUL_BODY.replace("Hello", "Goodbye").into_bytes();
    expect(&check(&s, &changed), Verdict::InvalidSignature, "no secret matches");
    expect(&check(&s, &contentful_good().method("PUT")), Verdict::InvalidSignature, "no secret matches");
    let moved = contentful_good().url("https://hooks.example.com/h/tok/contentful?env=master&x=2");
    expect(&check(&s, &moved), Verdict::InvalidSignature, "no secret matches");

    // The toolkit's default time to live is 30 seconds.
    expect(&check(&s, &contentful_good().at(CONTENTFUL_SECS + 30)), Verdict::Valid, "current");
    let out = check(&s, &contentful_good().at(CONTENTFUL_SECS + 31));
    expect(&out, Verdict::TimestampOutOfTolerance, "signed 31s before receipt; tolerance is 30s");
    assert_eq!(out.secret_label.as_deref(), Some("current"));

    // The toolkit takes only 64-character secrets.
    let short = settings("contentful", &[("current", "short")]);
    expect(
        &check(&short, &contentful_good()),
        Verdict::NotConfigured,
        "secret `current` is unusable: a Contentful signing secret is 64 characters; this one has 5",
    );
    assert_eq!(
        hookmetry_verify::validate(&short).unwrap_err(),
        ("secrets[0].value".to_string(), "a Contentful signing secret is 64 characters; this one has 5".to_string())
    );

    round_trip("contentful", &secret, &secret, Req::new(CONTENTFUL_BODY).url(CONTENTFUL_URL));
    assert!(hookmetry_verify::sign("contentful", "short", None, &Req::new("{}").sign_input(1_700_000_000)).is_err());
}

#[test]
fn contentful_event_identity() {
    let mut req = contentful_good();
    req.headers.push(Header::new("X-Contentful-Webhook-Request-Attempt", b"2".to_vec()));
    let event = hookmetry_verify::identify(Some("contentful"), None, &req.headers, CONTENTFUL_BODY.as_bytes());
    assert_eq!(
        event,
        CaptureEvent {
            id: Some("c0ffee".into()),
            kind: Some(CONTENTFUL_TOPIC.into()),
            created_at: at("2020-10-22T15:19:01.037Z"),
            attempt: Some(2),
            resource: Some("5KsDBWseXY6QegucYAoacS".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------

#[test]
fn group_d_providers_are_registered_with_their_tolerances() {
    let all = hookmetry_verify::providers();
    let find = |id: &str| all.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("{id} is not registered"));
    for (id, tolerance) in [
        ("alchemy", None),
        ("mux", Some(300)),
        ("persona", None),
        ("webflow", Some(300)),
        ("help-scout", None),
        ("tally", None),
        ("sanity", None),
        ("segment", None),
    ] {
        let p = find(id);
        assert_eq!(p.default_tolerance, tolerance, "{id}");
        assert!(!p.url_bound && !p.asymmetric, "{id}");
    }
    let contentful = find("contentful");
    assert_eq!(contentful.default_tolerance, Some(30));
    assert!(contentful.url_bound && !contentful.asymmetric);
    for (header, id) in [
        ("X-Alchemy-Signature", "alchemy"),
        ("Mux-Signature", "mux"),
        ("Persona-Signature", "persona"),
        ("x-webflow-signature", "webflow"),
        ("X-HelpScout-Signature", "help-scout"),
        ("Tally-Signature", "tally"),
        ("sanity-webhook-signature", "sanity"),
        ("x-contentful-signature", "contentful"),
        ("X-Contentful-Topic", "contentful"),
    ] {
        let out = hookmetry_verify::guess(&Req::new("{}").header(header, "x").as_request());
        assert_eq!(out.provider.as_deref(), Some(id), "{header}");
    }
    // `X-Signature` alone is too common to name Segment.
    let out = hookmetry_verify::guess(&Req::new("{}").header("X-Signature", "x").as_request());
    assert_ne!(out.provider.as_deref(), Some("segment"));
}
