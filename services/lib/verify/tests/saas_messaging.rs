//! Known-answer, per-verdict and event-identity tests for Telnyx, Dropbox, Box, Notion, Zendesk,
//! Front, Nylas, Cal.com and LINE.

use crate::common;

use common::*;
use hookmetry_core::{CaptureEvent, Header, Timestamp, Verdict};

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs.iter().map(|(n, v)| Header::new(*n, v.as_bytes().to_vec())).collect()
}

/// The body with one letter's case changed: a change no re-serialization explains.
fn tamper(body: &str) -> String {
    body.replacen('e', "E", 1)
}

fn at(rfc3339: &str) -> Option<Timestamp> {
    Some(Timestamp::parse_rfc3339(rfc3339).unwrap())
}

/// The verdicts every body-only HMAC scheme gives: a missing header, a signature of the wrong
/// length, a wrong secret, a changed body, a rotated secret, and a round trip.
#[track_caller]
fn body_only_verdicts(id: &str, header: &str, secret: &str, body: &str, good: &str, short_reason: &str) {
    let s = settings(id, &[("current", secret)]);
    let req = |sig: &str| Req::new(body).header(header, sig);
    expect(&check(&s, &Req::new(body)), Verdict::MissingSignature, &format!("header `{header}` is missing"));
    let short = &good[..good.len() - 8];
    expect(&check(&s, &req(short)), Verdict::Malformed, short_reason);
    expect(
        &check(&settings(id, &[("current", "wrong")]), &req(good)),
        Verdict::InvalidSignature,
        &format!("no secret matches the signature in `{header}` (tried `current`)"),
    );
    let changed = Req::new(tamper(body)).header(header, good);
    expect(&check(&s, &changed), Verdict::InvalidSignature, &format!("no secret matches the signature in `{header}`"));
    // A body re-serialized on the way is named as such.
    let reserialized = Req::new(format!("{body}\n")).header(header, good);
    expect(
        &check(&s, &reserialized),
        Verdict::InvalidSignature,
        "something between the provider and here changed the body",
    );
    let rotated = settings(id, &[("next", "not-yet-in-use"), ("current", secret)]);
    let out = check(&rotated, &req(good));
    expect(&out, Verdict::Valid, "matches secret `current` (rotated)");
    assert_eq!(out.secret_label.as_deref(), Some("current"));
    round_trip(id, secret, secret, Req::new(body));
}

// ---------------------------------------------------------------------------------------------
// Telnyx

// Telnyx publishes no vector (telnyx-node tests/webhooks.test.ts and telnyx-python sign with
// freshly generated keys). Computed with Python's `cryptography` (Ed25519PrivateKey.sign) over
// "1700000000|" + body, with the RFC 8032 section 7.1 TEST 1 key; the body follows the
// `message.received` example of
// https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks.
const TELNYX_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const TELNYX_PUBLIC: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const TELNYX_BODY: &str = r#"{"data":{"event_type":"message.received","id":"b301ed3f-1490-491f-995f-6e64e69674d4","occurred_at":"2023-11-14T22:13:19.512+00:00","payload":{"id":"84cca175-9755-4859-b67f-4730d7f58aa3","direction":"inbound","from":{"phone_number":"+13125550100"},"text":"Hello from Telnyx!","type":"SMS"},"record_type":"event"},"meta":{"attempt":1,"delivered_to":"https://example.com/webhooks"}}"#;
const TELNYX_SIG: &str = "ssL+wQMO04m/vp/bdDj72XRINqQbNwxv7dPXS629eBduXRtHePyJ6BaSzE+/C2VWeTQmFeVsdvXMyMgG7sD3CQ==";

fn telnyx_req(body: &str, sig: &str, ts: &str) -> Req {
    Req::new(body).header("telnyx-signature-ed25519", sig).header("telnyx-timestamp", ts)
}

#[test]
fn telnyx_known_answer() {
    let s = settings("telnyx", &[("current", TELNYX_PUBLIC)]);
    let out = check(&s, &telnyx_req(TELNYX_BODY, TELNYX_SIG, "1700000000"));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("telnyx"));
}

#[test]
fn telnyx_verdicts() {
    let s = settings("telnyx", &[("current", TELNYX_PUBLIC)]);
    expect(
        &check(&s, &Req::new(TELNYX_BODY).header("telnyx-timestamp", "1700000000")),
        Verdict::MissingSignature,
        "header `Telnyx-Signature-Ed25519` is missing",
    );
    expect(
        &check(&s, &Req::new(TELNYX_BODY).header("telnyx-signature-ed25519", TELNYX_SIG)),
        Verdict::MissingSignature,
        "header `Telnyx-Timestamp` is missing",
    );
    expect(
        &check(&s, &telnyx_req(TELNYX_BODY, "not base64!", "1700000000")),
        Verdict::Malformed,
        "the signature in `Telnyx-Signature-Ed25519` `not base64!` is not base64",
    );
    expect(
        &check(&s, &telnyx_req(TELNYX_BODY, &TELNYX_SIG[..44], "1700000000")),
        Verdict::Malformed,
        "decodes to 33 bytes; a base64 Ed25519 signature has 64",
    );
    expect(
        &check(&s, &telnyx_req(TELNYX_BODY, TELNYX_SIG, "soon")),
        Verdict::Malformed,
        "timestamp `soon` in `Telnyx-Timestamp` is not Unix seconds",
    );
    // Another timestamp than the one signed, another key, another body.
    expect(
        &check(&s, &telnyx_req(TELNYX_BODY, TELNYX_SIG, "1700000001")),
        Verdict::InvalidSignature,
        "no secret matches the signature in `Telnyx-Signature-Ed25519`",
    );
    // The public key of the seed 0x11…11.
    let other = settings("telnyx", &[("other", "0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc=")]);
    expect(
        &check(&other, &telnyx_req(TELNYX_BODY, TELNYX_SIG, "1700000000")),
        Verdict::InvalidSignature,
        "(tried `other`)",
    );
    expect(
        &check(&s, &telnyx_req(&tamper(TELNYX_BODY), TELNYX_SIG, "1700000000")),
        Verdict::InvalidSignature,
        "`Telnyx-Signature-Ed25519`",
    );

    // The SDKs allow five minutes either way.
    let late = telnyx_req(TELNYX_BODY, TELNYX_SIG, "1700000000").at(1_700_000_000 + 301);
    let out = check(&s, &late);
    expect(&out, Verdict::TimestampOutOfTolerance, "signed 5m1s before receipt; tolerance is 5m");
    assert_eq!(out.secret_label.as_deref(), Some("current"));
    expect(&check(&s, &telnyx_req(TELNYX_BODY, TELNYX_SIG, "1700000000").at(1_700_000_300)), Verdict::Valid, "current");

    let rotated =
        settings("telnyx", &[("next", "0EqyMnQrtKs6E2i9RhXk5tAiSrcaAWuvhSCjMsl3hzc="), ("current", TELNYX_PUBLIC)]);
    expect(
        &check(&rotated, &telnyx_req(TELNYX_BODY, TELNYX_SIG, "1700000000")),
        Verdict::Valid,
        "matches secret `current` (rotated)",
    );

    // The public key is base64 of 32 bytes; Discord's hex form is refused with a reason.
    let (field, message) = hookmetry_verify::validate(&settings(
        "telnyx",
        &[("current", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")],
    ))
    .unwrap_err();
    assert_eq!(field, "secrets[0].value");
    assert!(message.contains("decodes to 48 bytes; a Telnyx (Ed25519) public key has 32"), "{message}");

    round_trip("telnyx", TELNYX_SEED, TELNYX_PUBLIC, Req::new(TELNYX_BODY));
    // The seed in base64 signs too, and the signature is the published-form one above.
    let seed_b64 = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    let signed =
        hookmetry_verify::sign("telnyx", seed_b64, None, &Req::new(TELNYX_BODY).sign_input(1_700_000_000)).unwrap();
    assert_eq!(
        signed.headers,
        vec![
            ("Telnyx-Signature-Ed25519".to_string(), TELNYX_SIG.to_string()),
            ("Telnyx-Timestamp".to_string(), "1700000000".to_string())
        ]
    );
}

#[test]
fn telnyx_event_identity() {
    let hs = headers(&[("telnyx-signature-ed25519", TELNYX_SIG), ("telnyx-timestamp", "1700000000")]);
    let ev = hookmetry_verify::identify(Some("telnyx"), None, &hs, TELNYX_BODY.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: Some("b301ed3f-1490-491f-995f-6e64e69674d4".into()),
            kind: Some("message.received".into()),
            created_at: at("2023-11-14T22:13:19.512Z"),
            attempt: Some(1),
            retry_reason: None,
            resource: Some("84cca175-9755-4859-b67f-4730d7f58aa3".into()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Dropbox

// Dropbox publishes no vector. Computed with Python (hmac/hashlib): hex(HMAC-SHA256(app secret,
// body)) per https://www.dropbox.com/developers/reference/webhooks, on the notification body that
// page shows.
const DROPBOX_SECRET: &str = "dbx_app_secret_7q2";
const DROPBOX_BODY: &str = r#"{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}, "delta": {"users": [12345678, 23456789]}}"#;
const DROPBOX_SIG: &str = "3f4499b4e1877007d3aa044eca051478c81fad6827b37d0510a6203bf8a4e467";

#[test]
fn dropbox_known_answer_and_verdicts() {
    let s = settings("dropbox", &[("current", DROPBOX_SECRET)]);
    let out = check(&s, &Req::new(DROPBOX_BODY).header("X-Dropbox-Signature", DROPBOX_SIG));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("dropbox"));
    expect(
        &check(&s, &Req::new(DROPBOX_BODY).header("X-Dropbox-Signature", "zz".repeat(32))),
        Verdict::Malformed,
        "the signature in `X-Dropbox-Signature` `zzzz",
    );
    body_only_verdicts(
        "dropbox",
        "X-Dropbox-Signature",
        DROPBOX_SECRET,
        DROPBOX_BODY,
        DROPBOX_SIG,
        "the signature in `X-Dropbox-Signature` is 56 characters; a hex SHA-256 signature has 64",
    );
}

#[test]
fn dropbox_event_identity() {
    // The notification names accounts, not an event: nothing to identify.
    let hs = headers(&[("X-Dropbox-Signature", DROPBOX_SIG)]);
    let ev = hookmetry_verify::identify(Some("dropbox"), None, &hs, DROPBOX_BODY.as_bytes());
    assert_eq!(ev, CaptureEvent::default());
    assert_eq!(
        hookmetry_verify::guess(&Req::new("{}").header("X-Dropbox-Signature", "x").as_request()).provider.as_deref(),
        Some("dropbox")
    );
}

// ---------------------------------------------------------------------------------------------
// Box

// box/box-python-sdk test/webhooks.py `testWebhookValidation`: keys `SamplePrimaryKey` and
// `SampleSecondaryKey`, `box-delivery-timestamp: 2020-01-01T00:00:00-07:00`, and the signatures
// of `body` and of `body_with_japanese` (which Box signs with `\uXXXX` escapes).
const BOX_PRIMARY_KEY: &str = "SamplePrimaryKey";
const BOX_SECONDARY_KEY: &str = "SampleSecondaryKey";
const BOX_TS: &str = "2020-01-01T00:00:00-07:00";
/// 2020-01-01T07:00:00Z.
const BOX_TS_SECS: i64 = 1_577_862_000;
const BOX_BODY: &str = r#"{"type":"webhook_event","webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"Test.txt"}}"#;
const BOX_PRIMARY_SIG: &str = "6TfeAW3A1PASkgboxxA5yqHNKOwFyMWuEXny/FPD5hI=";
const BOX_SECONDARY_SIG: &str = "v+1CD1Jdo3muIcbpv5lxxgPglOqMfsNHPV899xWYydo=";
const BOX_JAPANESE_BODY: &str = r#"{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"スクリーンショット 2020-08-05.txt"}}"#;
const BOX_JAPANESE_SIG: &str = "LV2uCu+5NJtIHrCXDYgZ0v/PP5THGRuegw3RtdnEyuE=";
const BOX_EMOJI_BODY: &str = r#"{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"😀 2020-08-05.txt"}}"#;
const BOX_EMOJI_SIG: &str = "xF/SDZosX4le+v4A0Qn59sZhuD1RqY5KRUKzVMSbh0E=";
// The same test's `body_with_carriage_return` (a raw CR), `body_with_forward_slash` (`\/`, kept
// as it is) and `body_with_back_slash` (a lone `\`, doubled when signed).
const BOX_CR_BODY: &str = "{\"webhook\":{\"id\":\"1234567890\"},\"trigger\":\"FILE.UPLOADED\",\"source\":{\"id\":\"1234567890\",\"type\":\"file\",\"name\":\"test \r\"}}";
const BOX_CR_SIG: &str = "SVkbKgy3dEEf2PbbzpNu2lDZS7zZ/aboU7HOZgBGrJk=";
const BOX_SLASH_BODY: &str = r#"{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"\/"}}"#;
const BOX_SLASH_SIG: &str = "t41PWT5ZB6OcysnD6SDy9Ud+p9hdXxIdXqcdweyZv/Q=";
const BOX_BACKSLASH_BODY: &str = r#"{"webhook":{"id":"1234567890"},"trigger":"FILE.UPLOADED","source":{"id":"1234567890","type":"file","name":"\"}}"#;
const BOX_BACKSLASH_SIG: &str = "ERpMZwUQsGDTfj82ehdX6VvDZfvOhK5ULNfVmwVAGe0=";

fn box_req(body: &str, primary: Option<&str>, secondary: Option<&str>) -> Req {
    let mut req = Req::new(body)
        .header("box-delivery-id", "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f")
        .header("box-delivery-timestamp", BOX_TS)
        .header("box-signature-algorithm", "HmacSHA256")
        .header("box-signature-version", "1")
        .at(BOX_TS_SECS + 30);
    if let Some(p) = primary {
        req = req.header("box-signature-primary", p);
    }
    if let Some(s) = secondary {
        req = req.header("box-signature-secondary", s);
    }
    req
}

#[test]
fn box_known_answers() {
    let both = box_req(BOX_BODY, Some(BOX_PRIMARY_SIG), Some(BOX_SECONDARY_SIG));
    let primary = settings("box", &[("primary", BOX_PRIMARY_KEY)]);
    let out = check(&primary, &both);
    expect(&out, Verdict::Valid, "matches secret `primary`");
    assert_eq!(out.provider.as_deref(), Some("box"));
    // Either key alone verifies the request: rotation replaces one at a time.
    expect(&check(&settings("box", &[("secondary", BOX_SECONDARY_KEY)]), &both), Verdict::Valid, "`secondary`");
    let rotated = settings("box", &[("old", "IncorrectKey"), ("secondary", BOX_SECONDARY_KEY)]);
    expect(&check(&rotated, &both), Verdict::Valid, "matches secret `secondary` (rotated)");
    // Characters outside ASCII are signed as `\uXXXX` escapes, also beyond the BMP (surrogates).
    expect(&check(&primary, &box_req(BOX_JAPANESE_BODY, Some(BOX_JAPANESE_SIG), None)), Verdict::Valid, "primary");
    expect(&check(&primary, &box_req(BOX_EMOJI_BODY, Some(BOX_EMOJI_SIG), None)), Verdict::Valid, "primary");
    for (body, sig) in
        [(BOX_CR_BODY, BOX_CR_SIG), (BOX_SLASH_BODY, BOX_SLASH_SIG), (BOX_BACKSLASH_BODY, BOX_BACKSLASH_SIG)]
    {
        expect(&check(&primary, &box_req(body, Some(sig), None)), Verdict::Valid, "primary");
    }
}

#[test]
fn box_verdicts() {
    let s = settings("box", &[("primary", BOX_PRIMARY_KEY)]);
    let mut unsigned = box_req(BOX_BODY, None, None);
    expect(
        &check(&s, &unsigned),
        Verdict::MissingSignature,
        "headers `BOX-SIGNATURE-PRIMARY` and `BOX-SIGNATURE-SECONDARY` are missing",
    );
    unsigned.headers.retain(|h| !h.name.eq_ignore_ascii_case("box-delivery-timestamp"));
    expect(
        &check(&s, &unsigned.header("box-signature-primary", BOX_PRIMARY_SIG)),
        Verdict::MissingSignature,
        "header `BOX-DELIVERY-TIMESTAMP` is missing",
    );
    expect(
        &check(&s, &box_req(BOX_BODY, Some("c2hvcnQ="), None)),
        Verdict::Malformed,
        "the signature in `BOX-SIGNATURE-PRIMARY` decodes to 5 bytes; a base64 HMAC-SHA256 signature has 32",
    );
    let mut bad_ts = box_req(BOX_BODY, Some(BOX_PRIMARY_SIG), None);
    bad_ts.headers.retain(|h| !h.name.eq_ignore_ascii_case("box-delivery-timestamp"));
    expect(
        &check(&s, &bad_ts.header("box-delivery-timestamp", "1577862000")),
        Verdict::Malformed,
        "timestamp `1577862000` in `BOX-DELIVERY-TIMESTAMP` is not an RFC 3339 time",
    );
    // The SDKs refuse other versions and algorithms (`headers_with_wrong_signature_version`, …).
    let mut v2 = box_req(BOX_BODY, Some(BOX_PRIMARY_SIG), None);
    v2.headers.retain(|h| !h.name.eq_ignore_ascii_case("box-signature-version"));
    expect(
        &check(&s, &v2.header("box-signature-version", "2")),
        Verdict::Malformed,
        "`BOX-SIGNATURE-VERSION` is `2`; Box's only scheme is `1`",
    );
    let mut sha1 = box_req(BOX_BODY, Some(BOX_PRIMARY_SIG), None);
    sha1.headers.retain(|h| !h.name.eq_ignore_ascii_case("box-signature-algorithm"));
    expect(
        &check(&s, &sha1.header("box-signature-algorithm", "HmacSHA1")),
        Verdict::Malformed,
        "`BOX-SIGNATURE-ALGORITHM` is `HmacSHA1`; Box's only scheme is `HmacSHA256`",
    );
    expect(
        &check(
            &settings("box", &[("k", "IncorrectKey")]),
            &box_req(BOX_BODY, Some(BOX_PRIMARY_SIG), Some(BOX_SECONDARY_SIG)),
        ),
        Verdict::InvalidSignature,
        "no secret matches the signature in `BOX-SIGNATURE-PRIMARY` or `BOX-SIGNATURE-SECONDARY` (tried `k`)",
    );
    expect(
        &check(&s, &box_req(&tamper(BOX_BODY), Some(BOX_PRIMARY_SIG), None)),
        Verdict::InvalidSignature,
        "`BOX-SIGNATURE-PRIMARY`",
    );

    // Ten minutes, as the SDKs' `max_age`.
    let out = check(&s, &box_req(BOX_BODY, Some(BOX_PRIMARY_SIG), None).at(BOX_TS_SECS + 601));
    expect(&out, Verdict::TimestampOutOfTolerance, "signed 10m1s before receipt; tolerance is 10m");
    assert_eq!(out.secret_label.as_deref(), Some("primary"));
    expect(
        &check(&s, &box_req(BOX_BODY, Some(BOX_PRIMARY_SIG), None).at(BOX_TS_SECS + 600)),
        Verdict::Valid,
        "primary",
    );

    round_trip("box", BOX_PRIMARY_KEY, BOX_PRIMARY_KEY, Req::new(BOX_JAPANESE_BODY));
    let signed = hookmetry_verify::sign("box", "k", None, &Req::new("{}").sign_input(BOX_TS_SECS)).unwrap();
    assert!(signed.headers.contains(&("BOX-DELIVERY-TIMESTAMP".into(), "2020-01-01T07:00:00Z".into())), "{signed:?}");
}

#[test]
fn box_event_identity() {
    // https://developer.box.com/guides/webhooks/v2/ (payload), abridged.
    let body = r#"{"type":"webhook_event","id":"eac8fdc9-4ca3-4b5e-95b0-ec5b5ee9b95b","created_at":"2020-01-01T06:59:58-07:00","trigger":"FILE.UPLOADED","webhook":{"id":"1234567890","type":"webhook"},"created_by":{"type":"user","id":"2","name":"Aaron Levie"},"source":{"id":"1234567890","type":"file","name":"Test.txt"}}"#;
    let hs =
        headers(&[("BOX-DELIVERY-ID", "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f"), ("BOX-DELIVERY-TIMESTAMP", BOX_TS)]);
    let ev = hookmetry_verify::identify(Some("box"), None, &hs, body.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: Some("eac8fdc9-4ca3-4b5e-95b0-ec5b5ee9b95b".into()),
            kind: Some("FILE.UPLOADED".into()),
            created_at: at("2020-01-01T13:59:58Z"),
            attempt: None,
            retry_reason: None,
            resource: Some("1234567890".into()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Notion

// Notion publishes no vector. Computed with Python (hmac/hashlib): "sha256=" +
// hex(HMAC-SHA256(verification_token, body)) per
// https://developers.notion.com/reference/webhooks#step-3-validating-event-payloads-recommended,
// on that page's `page.created` example.
const NOTION_TOKEN: &str = "secret_tMrlL1qK5vuQAh1b6cZGcrjtnzUt7OPBKE2A5NfbSyb";
const NOTION_BODY: &str = r#"{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","timestamp":"2024-12-05T23:55:34.285Z","workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","workspace_name":"Quantify Labs","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b","integration_id":"0ef2e755-4912-8096-91c1-00376a88a5ca","type":"page.created","authors":[{"id":"c7c11cca-1d73-471d-9b6e-bdef51470190","type":"person"}],"accessible_by":[{"id":"556a1abf-4f08-40c6-878a-75890d2a88ba","type":"person"}],"attempt_number":1,"entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"},"data":{"parent":{"id":"13950b26-c203-4f3b-b97d-93ec06319565","type":"space"}}}"#;
const NOTION_SIG: &str = "sha256=0da07e751f9249938485f6d5911b7d8f857103925d304f6e2167e26f01e42620";

#[test]
fn notion_known_answer_and_verdicts() {
    let s = settings("notion", &[("current", NOTION_TOKEN)]);
    let out = check(&s, &Req::new(NOTION_BODY).header("X-Notion-Signature", NOTION_SIG));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("notion"));
    expect(
        &check(&s, &Req::new(NOTION_BODY).header("X-Notion-Signature", &NOTION_SIG["sha256=".len()..])),
        Verdict::Malformed,
        "`X-Notion-Signature` should start with `sha256=`",
    );
    body_only_verdicts(
        "notion",
        "X-Notion-Signature",
        NOTION_TOKEN,
        NOTION_BODY,
        NOTION_SIG,
        "the signature in `X-Notion-Signature` is 56 characters; a hex SHA-256 signature has 64",
    );
}

#[test]
fn notion_event_identity() {
    let hs = headers(&[("X-Notion-Signature", NOTION_SIG)]);
    let ev = hookmetry_verify::identify(Some("notion"), None, &hs, NOTION_BODY.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: Some("367cba44-b6f3-4c92-81e7-6a2e9659efd4".into()),
            kind: Some("page.created".into()),
            created_at: at("2024-12-05T23:55:34.285Z"),
            attempt: Some(1),
            retry_reason: None,
            resource: Some("153104cd-477e-809d-8dc4-ff2d96ae3090".into()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Zendesk

// Zendesk publishes no vector for this order (its event-connectors page's example signs body then
// timestamp). Computed with Python (hmac/hashlib/base64): base64(HMAC-SHA256(secret, timestamp +
// body)) per https://developer.zendesk.com/documentation/webhooks/verifying/, keyed with the
// secret Zendesk signs test requests with; the body is the `ticket.created` shape of
// https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/.
const ZENDESK_SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
const ZENDESK_BODY: &str = r#"{"type":"zen:event-type:ticket.created","account_id":22129848,"id":"cbe4028c-7239-495d-b020-f22348516046","time":"2023-11-14T22:13:19Z","zendesk_event_version":"2022-11-06","subject":"zen:ticket:1842","detail":{"id":"1842","status":"NEW","subject":"Printer on fire","requester_id":"21812283"},"event":{}}"#;
const ZENDESK_TS: &str = "2023-11-14T22:13:20Z";
const ZENDESK_SIG: &str = "2AWDFLwZcNaBX0EOQPn59DvSle+e5bKacgTjaE3oPZI=";

fn zendesk_req(body: &str, sig: &str, ts: &str) -> Req {
    Req::new(body)
        .header("X-Zendesk-Webhook-Id", "01GQ3AAFG0BJ3Q8T0TQF1CK27T")
        .header("X-Zendesk-Webhook-Signature", sig)
        .header("X-Zendesk-Webhook-Signature-Timestamp", ts)
}

#[test]
fn zendesk_known_answer() {
    let s = settings("zendesk", &[("current", ZENDESK_SECRET)]);
    let out = check(&s, &zendesk_req(ZENDESK_BODY, ZENDESK_SIG, ZENDESK_TS));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("zendesk"));
}

#[test]
fn zendesk_verdicts() {
    let s = settings("zendesk", &[("current", ZENDESK_SECRET)]);
    expect(
        &check(&s, &Req::new(ZENDESK_BODY).header("X-Zendesk-Webhook-Signature-Timestamp", ZENDESK_TS)),
        Verdict::MissingSignature,
        "header `X-Zendesk-Webhook-Signature` is missing",
    );
    expect(
        &check(&s, &Req::new(ZENDESK_BODY).header("X-Zendesk-Webhook-Signature", ZENDESK_SIG)),
        Verdict::MissingSignature,
        "header `X-Zendesk-Webhook-Signature-Timestamp` is missing",
    );
    expect(
        &check(&s, &zendesk_req(ZENDESK_BODY, &"A".repeat(64), ZENDESK_TS)),
        Verdict::Malformed,
        "the signature in `X-Zendesk-Webhook-Signature` decodes to 48 bytes; a base64 HMAC-SHA256 signature has 32",
    );
    expect(
        &check(&s, &zendesk_req(ZENDESK_BODY, ZENDESK_SIG, "1700000000")),
        Verdict::Malformed,
        "timestamp `1700000000` in `X-Zendesk-Webhook-Signature-Timestamp` is not an RFC 3339 time",
    );
    expect(
        &check(&settings("zendesk", &[("current", "wrong")]), &zendesk_req(ZENDESK_BODY, ZENDESK_SIG, ZENDESK_TS)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Zendesk-Webhook-Signature` (tried `current`)",
    );
    expect(
        &check(&s, &zendesk_req(&tamper(ZENDESK_BODY), ZENDESK_SIG, ZENDESK_TS)),
        Verdict::InvalidSignature,
        "`X-Zendesk-Webhook-Signature`",
    );
    // The same instant written another way is another signed text.
    expect(
        &check(&s, &zendesk_req(ZENDESK_BODY, ZENDESK_SIG, "2023-11-14T22:13:20+00:00")),
        Verdict::InvalidSignature,
        "`X-Zendesk-Webhook-Signature`",
    );
    // Zendesk documents no age limit: an old request is still VALID unless one is configured.
    let old = zendesk_req(ZENDESK_BODY, ZENDESK_SIG, ZENDESK_TS).at(1_700_000_000 + 86_400);
    expect(&check(&s, &old), Verdict::Valid, "current");
    let mut strict = s.clone();
    strict.tolerance_seconds = Some(300);
    expect(&check(&strict, &old), Verdict::TimestampOutOfTolerance, "signed 1d before receipt; tolerance is 5m");
    expect(&check(&strict, &old.at(1_700_000_300)), Verdict::Valid, "current");

    let rotated = settings("zendesk", &[("next", "bmV4dA=="), ("current", ZENDESK_SECRET)]);
    expect(
        &check(&rotated, &zendesk_req(ZENDESK_BODY, ZENDESK_SIG, ZENDESK_TS)),
        Verdict::Valid,
        "`current` (rotated)",
    );
    round_trip("zendesk", ZENDESK_SECRET, ZENDESK_SECRET, Req::new(ZENDESK_BODY));
    let signed =
        hookmetry_verify::sign("zendesk", ZENDESK_SECRET, None, &Req::new(ZENDESK_BODY).sign_input(1_700_000_000))
            .unwrap();
    assert_eq!(
        signed.headers,
        vec![
            ("X-Zendesk-Webhook-Signature".to_string(), ZENDESK_SIG.to_string()),
            ("X-Zendesk-Webhook-Signature-Timestamp".to_string(), ZENDESK_TS.to_string())
        ]
    );
}

#[test]
fn zendesk_event_identity() {
    let hs =
        headers(&[("X-Zendesk-Webhook-Signature", ZENDESK_SIG), ("X-Zendesk-Webhook-Signature-Timestamp", ZENDESK_TS)]);
    let ev = hookmetry_verify::identify(Some("zendesk"), None, &hs, ZENDESK_BODY.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: Some("cbe4028c-7239-495d-b020-f22348516046".into()),
            kind: Some("zen:event-type:ticket.created".into()),
            created_at: at("2023-11-14T22:13:19Z"),
            attempt: None,
            retry_reason: None,
            resource: Some("1842".into()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Front

// Front publishes no vector. Computed with Python (hmac/hashlib/base64): base64(HMAC-SHA256(key,
// timestamp + ":" + body)) per https://dev.frontapp.com/docs/application-webhooks#verifying-integrity,
// on an `inbound_received` event shaped as https://dev.frontapp.com/reference/events shows.
const FRONT_KEY: &str = "front_app_signing_key_e8f1";
const FRONT_BODY: &str = r#"{"type":"inbound_received","authorization":{"id":"cmp_2a4b6c"},"payload":{"_links":{"self":"https://acme.api.frontapp.com/events/evt_55c8c149"},"id":"evt_55c8c149","type":"inbound","emitted_at":1699999999.512,"conversation":{"id":"cnv_55c8c149","subject":"Order #1234","status":"unassigned"},"source":{"_meta":{"type":"inboxes"},"data":[{"id":"inb_55c8c149","name":"Support"}]},"target":{"_meta":{"type":"message"},"data":{"id":"msg_1q2w3e","type":"email","is_inbound":true}}}}"#;
const FRONT_TS: &str = "1700000000000";
const FRONT_SIG: &str = "CQnoslalo4ZwXtWOcfTk/Snybc/YRs85RB3ADk5UyU8=";

fn front_req(body: &str, sig: &str, ts: &str) -> Req {
    Req::new(body).header("X-Front-Signature", sig).header("X-Front-Request-Timestamp", ts)
}

#[test]
fn front_known_answer() {
    let s = settings("front", &[("current", FRONT_KEY)]);
    let out = check(&s, &front_req(FRONT_BODY, FRONT_SIG, FRONT_TS));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("front"));
}

#[test]
fn front_verdicts() {
    let s = settings("front", &[("current", FRONT_KEY)]);
    expect(
        &check(&s, &Req::new(FRONT_BODY).header("X-Front-Request-Timestamp", FRONT_TS)),
        Verdict::MissingSignature,
        "header `X-Front-Signature` is missing",
    );
    expect(
        &check(&s, &Req::new(FRONT_BODY).header("X-Front-Signature", FRONT_SIG)),
        Verdict::MissingSignature,
        "header `X-Front-Request-Timestamp` is missing: application webhooks always send it; a rule webhook",
    );
    expect(
        &check(&s, &front_req(FRONT_BODY, "", FRONT_TS)),
        Verdict::Malformed,
        "the signature in `X-Front-Signature` is empty",
    );
    expect(
        &check(&s, &front_req(FRONT_BODY, FRONT_SIG, "2023-11-14T22:13:20Z")),
        Verdict::Malformed,
        "timestamp `2023-11-14T22:13:20Z` in `X-Front-Request-Timestamp` is not Unix milliseconds",
    );
    expect(
        &check(&settings("front", &[("current", "wrong")]), &front_req(FRONT_BODY, FRONT_SIG, FRONT_TS)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Front-Signature` (tried `current`)",
    );
    expect(
        &check(&s, &front_req(&tamper(FRONT_BODY), FRONT_SIG, FRONT_TS)),
        Verdict::InvalidSignature,
        "`X-Front-Signature`",
    );
    // The timestamp is milliseconds, judged in seconds; Front recommends five minutes.
    let out = check(&s, &front_req(FRONT_BODY, FRONT_SIG, FRONT_TS).at(1_700_000_000 + 301));
    expect(&out, Verdict::TimestampOutOfTolerance, "signed 5m1s before receipt; tolerance is 5m");
    assert_eq!(out.secret_label.as_deref(), Some("current"));
    expect(&check(&s, &front_req(FRONT_BODY, FRONT_SIG, FRONT_TS).at(1_700_000_300)), Verdict::Valid, "current");

    let rotated = settings("front", &[("next", "front_next_key"), ("current", FRONT_KEY)]);
    expect(&check(&rotated, &front_req(FRONT_BODY, FRONT_SIG, FRONT_TS)), Verdict::Valid, "`current` (rotated)");
    round_trip("front", FRONT_KEY, FRONT_KEY, Req::new(FRONT_BODY));
    let signed =
        hookmetry_verify::sign("front", FRONT_KEY, None, &Req::new(FRONT_BODY).sign_input(1_700_000_000)).unwrap();
    assert_eq!(
        signed.headers,
        vec![
            ("X-Front-Signature".to_string(), FRONT_SIG.to_string()),
            ("X-Front-Request-Timestamp".to_string(), FRONT_TS.to_string())
        ]
    );
}

#[test]
fn front_event_identity() {
    let hs = headers(&[("X-Front-Signature", FRONT_SIG), ("X-Front-Request-Timestamp", FRONT_TS)]);
    let ev = hookmetry_verify::identify(Some("front"), None, &hs, FRONT_BODY.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: Some("evt_55c8c149".into()),
            kind: Some("inbound_received".into()),
            created_at: at("2023-11-14T22:13:19.512Z"),
            attempt: None,
            retry_reason: None,
            resource: Some("cnv_55c8c149".into()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Nylas

// Nylas publishes no vector. Computed with Python (hmac/hashlib): hex(HMAC-SHA256(webhook_secret,
// body)) per https://developer.nylas.com/docs/v3/notifications/webhooks/#verify-nylas-webhooks, on
// a `message.created` notification shaped as
// https://developer.nylas.com/docs/v3/notifications/notification-schemas shows.
const NYLAS_SECRET: &str = "nylas_webhook_secret_5a9";
const NYLAS_BODY: &str = r#"{"specversion":"1.0","type":"message.created","source":"/google/emails/realtime","id":"3f8d2c7e-5b1a-4e0f-9c6d-2a7b8e9f0a1b","time":1699999999,"webhook_delivery_attempt":1,"data":{"application_id":"NYLAS_APPLICATION_ID","object":{"grant_id":"NYLAS_GRANT_ID","id":"18b9d1c3e6f7a8b2","object":"message","subject":"Hello","thread_id":"18b9d1c3e6f7a8b0"}}}"#;
const NYLAS_SIG: &str = "b82b35330c8d456f19e05db80261cce15fca60648e353a1873c5fb4023dc62fa";

#[test]
fn nylas_known_answer_and_verdicts() {
    let s = settings("nylas", &[("current", NYLAS_SECRET)]);
    let out = check(&s, &Req::new(NYLAS_BODY).header("X-Nylas-Signature", NYLAS_SIG));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("nylas"));
    // Hex is read in either case.
    expect(
        &check(&s, &Req::new(NYLAS_BODY).header("X-Nylas-Signature", NYLAS_SIG.to_uppercase())),
        Verdict::Valid,
        "current",
    );
    body_only_verdicts(
        "nylas",
        "X-Nylas-Signature",
        NYLAS_SECRET,
        NYLAS_BODY,
        NYLAS_SIG,
        "the signature in `X-Nylas-Signature` is 56 characters; a hex SHA-256 signature has 64",
    );
}

#[test]
fn nylas_event_identity() {
    let hs = headers(&[("X-Nylas-Signature", NYLAS_SIG)]);
    let ev = hookmetry_verify::identify(Some("nylas"), None, &hs, NYLAS_BODY.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: Some("3f8d2c7e-5b1a-4e0f-9c6d-2a7b8e9f0a1b".into()),
            kind: Some("message.created".into()),
            created_at: at("2023-11-14T22:13:19Z"),
            attempt: Some(1),
            retry_reason: None,
            resource: Some("18b9d1c3e6f7a8b2".into()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Cal.com

// Cal.com publishes no vector. Computed with Python (hmac/hashlib): hex(HMAC-SHA256(secret, body))
// per https://cal.com/docs/developing/guides/automation/webhooks, on a `BOOKING_CREATED` payload
// shaped as that page shows.
const CAL_SECRET: &str = "cal_webhook_secret_3c1";
const CAL_BODY: &str = r#"{"triggerEvent":"BOOKING_CREATED","createdAt":"2023-11-14T22:13:19.538Z","payload":{"type":"30min","title":"30 Min Meeting between Pro Example and Jane","startTime":"2023-11-20T09:00:00Z","endTime":"2023-11-20T09:30:00Z","organizer":{"email":"pro@example.com","name":"Pro Example","timeZone":"Europe/London"},"uid":"bFJeNb2uX8ANpT3JL5EfXw","bookingId":91,"status":"ACCEPTED"}}"#;
const CAL_SIG: &str = "11e978d2ae0a9d222215b732178da93d72115cbe0b1f6a8479fab0753583a5d7";

#[test]
fn cal_com_known_answer_and_verdicts() {
    let s = settings("cal-com", &[("current", CAL_SECRET)]);
    let out = check(&s, &Req::new(CAL_BODY).header("X-Cal-Signature-256", CAL_SIG));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("cal-com"));
    expect(
        &check(&s, &Req::new(CAL_BODY).header("X-Cal-Signature-256", "no-secret-provided")),
        Verdict::Malformed,
        "`X-Cal-Signature-256` is `no-secret-provided`: the webhook was saved in Cal.com without a secret",
    );
    body_only_verdicts(
        "cal-com",
        "X-Cal-Signature-256",
        CAL_SECRET,
        CAL_BODY,
        CAL_SIG,
        "the signature in `X-Cal-Signature-256` is 56 characters; a hex SHA-256 signature has 64",
    );
}

#[test]
fn cal_com_event_identity() {
    let hs = headers(&[("X-Cal-Signature-256", CAL_SIG)]);
    let ev = hookmetry_verify::identify(Some("cal-com"), None, &hs, CAL_BODY.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: None,
            kind: Some("BOOKING_CREATED".into()),
            created_at: at("2023-11-14T22:13:19.538Z"),
            attempt: None,
            retry_reason: None,
            resource: Some("bFJeNb2uX8ANpT3JL5EfXw".into()),
        }
    );
}

// ---------------------------------------------------------------------------------------------
// LINE

// line/line-bot-sdk-python tests/test_webhook.py `TestSignatureValidator.test_validate`: channel
// secret `channel_secret`, body `bodybodybodybody`.
const LINE_SDK_SIG: &str = "/gg9a+LvFevTH1sd7XCQycD7tsWclCsInj7MhBHxN7k=";
// Computed with Python (hmac/hashlib/base64) as the SDK's `SignatureValidator` does, on the text
// message event of https://developers.line.biz/en/reference/messaging-api/#message-event.
const LINE_SECRET: &str = "8c570fa6dd201bb328f1c1eac23a96d8";
const LINE_BODY: &str = r#"{"destination":"U1234567890abcdef1234567890abcdef","events":[{"type":"message","message":{"type":"text","id":"468789577898262530","quoteToken":"q3Plxr4AgKd...","text":"Hello, world"},"webhookEventId":"01H810YECXQQZ37VAXPF6H9E6T","deliveryContext":{"isRedelivery":false},"timestamp":1699999999512,"source":{"type":"user","userId":"U4af4980629abcdef4af4980629abcdef"},"replyToken":"38ef843bde154d9b91c21320ffd17a0f","mode":"active"}]}"#;
const LINE_SIG: &str = "ELMUgzOmhRjdyMVnPJUCL1c1sOZiWQu6SRmI3tezZwA=";

#[test]
fn line_known_answers_and_verdicts() {
    let sdk = settings("line", &[("current", "channel_secret")]);
    let out = check(&sdk, &Req::new("bodybodybodybody").header("x-line-signature", LINE_SDK_SIG));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("line"));
    // The SDK's invalid case.
    expect(
        &check(&sdk, &Req::new("bodybodybodybody").header("x-line-signature", "invalid_signature")),
        Verdict::Malformed,
        "the signature in `X-Line-Signature` `invalid_signature` is not base64",
    );
    let s = settings("line", &[("current", LINE_SECRET)]);
    expect(&check(&s, &Req::new(LINE_BODY).header("x-line-signature", LINE_SIG)), Verdict::Valid, "current");
    body_only_verdicts(
        "line",
        "X-Line-Signature",
        LINE_SECRET,
        LINE_BODY,
        LINE_SIG,
        "the signature in `X-Line-Signature` decodes to 27 bytes; a base64 HMAC-SHA256 signature has 32",
    );
}

#[test]
fn line_event_identity() {
    let hs = headers(&[("x-line-signature", LINE_SIG)]);
    let ev = hookmetry_verify::identify(Some("line"), None, &hs, LINE_BODY.as_bytes());
    assert_eq!(
        ev,
        CaptureEvent {
            id: Some("01H810YECXQQZ37VAXPF6H9E6T".into()),
            kind: Some("message".into()),
            created_at: at("2023-11-14T22:13:19.512Z"),
            attempt: None,
            retry_reason: None,
            resource: Some("U4af4980629abcdef4af4980629abcdef".into()),
        }
    );
}
