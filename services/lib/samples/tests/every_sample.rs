//! Every sample in the catalog, checked the way a receiver would check it: signed with a secret in
//! the provider's format, then verified by `hookmetry_verify` as a capture on an endpoint
//! configured for that provider. A sample that verifies with its secret but not with another, and
//! stops verifying when one body byte changes, was signed over exactly what is sent.

use hookmetry_core::{
    CaptureId, CapturedRequest, Endpoint, EndpointId, Header, SigningSecret, TeamId, Timestamp, Verdict,
    VerificationSettings,
};
use hookmetry_samples::{SampleRequest, build, catalog, sign};
use serde_json::Value;

/// 2025-01-01T00:00:00Z.
const NOW: i64 = 1_735_689_600;
const BASE_URL: &str = "https://hooks.example.com";
const TOKEN: &str = "tok_3kq9";

/// A secret in the form the provider hands out, so a scheme that decodes its secret is exercised.
fn secret(provider: &str, n: u8) -> String {
    match provider {
        "stripe" => format!("whsec_{n}2aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"),
        "standard-webhooks" => {
            if n == 0 {
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()
            } else {
                "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()
            }
        }
        "paddle" => format!("pdl_ntfset_01hsm2yzxkbqp8b5w7rtc8vvjr_{n}aB3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1y"),
        "twilio" => format!("{n}2f8c4a0b6d1e3f5a7c9e1b3d5f7a9c1"),
        _ => format!("{provider}-signing-secret-{n}"),
    }
}

fn endpoint(provider: &str) -> Endpoint {
    Endpoint {
        id: EndpointId::new(),
        team_id: TeamId::new(),
        name: "samples".into(),
        token: TOKEN.into(),
        response: None,
        verification: Some(VerificationSettings {
            provider: provider.into(),
            secrets: vec![SigningSecret::new("current", secret(provider, 0))],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        }),
        handshakes: false,
        event_fields: None,
        scenario: Vec::new(),
        max_captures: None,
        expires_at: None,
        created_at: Timestamp::from_micros(0),
    }
}

/// The URL the sample is sent to, as verification reconstructs it for URL-bound schemes.
fn url(req: &SampleRequest) -> String {
    hookmetry_verify::signed_url(None, BASE_URL, TOKEN, req.path, None)
}

fn capture(endpoint: &Endpoint, req: &SampleRequest) -> CapturedRequest {
    CapturedRequest {
        id: CaptureId::new(),
        endpoint_id: endpoint.id,
        team_id: endpoint.team_id,
        method: req.method.into(),
        path: req.path.into(),
        query: None,
        headers: headers(req),
        body: req.body.clone().into(),
        body_sha256: [0; 32],
        remote_addr: "192.0.2.7".into(),
        http_version: "HTTP/1.1".into(),
        received_at: Timestamp::from_micros((NOW + 1) * 1_000_000),
        answered: None,
    }
}

fn headers(req: &SampleRequest) -> Vec<Header> {
    req.headers.iter().map(|(n, v)| Header::new(n.clone(), v.clone().into_bytes())).collect()
}

fn verdict(provider: &str, req: &SampleRequest) -> (Verdict, String) {
    let ep = endpoint(provider);
    let v = hookmetry_verify::verify_capture(&ep, &capture(&ep, req), BASE_URL, Timestamp::from_micros(0));
    (v.verdict, v.reason)
}

fn header<'a>(req: &'a SampleRequest, name: &str) -> Option<&'a str> {
    req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn every_sample() -> impl Iterator<Item = (&'static str, &'static str)> {
    catalog().iter().flat_map(|p| p.events.iter().map(move |e| (p.id, e.name)))
}

#[test]
fn the_catalog_covers_the_providers_asked_for_under_their_verification_ids() {
    let ids: Vec<_> = catalog().iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        ["stripe", "github", "shopify", "slack", "standard-webhooks", "twilio", "paddle", "square", "linear"]
    );
    let known: Vec<_> = hookmetry_verify::providers().iter().map(|p| (p.id, p.name)).collect();
    for p in catalog() {
        assert!(known.contains(&(p.id, p.name)), "`{}` ({}) is not a verification provider", p.id, p.name);
    }
    assert!(every_sample().count() >= 50);
}

#[test]
fn every_sample_verifies_with_its_secret_and_only_as_sent() {
    for (provider, event) in every_sample() {
        let unsigned = build(provider, event, &[], NOW).unwrap();
        assert_eq!((unsigned.provider, unsigned.event), (provider, event));
        let (v, reason) = verdict(provider, &unsigned);
        assert_ne!(v, Verdict::Valid, "{provider} {event} verified unsigned: {reason}");

        let signed = sign(&unsigned, provider, &secret(provider, 0), None, &url(&unsigned), NOW).unwrap();
        assert!(signed.headers.len() > unsigned.headers.len(), "{provider} {event}: signing added no header");
        assert_eq!(
            signed.headers[..unsigned.headers.len()],
            unsigned.headers[..],
            "{provider} {event}: signing reordered"
        );
        let (v, reason) = verdict(provider, &signed);
        assert_eq!(v, Verdict::Valid, "{provider} {event}: {reason}");

        let other = sign(&unsigned, provider, &secret(provider, 1), None, &url(&unsigned), NOW).unwrap();
        let (v, reason) = verdict(provider, &other);
        assert_ne!(v, Verdict::Valid, "{provider} {event} verified with another secret: {reason}");

        for at in [0, signed.body.len() / 2, signed.body.len() - 1] {
            let mut tampered = signed.clone();
            tampered.body[at] ^= 0x01;
            let (v, reason) = verdict(provider, &tampered);
            assert_ne!(v, Verdict::Valid, "{provider} {event} verified with byte {at} changed: {reason}");
        }
    }
}

#[test]
fn a_standard_webhooks_sample_is_signed_under_its_own_message_id() {
    let req = build("standard-webhooks", "contact.created", &[], NOW).unwrap();
    let id = header(&req, "webhook-id").unwrap().to_string();
    assert!(id.starts_with("msg_") && id.len() == 31, "{id}");
    let signed =
        sign(&req, "standard-webhooks", &secret("standard-webhooks", 0), None, "https://x.example", NOW).unwrap();
    assert_eq!(signed.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("webhook-id")).count(), 1);
    assert_eq!(header(&signed, "webhook-id"), Some(id.as_str()));
    assert_eq!(header(&signed, "webhook-timestamp"), Some(NOW.to_string().as_str()));
}

#[test]
fn every_body_parses_and_names_the_event_it_is() {
    for (provider, event) in every_sample() {
        let req = build(provider, event, &[], NOW).unwrap();
        let content_type = header(&req, "content-type").unwrap();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let text = std::str::from_utf8(&req.body).unwrap();
            let fields: Vec<_> = text.split('&').map(|p| p.split_once('=').unwrap()).collect();
            assert!(fields.len() >= 5, "{provider} {event}");
            assert!(fields.iter().any(|(n, v)| *n == "AccountSid" && v.starts_with("AC") && v.len() == 34));
        } else {
            assert!(content_type.starts_with("application/json"), "{provider} {event}: {content_type}");
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let named = match provider {
                "stripe" | "standard-webhooks" | "square" => body["type"].as_str().map(str::to_string),
                "paddle" => body["event_type"].as_str().map(str::to_string),
                "github" => {
                    let kind = header(&req, "X-GitHub-Event").unwrap();
                    Some(body["action"].as_str().map_or(kind.to_string(), |a| format!("{kind}.{a}")))
                }
                "shopify" => header(&req, "X-Shopify-Topic").map(str::to_string),
                "slack" if body["type"] == "event_callback" => body["event"]["type"].as_str().map(str::to_string),
                "slack" => body["type"].as_str().map(str::to_string),
                "linear" => {
                    assert_eq!(Some(body["type"].as_str().unwrap()), header(&req, "Linear-Event"));
                    Some(format!("{}.{}", body["type"].as_str().unwrap(), body["action"].as_str().unwrap()))
                }
                other => panic!("no rule for where {other} names its event"),
            };
            assert_eq!(named.as_deref(), Some(event), "{provider}");
        }
    }
}

/// Twilio's requests do not name their event anywhere, so there is nothing for `event_type` to
/// find; every other provider's sample must be recognised as the event it is.
const NAMES_NO_EVENT: &[&str] = &["twilio"];

#[test]
fn event_type_recognises_every_sample_without_being_told_the_provider() {
    for (provider, event) in every_sample() {
        let req = sign(
            &build(provider, event, &[], NOW).unwrap(),
            provider,
            &secret(provider, 0),
            None,
            "https://x.example/",
            NOW,
        )
        .unwrap();
        let found = hookmetry_verify::event_type(&headers(&req), &req.body);
        let expected = (!NAMES_NO_EVENT.contains(&provider)).then_some(event);
        assert_eq!(found.as_deref(), expected, "{provider} {event}");
    }
}

#[test]
fn a_set_field_is_sent_and_signed() {
    let sets = [
        ("data.object.amount".to_string(), "4200".to_string()),
        ("data.object.metadata.order_id".to_string(), "A-17".to_string()),
        ("data.object.payment_method_types.0".to_string(), "us_bank_account".to_string()),
        ("livemode".to_string(), "true".to_string()),
    ];
    let req = build("stripe", "payment_intent.succeeded", &sets, NOW).unwrap();
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["data"]["object"]["amount"], 4200);
    assert_eq!(body["data"]["object"]["metadata"]["order_id"], "A-17");
    assert_eq!(body["data"]["object"]["payment_method_types"][0], "us_bank_account");
    assert_eq!(body["livemode"], true);
    let signed = sign(&req, "stripe", &secret("stripe", 0), None, &url(&req), NOW).unwrap();
    assert_eq!(verdict("stripe", &signed).0, Verdict::Valid);
}

#[test]
fn a_bad_set_path_is_an_error_naming_it() {
    let sets = [("data.object.payment_method_types.3".to_string(), "card".to_string())];
    let e = build("stripe", "payment_intent.succeeded", &sets, NOW).unwrap_err().to_string();
    assert!(e.contains("`data.object.payment_method_types.3`") && e.contains("past the end"), "{e}");
    let sets = [("type.name".to_string(), "x".to_string())];
    let e = build("stripe", "charge.succeeded", &sets, NOW).unwrap_err().to_string();
    assert!(e.contains("`type.name`") && e.contains("`type` is a string"), "{e}");
}

#[test]
fn twilio_sets_replace_or_add_form_fields_and_still_verify() {
    let sets = [("Body".to_string(), "STOP & unsubscribe".to_string()), ("NumMedia".to_string(), "1".to_string())];
    let sets = [sets.as_slice(), &[("MediaUrl0".to_string(), "https://example.com/cat.jpg".to_string())]].concat();
    let req = build("twilio", "incoming-sms", &sets, NOW).unwrap();
    let text = std::str::from_utf8(&req.body).unwrap();
    assert!(text.contains("&Body=STOP+%26+unsubscribe&"), "{text}");
    assert_eq!(text.matches("NumMedia=").count(), 1, "{text}");
    assert!(text.contains("NumMedia=1&"), "{text}");
    assert!(text.ends_with("&MediaUrl0=https%3A%2F%2Fexample.com%2Fcat.jpg"), "{text}");
    let signed = sign(&req, "twilio", &secret("twilio", 0), None, &url(&req), NOW).unwrap();
    assert_eq!(verdict("twilio", &signed).0, Verdict::Valid);
    // Twilio signs the URL: the same request signed for another URL does not verify here.
    let elsewhere = sign(&req, "twilio", &secret("twilio", 0), None, "https://other.example/h/tok_3kq9", NOW).unwrap();
    assert_ne!(verdict("twilio", &elsewhere).0, Verdict::Valid);
}

#[test]
fn github_headers_come_in_the_order_github_sends_them() {
    let req = build("github", "pull_request.opened", &[], NOW).unwrap();
    let names: Vec<_> = req.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Accept",
            "Content-Type",
            "User-Agent",
            "X-GitHub-Delivery",
            "X-GitHub-Event",
            "X-GitHub-Hook-ID",
            "X-GitHub-Hook-Installation-Target-ID",
            "X-GitHub-Hook-Installation-Target-Type",
        ]
    );
    assert_eq!(header(&req, "X-GitHub-Event"), Some("pull_request"));
    assert!(header(&req, "User-Agent").unwrap().starts_with("GitHub-Hookshot/"));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["repository"]["id"].to_string(), header(&req, "X-GitHub-Hook-Installation-Target-ID").unwrap());
}

#[test]
fn timestamps_come_from_the_time_given() {
    let stripe: Value = serde_json::from_slice(&build("stripe", "customer.created", &[], NOW).unwrap().body).unwrap();
    assert_eq!(stripe["created"], NOW);
    assert!(stripe["id"].as_str().unwrap().starts_with("evt_"));
    let linear: Value = serde_json::from_slice(&build("linear", "Issue.create", &[], NOW).unwrap().body).unwrap();
    assert_eq!(linear["webhookTimestamp"], NOW * 1000);
    let paddle: Value = serde_json::from_slice(&build("paddle", "customer.created", &[], NOW).unwrap().body).unwrap();
    assert_eq!(paddle["occurred_at"], "2025-01-01T00:00:00.000000Z");
    let shopify = build("shopify", "orders/create", &[], NOW).unwrap();
    assert_eq!(header(&shopify, "X-Shopify-Triggered-At"), Some("2025-01-01T00:00:00.000000Z"));
}

#[test]
fn signing_as_an_unknown_scheme_names_it() {
    let req = build("stripe", "charge.succeeded", &[], NOW).unwrap();
    let e = sign(&req, "strype", "whsec_x", None, "https://x.example", NOW).unwrap_err().to_string();
    assert!(e.contains("`strype`"), "{e}");
}
