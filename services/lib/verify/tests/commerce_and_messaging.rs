//! Known-answer and per-verdict tests for Shopify, Twilio, GitLab, Bitbucket Cloud, Square,
//! Paddle Billing, Linear and Zoom. Every vector was recomputed with Python's `hmac`/`hashlib`
//! before being relied on.

use crate::common;

use common::*;
use hookmetry_core::Verdict;

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::Mac as _;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn info(id: &str) -> &'static hookmetry_verify::ProviderInfo {
    hookmetry_verify::providers().into_iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no provider `{id}`"))
}

#[test]
fn provider_infos() {
    let expected: [(&str, &str, Option<u32>, bool); 8] = [
        ("shopify", "Shopify", None, false),
        ("twilio", "Twilio", None, true),
        ("gitlab", "GitLab", None, false),
        ("bitbucket", "Bitbucket Cloud", None, false),
        ("square", "Square", None, true),
        ("paddle", "Paddle", Some(5), false),
        ("linear", "Linear", Some(60), false),
        ("zoom", "Zoom", Some(300), false),
    ];
    for (id, name, tolerance, url_bound) in expected {
        let p = info(id);
        assert_eq!(
            (p.name, p.default_tolerance, p.url_bound, p.asymmetric),
            (name, tolerance, url_bound, false),
            "{id}"
        );
        assert!(hookmetry_verify::validate(&settings(id, &[("current", "s3cret")])).is_ok(), "{id}");
    }
}

#[test]
fn unconfigured_requests_are_recognised() {
    let cases = [
        ("X-Shopify-Topic", "orders/create", "shopify"),
        ("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "twilio"),
        ("X-Gitlab-Event", "Push Hook", "gitlab"),
        ("x-square-hmacsha256-signature", "AAAA", "square"),
        ("Paddle-Signature", "ts=1;h1=00", "paddle"),
        ("Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72", "linear"),
        ("x-zm-signature", "v0=00", "zoom"),
    ];
    for (header, value, id) in cases {
        let out = hookmetry_verify::guess(&Req::new("{}").header(header, value).as_request());
        assert_eq!(out.provider.as_deref(), Some(id), "{header}");
        assert_eq!(out.verdict, Verdict::NotConfigured);
    }
    // Bitbucket sends `X-Hub-Signature` like GitHub's legacy header; its hook UUID tells it apart.
    let bitbucket = Req::new("{}")
        .header("X-Event-Key", "repo:push")
        .header("X-Hub-Signature", "sha256=00")
        .header("X-Hook-UUID", "c5d0ae9d-1d5f-4a4b-9f25-8d7e5d6f2b11");
    let out = hookmetry_verify::guess(&bitbucket.as_request());
    assert_eq!(out.provider.as_deref(), Some("bitbucket"));
    assert_eq!(out.reason, "looks like Bitbucket Cloud (`X-Hook-UUID` present); no secret configured");
}

// ---------------------------------------------------------------------------------------------
// Shopify

// From Shopify's shopify-api-js test suite: packages/shopify-api/lib/webhooks/__tests__/validate.test.ts
// (body `{"foo": "bar"}`, expected hmac) with `apiSecretKey: 'test_secret_key'` from the suite's
// test config (packages/shopify-api/lib/__tests__/test-config.ts).
const SHOPIFY_BODY: &str = r#"{"foo": "bar"}"#;
const SHOPIFY_SECRET: &str = "test_secret_key";
const SHOPIFY_SIG: &str = "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=";

#[test]
fn shopify_known_answer() {
    let s = settings("shopify", &[("current", SHOPIFY_SECRET)]);
    let out = check(&s, &Req::new(SHOPIFY_BODY).header("X-Shopify-Hmac-Sha256", SHOPIFY_SIG));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.secret_label.as_deref(), Some("current"));
}

#[test]
fn shopify_verdicts() {
    let s = settings("shopify", &[("current", SHOPIFY_SECRET)]);
    expect(&check(&s, &Req::new(SHOPIFY_BODY)), Verdict::MissingSignature, "header `X-Shopify-Hmac-Sha256` is missing");
    expect(
        &check(&s, &Req::new(SHOPIFY_BODY).header("X-Shopify-Hmac-Sha256", "not base64!")),
        Verdict::Malformed,
        "the signature in `X-Shopify-Hmac-Sha256` `not base64!` is not base64",
    );
    // A hex digest pasted where base64 belongs decodes, but to the wrong length.
    expect(
        &check(&s, &Req::new(SHOPIFY_BODY).header("X-Shopify-Hmac-Sha256", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
        Verdict::Malformed,
        "decodes to 20 bytes; a base64 HMAC-SHA256 signature has 32",
    );
    let wrong = settings("shopify", &[("current", "other"), ("old", "older")]);
    expect(
        &check(&wrong, &Req::new(SHOPIFY_BODY).header("X-Shopify-Hmac-Sha256", SHOPIFY_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Shopify-Hmac-Sha256` (tried `current`, `old`)",
    );
    // The body Shopify signed, pretty-printed on the way.
    let pretty = Req::new("{\n  \"foo\": \"bar\"\n}").header("X-Shopify-Hmac-Sha256", SHOPIFY_SIG);
    expect(
        &check(&s, &pretty),
        Verdict::InvalidSignature,
        "would match (secret `current`) if the body were re-serialized JSON (spaces after `:` and `,`)",
    );
    round_trip("shopify", "shpss_abc", "shpss_abc", Req::new(r#"{"id":820982911946154508}"#));
}

// ---------------------------------------------------------------------------------------------
// Twilio

// The vectors of twilio-python's tests/unit/test_request_validator.py (auth token "12345"); the
// same URL, parameters and signature appear in twilio-node's and twilio-ruby's validator tests.
const TWILIO_TOKEN: &str = "12345";
const TWILIO_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
// CallSid, Caller, Digits, From, To as Twilio posts them (`+` percent-encoded).
const TWILIO_FORM: &str =
    "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
const TWILIO_SIG: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const TWILIO_JSON: &str = r#"{"property": "value", "boolean": true}"#;
const TWILIO_JSON_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
const TWILIO_JSON_SIG: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

fn twilio(url: &str, body: &str, sig: &str) -> Req {
    Req::new(body)
        .url(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
}

#[test]
fn twilio_known_answers() {
    let s = settings("twilio", &[("current", TWILIO_TOKEN)]);
    expect(&check(&s, &twilio(TWILIO_URL, TWILIO_FORM, TWILIO_SIG)), Verdict::Valid, "matches secret `current`");
    // Parameters in any order; the signature sorts them.
    let shuffled = "To=%2B18005551212&Digits=1234&CallSid=CA1234567890ABCDE&From=%2B14158675309&Caller=%2B14158675309";
    expect(&check(&s, &twilio(TWILIO_URL, shuffled, TWILIO_SIG)), Verdict::Valid, "current");
    // test_compute_signature_duplicate_*: a repeated name contributes each value, sorted.
    let dup = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
    expect(&check(&s, &twilio(TWILIO_URL, dup, "IK+Dwps556ElfBT0I3Rgjkr1wJU=")), Verdict::Valid, "current");
    // test_validation_of_body_succeeds: a JSON body, covered by `bodySHA256` in the signed URL.
    let json_url = format!("{TWILIO_URL}&bodySHA256={TWILIO_JSON_HASH}");
    let json = Req::new(TWILIO_JSON)
        .url(&json_url)
        .header("Content-Type", "application/json")
        .header("X-Twilio-Signature", TWILIO_JSON_SIG);
    expect(&check(&s, &json), Verdict::Valid, "current");
}

#[test]
fn twilio_tries_the_url_with_and_without_its_port() {
    // The port cases of the same twilio-python test file.
    let s = settings("twilio", &[("current", TWILIO_TOKEN)]);
    // test_validation_removes_port_on_https
    let with_port = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
    expect(&check(&s, &twilio(with_port, TWILIO_FORM, TWILIO_SIG)), Verdict::Valid, "current");
    // test_validation_removes_port_on_http: signed with the port as written.
    let http_port = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
    expect(&check(&s, &twilio(http_port, TWILIO_FORM, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")), Verdict::Valid, "current");
    // test_validation_adds_port_on_https / _on_http: signed with the default port spelled out.
    expect(&check(&s, &twilio(TWILIO_URL, TWILIO_FORM, "kvajT1Ptam85bY51eRf/AJRuM3w=")), Verdict::Valid, "current");
    let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
    expect(&check(&s, &twilio(http, TWILIO_FORM, "0ZXoZLH/DfblKGATFgpif+LLRf4=")), Verdict::Valid, "current");
}

#[test]
fn twilio_verdicts() {
    let s = settings("twilio", &[("current", TWILIO_TOKEN)]);
    expect(
        &check(&s, &Req::new(TWILIO_FORM).url(TWILIO_URL)),
        Verdict::MissingSignature,
        "header `X-Twilio-Signature` is missing",
    );
    expect(&check(&s, &twilio(TWILIO_URL, TWILIO_FORM, "%%%")), Verdict::Malformed, "is not base64");
    expect(
        &check(&s, &twilio(TWILIO_URL, TWILIO_FORM, SHOPIFY_SIG)),
        Verdict::Malformed,
        "decodes to 32 bytes; a base64 HMAC-SHA1 signature has 20",
    );
    let wrong = settings("twilio", &[("current", "54321")]);
    expect(
        &check(&wrong, &twilio(TWILIO_URL, TWILIO_FORM, TWILIO_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Twilio-Signature` (tried `current`)",
    );
    // A changed parameter value.
    let changed = TWILIO_FORM.replace("Digits=1234", "Digits=1235");
    expect(&check(&s, &twilio(TWILIO_URL, &changed, TWILIO_SIG)), Verdict::InvalidSignature, "no secret matches");
    // Received over plain http (or configured so) while Twilio called the https URL.
    let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
    expect(
        &check(&s, &twilio(http, TWILIO_FORM, TWILIO_SIG)),
        Verdict::InvalidSignature,
        "matches (secret `current`) with `https://` instead of `http://`: check the public URL setting",
    );
    // A trailing newline added to the form body is named.
    expect(
        &check(&s, &twilio(TWILIO_URL, &format!("{TWILIO_FORM}\n"), TWILIO_SIG)),
        Verdict::InvalidSignature,
        "if the body were without its trailing newline",
    );
}

// SharedKey signing (Webhooks Rules): `X-Twilio-Webhooks-Signature-Settings` names the key and
// the algorithm, and only the MAC changes. Twilio publishes no HMAC-SHA256 vector, so these were
// computed with Python's `hmac` over the string of twilio-python's validator test (URL + sorted
// parameters); the same computation with SHA-1 and key "12345" gives Twilio's published
// `RSOYDt4T1cUTdK1PDd93/VVr8B8=`, which checks the string. The header format is that of
// twilio-node's examples/WebhookSignatureValidation.md.
const TWILIO_SHARED_KEY: &str = "sharedkey-secret-0123456789abcdef";
const TWILIO_SHA256_SIG: &str = "riJ3q6v7rB28z2/7HnwZmp3GUqH9nEZMvBxHLuYw9mc=";
const TWILIO_SHA256_SETTINGS: &str = "key=KS0123456789abcdef0123456789abcdef,algorithm=HMAC_SHA256";

fn twilio_shared(url: &str, body: &str, sig: &str, settings: &str) -> Req {
    twilio(url, body, sig).header("X-Twilio-Webhooks-Signature-Settings", settings)
}

#[test]
fn twilio_shared_key_signs_with_the_algorithm_its_settings_header_names() {
    let s = settings("twilio", &[("auth-token", TWILIO_TOKEN), ("shared-key", TWILIO_SHARED_KEY)]);
    let req = twilio_shared(TWILIO_URL, TWILIO_FORM, TWILIO_SHA256_SIG, TWILIO_SHA256_SETTINGS);
    expect(&check(&s, &req), Verdict::Valid, "matches secret `shared-key` (rotated)");
    // The JSON form: the URL's `bodySHA256` covers the body, HMAC-SHA256 the URL.
    let json_url = format!("{TWILIO_URL}&bodySHA256={TWILIO_JSON_HASH}");
    let json = Req::new(TWILIO_JSON)
        .url(&json_url)
        .header("X-Twilio-Signature", "bUKYQJdbKS5+D083Mv12Ln903+4z/3XHceQtNwoexUg=")
        .header("X-Twilio-Webhooks-Signature-Settings", TWILIO_SHA256_SETTINGS);
    expect(&check(&s, &json), Verdict::Valid, "shared-key");
    // The header names `HMAC_SHA1` explicitly: the auth-token form.
    let sha1 = twilio_shared(TWILIO_URL, TWILIO_FORM, TWILIO_SIG, "key=KS1,algorithm=HMAC_SHA1");
    expect(&check(&s, &sha1), Verdict::Valid, "matches secret `auth-token`");

    // Wrong key: the reason names the algorithm and the key the header names.
    let wrong = settings("twilio", &[("current", TWILIO_TOKEN)]);
    expect(
        &check(&wrong, &req),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Twilio-Signature` (HMAC_SHA256, SharedKey `KS0123456789abcdef0123456789abcdef`) (tried `current`)",
    );
}

#[test]
fn twilio_refuses_an_hmac_sha1_signature_under_an_hmac_sha256_header() {
    // Twilio's published HMAC-SHA1 signature, valid for the auth token, with a settings header
    // that says HMAC_SHA256 added: accepting it would let anyone who can edit the header choose
    // the weaker algorithm.
    let s = settings("twilio", &[("current", TWILIO_TOKEN)]);
    let downgraded = twilio_shared(TWILIO_URL, TWILIO_FORM, TWILIO_SIG, TWILIO_SHA256_SETTINGS);
    let out = check(&s, &downgraded);
    expect(
        &out,
        Verdict::InvalidSignature,
        "the signature in `X-Twilio-Signature` is 20 bytes, an HMAC-SHA1, but `X-Twilio-Webhooks-Signature-Settings` says HMAC_SHA256: refused",
    );
    assert_eq!(out.secret_label, None);
    // An HMAC-SHA256 signature without the header is not a Twilio signature at all.
    expect(
        &check(&settings("twilio", &[("k", TWILIO_SHARED_KEY)]), &twilio(TWILIO_URL, TWILIO_FORM, TWILIO_SHA256_SIG)),
        Verdict::Malformed,
        "decodes to 32 bytes; a base64 HMAC-SHA1 signature has 20",
    );
    // Settings that cannot be read.
    let unknown = twilio_shared(TWILIO_URL, TWILIO_FORM, TWILIO_SHA256_SIG, "key=KS1,algorithm=HMAC_MD5");
    expect(
        &check(&s, &unknown),
        Verdict::Malformed,
        "`X-Twilio-Webhooks-Signature-Settings` names algorithm `HMAC_MD5`, which Twilio's SDKs do not accept (HMAC_SHA1, HMAC_SHA256)",
    );
    let none = twilio_shared(TWILIO_URL, TWILIO_FORM, TWILIO_SHA256_SIG, "key=KS1");
    expect(&check(&s, &none), Verdict::Malformed, "`X-Twilio-Webhooks-Signature-Settings` names no `algorithm=`");
}

#[test]
fn twilio_signs_with_the_algorithm_the_original_request_names() {
    let original = twilio_shared(TWILIO_URL, TWILIO_FORM, "", TWILIO_SHA256_SETTINGS);
    let input = original.sign_input(1_700_000_000);
    let signed = hookmetry_verify::sign("twilio", TWILIO_SHARED_KEY, None, &input).unwrap();
    assert_eq!(signed.headers, vec![("X-Twilio-Signature".to_string(), TWILIO_SHA256_SIG.to_string())]);
    let plain =
        hookmetry_verify::sign("twilio", TWILIO_TOKEN, None, &twilio(TWILIO_URL, TWILIO_FORM, "").sign_input(0));
    assert_eq!(plain.unwrap().headers[0].1, TWILIO_SIG);
}

#[test]
fn twilio_json_body_changes_are_named() {
    let s = settings("twilio", &[("current", TWILIO_TOKEN)]);
    let json_url = format!("{TWILIO_URL}&bodySHA256={TWILIO_JSON_HASH}");
    let json = |body: &str| Req::new(body).url(&json_url).header("X-Twilio-Signature", TWILIO_JSON_SIG);
    // The body Twilio hashed, re-serialized compactly on the way.
    expect(
        &check(&s, &json(r#"{"property":"value","boolean":true}"#)),
        Verdict::InvalidSignature,
        "body changed: the `bodySHA256` in the signed URL would match if the body were re-serialized JSON (spaces after `:` and `,`)",
    );
    // Any other change: both hashes are shown (neither is secret).
    let out = check(&s, &json(r#"{"property": "value", "boolean": false}"#));
    expect(&out, Verdict::InvalidSignature, "body changed: its SHA-256 is `");
    assert!(
        out.reason.contains("but the signed URL's `bodySHA256` is `0a1ff7634d9ab3b95db5c9a2dfe9416e41502b28…`"),
        "{}",
        out.reason
    );
    assert!(out.reason.ends_with("something between Twilio and here changed the body"), "{}", out.reason);
    // Even with a wrong token, a body that no longer hashes to `bodySHA256` is reported as such.
    let wrong = settings("twilio", &[("current", "54321")]);
    expect(&check(&wrong, &json("{}")), Verdict::InvalidSignature, "body changed");
    // A `bodySHA256` that is not a SHA-256.
    let bad = Req::new(TWILIO_JSON)
        .url(&format!("{TWILIO_URL}&bodySHA256=abc"))
        .header("X-Twilio-Signature", TWILIO_JSON_SIG);
    expect(
        &check(&s, &bad),
        Verdict::Malformed,
        "`bodySHA256` in the URL should be the SHA-256 of the body as 64 hex characters: `abc`",
    );
}

#[test]
fn twilio_round_trips() {
    round_trip(
        "twilio",
        "tok3n",
        "tok3n",
        Req::new("AccountSid=AC1&Body=Hello+there&From=%2B15005550006").url(TWILIO_URL),
    );
    // GET webhooks: the parameters are in the signed URL, there is no body.
    let get = Req::new("").method("GET").url("https://hooks.example.com/h/tok?CallSid=CA1&From=%2B1500");
    let signed = hookmetry_verify::sign("twilio", "tok3n", None, &get.sign_input(get.received_at)).unwrap();
    let get = get.signed(signed);
    let s = settings("twilio", &[("current", "tok3n")]);
    expect(&check(&s, &get), Verdict::Valid, "current");
    // JSON: the URL must carry the body's hash, as Twilio's does.
    let body = r#"{"event":"sms"}"#;
    let url =
        "https://hooks.example.com/h/tok?bodySHA256=3c842ca2b4b65458a85c6426123e1fc286116c5b795851dec675d1ff3541952f";
    round_trip("twilio", "tok3n", "tok3n", Req::new(body).url(url));
    let mismatched = Req::new("{}").url(url);
    let err = hookmetry_verify::sign("twilio", "tok3n", None, &mismatched.sign_input(0)).unwrap_err();
    assert!(err.to_string().contains("the URL's `bodySHA256` is not the SHA-256 of the body"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// GitLab

// GitLab sends the configured secret token verbatim in `X-Gitlab-Token`; there is no MAC, so the
// "vector" is the token itself
// (https://docs.gitlab.com/user/project/integrations/webhooks/#validate-payloads-by-using-a-secret-token).
const GITLAB_TOKEN: &str = "glpat-like-but-not-a-real-token";

#[test]
fn gitlab_known_answer() {
    let s = settings("gitlab", &[("current", GITLAB_TOKEN)]);
    let req = Req::new(r#"{"object_kind":"push"}"#)
        .header("X-Gitlab-Event", "Push Hook")
        .header("X-Gitlab-Token", GITLAB_TOKEN);
    expect(&check(&s, &req), Verdict::Valid, "matches secret `current`");
    // The body is not covered: any body verifies with the right token.
    let other = Req { body: b"anything".to_vec(), ..req };
    expect(&check(&s, &other), Verdict::Valid, "current");
}

#[test]
fn gitlab_verdicts() {
    let s = settings("gitlab", &[("current", GITLAB_TOKEN)]);
    expect(&check(&s, &Req::new("{}")), Verdict::MissingSignature, "header `X-Gitlab-Token` is missing");
    expect(&check(&s, &Req::new("{}").header("X-Gitlab-Token", "")), Verdict::Malformed, "`X-Gitlab-Token` is empty");
    let wrong = Req::new("{}").header("X-Gitlab-Token", "a-leaked-token-value");
    let out = check(&s, &wrong);
    expect(&out, Verdict::InvalidSignature, "no secret matches the signature in `X-Gitlab-Token` (tried `current`)");
    assert!(!out.reason.contains("a-leaked-token-value"), "the received token is a secret: {}", out.reason);
    // Rotation: the second configured token matches.
    let rotated = settings("gitlab", &[("new", "new-token"), ("old", GITLAB_TOKEN)]);
    let out = check(&rotated, &Req::new("{}").header("X-Gitlab-Token", GITLAB_TOKEN));
    expect(&out, Verdict::Valid, "matches secret `old` (rotated)");
    // A token pasted with a trailing newline.
    let pasted = settings("gitlab", &[("current", "glpat-like-but-not-a-real-token\n")]);
    expect(
        &check(&pasted, &Req::new("{}").header("X-Gitlab-Token", GITLAB_TOKEN)),
        Verdict::InvalidSignature,
        "matches secret `current` once the whitespace around it is removed",
    );
}

#[test]
fn gitlab_signs_with_the_token_itself() {
    let signed = hookmetry_verify::sign("gitlab", "t0ken", None, &Req::new("{}").sign_input(0)).unwrap();
    assert_eq!(signed.headers, vec![("X-Gitlab-Token".to_string(), "t0ken".to_string())]);
    let req = Req::new(r#"{"object_kind":"issue"}"#).signed(signed);
    expect(&check(&settings("gitlab", &[("current", "t0ken")]), &req), Verdict::Valid, "matches secret `current`");
}

// ---------------------------------------------------------------------------------------------
// Bitbucket Cloud

// Atlassian's published example for its `X-Hub-Signature: sha256=` webhook signing (secret "It's a
// Secret to Everybody", payload "Hello World!"), given in Atlassian's webhook documentation
// (https://developer.atlassian.com/cloud/jira/platform/webhooks/); Bitbucket Cloud documents the
// same construction (https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/). Also
// recomputed with Python.
const BITBUCKET_SECRET: &str = "It's a Secret to Everybody";
const BITBUCKET_SIG: &str = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9";

#[test]
fn bitbucket_known_answer() {
    let s = settings("bitbucket", &[("current", BITBUCKET_SECRET)]);
    let req = Req::new("Hello World!").header("X-Event-Key", "repo:push").header("X-Hub-Signature", BITBUCKET_SIG);
    expect(&check(&s, &req), Verdict::Valid, "matches secret `current`");
}

#[test]
fn bitbucket_verdicts() {
    let s = settings("bitbucket", &[("current", BITBUCKET_SECRET)]);
    expect(&check(&s, &Req::new("Hello World!")), Verdict::MissingSignature, "header `X-Hub-Signature` is missing");
    expect(
        &check(&s, &Req::new("x").header("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")),
        Verdict::Malformed,
        "`X-Hub-Signature` should start with `sha256=` (a `sha1=` signature is GitHub's legacy format, not Bitbucket's)",
    );
    expect(
        &check(&s, &Req::new("x").header("X-Hub-Signature", "sha256=abcd")),
        Verdict::Malformed,
        "a hex SHA-256 signature has 64",
    );
    expect(
        &check(&s, &Req::new("Hello World?").header("X-Hub-Signature", BITBUCKET_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Hub-Signature`",
    );
    round_trip("bitbucket", "bb-secret", "bb-secret", Req::new(r#"{"push":{"changes":[]}}"#));
}

// ---------------------------------------------------------------------------------------------
// Square

// From Square's SDK tests (square-nodejs-sdk test/utilities/webhooksHelper.test.ts; the Python,
// Java, Ruby, PHP, .NET and Go SDKs carry the same vector).
const SQUARE_BODY: &str = r#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
const SQUARE_KEY: &str = "Ibxx_5AKakO-3qeNVR61Dw";
const SQUARE_URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
const SQUARE_SIG: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
// The legacy HMAC-SHA1 `x-square-signature` over the same URL + body: no published vector exists,
// computed with Python's hmac per Square's documented construction.
const SQUARE_SHA1_SIG: &str = "+9Qzy6LPYs08yM75TiRwUupYoS0=";

#[test]
fn square_known_answers() {
    let s = settings("square", &[("current", SQUARE_KEY)]);
    let req = Req::new(SQUARE_BODY).url(SQUARE_URL).header("x-square-hmacsha256-signature", SQUARE_SIG);
    expect(&check(&s, &req), Verdict::Valid, "matches secret `current`");
    // "test signature with escaped characters" in the same file.
    let escaped = Req::new(r#"{"data":{"type":"webhooks","id":">id<"}}"#)
        .url("https://webhook.site/webhooks")
        .header("x-square-hmacsha256-signature", "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U=");
    expect(&check(&settings("square", &[("current", "signature-key")]), &escaped), Verdict::Valid, "current");
    let legacy = Req::new(SQUARE_BODY).url(SQUARE_URL).header("x-square-signature", SQUARE_SHA1_SIG);
    expect(&check(&s, &legacy), Verdict::Valid, "current");
}

#[test]
fn square_verdicts() {
    let s = settings("square", &[("current", SQUARE_KEY)]);
    expect(
        &check(&s, &Req::new(SQUARE_BODY).url(SQUARE_URL)),
        Verdict::MissingSignature,
        "header `x-square-hmacsha256-signature` is missing (and so is the legacy `x-square-signature`)",
    );
    expect(
        &check(&s, &Req::new(SQUARE_BODY).url(SQUARE_URL).header("x-square-hmacsha256-signature", SQUARE_SHA1_SIG)),
        Verdict::Malformed,
        "decodes to 20 bytes; a base64 HMAC-SHA256 signature has 32",
    );
    // The SDK's "fails on notification url mismatch": a different URL is not explained away.
    let other_url = Req::new(SQUARE_BODY)
        .url("https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9")
        .header("x-square-hmacsha256-signature", SQUARE_SIG);
    expect(
        &check(&s, &other_url),
        Verdict::InvalidSignature,
        "no secret matches the signature in `x-square-hmacsha256-signature`",
    );
    // "fails on invalid signature key".
    let wrong = settings("square", &[("current", "MCmhFRxGX82xMwg5FsaoQA")]);
    let req = Req::new(SQUARE_BODY).url(SQUARE_URL).header("x-square-hmacsha256-signature", SQUARE_SIG);
    expect(&check(&wrong, &req), Verdict::InvalidSignature, "no secret matches");
    // The notification URL as configured here differs from Square's by a trailing slash.
    let slash = Req { url: format!("{SQUARE_URL}/"), ..req };
    expect(
        &check(&s, &slash),
        Verdict::InvalidSignature,
        "matches (secret `current`) without the trailing `/` on the URL: check the public URL setting",
    );
    round_trip(
        "square",
        "sig-key",
        "sig-key",
        Req::new(r#"{"type":"payment.updated"}"#).url("https://hooks.example.com/h/tok/square"),
    );
}

// ---------------------------------------------------------------------------------------------
// Paddle Billing

// From paddle-node-sdk src/__tests__/notifications/webhooks-validator.node.test.ts (secret
// "VALID_SECRET", Paddle's clock set to 2023-11-01T00:00:00Z = 1698796800).
const PADDLE_BODY: &str = r#"{"data": ["1", "2"]}"#;
const PADDLE_SIG: &str = "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9";

fn paddle(header: &str) -> Req {
    Req::new(PADDLE_BODY).header("Paddle-Signature", header).at(1_698_796_800)
}

#[test]
fn paddle_known_answers() {
    let s = settings("paddle", &[("current", "VALID_SECRET")]);
    expect(&check(&s, &paddle(PADDLE_SIG)), Verdict::Valid, "matches secret `current`");
    // The example in paddle-go-sdk example_webhook_verifier_test.go.
    let body = r#"{"data":{"id":"pri_01hsdn96k2hxjzsq5yerecdj9j","name":null,"status":"active","quantity":{"maximum":999999,"minimum":1},"tax_mode":"account_setting","product_id":"pro_01hsdn8qp7yydry3x1yeg6a9rv","unit_price":{"amount":"1000","currency_code":"USD"},"custom_data":null,"description":"testing","import_meta":null,"trial_period":null,"billing_cycle":{"interval":"month","frequency":1},"unit_price_overrides":[]},"event_id":"evt_01hsdn97563968dy0szkmgjwh3","event_type":"price.created","occurred_at":"2024-03-20T10:07:35.590857Z","notification_id":"ntf_01hsdn977e920kbgzt6r6c9rqc"}"#;
    let go = Req::new(body)
        .header("Paddle-Signature", "ts=1710929255;h1=6c05ef8fa83c44d751be6d259ec955ce5638e2c54095bf128e408e2fce1589c8")
        .at(1_710_929_256);
    let secret = "pdl_ntfset_01hsdn8d43dt7mezr1ef2jtbaw_hKkRiCGyyRhbFwIUuqiTBgI7gnWoV0Gr";
    expect(&check(&settings("paddle", &[("current", secret)]), &go), Verdict::Valid, "current");
    // Several `h1` (as during a secret rotation), one of them right, and an unknown `h2`.
    let several = format!("{};h1={};h2=RANDOM_HASH", PADDLE_SIG, "00".repeat(32));
    expect(&check(&s, &paddle(&several)), Verdict::Valid, "current");
}

#[test]
fn paddle_verdicts() {
    let s = settings("paddle", &[("current", "VALID_SECRET")]);
    expect(&check(&s, &Req::new(PADDLE_BODY)), Verdict::MissingSignature, "header `Paddle-Signature` is missing");
    expect(&check(&s, &paddle("invalid_header")), Verdict::Malformed, "`Paddle-Signature` has no `ts=` timestamp");
    expect(
        &check(&s, &paddle("ts=1234;h2=invalid_header")),
        Verdict::Malformed,
        "`Paddle-Signature` has no `h1=` signature (found `h2`)",
    );
    expect(
        &check(&s, &paddle("ts=1234;h1=invalid_signature")),
        Verdict::Malformed,
        "the `h1` signature in `Paddle-Signature` is 17 characters; a hex SHA-256 signature has 64",
    );
    expect(
        &check(&s, &paddle("ts=soon;h1=00")),
        Verdict::Malformed,
        "timestamp `soon` in `Paddle-Signature` is not Unix seconds",
    );
    // The SDK test's "Invalid secret" and "has more space".
    let wrong = settings("paddle", &[("current", "INVALID_VALID_SECRET")]);
    expect(
        &check(&wrong, &paddle(PADDLE_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `Paddle-Signature`",
    );
    let spaced = Req { body: br#"{ "data": [ "1", "2" ]}"#.to_vec(), ..paddle(PADDLE_SIG) };
    // Spaces added inside the JSON: the engine names the re-serialization.
    expect(
        &check(&s, &spaced),
        Verdict::InvalidSignature,
        "would match (secret `current`) if the body were re-serialized JSON (spaces after `:` and `,`)",
    );
    // The SDK's five seconds: accepted at 00:00:05, refused at 00:00:06.
    expect(&check(&s, &paddle(PADDLE_SIG).at(1_698_796_805)), Verdict::Valid, "current");
    let late = check(&s, &paddle(PADDLE_SIG).at(1_698_796_806));
    expect(
        &late,
        Verdict::TimestampOutOfTolerance,
        "signed 6s before receipt; tolerance is 5s; the signature itself matches secret `current`",
    );
    round_trip("paddle", "pdl_ntfset_x_y", "pdl_ntfset_x_y", Req::new(r#"{"event_type":"transaction.paid"}"#));
}

// ---------------------------------------------------------------------------------------------
// Linear

// The payload of linear/linear packages/sdk/src/_tests/LinearWebhooks.test.ts as its
// `JSON.stringify` writes it, signed with the test's secret "SECRET" (the test computes the HMAC at
// run time, so the hex here was computed with Python's hmac the same way).
const LINEAR_BODY: &str = r#"{"action":"create","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","createdAt":"2020-01-23T12:53:18.084Z","updatedAt":"2020-01-23T12:53:18.084Z","archivedAt":null,"body":"Indeed, I think this is definitely an improvement over the previous version.","edited":false,"issueId":"539068e2-ae88-4d09-bd75-22eb4a59612f","userId":"aacdca22-6266-4c0a-ab3c-8fa70a26765c"},"type":"Comment","url":"https://linear.app/issue/LIN-1778/foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8","createdAt":"2020-01-23T12:53:18.084Z","webhookTimestamp":1677611643000}"#;
const LINEAR_SIG: &str = "8790fcbbea809950be9198408593c2a13f7591bba6c61adb589f709b5e1b186a";

fn linear() -> Req {
    Req::new(LINEAR_BODY).header("Linear-Signature", LINEAR_SIG).at(1_677_611_643)
}

#[test]
fn linear_known_answer() {
    let s = settings("linear", &[("current", "SECRET")]);
    expect(&check(&s, &linear().at(1_677_611_643 + 30)), Verdict::Valid, "matches secret `current`");
}

#[test]
fn linear_verdicts() {
    let s = settings("linear", &[("current", "SECRET")]);
    expect(&check(&s, &Req::new(LINEAR_BODY)), Verdict::MissingSignature, "header `Linear-Signature` is missing");
    expect(
        &check(&s, &Req::new(LINEAR_BODY).header("Linear-Signature", "sha256=00")),
        Verdict::Malformed,
        "the signature in `Linear-Signature` is 9 characters; a hex SHA-256 signature has 64",
    );
    let wrong = settings("linear", &[("current", "WRONG_SECRET")]);
    expect(
        &check(&wrong, &linear()),
        Verdict::InvalidSignature,
        "no secret matches the signature in `Linear-Signature`",
    );
    // `webhookTimestamp` (milliseconds) more than a minute before receipt.
    let late = check(&s, &linear().at(1_677_611_643 + 61));
    expect(&late, Verdict::TimestampOutOfTolerance, "signed 1m1s before receipt; tolerance is 1m");
    // The signed body field wins over the unsigned `Linear-Timestamp` header (Linear's SDK
    // prefers the header), so a replayed body cannot pass with a fresh header.
    let replayed = linear().header("Linear-Timestamp", "1677700000000").at(1_677_700_010);
    expect(&check(&s, &replayed), Verdict::TimestampOutOfTolerance, "before receipt; tolerance is 1m");
    // Without the body field, the header is used.
    let body = r#"{"action":"create"}"#;
    let sig = hex::encode(hmac_sha256(b"SECRET", body.as_bytes()));
    let by_header = Req::new(body).header("Linear-Signature", &sig).header("Linear-Timestamp", "1677700000000");
    expect(&check(&s, &by_header.at(1_677_700_010)), Verdict::Valid, "current");
    let bad_header = Req::new(body).header("Linear-Signature", &sig).header("Linear-Timestamp", "soon");
    expect(&check(&s, &bad_header), Verdict::Malformed, "`Linear-Timestamp` `soon` is not Unix milliseconds");
    // A body without the field: no timestamp to judge, as in the SDK.
    let no_ts = Req::new(r#"{"action":"create"}"#)
        .header("Linear-Signature", "a9d1c2a9d3b6c5b3b0b0c3ba0d5d06ddb5a06e7a8b26cdf0ba8ad4a0d1d1c2f4")
        .at(1_900_000_000);
    let out = check(&s, &no_ts);
    assert_eq!(out.verdict, Verdict::InvalidSignature, "{}", out.reason);
    assert!(!out.reason.contains("tolerance"), "{}", out.reason);
    let bad_field = Req::new(r#"{"webhookTimestamp":"yesterday"}"#).header("Linear-Signature", LINEAR_SIG);
    expect(
        &check(&s, &bad_field),
        Verdict::Malformed,
        "`webhookTimestamp` in the body `\"yesterday\"` is not Unix milliseconds",
    );
    round_trip("linear", "lin_wh_secret", "lin_wh_secret", Req::new(r#"{"action":"update","type":"Issue"}"#));
}

// ---------------------------------------------------------------------------------------------
// Zoom

// Zoom publishes no signed example; computed with Python's hmac per
// https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events:
// HMAC-SHA256("zoom_secret_token", "v0:1658940994:" + body), hex.
const ZOOM_BODY: &str = r#"{"event":"meeting.started","payload":{"account_id":"D8cJuqWVQ623CI4Q8yQK0Q","object":{"id":"85735342124","topic":"My Meeting"}},"event_ts":1658940994914}"#;
const ZOOM_SIG: &str = "v0=de134aa14ac47262d602e6ba7844c142a2cece09618eafa7a5d5d7ba7b5f941b";

fn zoom(sig: &str) -> Req {
    Req::new(ZOOM_BODY).header("x-zm-request-timestamp", "1658940994").header("x-zm-signature", sig).at(1_658_940_995)
}

#[test]
fn zoom_known_answer() {
    let s = settings("zoom", &[("current", "zoom_secret_token")]);
    expect(&check(&s, &zoom(ZOOM_SIG)), Verdict::Valid, "matches secret `current`");
}

#[test]
fn zoom_verdicts() {
    let s = settings("zoom", &[("current", "zoom_secret_token")]);
    expect(&check(&s, &Req::new(ZOOM_BODY)), Verdict::MissingSignature, "header `x-zm-signature` is missing");
    let no_ts = Req::new(ZOOM_BODY).header("x-zm-signature", ZOOM_SIG);
    expect(&check(&s, &no_ts), Verdict::MissingSignature, "header `x-zm-request-timestamp` is missing");
    expect(&check(&s, &zoom(&ZOOM_SIG[3..])), Verdict::Malformed, "`x-zm-signature` should start with `v0=`");
    let bad_ts =
        Req::new(ZOOM_BODY).header("x-zm-request-timestamp", "1658940994914.5").header("x-zm-signature", ZOOM_SIG);
    expect(&check(&s, &bad_ts), Verdict::Malformed, "in `x-zm-request-timestamp` is not Unix seconds");
    let wrong = settings("zoom", &[("current", "other_token")]);
    expect(
        &check(&wrong, &zoom(ZOOM_SIG)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `x-zm-signature`",
    );
    let late = check(&s, &zoom(ZOOM_SIG).at(1_658_940_994 + 400));
    expect(&late, Verdict::TimestampOutOfTolerance, "signed 6m40s before receipt; tolerance is 5m");
    assert_eq!(late.secret_label.as_deref(), Some("current"));
    round_trip("zoom", "zoom_tok", "zoom_tok", Req::new(r#"{"event":"recording.completed","payload":{}}"#));
}
