//! The event type a request names, found without knowing who sent it.
//!
//! Providers name the event in one of a few places: a header (GitHub, GitLab, Shopify, Bitbucket,
//! Linear, Twitch) or a top-level field of a JSON body (`type` for Stripe, Standard Webhooks and
//! Square, `event_type` for Paddle, `event.type` inside a Slack `event_callback`). Headers are
//! looked at first because they are cheap and, where a provider sends one, say exactly what the
//! provider meant; the body is parsed only when no header names the event.
//!
//! The body comes from whoever knows the capture URL, so the work is bounded: only bodies up to
//! [`MAX_BODY`] that look like a JSON object are parsed, and only a handful of top-level fields are
//! kept. The result is shown to people and used as a label, so anything that is not short
//! printable ASCII is refused rather than passed on.

use hookmetry_core::Header;
use serde::Deserialize;
use serde_json::Value;

/// The largest body parsed for an event type. Real webhook bodies are far smaller; a larger one is
/// more likely an upload than an event envelope.
pub const MAX_BODY: usize = 1 << 20;

/// The longest event type returned, in bytes (event names are a few dozen at most).
pub const MAX_LEN: usize = 200;

/// The event type `headers` and `body` name, e.g. `payment_intent.succeeded`,
/// `pull_request.opened`, `orders/create`, `Issue.create`; `None` when neither names one, or what
/// they name is empty, longer than [`MAX_LEN`] or not printable ASCII.
///
/// The first place that names an event decides: a header that names an unusable one is not
/// second-guessed from the body.
pub fn event_type(headers: &[Header], body: &[u8]) -> Option<String> {
    let named = from_headers(headers, body).or_else(|| from_body(body))?;
    usable(&named).then_some(named)
}

fn usable(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// The first header named `name` (case-insensitively), trimmed; a value that is not UTF-8 counts
/// as present and empty, so it is refused rather than skipped in favour of the body.
fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    let h = headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))?;
    Some(std::str::from_utf8(&h.value).map(str::trim).unwrap_or(""))
}

/// Headers whose value is the event type as it stands.
const PLAIN_HEADERS: &[&str] = &[
    // Shopify: `orders/create`.
    "X-Shopify-Topic",
    // GitLab: `Push Hook`, `Merge Request Hook`.
    "X-Gitlab-Event",
    // Bitbucket: `repo:push`, `pullrequest:created`.
    "X-Event-Key",
    // Twitch EventSub: `channel.follow`.
    "Twitch-Eventsub-Subscription-Type",
];

/// Headers that name the kind of object, with the body's top-level `action` saying what happened
/// to it: GitHub's `pull_request` + `opened`, Linear's `Issue` + `create`.
const ACTION_HEADERS: &[&str] = &["X-GitHub-Event", "Linear-Event"];

fn from_headers(headers: &[Header], body: &[u8]) -> Option<String> {
    for name in ACTION_HEADERS {
        if let Some(kind) = header(headers, name) {
            return Some(match envelope(body).and_then(|e| text(e.action)) {
                Some(action) => format!("{kind}.{action}"),
                None => kind.to_string(),
            });
        }
    }
    PLAIN_HEADERS.iter().find_map(|name| header(headers, name)).map(str::to_string)
}

fn from_body(body: &[u8]) -> Option<String> {
    let e = envelope(body)?;
    match text(e.kind) {
        // Slack's Events API wraps the event; the wrapper's own type says only that.
        Some(kind) if kind == "event_callback" => e.event.and_then(|ev| text(ev.get("type").cloned())),
        Some(kind) => Some(kind),
        None => text(e.event_type).or_else(|| text(e.event_type_camel)).or_else(|| text(e.event)),
    }
}

/// The top-level fields that can name an event. Everything else in the body is skipped without
/// being kept.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<Value>,
    action: Option<Value>,
    event_type: Option<Value>,
    #[serde(rename = "eventType")]
    event_type_camel: Option<Value>,
    /// A string for Zoom, Calendly and WorkOS; an object for Slack's `event_callback`.
    event: Option<Value>,
}

/// The body's envelope, when the body is small enough and a JSON object.
fn envelope(body: &[u8]) -> Option<Envelope> {
    if body.len() > MAX_BODY || body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(body).ok()
}

fn text(v: Option<Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &str) -> Header {
        Header::new(name, value.as_bytes().to_vec())
    }

    fn ev(headers: &[Header], body: &str) -> Option<String> {
        event_type(headers, body.as_bytes())
    }

    #[test]
    fn github_joins_the_event_header_and_the_action() {
        let hs = [h("x-github-event", "pull_request")];
        assert_eq!(ev(&hs, r#"{"action":"opened","number":1}"#).as_deref(), Some("pull_request.opened"));
        assert_eq!(ev(&[h("X-GitHub-Event", "push")], r#"{"ref":"refs/heads/main"}"#).as_deref(), Some("push"));
        // An action that is not a string, or a body that is not JSON, leaves the header alone.
        assert_eq!(ev(&hs, r#"{"action":7}"#).as_deref(), Some("pull_request"));
        assert_eq!(ev(&hs, "payload=%7B%7D").as_deref(), Some("pull_request"));
    }

    #[test]
    fn linear_joins_the_event_header_and_the_action() {
        let body = r#"{"action":"create","type":"Issue","data":{}}"#;
        assert_eq!(ev(&[h("Linear-Event", "Issue")], body).as_deref(), Some("Issue.create"));
        // Without the header the body's `type` is all there is.
        assert_eq!(ev(&[], body).as_deref(), Some("Issue"));
    }

    #[test]
    fn plain_headers_are_taken_as_they_are() {
        assert_eq!(ev(&[h("X-Shopify-Topic", "orders/create")], "{}").as_deref(), Some("orders/create"));
        assert_eq!(ev(&[h("X-Gitlab-Event", " Push Hook ")], "").as_deref(), Some("Push Hook"));
        assert_eq!(ev(&[h("X-Event-Key", "repo:push")], "").as_deref(), Some("repo:push"));
        assert_eq!(
            ev(&[h("Twitch-Eventsub-Subscription-Type", "channel.follow")], "").as_deref(),
            Some("channel.follow")
        );
    }

    #[test]
    fn a_header_wins_over_the_body() {
        let hs = [h("X-Shopify-Topic", "orders/paid")];
        assert_eq!(ev(&hs, r#"{"type":"something.else"}"#).as_deref(), Some("orders/paid"));
    }

    #[test]
    fn body_fields_in_order() {
        assert_eq!(ev(&[], r#"{"id":"evt_1","type":"charge.succeeded"}"#).as_deref(), Some("charge.succeeded"));
        assert_eq!(ev(&[], r#"{"event_type":"transaction.completed"}"#).as_deref(), Some("transaction.completed"));
        assert_eq!(ev(&[], r#"{"eventType":"order.shipped"}"#).as_deref(), Some("order.shipped"));
        assert_eq!(ev(&[], r#"{"event":"meeting.started","payload":{}}"#).as_deref(), Some("meeting.started"));
        assert_eq!(ev(&[], r#"{"type":"a.b","event_type":"c.d"}"#).as_deref(), Some("a.b"));
        // A `type` that is not a string does not hide a later field.
        assert_eq!(ev(&[], r#"{"type":3,"event_type":"c.d"}"#).as_deref(), Some("c.d"));
    }

    #[test]
    fn slack_event_callback_names_the_inner_event() {
        let body = r#"{"type":"event_callback","event":{"type":"app_mention","text":"hi"}}"#;
        assert_eq!(ev(&[], body).as_deref(), Some("app_mention"));
        assert_eq!(ev(&[], r#"{"type":"url_verification","challenge":"x"}"#).as_deref(), Some("url_verification"));
        assert_eq!(ev(&[], r#"{"type":"event_callback","event":{}}"#), None);
    }

    #[test]
    fn leading_whitespace_is_allowed_but_only_objects_are_parsed() {
        assert_eq!(ev(&[], " \n\t{\"type\":\"a\"}").as_deref(), Some("a"));
        assert_eq!(ev(&[], r#"[{"type":"a"}]"#), None);
        assert_eq!(ev(&[], r#""type""#), None);
        assert_eq!(ev(&[], "{not json"), None);
        assert_eq!(ev(&[], ""), None);
        assert_eq!(ev(&[], r#"{"type":"a","type":"b"}"#), None, "a duplicate field is not guessed between");
    }

    #[test]
    fn bodies_over_the_limit_are_not_parsed() {
        let mut body = br#"{"type":"big.event","pad":""#.to_vec();
        let fits = MAX_BODY - body.len() - 2;
        body.extend(std::iter::repeat_n(b'x', fits));
        body.extend_from_slice(br#""}"#);
        assert_eq!(body.len(), MAX_BODY);
        assert_eq!(event_type(&[], &body).as_deref(), Some("big.event"));
        body.insert(1, b' ');
        assert_eq!(event_type(&[], &body), None);
    }

    #[test]
    fn unusable_names_are_refused() {
        let long = "a".repeat(MAX_LEN + 1);
        assert_eq!(ev(&[], &format!(r#"{{"type":"{long}"}}"#)), None);
        assert_eq!(ev(&[], &format!(r#"{{"type":"{}"}}"#, &long[1..])).map(|s| s.len()), Some(MAX_LEN));
        assert_eq!(ev(&[], r#"{"type":""}"#), None);
        assert_eq!(ev(&[], r#"{"type":"tab\there"}"#), None);
        assert_eq!(ev(&[], r#"{"type":"caf\u00e9"}"#), None);
        // An unusable header is not second-guessed from the body.
        assert_eq!(ev(&[h("X-Shopify-Topic", "")], r#"{"type":"a"}"#), None);
        let not_utf8 = Header::new("X-Shopify-Topic", vec![0xff, 0xfe]);
        assert_eq!(event_type(&[not_utf8], br#"{"type":"a"}"#), None);
    }

    #[test]
    fn nothing_named_is_none() {
        assert_eq!(ev(&[h("Content-Type", "application/json")], r#"{"id":1,"data":{"type":"x"}}"#), None);
        assert_eq!(ev(&[], "From=%2B1555&Body=hi"), None);
    }
}
