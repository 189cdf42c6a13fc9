//! Known-answer and per-verdict tests for Stripe, GitHub, Slack, Standard Webhooks, Svix and the
//! generic HMAC scheme, and for the engine's explanations (rotation, tolerance, body and URL
//! changes).

use crate::common;

use common::*;
use hookmetry_core::{GenericHmac, Verdict};

const STRIPE_BODY: &str = r#"{"id":"evt_1","object":"event"}"#;
// HMAC-SHA256("whsec_test_secret", "1700000000." + body), the construction documented at
// https://docs.stripe.com/webhooks#verify-manually (stripe-node's `generateTestHeaderString`
// builds the same header in its test suite).
const STRIPE_SIG: &str = "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd";

fn stripe_req(header: &str) -> Req {
    Req::new(STRIPE_BODY).header("Stripe-Signature", header).at(1_700_000_010)
}

#[test]
fn stripe_known_answer() {
    let s = settings("stripe", &[("current", "whsec_test_secret")]);
    let out = check(&s, &stripe_req(&format!("t=1700000000,v1={STRIPE_SIG}")));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("stripe"));
    // Stripe may send several v1 signatures while a secret is being rolled; any one is enough.
    let several = format!("t=1700000000,v1={},v1={STRIPE_SIG},v0=abc", "00".repeat(32));
    expect(&check(&s, &stripe_req(&several)), Verdict::Valid, "current");
}

#[test]
fn stripe_verdicts() {
    let s = settings("stripe", &[("current", "whsec_test_secret")]);
    let wrong = settings("stripe", &[("current", "whsec_other"), ("old", "whsec_older")]);
    let good = format!("t=1700000000,v1={STRIPE_SIG}");

    expect(&check(&s, &Req::new(STRIPE_BODY)), Verdict::MissingSignature, "header `Stripe-Signature` is missing");
    expect(&check(&wrong, &stripe_req(&good)), Verdict::InvalidSignature, "tried `current`, `old`");
    expect(&check(&s, &stripe_req(&format!("v1={STRIPE_SIG}"))), Verdict::Malformed, "no `t=` timestamp");
    expect(&check(&s, &stripe_req("t=1700000000,v0=abcd")), Verdict::Malformed, "only `v0`");
    expect(&check(&s, &stripe_req("t=soon,v1=ab")), Verdict::Malformed, "not Unix seconds");
    expect(&check(&s, &stripe_req("t=1700000000,v1=zz")), Verdict::Malformed, "not hex");

    let late = stripe_req(&good).at(1_700_000_000 + 432);
    let out = check(&s, &late);
    expect(&out, Verdict::TimestampOutOfTolerance, "signed 7m12s before receipt; tolerance is 5m");
    assert_eq!(out.secret_label.as_deref(), Some("current"), "the signature itself matched");

    let mut lenient = s.clone();
    lenient.tolerance_seconds = Some(600);
    expect(&check(&lenient, &late), Verdict::Valid, "current");
    lenient.tolerance_seconds = Some(0);
    expect(&check(&lenient, &stripe_req(&good).at(1_800_000_000)), Verdict::Valid, "current");

    let mut none = s.clone();
    none.secrets.clear();
    expect(&check(&none, &stripe_req(&good)), Verdict::NotConfigured, "no secret configured for Stripe");
}

#[test]
fn rotation_names_the_secret_that_matched() {
    let s = settings("stripe", &[("new", "whsec_new"), ("old", "whsec_test_secret")]);
    let out = check(&s, &stripe_req(&format!("t=1700000000,v1={STRIPE_SIG}")));
    expect(&out, Verdict::Valid, "matches secret `old` (rotated)");
    assert_eq!(out.secret_label.as_deref(), Some("old"));
}

#[test]
fn a_reserialized_json_body_is_explained() {
    let s = settings("stripe", &[("current", "whsec_test_secret")]);
    // The same JSON as signed, pretty-printed by something in between.
    let pretty = "{\n  \"id\": \"evt_1\",\n  \"object\": \"event\"\n}";
    let req = Req::new(pretty).header("Stripe-Signature", format!("t=1700000000,v1={STRIPE_SIG}")).at(1_700_000_000);
    expect(
        &check(&s, &req),
        Verdict::InvalidSignature,
        "would match (secret `current`) if the body were re-serialized JSON (compact): something between the provider and here changed the body",
    );
    let newline = Req::new(format!("{STRIPE_BODY}\n"))
        .header("Stripe-Signature", format!("t=1700000000,v1={STRIPE_SIG}"))
        .at(1_700_000_000);
    expect(&check(&s, &newline), Verdict::InvalidSignature, "without its trailing newline");
}

#[test]
fn a_secret_pasted_with_whitespace_is_explained() {
    let s = settings("stripe", &[("current", "whsec_test_secret\n")]);
    expect(
        &check(&s, &stripe_req(&format!("t=1700000000,v1={STRIPE_SIG}"))),
        Verdict::InvalidSignature,
        "matches secret `current` once the whitespace around it is removed",
    );
}

#[test]
fn github_known_answers() {
    // The example in GitHub's documentation: secret "It's a Secret to Everybody", payload
    // "Hello, World!" (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation).
    let s = settings("github", &[("current", "It's a Secret to Everybody")]);
    let req = Req::new("Hello, World!")
        .header("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    expect(&check(&s, &req), Verdict::Valid, "matches secret `current`");
    // Legacy SHA-1 header, same secret and payload (HMAC-SHA1 per the same page's history).
    let legacy = Req::new("Hello, World!").header("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59");
    expect(&check(&s, &legacy), Verdict::Valid, "current");
}

#[test]
fn github_verdicts() {
    let s = settings("github", &[("current", "It's a Secret to Everybody")]);
    expect(&check(&s, &Req::new("x")), Verdict::MissingSignature, "header `X-Hub-Signature-256` is missing");
    expect(
        &check(&s, &Req::new("x").header("X-Hub-Signature-256", "757107ea")),
        Verdict::Malformed,
        "should start with `sha256=`",
    );
    expect(
        &check(&s, &Req::new("x").header("X-Hub-Signature-256", "sha256=abcd")),
        Verdict::Malformed,
        "a hex SHA-256 signature has 64",
    );
    let bad = Req::new("Hello, World!!")
        .header("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    expect(&check(&s, &bad), Verdict::InvalidSignature, "no secret matches the signature in `X-Hub-Signature-256`");
    round_trip("github", "s3cret", "s3cret", Req::new(r#"{"zen":"Keep it logically awesome."}"#));
}

#[test]
fn slack_known_answer() {
    // The worked example in https://api.slack.com/authentication/verifying-requests-from-slack.
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let s = settings("slack", &[("current", "8f742231b10e8888abcd99yyyzzz85a5")]);
    let req = Req::new(body)
        .header("X-Slack-Request-Timestamp", "1531420618")
        .header("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
        .at(1_531_420_618 + 30);
    expect(&check(&s, &req), Verdict::Valid, "current");
    expect(
        &check(&s, &Req { received_at: 1_531_420_618 + 3600, ..req }),
        Verdict::TimestampOutOfTolerance,
        "signed 1h before receipt; tolerance is 5m",
    );
    let no_ts = Req::new(body).header("X-Slack-Signature", "v0=00");
    expect(&check(&s, &no_ts), Verdict::MissingSignature, "header `X-Slack-Request-Timestamp` is missing");
    round_trip("slack", "abc", "abc", Req::new("payload=%7B%7D"));
}

#[test]
fn standard_webhooks_known_answer() {
    // The vector used by the Standard Webhooks reference libraries' tests
    // (https://github.com/standard-webhooks/standard-webhooks, libraries/*/ tests).
    let s = settings("standard-webhooks", &[("current", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]);
    let req = Req::new(r#"{"test": 2432232314}"#)
        .header("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
        .header("webhook-timestamp", "1614265330")
        .header("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        .at(1_614_265_330);
    expect(&check(&s, &req), Verdict::Valid, "current");
    // Several signatures separated by spaces, one of them right.
    let multi = Req { headers: vec![], ..Req::new(r#"{"test": 2432232314}"#).at(1_614_265_330) }
        .header("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
        .header("webhook-timestamp", "1614265330")
        .header(
            "webhook-signature",
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
    expect(&check(&s, &multi), Verdict::Valid, "current");
    // Clerk, Resend and others send the same scheme as svix-*; both ids accept them.
    let svix = Req::new(r#"{"test": 2432232314}"#)
        .header("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
        .header("svix-timestamp", "1614265330")
        .header("svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        .at(1_614_265_330);
    expect(&check(&s, &svix), Verdict::Valid, "current");
    expect(
        &check(&settings("svix", &[("current", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]), &svix),
        Verdict::Valid,
        "current",
    );
}

#[test]
fn standard_webhooks_verdicts() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let s = settings("standard-webhooks", &[("current", secret)]);
    expect(
        &check(&s, &Req::new("{}").header("webhook-signature", "v1,AAAA")),
        Verdict::MissingSignature,
        "header `webhook-id` is missing",
    );
    let bad = Req::new("{}")
        .header("webhook-id", "m")
        .header("webhook-timestamp", "1700000000")
        .header("webhook-signature", "v2,AAAA");
    expect(&check(&s, &bad), Verdict::Malformed, "no `v1` signature (found: v2)");
    assert_eq!(
        hookmetry_verify::validate(&settings("standard-webhooks", &[("current", "whsec_***")])).unwrap_err().0,
        "secrets[0].value"
    );
    round_trip("standard-webhooks", secret, secret, Req::new(r#"{"type":"user.created"}"#));
    round_trip("svix", secret, secret, Req::new(r#"{"type":"email.sent"}"#));
}

fn generic(template: &str) -> hookmetry_core::VerificationSettings {
    let mut s = settings("generic-hmac", &[("current", "k3y")]);
    s.generic = Some(GenericHmac {
        header: "X-Signature".into(),
        algorithm: "sha512".into(),
        encoding: "base64".into(),
        prefix: "sha512=".into(),
        template: template.into(),
        timestamp_header: Some("X-Timestamp".into()),
        id_header: None,
    });
    s
}

#[test]
fn generic_hmac_signs_what_its_template_says() {
    use base64::Engine as _;
    use hmac::Mac as _;
    let s = generic("{timestamp}:{method}:{url}:{body}");
    let url = "https://hooks.example.com/in?x=1";
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(b"k3y").unwrap();
    mac.update(format!("1700000000:POST:{url}:hello").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let req =
        Req::new("hello").url(url).header("X-Timestamp", "1700000000").header("X-Signature", format!("sha512={sig}"));
    expect(&check(&s, &req), Verdict::Valid, "current");
    // Signed for the https URL, received as configured with http: the URL setting is named.
    let http = Req { url: "http://hooks.example.com/in?x=1".into(), ..req };
    expect(
        &check(&s, &http),
        Verdict::InvalidSignature,
        "with `https://` instead of `http://`: check the public URL setting",
    );
}

#[test]
fn generic_hmac_settings_are_validated() {
    let mut s = generic("{nonce}.{body}");
    assert!(hookmetry_verify::validate(&s).unwrap_err().1.contains("unknown placeholder `{nonce}`"));
    s = generic("{id}.{body}");
    assert!(hookmetry_verify::validate(&s).unwrap_err().1.contains("idHeader"));
    s = generic("{body}");
    s.generic.as_mut().unwrap().algorithm = "md5".into();
    assert!(hookmetry_verify::validate(&s).unwrap_err().1.contains("`md5` is not one of sha1, sha256, sha512"));
    s = generic("{timestamp}.{body}");
    s.generic.as_mut().unwrap().timestamp_header = Some("x-signature".into());
    assert!(hookmetry_verify::validate(&s).unwrap_err().1.contains("timestampHeader: must differ from `header`"));
    s = generic("{body}");
    assert!(hookmetry_verify::validate(&s).is_ok());
}

#[test]
fn unknown_provider_is_not_configured() {
    let s = settings("acme", &[("current", "x")]);
    expect(&check(&s, &Req::new("{}")), Verdict::NotConfigured, "unknown provider `acme`");
    assert_eq!(hookmetry_verify::validate(&s).unwrap_err().0, "provider");
}

#[test]
fn unconfigured_endpoints_get_a_guess() {
    let out = hookmetry_verify::guess(&Req::new("{}").header("stripe-signature", "t=1,v1=00").as_request());
    assert_eq!(out.verdict, Verdict::NotConfigured);
    assert_eq!(out.reason, "looks like Stripe (`Stripe-Signature` present); no secret configured");
    assert_eq!(out.provider.as_deref(), Some("stripe"));
    let none = hookmetry_verify::guess(&Req::new("{}").header("Content-Type", "application/json").as_request());
    assert_eq!(none.provider, None);
    assert!(none.reason.contains("no known signature header"));
}

#[test]
fn every_provider_id_is_lowercase_with_hyphens_and_unique() {
    let ids: Vec<&str> = hookmetry_verify::providers().iter().map(|p| p.id).collect();
    for id in &ids {
        assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{id}");
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn docs_list_every_provider() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../docs/verification.md")).unwrap();
    for p in hookmetry_verify::providers() {
        assert!(docs.contains(&format!("\n| `{}` |", p.id)), "docs/verification.md has no row for `{}`", p.id);
    }
}

/// A Stripe header for `t`, signed as Stripe signs (HMAC-SHA256 of `<t>.<body>`, the text of `t`
/// as sent).
fn stripe_header_for(t: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test_secret").unwrap();
    mac.update(format!("{t}.{STRIPE_BODY}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn a_millisecond_timestamp_where_seconds_are_documented_is_read_as_milliseconds() {
    let s = settings("stripe", &[("current", "whsec_test_secret")]);
    // 13 digits: 2023-11-14T22:13:20.123Z. Read as seconds it would be 20,771,110 days ahead.
    let header = stripe_header_for("1700000000123");
    let at = |secs: i64| Req::new(STRIPE_BODY).header("Stripe-Signature", &header).at(secs);
    expect(
        &check(&s, &at(1_700_000_010)),
        Verdict::Valid,
        "matches secret `current`; the timestamp `1700000000123` has 13 digits, so it was read as Unix milliseconds (the scheme documents seconds)",
    );
    // Judged in the inferred unit: at the tolerance's edge and past it.
    expect(&check(&s, &at(1_700_000_300)), Verdict::Valid, "current");
    expect(
        &check(&s, &at(1_700_000_432)),
        Verdict::TimestampOutOfTolerance,
        "signed 7m12s before receipt; tolerance is 5m; the signature itself matches secret `current`; the timestamp `1700000000123` has 13 digits, so it was read as Unix milliseconds",
    );
    // A wrong secret still says how the timestamp was read.
    let wrong = settings("stripe", &[("current", "whsec_other")]);
    let out = check(&wrong, &at(1_700_000_010));
    expect(&out, Verdict::InvalidSignature, "no secret matches the signature in `Stripe-Signature`");
    assert!(
        out.reason.ends_with("so it was read as Unix milliseconds (the scheme documents seconds)"),
        "{}",
        out.reason
    );

    // 16 digits are microseconds; 10 digits stay seconds and say nothing about units.
    let micros = stripe_header_for("1700000000123456");
    let out = check(&s, &Req::new(STRIPE_BODY).header("Stripe-Signature", &micros).at(1_700_000_010));
    expect(&out, Verdict::Valid, "has 16 digits, so it was read as Unix microseconds");
    let secs =
        check(&s, &Req::new(STRIPE_BODY).header("Stripe-Signature", stripe_header_for("1700000000")).at(1_700_000_010));
    assert_eq!(secs.reason, "matches secret `current`");
}

#[test]
fn a_millisecond_timestamp_is_inferred_for_every_seconds_scheme() {
    // Slack's worked example re-signed with its timestamp in milliseconds.
    use hmac::Mac as _;
    let body = "payload=%7B%7D";
    let ts = "1531420618000";
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"slack-secret").unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let req = Req::new(body)
        .header("X-Slack-Request-Timestamp", ts)
        .header("X-Slack-Signature", format!("v0={}", hex::encode(mac.finalize().into_bytes())))
        .at(1_531_420_618 + 30);
    let s = settings("slack", &[("current", "slack-secret")]);
    expect(&check(&s, &req), Verdict::Valid, "has 13 digits, so it was read as Unix milliseconds");
    expect(
        &check(&s, &Req { received_at: 1_531_420_618 + 3600, ..req }),
        Verdict::TimestampOutOfTolerance,
        "signed 1h before receipt; tolerance is 5m",
    );
}
