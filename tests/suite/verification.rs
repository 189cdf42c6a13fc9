//! Signature verification end to end: signed requests sent over HTTP to a capture URL come back
//! through GraphQL with the right verdict and reason; settings are write-only and validated;
//! re-verification after a secret change; handshakes.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use hookmetry_testkit::{Client, TestEndpoint, TestServer};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

const VERIFICATION: &str = "verification { provider verdict reason secretLabel verifiedAt }";

/// Seconds by the product's clock, which ingest stamps `received_at` with (CI moves it a year ahead
/// in a second run, through the test server).
fn now() -> i64 {
    hookmetry_core::Timestamp::now().micros().div_euclid(1_000_000)
}

async fn configure(client: &Client, ep: &TestEndpoint, verification: Value) -> Value {
    client
        .graphql(
            "mutation($id: ID!, $v: VerificationInput) { updateEndpoint(input: {id: $id, verification: $v}) { verification { provider secrets { label } toleranceSeconds effectiveToleranceSeconds publicUrl } } }",
            json!({ "id": ep.id, "v": verification }),
        )
        .await
        .expect("settings accepted")["updateEndpoint"]["verification"]
        .clone()
}

/// Sends `req`, then waits until the processor has stored the capture's verification.
async fn send(client: &Client, req: reqwest::RequestBuilder) -> Value {
    let resp = req.send().await.expect("request");
    assert_eq!(resp.status(), 200);
    let id = id_from_body(&resp.text().await.unwrap());
    verification_of(client, &id).await
}

async fn verification_of(client: &Client, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ capture(id: $id) {{ {VERIFICATION} }} }}");
    let deadline = Instant::now() + WAIT;
    loop {
        let v = client.graphql(&q, json!({ "id": id })).await.unwrap()["capture"]["verification"].clone();
        if !v.is_null() {
            return v;
        }
        assert!(Instant::now() < deadline, "capture {id} not verified within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn post(ep: &TestEndpoint, body: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().post(&ep.url).header("content-type", "application/json").body(body.to_string())
}

/// Signs with the crate's signer for the providers without a fixed documented vector here.
fn signed(ep_url: &str, provider: &str, secret: &str, body: &str, timestamp: i64) -> reqwest::RequestBuilder {
    let input = hookmetry_verify::SignInput {
        method: "POST",
        url: ep_url,
        body: body.as_bytes(),
        timestamp,
        id: None,
        headers: &[],
    };
    let signed = hookmetry_verify::sign(provider, secret, None, &input).unwrap();
    let mut req = reqwest::Client::new().post(ep_url).header("content-type", "application/json").body(body.to_string());
    for (n, v) in signed.headers {
        req = req.header(n, v);
    }
    req
}

#[tokio::test]
async fn github_deliveries_get_verdicts_with_reasons() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("github").await.unwrap();
    let settings = configure(
        &server.admin,
        &ep,
        json!({ "provider": "github", "secrets": [{ "label": "current", "value": "It's a Secret to Everybody" }] }),
    )
    .await;
    assert_eq!(
        settings,
        json!({ "provider": "github", "secrets": [{ "label": "current" }], "toleranceSeconds": null,
                "effectiveToleranceSeconds": null, "publicUrl": null })
    );

    // GitHub's documented example: this signature is HMAC-SHA256 of "Hello, World!".
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let v = send(&server.admin, post(&ep, "Hello, World!").header("X-Hub-Signature-256", sig)).await;
    assert_eq!(v["verdict"], "VALID");
    assert_eq!(v["reason"], "matches secret `current`");
    assert_eq!(v["secretLabel"], "current");
    assert_eq!(v["provider"], "github");

    let v = send(&server.admin, post(&ep, "Hello, World?").header("X-Hub-Signature-256", sig)).await;
    assert_eq!(v["verdict"], "INVALID_SIGNATURE");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .starts_with("no secret matches the signature in `X-Hub-Signature-256` (tried `current`)"),
        "{v}"
    );
    assert_eq!(v["secretLabel"], Value::Null);

    let v = send(&server.admin, post(&ep, "Hello, World!")).await;
    assert_eq!(v["verdict"], "MISSING_SIGNATURE");
    assert!(v["reason"].as_str().unwrap().starts_with("header `X-Hub-Signature-256` is missing"), "{v}");

    let v = send(&server.admin, post(&ep, "Hello, World!").header("X-Hub-Signature-256", "sha256=xyz")).await;
    assert_eq!(v["verdict"], "MALFORMED");

    // Captures filter by verdict.
    let q = "query($e: ID!, $v: Verdict) { captures(endpointId: $e, filter: {verdict: $v}) { edges { node { verification { verdict } } } } }";
    for (verdict, n) in
        [("VALID", 1), ("INVALID_SIGNATURE", 1), ("MISSING_SIGNATURE", 1), ("MALFORMED", 1), ("NOT_CONFIGURED", 0)]
    {
        let d = server.admin.graphql(q, json!({ "e": ep.id, "v": verdict })).await.unwrap();
        let edges = d["captures"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), n, "{verdict}: {d}");
        assert!(edges.iter().all(|e| e["node"]["verification"]["verdict"] == verdict));
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn stripe_rotation_tolerance_and_a_changed_body_are_explained() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("stripe").await.unwrap();
    configure(
        &server.admin,
        &ep,
        json!({ "provider": "stripe", "secrets": [
            { "label": "new", "value": "whsec_new_secret" },
            { "label": "old", "value": "whsec_old_secret" }
        ] }),
    )
    .await;
    let body = r#"{"id":"evt_1","type":"charge.succeeded"}"#;

    let v = send(&server.admin, signed(&ep.url, "stripe", "whsec_old_secret", body, now())).await;
    assert_eq!((v["verdict"].as_str(), v["secretLabel"].as_str()), (Some("VALID"), Some("old")), "{v}");
    assert_eq!(v["reason"], "matches secret `old` (rotated)");

    let v = send(&server.admin, signed(&ep.url, "stripe", "whsec_new_secret", body, now() - 432)).await;
    assert_eq!(v["verdict"], "TIMESTAMP_OUT_OF_TOLERANCE", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.starts_with("signed 7m1") && reason.contains("before receipt; tolerance is 5m"), "{reason}");
    assert_eq!(v["secretLabel"], "new");

    // Signed over the compact body, delivered pretty-printed by something in between.
    let pretty = "{\n  \"id\": \"evt_1\",\n  \"type\": \"charge.succeeded\"\n}";
    let sig = hookmetry_verify::sign(
        "stripe",
        "whsec_new_secret",
        None,
        &hookmetry_verify::SignInput {
            method: "POST",
            url: &ep.url,
            body: body.as_bytes(),
            timestamp: now(),
            id: None,
            headers: &[],
        },
    )
    .unwrap();
    let v = send(&server.admin, post(&ep, pretty).header("Stripe-Signature", &sig.headers[0].1)).await;
    assert_eq!(v["verdict"], "INVALID_SIGNATURE");
    assert_eq!(
        v["reason"],
        "would match (secret `new`) if the body were re-serialized JSON (compact): something between the provider and here changed the body"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn url_bound_schemes_use_the_public_url_and_name_a_scheme_mismatch() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("twilio").await.unwrap();
    configure(
        &server.admin,
        &ep,
        json!({ "provider": "twilio", "secrets": [{ "label": "auth-token", "value": "12345" }],
                "publicUrl": "https://mycompany.example/twilio" }),
    )
    .await;
    let form = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    let send_form = |signed_url: &str| {
        let input = hookmetry_verify::SignInput {
            method: "POST",
            url: signed_url,
            body: form.as_bytes(),
            timestamp: now(),
            id: None,
            headers: &[],
        };
        let s = hookmetry_verify::sign("twilio", "12345", None, &input).unwrap();
        let mut req = reqwest::Client::new()
            .post(format!("{}/voice?lang=en", ep.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form);
        for (n, v) in s.headers {
            req = req.header(n, v);
        }
        req
    };
    // The signed URL is publicUrl + the path after /h/<token> + the raw query.
    let v = send(&server.admin, send_form("https://mycompany.example/twilio/voice?lang=en")).await;
    assert_eq!(v["verdict"], "VALID", "{v}");
    let v = send(&server.admin, send_form("http://mycompany.example/twilio/voice?lang=en")).await;
    assert_eq!(v["verdict"], "INVALID_SIGNATURE");
    assert!(
        v["reason"].as_str().unwrap().contains("with `http://` instead of `https://`: check the public URL setting"),
        "{v}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unconfigured_endpoint_gets_a_guess() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("plain").await.unwrap();
    let v = send(&server.admin, post(&ep, "{}").header("Stripe-Signature", "t=1,v1=00")).await;
    assert_eq!(v["verdict"], "NOT_CONFIGURED");
    assert_eq!(v["provider"], "stripe");
    assert_eq!(v["reason"], "looks like Stripe (`Stripe-Signature` present); no secret configured");
    let v = send(&server.admin, post(&ep, "{}")).await;
    assert_eq!((v["verdict"].as_str(), &v["provider"]), (Some("NOT_CONFIGURED"), &Value::Null));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn secrets_are_write_only_and_bad_settings_change_nothing() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("settings").await.unwrap();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    configure(
        &server.admin,
        &ep,
        json!({ "provider": "standard-webhooks", "secrets": [{ "label": "current", "value": secret }], "toleranceSeconds": 60 }),
    )
    .await;
    let full = "query($id: ID!) { endpoint(id: $id) { verification { provider secrets { label } toleranceSeconds effectiveToleranceSeconds publicUrl } } }";
    let before = server.admin.graphql(full, json!({ "id": ep.id })).await.unwrap();
    assert_eq!(before["endpoint"]["verification"]["effectiveToleranceSeconds"], 60);
    assert!(!before.to_string().contains("MfKQ9r8"), "a secret value was returned: {before}");
    // The schema itself has nowhere to put a secret value.
    let t = server.admin.graphql(r#"{ __type(name: "Secret") { fields { name } } }"#, json!({})).await.unwrap();
    assert_eq!(t["__type"]["fields"], json!([{ "name": "label" }]));

    let update =
        "mutation($id: ID!, $v: VerificationInput) { updateEndpoint(input: {id: $id, verification: $v}) { id } }";
    for (v, field, message) in [
        (
            json!({ "provider": "acme", "secrets": [{ "label": "a", "value": "b" }] }),
            "verification.provider",
            "unknown provider `acme`",
        ),
        (
            json!({ "provider": "standard-webhooks", "secrets": [{ "label": "a", "value": "whsec_***" }] }),
            "verification.secrets[0].value",
            "whsec_",
        ),
        (json!({ "provider": "stripe", "secrets": [] }), "verification.secrets", "at least one secret"),
        (
            json!({ "provider": "stripe", "secrets": [{ "label": "a", "value": "x" }, { "label": "a", "value": "y" }] }),
            "verification.secrets[1].label",
            "used twice",
        ),
        (
            json!({ "provider": "stripe", "secrets": [{ "label": "a", "value": "x" }], "toleranceSeconds": -1 }),
            "verification.toleranceSeconds",
            "between 0 and 604800",
        ),
        (
            json!({ "provider": "twilio", "secrets": [{ "label": "a", "value": "x" }], "publicUrl": "not a url" }),
            "verification.publicUrl",
            "absolute",
        ),
        (
            json!({ "provider": "generic-hmac", "secrets": [{ "label": "a", "value": "x" }], "generic": { "header": "X-Sig", "template": "{nonce}" } }),
            "verification.generic",
            "unknown placeholder `{nonce}`",
        ),
    ] {
        let (status, body) = server.admin.graphql_raw(update, json!({ "id": ep.id, "v": v })).await.unwrap();
        assert_eq!(status, 200);
        let err = &body["errors"][0];
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{body}");
        assert_eq!(err["extensions"]["field"], field, "{body}");
        assert!(err["message"].as_str().unwrap().contains(message), "{body}");
        assert!(!body.to_string().contains("MfKQ9r8"));
        assert_eq!(
            server.admin.graphql(full, json!({ "id": ep.id })).await.unwrap(),
            before,
            "bad input changed the settings"
        );
    }

    // A new provider without its secrets is refused, and changes nothing.
    let (_, body) = server
        .admin
        .graphql_raw(update, json!({ "id": ep.id, "v": { "provider": "stripe", "toleranceSeconds": 30 } }))
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "verification.secrets", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("from `standard-webhooks` to `stripe`"), "{body}");
    assert_eq!(server.admin.graphql(full, json!({ "id": ep.id })).await.unwrap(), before);

    // Same provider, secrets left out: the tolerance changes and the secret is kept, so a capture
    // signed with it is still valid.
    let kept = configure(&server.admin, &ep, json!({ "provider": "standard-webhooks", "toleranceSeconds": 120 })).await;
    assert_eq!(kept["secrets"], json!([{ "label": "current" }]));
    assert_eq!(kept["effectiveToleranceSeconds"], 120);
    let body = r#"{"type":"kept"}"#;
    let v = send(&server.admin, signed(&ep.url, "standard-webhooks", secret, body, now())).await;
    assert_eq!(v["verdict"], "VALID", "{v}");
    assert_eq!(v["secretLabel"], "current", "{v}");

    // null stops verifying.
    server.admin.graphql(update, json!({ "id": ep.id, "v": null })).await.unwrap();
    let after = server.admin.graphql(full, json!({ "id": ep.id })).await.unwrap();
    assert_eq!(after["endpoint"]["verification"], Value::Null);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn captures_are_verified_again_after_a_secret_is_added() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("reverify").await.unwrap();
    configure(&server.admin, &ep, json!({ "provider": "slack", "secrets": [{ "label": "typo", "value": "wrong" }] }))
        .await;
    let body = "token=x&command=%2Fdeploy";
    let resp = signed(&ep.url, "slack", "8f742231b10e8888abcd99yyyzzz85a5", body, now()).send().await.unwrap();
    let id = id_from_body(&resp.text().await.unwrap());
    let v = verification_of(&server.admin, &id).await;
    assert_eq!(v["verdict"], "INVALID_SIGNATURE");

    let d = server
        .admin
        .graphql(
            "mutation($e: ID!) { addVerificationSecret(input: {endpointId: $e, label: \"fixed\", value: \"8f742231b10e8888abcd99yyyzzz85a5\"}) { verification { secrets { label } } } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(
        d["addVerificationSecret"]["verification"]["secrets"],
        json!([{ "label": "fixed" }, { "label": "typo" }])
    );

    // Long after the capture was received: the timestamp is still judged against its receipt.
    let d = server
        .admin
        .graphql(
            "mutation($e: ID!, $since: String!) { reverifyCaptures(input: {endpointId: $e, since: $since}) { count verdicts { verdict count } hasMore endCursor } }",
            json!({ "e": ep.id, "since": "2020-01-01T00:00:00Z" }),
        )
        .await
        .unwrap();
    assert_eq!(
        d["reverifyCaptures"],
        json!({ "count": 1, "verdicts": [{ "verdict": "VALID", "count": 1 }], "hasMore": false, "endCursor": null })
    );
    let v = verification_of(&server.admin, &id).await;
    assert_eq!((v["verdict"].as_str(), v["secretLabel"].as_str()), (Some("VALID"), Some("fixed")));

    let d = server
        .admin
        .graphql(
            "mutation($e: ID!) { removeVerificationSecret(input: {endpointId: $e, label: \"typo\"}) { verification { secrets { label } } } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(d["removeVerificationSecret"]["verification"]["secrets"], json!([{ "label": "fixed" }]));
    let (_, body) = server
        .admin
        .graphql_raw(
            "mutation($e: ID!) { removeVerificationSecret(input: {endpointId: $e, label: \"fixed\"}) { id } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "label", "the last secret stays: {body}");
    let (_, body) = server
        .admin
        .graphql_raw(
            "mutation($e: ID!) { reverifyCaptures(input: {endpointId: $e, since: \"yesterday\"}) { count } }",
            json!({ "e": ep.id }),
        )
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["extensions"]["field"], "since", "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn handshakes_are_answered_when_enabled_and_captured_either_way() {
    let server = TestServer::start().await.unwrap();
    let ep = server.admin.create_endpoint("handshakes").await.unwrap();
    let slack = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;

    // Off by default: the usual answer.
    let resp = post(&ep, slack).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");
    id_from_body(&resp.text().await.unwrap());

    server
        .admin
        .graphql(
            "mutation($id: ID!) { updateEndpoint(input: {id: $id, handshakes: true, verification: {provider: \"zoom\", secrets: [{label: \"t\", value: \"secret-token\"}]}}) { handshakes } }",
            json!({ "id": ep.id }),
        )
        .await
        .unwrap();
    // Ingest caches endpoints briefly (ingest.endpoint_cache_ttl, 2 s by default).
    let deadline = Instant::now() + WAIT;
    let resp = loop {
        let resp = post(&ep, slack).send().await.unwrap();
        if resp.headers()["content-type"] == "text/plain" || Instant::now() > deadline {
            break resp;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(resp.status(), 200);
    let capture_id = resp.headers()["hookmetry-capture-id"].to_str().unwrap().to_string();
    assert_eq!(resp.text().await.unwrap(), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    let c = server.admin.wait_for_capture(&capture_id, WAIT).await.unwrap();
    assert_eq!(c["bodyText"], slack, "the handshake itself is captured byte for byte");

    let zoom = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let resp = post(&ep, zoom).send().await.unwrap();
    let answer: Value = resp.json().await.unwrap();
    // HMAC-SHA256("secret-token", plainToken), hex, computed independently with Python's hmac.
    assert_eq!(
        answer,
        json!({ "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                "encryptedToken": "5b72bd117f184f54093c1c3c11499c1d13e6d56dc0d96e6b78fbfecedc953b75" })
    );

    let twitch = r#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387"}}"#;
    let resp =
        post(&ep, twitch).header("Twitch-Eventsub-Message-Type", "webhook_callback_verification").send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "pogchamp-kappa-360noscope-vohiyo");
    server.stop().await.unwrap();
}
