//! What a request says about the event it carries, found from its headers and body as received.
//!
//! Each provider declares in its [`EventSpec`] where it names the event's id, type, creation time,
//! delivery attempt and resource; [`identify`] reads them. A custom sender's endpoint names its own
//! places ([`EventFields`]). [`event_type`] finds just the type without knowing who sent the
//! request: providers name it in one of a few places, a header (GitHub, GitLab, Shopify,
//! Bitbucket, Linear, Twitch) or a top-level field of a JSON body (`type` for Stripe, Standard
//! Webhooks and Square, `event_type` for Paddle, `event.type` inside a Slack `event_callback`).
//!
//! The body comes from whoever knows the capture URL, so the work is bounded: only bodies up to
//! [`MAX_BODY`] that look like a JSON object (or array) are parsed, once per request. The results
//! are shown to people and used as labels and keys, so anything that is not short printable ASCII
//! is dropped rather than passed on.

use hookmetry_core::{CaptureEvent, EventFields, Header, MAX_EVENT_FIELD, Timestamp};
use serde::Deserialize;
use serde_json::Value;

/// The largest body parsed for an event type. Real webhook bodies are far smaller; a larger one is
/// more likely an upload than an event envelope.
pub const MAX_BODY: usize = 1 << 20;

/// The longest event type returned, in bytes (event names are a few dozen at most).
pub const MAX_LEN: usize = MAX_EVENT_FIELD;

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

/// Where one part of an event's identity is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// A header's value, trimmed (the first of that name).
    Header(&'a str),
    /// An RFC 6901 JSON pointer into a JSON body; a string or a number is taken.
    Json(&'a str),
    /// The first part, followed by `sep` and each later part that is present: GitHub's
    /// `X-GitHub-Event` + `.` + the body's `action`; Adyen's `pspReference` + `:` + `eventCode`.
    Joined(&'a [Source<'a>], &'a str),
}

/// Where a provider names each part of its events; in each list the first place that names one
/// decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSpec<'a> {
    /// The event's id, the same across the provider's retries of it.
    pub id: &'a [Source<'a>],
    pub kind: &'a [Source<'a>],
    /// Unix seconds, milliseconds or microseconds (told apart by their number of digits), decimal
    /// seconds, or RFC 3339.
    pub created_at: &'a [Source<'a>],
    /// The delivery attempt, 1 for the first.
    pub attempt: &'a [Source<'a>],
    /// How many times the provider tried before this one (Slack's `X-Slack-Retry-Num`): the
    /// attempt is one more. Read when `attempt` names nothing.
    pub retries: &'a [Source<'a>],
    pub retry_reason: &'a [Source<'a>],
    /// The object the event is about, for ordering (Stripe's `/data/object/id`).
    pub resource: &'a [Source<'a>],
}

impl EventSpec<'static> {
    /// A provider that names nothing.
    pub const NONE: EventSpec<'static> =
        EventSpec { id: &[], kind: &[], created_at: &[], attempt: &[], retries: &[], retry_reason: &[], resource: &[] };
}

/// Parses one [`EventFields`] entry: `header:<name>`, `json:<pointer>`, or a bare `/pointer`.
pub fn parse_source(text: &str) -> Result<Source<'_>, String> {
    let text = text.trim();
    if let Some(name) = text.strip_prefix("header:") {
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
            return Err(format!("`{name}` is not a header name"));
        }
        return Ok(Source::Header(name));
    }
    let pointer = text.strip_prefix("json:").map(str::trim).unwrap_or(text);
    if pointer.starts_with('/') {
        if pointer.len() > 512 || pointer.split('/').count() > 33 {
            return Err("a JSON pointer may have at most 32 steps and 512 characters".into());
        }
        return Ok(Source::Json(pointer));
    }
    Err(format!("`{text}` should be `header:<name>` or `json:/pointer/to/field`"))
}

/// Checks every entry of `fields`; errors are `(field, message)` with the field as the API names it.
pub fn validate_fields(fields: &EventFields) -> Result<(), (String, String)> {
    for (name, value) in fields_of(fields) {
        if let Some(v) = value {
            parse_source(v).map_err(|m| (format!("eventFields.{name}"), m))?;
        }
    }
    Ok(())
}

fn fields_of(f: &EventFields) -> [(&'static str, Option<&String>); 5] {
    [
        ("id", f.id.as_ref()),
        ("type", f.kind.as_ref()),
        ("createdAt", f.created_at.as_ref()),
        ("attempt", f.attempt.as_ref()),
        ("resource", f.resource.as_ref()),
    ]
}

/// The event `headers` and `body` carry, read where `provider` names its events, with `custom`
/// overriding it field by field. Without a provider (or for one that names no type) the type is
/// found as [`event_type`] finds it.
pub fn identify(provider: Option<&str>, custom: Option<&EventFields>, headers: &[Header], body: &[u8]) -> CaptureEvent {
    let spec = provider.and_then(crate::providers::event_spec).unwrap_or(EventSpec::NONE);
    fn one(v: &Option<String>) -> Option<Source<'_>> {
        v.as_deref().and_then(|t| parse_source(t).ok())
    }
    let custom = custom.map(|c| [one(&c.id), one(&c.kind), one(&c.created_at), one(&c.attempt), one(&c.resource)]);
    let pick = |i: usize, builtin: &'static [Source<'static>]| -> Vec<Source<'_>> {
        match custom.as_ref().and_then(|c| c[i]) {
            Some(s) => vec![s],
            None => builtin.to_vec(),
        }
    };
    let id_sources = pick(0, spec.id);
    let kind_sources = pick(1, spec.kind);
    let created_sources = pick(2, spec.created_at);
    let attempt_sources = pick(3, spec.attempt);
    let resource_sources = pick(4, spec.resource);
    let mut wanted = Vec::new();
    for list in [
        &id_sources[..],
        &kind_sources,
        &created_sources,
        &attempt_sources,
        spec.retries,
        spec.retry_reason,
        &resource_sources,
    ] {
        pointers(list, &mut wanted);
    }
    let reader = Reader { headers, body, pointers: wanted, json: std::cell::OnceCell::new() };
    let kind = match reader.first(&kind_sources) {
        Some(k) => Some(k),
        None if kind_sources.is_empty() => event_type(headers, body),
        None => None,
    };
    let attempt = reader
        .first(&attempt_sources)
        .and_then(|a| a.parse::<u32>().ok())
        .or_else(|| reader.first(spec.retries).and_then(|r| r.parse::<u32>().ok()).map(|r| r.saturating_add(1)));
    CaptureEvent {
        id: reader.first(&id_sources).filter(|v| usable(v)),
        kind: kind.filter(|v| usable(v)),
        created_at: reader.first(&created_sources).and_then(|t| parse_time(&t)).map(|(t, _)| t),
        attempt: attempt.filter(|a| *a > 0),
        retry_reason: reader.first(spec.retry_reason).filter(|v| usable(v)),
        resource: reader.first(&resource_sources).filter(|v| usable(v)),
    }
}

/// The unit a numeric time was read in, for reasons that say it was inferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Milliseconds,
    Microseconds,
    Rfc3339,
}

impl TimeUnit {
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "seconds",
            TimeUnit::Milliseconds => "milliseconds",
            TimeUnit::Microseconds => "microseconds",
            TimeUnit::Rfc3339 => "RFC 3339",
        }
    }
}

/// Reads a time as providers write them: Unix seconds (10 digits today, up to 12 until 9999),
/// milliseconds (13 or 14) or microseconds (15 to 17), told apart by the number of digits; decimal seconds (`1521472262.908`); or
/// RFC 3339. Anything before 1970 or after 9999 is refused.
pub fn parse_time(text: &str) -> Option<(Timestamp, TimeUnit)> {
    let t = text.trim();
    if t.is_empty() || t.len() > 40 {
        return None;
    }
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    if !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = int.parse().ok()?;
        let (micros, unit) = match frac {
            Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) && int.len() <= 12 => {
                let digits: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
                (n.checked_mul(1_000_000)?.checked_add(digits.parse::<i64>().ok()?)?, TimeUnit::Seconds)
            }
            Some(_) => return None,
            None => match int.trim_start_matches('0').len() {
                0..=12 => (n.checked_mul(1_000_000)?, TimeUnit::Seconds),
                13..=14 => (n.checked_mul(1000)?, TimeUnit::Milliseconds),
                15..=17 => (n, TimeUnit::Microseconds),
                _ => return None,
            },
        };
        const MAX_MICROS: i64 = 253_402_300_799_999_999;
        return (0..=MAX_MICROS).contains(&micros).then_some((Timestamp::from_micros(micros), unit));
    }
    Timestamp::parse_rfc3339(t).ok().filter(|ts| ts.micros() >= 0).map(|ts| (ts, TimeUnit::Rfc3339))
}

/// Reads sources against one request, reading its body at most once, and then only the values at
/// `pointers` (see [`crate::skim`]).
struct Reader<'r> {
    headers: &'r [Header],
    body: &'r [u8],
    pointers: Vec<&'r str>,
    json: std::cell::OnceCell<Option<std::collections::BTreeMap<String, Value>>>,
}

/// Every JSON pointer `sources` may read, into `out`.
fn pointers<'a>(sources: &[Source<'a>], out: &mut Vec<&'a str>) {
    for s in sources {
        match s {
            Source::Header(_) => {}
            Source::Json(p) => out.push(p),
            Source::Joined(parts, _) => pointers(parts, out),
        }
    }
}

impl Reader<'_> {
    fn first(&self, sources: &[Source<'_>]) -> Option<String> {
        sources.iter().find_map(|s| self.read(s))
    }

    fn read(&self, source: &Source<'_>) -> Option<String> {
        match source {
            Source::Header(name) => header(self.headers, name).filter(|v| !v.is_empty()).map(str::to_string),
            Source::Json(pointer) => match crate::skim::lookup(self.json()?, pointer)? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            },
            Source::Joined(parts, sep) => {
                let (first, rest) = parts.split_first()?;
                let mut out = self.read(first)?;
                for p in rest {
                    if let Some(v) = self.read(p) {
                        out.push_str(sep);
                        out.push_str(&v);
                    }
                }
                Some(out)
            }
        }
    }

    fn json(&self) -> Option<&std::collections::BTreeMap<String, Value>> {
        self.json
            .get_or_init(|| {
                let first = self.body.iter().find(|b| !b.is_ascii_whitespace())?;
                if self.body.len() > MAX_BODY || !matches!(first, b'{' | b'[') {
                    return None;
                }
                crate::skim::values(self.body, &self.pointers)
            })
            .as_ref()
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

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn times_are_read_in_the_unit_their_digits_say() {
        let t = |s: &str| parse_time(s);
        assert_eq!(t("1700000000"), Some((at("2023-11-14T22:13:20Z"), TimeUnit::Seconds)));
        assert_eq!(t("1700000000123"), Some((at("2023-11-14T22:13:20.123Z"), TimeUnit::Milliseconds)));
        assert_eq!(t("1700000000123456"), Some((at("2023-11-14T22:13:20.123456Z"), TimeUnit::Microseconds)));
        assert_eq!(t("1521472262.908181"), Some((at("2018-03-19T15:11:02.908181Z"), TimeUnit::Seconds)));
        assert_eq!(t("1521472262.9"), Some((at("2018-03-19T15:11:02.9Z"), TimeUnit::Seconds)));
        assert_eq!(t("2024-03-20T10:07:35.590857Z"), Some((at("2024-03-20T10:07:35.590857Z"), TimeUnit::Rfc3339)));
        assert_eq!(t(" 0 "), Some((Timestamp::from_micros(0), TimeUnit::Seconds)));
        // 12 digits are seconds: up to 9999-12-31.
        assert_eq!(t("253402300799"), Some((at("9999-12-31T23:59:59Z"), TimeUnit::Seconds)));
        for bad in ["", "-5", "12345678901234567890", "1.2.3", "1e9", "abc", "1521472262.", "1700000000123.5"] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn identify_reads_where_the_provider_names_its_events() {
        let body = br#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1700000000,"data":{"object":{"id":"ch_9"}}}"#;
        let e = identify(Some("stripe"), None, &[], body);
        assert_eq!(
            e,
            CaptureEvent {
                id: Some("evt_1".into()),
                kind: Some("charge.succeeded".into()),
                created_at: Some(at("2023-11-14T22:13:20Z")),
                attempt: None,
                retry_reason: None,
                resource: Some("ch_9".into()),
            }
        );
        let hs = [h("X-GitHub-Event", "pull_request"), h("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")];
        let e = identify(Some("github"), None, &hs, br#"{"action":"opened"}"#);
        assert_eq!(e.id.as_deref(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
        assert_eq!(e.kind.as_deref(), Some("pull_request.opened"));
        // Slack counts retries; the attempt is one more, and the reason is kept.
        let hs = [h("X-Slack-Retry-Num", "2"), h("X-Slack-Retry-Reason", "http_timeout")];
        let body =
            br#"{"type":"event_callback","event_id":"Ev1","event_time":1700000000,"event":{"type":"app_mention"}}"#;
        let e = identify(Some("slack"), None, &hs, body);
        assert_eq!(
            (e.attempt, e.retry_reason.as_deref(), e.kind.as_deref()),
            (Some(3), Some("http_timeout"), Some("app_mention"))
        );
        // Adyen: the id joins the PSP reference and the event code.
        let body = br#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"PSP1","eventCode":"AUTHORISATION","eventDate":"2024-01-01T10:00:00+01:00"}}]}"#;
        let e = identify(Some("adyen"), None, &[], body);
        assert_eq!(e.id.as_deref(), Some("PSP1:AUTHORISATION"));
        assert_eq!(e.created_at, Some(at("2024-01-01T09:00:00Z")));
        assert_eq!(e.resource.as_deref(), Some("PSP1"));
    }

    #[test]
    fn custom_fields_override_the_provider_field_by_field() {
        let fields = EventFields {
            id: Some("header:X-Event-Id".into()),
            kind: Some("json:/meta/kind".into()),
            created_at: Some("/meta/at".into()),
            attempt: Some("header:X-Attempt".into()),
            resource: None,
        };
        let hs = [h("X-Event-Id", "e-1"), h("X-Attempt", "4")];
        let body = br#"{"id":"evt_1","type":"charge.succeeded","meta":{"kind":"order.paid","at":"2024-05-01T00:00:00Z"},"data":{"object":{"id":"ch_9"}}}"#;
        let e = identify(Some("stripe"), Some(&fields), &hs, body);
        assert_eq!(e.id.as_deref(), Some("e-1"));
        assert_eq!(e.kind.as_deref(), Some("order.paid"));
        assert_eq!(e.created_at, Some(at("2024-05-01T00:00:00Z")));
        assert_eq!(e.attempt, Some(4));
        assert_eq!(e.resource.as_deref(), Some("ch_9"), "unset fields fall back to the provider's");
        // Without a provider the type is still found the provider-agnostic way.
        let e = identify(None, None, &[], br#"{"type":"a.b"}"#);
        assert_eq!((e.kind.as_deref(), e.id), (Some("a.b"), None));
    }

    #[test]
    fn unusable_values_are_dropped() {
        let fields = EventFields { id: Some("/id".into()), attempt: Some("/n".into()), ..Default::default() };
        let long = "x".repeat(MAX_LEN + 1);
        let body = format!(r#"{{"id":"{long}","n":-1}}"#);
        let e = identify(None, Some(&fields), &[], body.as_bytes());
        assert_eq!((e.id, e.attempt), (None, None));
        let e = identify(None, Some(&fields), &[], br#"{"id":"tab\there","n":0}"#);
        assert_eq!((e.id, e.attempt), (None, None), "an attempt of 0 is not an attempt");
        let e = identify(None, Some(&fields), &[], br#"{"id":17,"n":2}"#);
        assert_eq!((e.id.as_deref(), e.attempt), (Some("17"), Some(2)), "numbers are taken as written");
    }

    #[test]
    fn sources_are_parsed_with_reasons() {
        assert_eq!(parse_source("header:X-Id"), Ok(Source::Header("X-Id")));
        assert_eq!(parse_source("json:/a/0/b"), Ok(Source::Json("/a/0/b")));
        assert_eq!(parse_source("/a"), Ok(Source::Json("/a")));
        assert!(parse_source("header:bad name").unwrap_err().contains("is not a header name"));
        assert!(parse_source("a.b").unwrap_err().contains("should be `header:<name>` or `json:/pointer/to/field`"));
        assert!(parse_source(&format!("/{}", "a/".repeat(40))).unwrap_err().contains("at most 32 steps"));
        let bad = EventFields { created_at: Some("x".into()), ..Default::default() };
        assert_eq!(validate_fields(&bad).unwrap_err().0, "eventFields.createdAt");
    }
}
