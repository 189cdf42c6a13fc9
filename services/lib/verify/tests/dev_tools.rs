//! Known-answer and per-verdict tests for developer tools and infrastructure: Meta (Graph API
//! webhooks), Vercel, Sentry, PagerDuty, CircleCI, Buildkite, HCP Terraform, Heroku and Grafana
//! Alerting; and where each names its events.

use crate::common;

use common::*;
use hookmetry_core::{CaptureEvent, Timestamp, Verdict};

fn rfc3339(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn secs(s: i64) -> Timestamp {
    Timestamp::from_micros(s * 1_000_000)
}

fn identify(provider: &str, req: &Req) -> CaptureEvent {
    hookmetry_verify::identify(Some(provider), None, &req.headers, &req.body)
}

/// The verdicts every scheme that signs only the body gives: the known answer VALID, a missing
/// header, a wrong secret, a changed body, a rotated second secret, and a sign/verify round trip.
#[track_caller]
fn body_only_verdicts(id: &str, header: &str, secret: &str, body: &str, signature: &str) {
    let s = settings(id, &[("current", secret)]);
    let good = Req::new(body).header(header, signature);
    let out = check(&s, &good);
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some(id));

    expect(&check(&s, &Req::new(body)), Verdict::MissingSignature, &format!("header `{header}` is missing"));
    expect(
        &check(&settings(id, &[("current", "not-the-secret")]), &good),
        Verdict::InvalidSignature,
        &format!("no secret matches the signature in `{header}` (tried `current`)"),
    );
    let mut changed = Req::new(body).header(header, signature);
    changed.body.extend_from_slice(b" ");
    assert_eq!(check(&s, &changed).verdict, Verdict::InvalidSignature, "a changed body must not verify");
    let mut changed = Req::new(body.replacen('1', "2", 1)).header(header, signature);
    changed.received_at = good.received_at;
    expect(&check(&s, &changed), Verdict::InvalidSignature, &format!("`{header}`"));

    let rotated = settings(id, &[("old", "retired-secret"), ("new", secret)]);
    let out = check(&rotated, &good);
    expect(&out, Verdict::Valid, "matches secret `new` (rotated)");
    assert_eq!(out.secret_label.as_deref(), Some("new"));

    // Nothing time-bound is signed: a capture checked a year later is still VALID.
    expect(
        &check(&s, &Req::new(body).header(header, signature).at(1_700_000_000 + 365 * 86_400)),
        Verdict::Valid,
        "current",
    );

    round_trip(id, secret, secret, Req::new(body));
    let signed = hookmetry_verify::sign(id, secret, None, &Req::new(body).sign_input(1_700_000_000)).unwrap();
    assert_eq!(
        signed.headers,
        vec![(header.to_string(), signature.to_string())],
        "sign writes what the provider sends"
    );
}

const META_BODY: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;
const VERCEL_BODY: &str = r#"{"id":"evt_Hq4TgmKXwrDDUnA4ExgTCGtD","type":"deployment.created","createdAt":1700000000000,"region":"sfo1","payload":{"team":{"id":"team_Bn8p6nJ3eKuHxqVs9QeEgJXa"},"user":{"id":"MuP1ZdDQhn4j5cMKd0dT4D8p"},"deployment":{"id":"dpl_2euZBFqxYdDMDG1jTrHFnNZ2eUVa","meta":{},"url":"my-app-k8d2ld.vercel.app","name":"my-app"},"links":{"deployment":"https://vercel.com/acme/my-app/2euZBFqxYdDMDG1jTrHFnNZ2eUVa","project":"https://vercel.com/acme/my-app"},"target":"production","project":{"id":"prj_Vw8gB0zTq0ZP1bJWFGgfQjuZ4xXa"},"plan":"pro","regions":["sfo1"]}}"#;
const SENTRY_BODY: &str = r#"{"action":"created","installation":{"uuid":"7a485448-a9e2-4c85-8a3c-4f44175783c9"},"data":{"issue":{"id":"1170820242","shortId":"EXAMPLE-5","title":"Error: Example error","culprit":"index.js in handler","level":"error","status":"unresolved","project":{"id":"1","name":"example","slug":"example"},"firstSeen":"2023-11-14T22:13:20.000000Z","lastSeen":"2023-11-14T22:13:20.000000Z"}},"actor":{"type":"application","id":"sentry","name":"Sentry"}}"#;
const CIRCLECI_BODY: &str = r#"{"type":"workflow-completed","id":"3888f21b-eaa7-38e3-8f3d-75a63bba8895","happened_at":"2021-09-01T22:49:34.317Z","webhook":{"id":"cf8c4fdd-0587-4da1-b4ca-4846e9640af9","name":"Sample Webhook"},"workflow":{"id":"fda08377-fe7e-46b1-8992-3a7aaecac9c3","name":"build-test-deploy","created_at":"2021-09-01T22:49:03.616Z","stopped_at":"2021-09-01T22:49:34.170Z","url":"https://app.circleci.com/pipelines/github/circleci/webhook-service/130/workflows/fda08377-fe7e-46b1-8992-3a7aaecac9c3","status":"success"},"pipeline":{"id":"1285fe1d-d3a6-44fc-8886-8979558254c4","number":130,"created_at":"2021-09-01T22:49:03.544Z"},"project":{"id":"84996744-a854-4f5e-aea3-04e2851dc1d2","name":"webhook-service","slug":"github/circleci/webhook-service"},"organization":{"id":"f22b6566-597d-46d5-ba74-99ef5bb3d85c","name":"circleci"}}"#;
const TFC_BODY: &str = r#"{"payload_version":1,"notification_configuration_id":"nc-AeUQ2zfKZzW9TiGZ","run_url":"https://app.terraform.io/app/acme-org/my-workspace/runs/run-FwnENkvDnrpyFC7M","run_id":"run-FwnENkvDnrpyFC7M","run_message":"Add five new queue workers","run_created_at":"2019-01-25T18:34:00.000Z","run_created_by":"sample-user","workspace_id":"ws-XdeUVMWShTesDMME","workspace_name":"my-workspace","organization_name":"acme-org","notifications":[{"message":"Run Canceled","trigger":"run:errored","run_status":"canceled","run_updated_at":"2019-01-25T18:37:04.000Z","run_updated_by":"sample-user"}]}"#;
const HEROKU_BODY: &str = r#"{"action":"create","actor":{"email":"user-0165@example.com","id":"33500732-3b64-436f-9710-64cc569c3e4f"},"created_at":"2016-10-26T22:48:45Z","id":"7846bee9-b017-4492-9bed-34cd8327e71d","data":{"app":{"id":"d2f24bd2-399a-4868-9467-bc0ba2411cc2","name":"sample-app-0084"},"id":"25bfb830-8c4a-49e1-b0a3-831da386de90","description":"Deploy 1a2b3c4","status":"succeeded","version":42},"previous_data":{},"published_at":null,"resource":"release","sequence":null,"updated_at":"2016-10-26T22:48:45Z","version":"application/vnd.heroku+json; version=3","webhook_metadata":{"attempt":{"id":"8a44f820-2354-489d-9a11-a793cbf49979"},"delivery":{"id":"d244009a-670f-4340-88e9-789a4f9002d5"},"event":{"id":"7846bee9-b017-4492-9bed-34cd8327e71d","include":"api:release"},"webhook":{"id":"b54e6a7e-d162-4bd7-ab42-1011582c19cc"}}}"#;
const GRAFANA_BODY: &str = r#"{"receiver":"My Super Webhook","status":"firing","orgId":1,"alerts":[{"status":"firing","labels":{"alertname":"High memory usage","team":"blue"},"annotations":{"description":"The system has high memory usage"},"startsAt":"2021-10-12T09:51:03.157076+02:00","endsAt":"0001-01-01T00:00:00Z","generatorURL":"https://play.grafana.org/alerting/1afz29v7z/edit","fingerprint":"c6eadffa33fcdf37","silenceURL":"https://play.grafana.org/alerting/silence/new","dashboardURL":"","panelURL":"","values":{"B":44.23943737541908}}],"groupLabels":{},"commonLabels":{"team":"blue"},"commonAnnotations":{},"externalURL":"https://play.grafana.org/","version":"1","groupKey":"{}:{}","truncatedAlerts":0,"title":"[FIRING:1] (High memory usage blue)","state":"alerting","message":"**Firing**"}"#;
const PAGERDUTY_BODY: &str = r#"{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}"#;
const BUILDKITE_BODY: &str = r#"{"event":"ping","service":{"id":"c9f8372d-c0cd-43dc-9274-768a875cf6ca","provider":"webhook","settings":{"url":"https://server.com/webhooks"}},"organization":{"id":"49801950-1df0-474f-bb56-ad6a930c5cb9","graphql_id":"T3JnYW5pemF0aW9uLS0tZTBmMzk3MgsTksGkxOWYtZTZjNzczZTJiYjEy","url":"https://api.buildkite.com/v2/organizations/acme-inc","web_url":"https://buildkite.com/acme-inc","name":"ACME Inc","slug":"acme-inc","agents_url":"https://api.buildkite.com/v2/organizations/acme-inc/agents","emojis_url":"https://api.buildkite.com/v2/organizations/acme-inc/emojis","created_at":"2021-02-03T20:34:10.486Z","pipelines_url":"https://api.buildkite.com/v2/organizations/acme-inc/pipelines"},"sender":{"id":"c9f8372d-c0cd-43dc-9269-bcbb7f308e3f","name":"ACME Man"}}"#;

// ---------------------------------------------------------------------------------------------
// Meta

// No vector is published (Meta's docs show only how to compute one). Computed with Python
// (hmac, hashlib) per https://developers.facebook.com/docs/graph-api/webhooks/getting-started#validate-payloads:
// "sha256=" + hex(HMAC-SHA256(app secret, body)); the body is the WhatsApp Cloud API text
// message example from https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples.
const META_SECRET: &str = "d8a1f3c5e7b9024f6a8c0e2b4d6f8a1c";
const META_SIG: &str = "sha256=73173d417385ea367d65745aae4a3546abcc1785729327bdfe7dd9a59a609d02";

#[test]
fn meta_known_answer_and_verdicts() {
    body_only_verdicts("meta", "X-Hub-Signature-256", META_SECRET, META_BODY, META_SIG);
    let s = settings("meta", &[("current", META_SECRET)]);
    let req = |v: &str| Req::new(META_BODY).header("X-Hub-Signature-256", v);
    expect(
        &check(&s, &req(&META_SIG["sha256=".len()..])),
        Verdict::Malformed,
        "`X-Hub-Signature-256` should start with `sha256=`",
    );
    expect(&check(&s, &req("sha256=abc")), Verdict::Malformed, "a hex SHA-256 signature has 64");
    expect(&check(&s, &req(&format!("sha256={}", "zz".repeat(32)))), Verdict::Malformed, "is not hex");
    // Meta's legacy SHA-1 header alone is not enough.
    let legacy = Req::new(META_BODY).header("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000");
    expect(&check(&s, &legacy), Verdict::MissingSignature, "header `X-Hub-Signature-256` is missing");
}

#[test]
fn meta_does_not_take_githubs_requests() {
    // GitHub signs under the same header; an unconfigured endpoint keeps calling it GitHub.
    let github = Req::new(r#"{"zen":"Keep it logically awesome."}"#)
        .header("X-GitHub-Event", "ping")
        .header("X-Hub-Signature-256", META_SIG);
    assert_eq!(hookmetry_verify::guess(&github.as_request()).provider.as_deref(), Some("github"));
    let meta = hookmetry_verify::providers().into_iter().find(|p| p.id == "meta").unwrap();
    assert!(meta.detect.is_empty(), "Meta sends no header of its own to detect it by");
}

#[test]
fn meta_names_its_events() {
    let req = Req::new(META_BODY).header("X-Hub-Signature-256", META_SIG);
    assert_eq!(
        identify("meta", &req),
        CaptureEvent {
            id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=".into()),
            kind: Some("whatsapp_business_account.messages".into()),
            created_at: Some(secs(1_749_416_383)),
            resource: Some("102290129340398".into()),
            ..CaptureEvent::default()
        }
    );
    // Messenger: no `changes`, so the object alone; its `time` is in milliseconds.
    let messenger = r#"{"object":"page","entry":[{"id":"1234567890","time":1458692752478,"messaging":[{"sender":{"id":"9876"},"recipient":{"id":"1234567890"},"timestamp":1458692752478,"message":{"mid":"m_1457764197618:41d102a3e1ae206a38","text":"hello, world!"}}]}]}"#;
    assert_eq!(
        identify("meta", &Req::new(messenger)),
        CaptureEvent {
            id: Some("m_1457764197618:41d102a3e1ae206a38".into()),
            kind: Some("page".into()),
            created_at: Some(Timestamp::from_micros(1_458_692_752_478_000)),
            resource: Some("1234567890".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Vercel

// No vector is published. Computed with Python (hmac, hashlib) per
// https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks: hex(HMAC-SHA1(secret, body));
// the body follows the docs' `deployment.created` payload.
const VERCEL_SECRET: &str = "vercel_whsec_3kF9pQ2xZ7";
const VERCEL_SIG: &str = "e8f3334942a2a39cf1f2286659c0015415ebc73c";

#[test]
fn vercel_known_answer_and_verdicts() {
    body_only_verdicts("vercel", "x-vercel-signature", VERCEL_SECRET, VERCEL_BODY, VERCEL_SIG);
    let s = settings("vercel", &[("current", VERCEL_SECRET)]);
    // A SHA-256-length signature is not what Vercel sends.
    let long = Req::new(VERCEL_BODY).header("x-vercel-signature", "ab".repeat(32));
    expect(&check(&s, &long), Verdict::Malformed, "a hex SHA-1 signature has 40");
}

#[test]
fn vercel_names_its_events() {
    let req = Req::new(VERCEL_BODY).header("x-vercel-signature", VERCEL_SIG);
    assert_eq!(
        identify("vercel", &req),
        CaptureEvent {
            id: Some("evt_Hq4TgmKXwrDDUnA4ExgTCGtD".into()),
            kind: Some("deployment.created".into()),
            created_at: Some(secs(1_700_000_000)),
            resource: Some("dpl_2euZBFqxYdDMDG1jTrHFnNZ2eUVa".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Sentry

// No vector is published. Computed with Python (hmac, hashlib) per
// https://docs.sentry.io/organization/integrations/integration-platform/webhooks/#sentry-hook-signature:
// hex(HMAC-SHA256(client secret, body)); the body follows the docs' `issue` `created` payload.
const SENTRY_SECRET: &str = "sentry-client-secret-5b0c7d";
const SENTRY_SIG: &str = "60815fd2b6db733bc01f915e0a675144462d97b65cd05f29e6c7857bc4858e02";

#[test]
fn sentry_known_answer_and_verdicts() {
    body_only_verdicts("sentry", "Sentry-Hook-Signature", SENTRY_SECRET, SENTRY_BODY, SENTRY_SIG);
    let s = settings("sentry", &[("current", SENTRY_SECRET)]);
    let req = Req::new(SENTRY_BODY).header("Sentry-Hook-Signature", "").header("Sentry-Hook-Timestamp", "1700000000");
    expect(&check(&s, &req), Verdict::Malformed, "the signature in `Sentry-Hook-Signature` is empty");
    // `Sentry-Hook-Timestamp` is not signed, so it is not judged either.
    let old = Req::new(SENTRY_BODY).header("Sentry-Hook-Signature", SENTRY_SIG).header("Sentry-Hook-Timestamp", "1");
    expect(&check(&s, &old), Verdict::Valid, "current");
}

#[test]
fn sentry_names_its_events() {
    let req = Req::new(SENTRY_BODY)
        .header("Sentry-Hook-Signature", SENTRY_SIG)
        .header("Sentry-Hook-Resource", "issue")
        .header("Sentry-Hook-Timestamp", "1700000000")
        .header("Request-ID", "a6b1d3f0-3c8e-4d5e-9f1a-2b7c8d9e0f12");
    assert_eq!(
        identify("sentry", &req),
        CaptureEvent {
            id: Some("a6b1d3f0-3c8e-4d5e-9f1a-2b7c8d9e0f12".into()),
            kind: Some("issue.created".into()),
            created_at: Some(secs(1_700_000_000)),
            resource: Some("1170820242".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// PagerDuty

// PagerDuty/go-pagerduty webhookv3/webhookv3_test.go `TestVerifySignature` ("valid"): `secret`,
// `defaultBody` and "v1=0c0b9495…76cd"; its "mismatch" case's signature is another body's.
const PAGERDUTY_SECRET: &str = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
const PAGERDUTY_SIG: &str = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
const PAGERDUTY_MISMATCH: &str = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";

#[test]
fn pagerduty_known_answer_and_verdicts() {
    body_only_verdicts("pagerduty", "X-PagerDuty-Signature", PAGERDUTY_SECRET, PAGERDUTY_BODY, PAGERDUTY_SIG);
    let s = settings("pagerduty", &[("current", PAGERDUTY_SECRET)]);
    let req = |v: &str| Req::new(PAGERDUTY_BODY).header("X-PagerDuty-Signature", v);
    expect(
        &check(&s, &req(PAGERDUTY_MISMATCH)),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-PagerDuty-Signature`",
    );
    // During a rotation PagerDuty sends one entry per secret; any one matching is enough.
    expect(&check(&s, &req(&format!("{PAGERDUTY_MISMATCH},{PAGERDUTY_SIG}"))), Verdict::Valid, "current");
    expect(&check(&s, &req(&format!("{PAGERDUTY_SIG}, {PAGERDUTY_MISMATCH}"))), Verdict::Valid, "current");
    // Entries of a version not known yet are skipped.
    expect(&check(&s, &req(&format!("v2=abcd,{PAGERDUTY_SIG}"))), Verdict::Valid, "current");
    expect(&check(&s, &req("v2=abcd")), Verdict::Malformed, "`X-PagerDuty-Signature` has no `v1=` signature");
    expect(&check(&s, &req(&PAGERDUTY_SIG[3..])), Verdict::Malformed, "has no `v1=` signature");
    expect(
        &check(&s, &req("v1=0c0b")),
        Verdict::Malformed,
        "the `v1` signature in `X-PagerDuty-Signature` is 4 characters",
    );
}

#[test]
fn pagerduty_names_its_events() {
    let req = Req::new(PAGERDUTY_BODY)
        .header("X-PagerDuty-Signature", PAGERDUTY_SIG)
        .header("X-Webhook-Id", "c8f7a5e2-2b7e-4a42-b5c1-4f8c2d1e9a0b");
    assert_eq!(
        identify("pagerduty", &req),
        CaptureEvent {
            id: Some("c8f7a5e2-2b7e-4a42-b5c1-4f8c2d1e9a0b".into()),
            kind: Some("incident.priority_updated".into()),
            created_at: Some(rfc3339("2021-04-26T17:36:27.458Z")),
            resource: Some("PGR0VU2".into()),
            ..CaptureEvent::default()
        }
    );
    // Without the header, the body's event id.
    assert_eq!(identify("pagerduty", &Req::new(PAGERDUTY_BODY)).id.as_deref(), Some("01BWDWL3NYY7LUFPZCC28QUCMK"));
}

// ---------------------------------------------------------------------------------------------
// CircleCI

// No vector is published. Computed with Python (hmac, hashlib) per
// https://circleci.com/docs/webhooks/#validate-webhooks: "v1=" + hex(HMAC-SHA256(secret, body));
// the body is shaped after the docs' `workflow-completed` sample payload.
const CIRCLECI_SECRET: &str = "circleci-webhook-secret";
const CIRCLECI_SIG: &str = "v1=88ad57f5e4b63441fc47d3f952c85620f327a9df031b199c9b78fd8c59131ae8";

#[test]
fn circleci_known_answer_and_verdicts() {
    body_only_verdicts("circleci", "circleci-signature", CIRCLECI_SECRET, CIRCLECI_BODY, CIRCLECI_SIG);
    let s = settings("circleci", &[("current", CIRCLECI_SECRET)]);
    let req = |v: &str| Req::new(CIRCLECI_BODY).header("circleci-signature", v);
    expect(&check(&s, &req(&CIRCLECI_SIG[3..])), Verdict::Malformed, "`circleci-signature` has no `v1=` signature");
    expect(&check(&s, &req("v1=not-hex")), Verdict::Malformed, "a hex SHA-256 signature has 64");
    expect(
        &check(&s, &Req::new(CIRCLECI_BODY).header("circleci-event-type", "workflow-completed")),
        Verdict::MissingSignature,
        "header `circleci-signature` is missing (CircleCI signs only webhooks created with a secret token)",
    );
}

#[test]
fn circleci_names_its_events() {
    let req = Req::new(CIRCLECI_BODY)
        .header("circleci-signature", CIRCLECI_SIG)
        .header("circleci-event-type", "workflow-completed");
    assert_eq!(
        identify("circleci", &req),
        CaptureEvent {
            id: Some("3888f21b-eaa7-38e3-8f3d-75a63bba8895".into()),
            kind: Some("workflow-completed".into()),
            created_at: Some(rfc3339("2021-09-01T22:49:34.317Z")),
            resource: Some("fda08377-fe7e-46b1-8992-3a7aaecac9c3".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Buildkite

// buildkite/go-buildkite webhook_test.go `TestValidatePayload`: `defaultBody`, `defaultSignature`
// and the key "29b1ff5779c76bd48ba6705eb99ff970".
const BUILDKITE_SECRET: &str = "29b1ff5779c76bd48ba6705eb99ff970";
const BUILDKITE_SIG: &str =
    "timestamp=1642080837,signature=582d496ac2d869dd97a3101c4cda346288c49a742592daf582ec64c86449f79c";
const BUILDKITE_TS: i64 = 1_642_080_837;

fn buildkite_req(header: &str) -> Req {
    Req::new(BUILDKITE_BODY).header("X-Buildkite-Signature", header).at(BUILDKITE_TS + 10)
}

#[test]
fn buildkite_known_answer() {
    let s = settings("buildkite", &[("current", BUILDKITE_SECRET)]);
    let out = check(&s, &buildkite_req(BUILDKITE_SIG));
    expect(&out, Verdict::Valid, "matches secret `current`");
    assert_eq!(out.provider.as_deref(), Some("buildkite"));
}

#[test]
fn buildkite_verdicts() {
    let s = settings("buildkite", &[("current", BUILDKITE_SECRET)]);
    expect(
        &check(&s, &Req::new(BUILDKITE_BODY)),
        Verdict::MissingSignature,
        "header `X-Buildkite-Signature` is missing",
    );
    let token = Req::new(BUILDKITE_BODY).header("X-Buildkite-Token", BUILDKITE_SECRET);
    expect(
        &check(&s, &token),
        Verdict::MissingSignature,
        "the webhook sends its token in `X-Buildkite-Token` instead; set its Token setting to send an HMAC signature",
    );
    // go-buildkite's malformed cases: no structure at all, and a signature that is not hex.
    expect(&check(&s, &buildkite_req("invalid")), Verdict::Malformed, "`X-Buildkite-Signature` has no `timestamp=`");
    expect(
        &check(&s, &buildkite_req("timestamp=1642080837,signature=yo")),
        Verdict::Malformed,
        "the signature in `X-Buildkite-Signature` is 2 characters; a hex SHA-256 signature has 64",
    );
    expect(
        &check(&s, &buildkite_req("timestamp=1642080837")),
        Verdict::Malformed,
        "`X-Buildkite-Signature` has no `signature=`",
    );
    let sig = &BUILDKITE_SIG["timestamp=1642080837,".len()..];
    expect(
        &check(&s, &buildkite_req(&format!("timestamp=yesterday,{sig}"))),
        Verdict::Malformed,
        "timestamp `yesterday` in `X-Buildkite-Signature` is not Unix seconds",
    );
    // go-buildkite's "signature not valid" case: one character of the signature changed.
    expect(
        &check(&s, &buildkite_req(&BUILDKITE_SIG.replacen('f', "a", 1))),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Buildkite-Signature`",
    );
    // The timestamp is signed: another one does not verify.
    expect(
        &check(&s, &buildkite_req(&format!("timestamp=1642080838,{sig}"))),
        Verdict::InvalidSignature,
        "no secret matches the signature in `X-Buildkite-Signature`",
    );
    expect(
        &check(&settings("buildkite", &[("current", "wrong")]), &buildkite_req(BUILDKITE_SIG)),
        Verdict::InvalidSignature,
        "(tried `current`)",
    );
    let mut changed = buildkite_req(BUILDKITE_SIG);
    changed.body.extend_from_slice(b" ");
    assert_eq!(check(&s, &changed).verdict, Verdict::InvalidSignature);

    // Five minutes, either way; exactly at the boundary is accepted.
    let late = check(&s, &buildkite_req(BUILDKITE_SIG).at(BUILDKITE_TS + 432));
    expect(&late, Verdict::TimestampOutOfTolerance, "signed 7m12s before receipt; tolerance is 5m");
    assert_eq!(late.secret_label.as_deref(), Some("current"));
    expect(&check(&s, &buildkite_req(BUILDKITE_SIG).at(BUILDKITE_TS + 300)), Verdict::Valid, "current");
    expect(
        &check(&s, &buildkite_req(BUILDKITE_SIG).at(BUILDKITE_TS + 301)),
        Verdict::TimestampOutOfTolerance,
        "tolerance is 5m",
    );
    expect(
        &check(&s, &buildkite_req(BUILDKITE_SIG).at(BUILDKITE_TS - 301)),
        Verdict::TimestampOutOfTolerance,
        "after receipt (the sender's clock is ahead)",
    );

    let rotated = settings("buildkite", &[("old", "retired"), ("new", BUILDKITE_SECRET)]);
    expect(&check(&rotated, &buildkite_req(BUILDKITE_SIG)), Verdict::Valid, "matches secret `new` (rotated)");

    round_trip("buildkite", BUILDKITE_SECRET, BUILDKITE_SECRET, Req::new(BUILDKITE_BODY));
    let signed =
        hookmetry_verify::sign("buildkite", BUILDKITE_SECRET, None, &Req::new(BUILDKITE_BODY).sign_input(BUILDKITE_TS))
            .unwrap();
    assert_eq!(signed.headers, vec![("X-Buildkite-Signature".to_string(), BUILDKITE_SIG.to_string())]);
}

#[test]
fn buildkite_names_its_events() {
    let body = r#"{"event":"build.finished","build":{"id":"f62a1b4d-10f9-4790-bc1c-e2c3a0c80983","number":123,"state":"passed","created_at":"2023-11-14T22:13:20.000Z"},"pipeline":{"id":"1d9f5b62-2f4a-4c0b-9a2b-6d0c7e1f3a4b","slug":"my-pipeline"},"sender":{"id":"c9f8372d-c0cd-43dc-9269-bcbb7f308e3f","name":"ACME Man"}}"#;
    let req = Req::new(body).header("X-Buildkite-Event", "build.finished");
    assert_eq!(
        identify("buildkite", &req),
        CaptureEvent {
            kind: Some("build.finished".into()),
            resource: Some("f62a1b4d-10f9-4790-bc1c-e2c3a0c80983".into()),
            ..CaptureEvent::default()
        }
    );
    // The ping event of the known answer names only its type.
    assert_eq!(identify("buildkite", &Req::new(BUILDKITE_BODY)).kind.as_deref(), Some("ping"));
}

// ---------------------------------------------------------------------------------------------
// HCP Terraform

// No vector is published. Computed with Python (hmac, hashlib) per
// https://developer.hashicorp.com/terraform/cloud-docs/api-docs/notification-configurations#notification-authenticity:
// hex(HMAC-SHA512(token, body)); the body is the docs' sample run notification payload.
const TFC_SECRET: &str = "tfc-notification-token";
const TFC_SIG: &str = "d71715d7f686f88b9ddb95622157d5ffdb7e829b3f86c5cd8d99612b06ce80715884e3ff3f58ce4a24a10d1db4583c4924dd9883b966ae7f0220c61a9f7ed5a1";

#[test]
fn terraform_cloud_known_answer_and_verdicts() {
    body_only_verdicts("terraform-cloud", "X-TFE-Notification-Signature", TFC_SECRET, TFC_BODY, TFC_SIG);
    let s = settings("terraform-cloud", &[("current", TFC_SECRET)]);
    // A SHA-256 of the body is not what HCP Terraform sends.
    let short = Req::new(TFC_BODY).header("X-TFE-Notification-Signature", &TFC_SIG[..64]);
    expect(&check(&s, &short), Verdict::Malformed, "is 64 characters; a hex SHA-512 signature has 128");
    expect(
        &check(&s, &Req::new(TFC_BODY)),
        Verdict::MissingSignature,
        "(HCP Terraform signs only notifications configured with a token)",
    );
}

#[test]
fn terraform_cloud_names_its_events() {
    let req = Req::new(TFC_BODY).header("X-TFE-Notification-Signature", TFC_SIG);
    assert_eq!(
        identify("terraform-cloud", &req),
        CaptureEvent {
            id: Some("run-FwnENkvDnrpyFC7M:run:errored".into()),
            kind: Some("run:errored".into()),
            created_at: Some(rfc3339("2019-01-25T18:37:04.000Z")),
            resource: Some("run-FwnENkvDnrpyFC7M".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Heroku

// No vector is published. Computed with Python (hmac, hashlib, base64) per
// https://devcenter.heroku.com/articles/app-webhooks#securing-webhook-requests:
// base64(HMAC-SHA256(secret, body)); the body follows https://devcenter.heroku.com/articles/webhook-events.
const HEROKU_SECRET: &str = "heroku-webhook-secret";
const HEROKU_SIG: &str = "0eGGUFBcYSLevXYGnMJS3YlAXOBkA4wMCG9/XhOXx5E=";

#[test]
fn heroku_known_answer_and_verdicts() {
    body_only_verdicts("heroku", "Heroku-Webhook-Hmac-SHA256", HEROKU_SECRET, HEROKU_BODY, HEROKU_SIG);
    let s = settings("heroku", &[("current", HEROKU_SECRET)]);
    let req = |v: &str| Req::new(HEROKU_BODY).header("Heroku-Webhook-Hmac-SHA256", v);
    expect(
        &check(&s, &req("not base64!")),
        Verdict::Malformed,
        "the signature in `Heroku-Webhook-Hmac-SHA256` `not base64!` is not base64",
    );
    expect(
        &check(&s, &req("AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
        Verdict::Malformed,
        "decodes to 20 bytes; a base64 HMAC-SHA256 signature has 32",
    );
    // A hex signature (what most other providers send) is not Heroku's encoding.
    expect(&check(&s, &req(&"ab".repeat(32))), Verdict::Malformed, "decodes to 48 bytes");
}

#[test]
fn heroku_names_its_events() {
    let req = Req::new(HEROKU_BODY).header("Heroku-Webhook-Hmac-SHA256", HEROKU_SIG);
    assert_eq!(
        identify("heroku", &req),
        CaptureEvent {
            id: Some("7846bee9-b017-4492-9bed-34cd8327e71d".into()),
            kind: Some("release.create".into()),
            created_at: Some(rfc3339("2016-10-26T22:48:45Z")),
            resource: Some("25bfb830-8c4a-49e1-b0a3-831da386de90".into()),
            ..CaptureEvent::default()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Grafana Alerting

// grafana/alerting http/hmac_test.go computes its expectations with the same code it tests and
// publishes no value. Computed with Python (hmac, hashlib) per grafana/alerting http/hmac.go:
// hex(HMAC-SHA256(secret, body)) with no timestamp header; the body is the docs' example payload.
const GRAFANA_SECRET: &str = "grafana-hmac-secret";
const GRAFANA_SIG: &str = "d9f88956f61244116b5bf096dc76ef7d9306a7ba999b8c8dc926434ff92dcd46";
// hex(HMAC-SHA256(GRAFANA_SECRET, "1700000000:" + GRAFANA_BODY)), computed with Python.
const GRAFANA_TS_SIG: &str = "0e2e7ce13a634967e510e54e9e4c53e32886749ad5ef4c55f3c912f1c9052744";

#[test]
fn grafana_known_answer_and_verdicts() {
    body_only_verdicts("grafana", "X-Grafana-Alerting-Signature", GRAFANA_SECRET, GRAFANA_BODY, GRAFANA_SIG);
    let s = settings("grafana", &[("current", GRAFANA_SECRET)]);
    expect(
        &check(&s, &Req::new(GRAFANA_BODY).header("X-Grafana-Alerting-Signature", "sha256=ab")),
        Verdict::Malformed,
        "a hex SHA-256 signature has 64",
    );
    expect(
        &check(&s, &Req::new(GRAFANA_BODY)),
        Verdict::MissingSignature,
        "one that names another signature header is checked with `generic-hmac`",
    );
}

#[test]
fn grafana_with_a_timestamp_header_is_generic_hmac() {
    // Grafana signs `<unix seconds>:<body>` when the contact point names a timestamp header; the
    // built-in scheme cannot know that name, `generic-hmac` is told it. Computed with Python:
    // hex(HMAC-SHA256("grafana-hmac-secret", "1700000000:" + body)).
    use hookmetry_core::GenericHmac;
    let mut s = settings("generic-hmac", &[("current", GRAFANA_SECRET)]);
    s.generic = Some(GenericHmac {
        header: "X-Grafana-Alerting-Signature".into(),
        algorithm: "sha256".into(),
        encoding: "hex".into(),
        prefix: String::new(),
        template: "{timestamp}:{body}".into(),
        timestamp_header: Some("X-Grafana-Alerting-Timestamp".into()),
        id_header: None,
    });
    let req = Req::new(GRAFANA_BODY)
        .header("X-Grafana-Alerting-Signature", GRAFANA_TS_SIG)
        .header("X-Grafana-Alerting-Timestamp", "1700000000");
    expect(&check(&s, &req), Verdict::Valid, "matches secret `current`");
    // The built-in scheme, which signs the body alone, does not match it.
    let builtin = settings("grafana", &[("current", GRAFANA_SECRET)]);
    expect(&check(&builtin, &req), Verdict::InvalidSignature, "`X-Grafana-Alerting-Signature`");
}

#[test]
fn grafana_names_its_events() {
    let req = Req::new(GRAFANA_BODY).header("X-Grafana-Alerting-Signature", GRAFANA_SIG);
    assert_eq!(
        identify("grafana", &req),
        CaptureEvent {
            kind: Some("firing".into()),
            created_at: Some(rfc3339("2021-10-12T09:51:03.157076+02:00")),
            resource: Some("c6eadffa33fcdf37".into()),
            ..CaptureEvent::default()
        }
    );
}
