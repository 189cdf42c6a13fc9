//! Finding the change that explains a signature mismatch, within limits.
//!
//! Anyone who knows a capture URL chooses the body, and the processor checks every capture, so
//! the search has to stay cheap however the body is built: candidates are built one at a time and
//! dropped before the next, JSON is re-laid-out only when it is small and shallow enough, and a
//! time budget is checked between candidates. Past a limit the reason says what was not tried.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use hookmetry_core::VerificationSettings;

use crate::json::{self, Json, Style};
use crate::providers::{Key, Message, Parsed, Scheme, StatedDigest};
use crate::util::{human_bytes, sha256};

/// How much work explaining one failed verification may take.
///
/// The explanation only ever changes a verdict's `reason`, never the verdict. With the defaults
/// a full search of a 1 MiB JSON body against one secret takes about 17 ms (`cargo bench`), a
/// third of the budget, while a body built to be expensive costs at most about one budget and
/// 5 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExplainLimits {
    /// Bodies larger than this are not changed and checked again at all (default 1 MiB). Each
    /// change tried costs a copy of the body and a MAC per secret, and webhook payloads are
    /// mostly a few KiB. A re-laid-out JSON body may grow to four times this before it is
    /// abandoned, which bounds the memory one capture can take.
    pub max_body_bytes: usize,
    /// JSON nested deeper than this is not re-laid-out (default 64). Webhook payloads nest a
    /// handful of levels, and 64 is half the 128 serde_json will parse at all; past it only a body
    /// built to be expensive remains, and pretty-printing indents every line by its depth, so a
    /// narrow body grows with the square of its depth.
    pub max_depth: usize,
    /// Wall time the search may take per capture (default 50 ms), checked before each candidate
    /// and each secret, so building and checking one candidate (a few ms at the default size) can
    /// run over it. 50 ms is several full searches of an ordinary body, and holds a flood of
    /// crafted captures to about 20 explanations a second per core. `Duration::MAX` means no
    /// budget. Time here is the machine's, not the product clock: under load a search may stop
    /// earlier, so the same capture checked again can get a shorter reason, never another verdict.
    pub time_budget: Duration,
}

impl Default for ExplainLimits {
    fn default() -> Self {
        ExplainLimits { max_body_bytes: 1 << 20, max_depth: 64, time_budget: Duration::from_millis(50) }
    }
}

/// How many times `max_body_bytes` a re-laid-out body may take. Pretty-printing a payload a few
/// levels deep rarely triples it; only a body built to blow up goes past four.
const LAYOUT_GROWTH: usize = 4;

/// What the search came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Explanation {
    /// The whole reason, naming what would have matched.
    Found(String),
    /// Nothing matched; what was left untried, to say after the reason.
    NotFound(Vec<Skipped>),
}

/// Part of the search left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skipped {
    BodyTooLarge { len: usize, limit: usize },
    TooDeep { depth: usize, limit: usize },
    LayoutTooLarge { what: &'static str, cap: usize },
    OutOfTime(Duration),
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skipped::BodyTooLarge { len, limit } => {
                let (len, limit) = match (human_bytes(*len), human_bytes(*limit)) {
                    // Rounding would show "1 MiB (limit 1 MiB)".
                    (l, m) if l == m => (format!("{len} bytes"), format!("{limit} bytes")),
                    pair => pair,
                };
                write!(f, "changes to the body not tried: the body is {len} (limit {limit})")
            }
            Skipped::TooDeep { depth, limit } => {
                write!(f, "re-serialized JSON not tried: the body is nested {depth} levels deep (limit {limit})")
            }
            Skipped::LayoutTooLarge { what, cap } => {
                write!(f, "{what} not tried: it would be larger than {}", human_bytes(*cap))
            }
            Skipped::OutOfTime(budget) => {
                let budget = if budget.subsec_nanos() % 1_000_000 == 0 {
                    format!("{}ms", budget.as_millis())
                } else {
                    format!("{}µs", budget.as_micros())
                };
                write!(f, "the search for an explanation stopped at its {budget} time budget")
            }
        }
    }
}

/// Appends what the search left out, so a reader knows a missing explanation may be one untried.
pub(crate) fn with_skipped(mut reason: String, skipped: &[Skipped]) -> String {
    for s in skipped {
        reason.push_str(&format!("; {s}"));
    }
    reason
}

/// Tries the changes that usually explain a mismatch and names the first one that matches.
pub(crate) fn explain(
    scheme: &dyn Scheme,
    keys: &[(&str, Key)],
    original: &Message<'_>,
    parsed: &Parsed,
    settings: &VerificationSettings,
    limits: ExplainLimits,
) -> Explanation {
    // Every scheme compares against the received signatures, so without one nothing can match.
    if parsed.signatures.is_empty() {
        return Explanation::Found(format!("{} holds no signature", parsed.source));
    }
    let mut search = Search::new(limits);

    if scheme.info().url_bound {
        for (url, what) in url_variants(&original.url) {
            let msg = Message { url: Cow::Owned(url), ..original.clone() };
            if let Some(label) = search.matching(scheme, keys, &msg, parsed) {
                return Explanation::Found(format!("matches (secret `{label}`) {what}: check the public URL setting"));
            }
        }
    }

    // A secret pasted with a newline or spaces around it. One MAC each, so before the body
    // changes, which the budget may cut short.
    for s in settings.secrets.iter().filter(|s| s.value.trim().len() != s.value.len()) {
        if search.out_of_time() {
            break;
        }
        if let Ok(key) = scheme.key(s.value.trim())
            && scheme.matches(&key, original, parsed)
        {
            return Explanation::Found(format!(
                "matches secret `{}` once the whitespace around it is removed: set the secret again without it",
                s.label
            ));
        }
    }

    if scheme.signs_body() {
        let found = search.body_change(&original.body, |search, body| {
            let msg = Message { body: Cow::Borrowed(body), ..original.clone() };
            search.matching(scheme, keys, &msg, parsed)
        });
        if let Some((label, what)) = found {
            return Explanation::Found(format!(
                "would match (secret `{label}`) if the body were {what}: something between the provider and here changed the body"
            ));
        }
    }
    Explanation::NotFound(search.skipped)
}

/// Why a body does not hash to the digest its request states (Twilio's `bodySHA256`). The hash is
/// not keyed, so one SHA-256 per change decides it.
pub(crate) fn stated_digest(body: &[u8], stated: &StatedDigest, sender: &str, limits: ExplainLimits) -> Explanation {
    let mut search = Search::new(limits);
    match search.body_change(body, |_, changed| (sha256(&[changed]) == stated.sha256).then_some(())) {
        Some(((), what)) => Explanation::Found(format!(
            "body changed: {} would match if the body were {what}; something between {sender} and here changed the body",
            stated.source
        )),
        None => Explanation::NotFound(search.skipped),
    }
}

/// One capture's search: its limits, its deadline, and what it has left out so far.
struct Search {
    limits: ExplainLimits,
    deadline: Option<Instant>,
    stopped: bool,
    skipped: Vec<Skipped>,
}

impl Search {
    fn new(limits: ExplainLimits) -> Self {
        Search { limits, deadline: Instant::now().checked_add(limits.time_budget), stopped: false, skipped: Vec::new() }
    }

    /// Whether the budget is spent; the first time, says so in what was skipped.
    fn out_of_time(&mut self) -> bool {
        if !self.stopped && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stopped = true;
            self.skipped.push(Skipped::OutOfTime(self.limits.time_budget));
        }
        self.stopped
    }

    /// The label of the first key under which `msg` matches.
    fn matching<'a>(
        &mut self,
        scheme: &dyn Scheme,
        keys: &[(&'a str, Key)],
        msg: &Message<'_>,
        parsed: &Parsed,
    ) -> Option<&'a str> {
        for (label, key) in keys {
            if self.out_of_time() {
                return None;
            }
            if scheme.matches(key, msg, parsed) {
                return Some(label);
            }
        }
        None
    }

    /// Offers `test` the body as the hops between a provider and here commonly change it, the
    /// smallest edits first, until it accepts one; returns what it returned and the change. Each
    /// changed body is built only when its turn comes and dropped before the next.
    fn body_change<T>(
        &mut self,
        body: &[u8],
        mut test: impl FnMut(&mut Self, &[u8]) -> Option<T>,
    ) -> Option<(T, &'static str)> {
        if body.len() > self.limits.max_body_bytes {
            self.skipped.push(Skipped::BodyTooLarge { len: body.len(), limit: self.limits.max_body_bytes });
            return None;
        }
        for change in LineChange::for_body(body).into_iter().flatten() {
            if self.out_of_time() {
                return None;
            }
            if let Some(t) = test(self, &change.apply(body)) {
                return Some((t, change.what()));
            }
        }

        // After the line edits, so a lone added newline is named as such.
        if self.out_of_time() {
            return None;
        }
        let json = self.json(body)?;
        let cap = self.limits.max_body_bytes.saturating_mul(LAYOUT_GROWTH);
        let mut pretty_too_large = false;
        for style in Style::ALL {
            if self.out_of_time() {
                return None;
            }
            let pretty = matches!(style, Style::Pretty(_));
            // Wider indentation only grows the body further.
            if pretty && pretty_too_large {
                continue;
            }
            let Some(laid_out) = json.reformat(style, cap) else {
                pretty_too_large |= pretty;
                self.skipped.push(Skipped::LayoutTooLarge { what: describe(style), cap });
                continue;
            };
            if laid_out != body
                && let Some(t) = test(self, &laid_out)
            {
                return Some((t, describe(style)));
            }
        }
        None
    }

    /// The body as JSON when it is JSON and nested no deeper than the limit.
    fn json<'b>(&mut self, body: &'b [u8]) -> Option<Json<'b>> {
        // Only text that opens like a JSON array or object can be nested JSON; other text with
        // many brackets is not called deep.
        if matches!(body.trim_ascii_start().first(), Some(b'{' | b'[')) {
            let depth = json::depth(body);
            if depth > self.limits.max_depth {
                self.skipped.push(Skipped::TooDeep { depth, limit: self.limits.max_depth });
                return None;
            }
        }
        Json::parse(body)
    }
}

fn describe(style: Style) -> &'static str {
    match style {
        Style::Compact => "re-serialized JSON (compact)",
        Style::Pretty(4) => "re-serialized JSON (pretty-printed, 4 spaces)",
        Style::Pretty(_) => "re-serialized JSON (pretty-printed)",
        Style::Spaced => "re-serialized JSON (spaces after `:` and `,`)",
    }
}

/// Edits to line breaks that proxies, editors and HTTP libraries make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineChange {
    DropFinalNewline,
    AddFinalNewline,
    CrLfToLf,
    LfToCrLf,
}

impl LineChange {
    /// The edits that would change `body`, in the order they are tried.
    fn for_body(body: &[u8]) -> [Option<LineChange>; 2] {
        let end = if body.ends_with(b"\n") { LineChange::DropFinalNewline } else { LineChange::AddFinalNewline };
        let endings = if body.windows(2).any(|w| w == b"\r\n") {
            Some(LineChange::CrLfToLf)
        } else if body.contains(&b'\n') {
            Some(LineChange::LfToCrLf)
        } else {
            None
        };
        [Some(end), endings]
    }

    fn apply(self, body: &[u8]) -> Vec<u8> {
        match self {
            LineChange::DropFinalNewline => {
                body.strip_suffix(b"\r\n").or_else(|| body.strip_suffix(b"\n")).unwrap_or(body).to_vec()
            }
            LineChange::AddFinalNewline => [body, b"\n"].concat(),
            LineChange::CrLfToLf => replace(body, b"\r\n", b"\n"),
            LineChange::LfToCrLf => replace(body, b"\n", b"\r\n"),
        }
    }

    fn what(self) -> &'static str {
        match self {
            LineChange::DropFinalNewline => "without its trailing newline",
            LineChange::AddFinalNewline => "ended with a newline",
            LineChange::CrLfToLf => "with `\\n` line endings instead of `\\r\\n`",
            LineChange::LfToCrLf => "with `\\r\\n` line endings instead of `\\n`",
        }
    }
}

fn url_variants(url: &str) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    if let Some(rest) = url.strip_prefix("https://") {
        out.push((format!("http://{rest}"), "with `http://` instead of `https://`"));
    } else if let Some(rest) = url.strip_prefix("http://") {
        out.push((format!("https://{rest}"), "with `https://` instead of `http://`"));
    }
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let with_query = |b: String| match query {
        Some(q) => format!("{b}?{q}"),
        None => b,
    };
    if let Some(stripped) = base.strip_suffix('/') {
        out.push((with_query(stripped.to_string()), "without the trailing `/` on the URL"));
    } else {
        out.push((with_query(format!("{base}/")), "with a trailing `/` on the URL"));
    }
    if query.is_some() {
        out.push((base.to_string(), "without the query string"));
    }
    out
}

fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16);
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use hookmetry_core::{Header, SigningSecret, Verdict};

    use super::*;
    use crate::{Request, SignInput, verify_with_limits};

    const URL: &str = "https://h.example/h/t";
    const NOW: i64 = 1_700_000_000;

    fn settings(provider: &str, secret: &str) -> VerificationSettings {
        VerificationSettings {
            provider: provider.into(),
            secrets: vec![SigningSecret::new("current", secret)],
            tolerance_seconds: None,
            public_url: None,
            generic: None,
        }
    }

    /// Stripe headers signing `signed`, then `received` checked with `secret` under `limits`.
    fn check(signed: &[u8], received: &[u8], secret: &str, limits: ExplainLimits) -> crate::Outcome {
        let input = SignInput { method: "POST", url: URL, body: signed, timestamp: NOW, id: None, headers: &[] };
        let headers: Vec<Header> = crate::sign("stripe", "whsec_right", None, &input)
            .unwrap()
            .headers
            .into_iter()
            .map(|(n, v)| Header::new(n, v.into_bytes()))
            .collect();
        let req = Request { method: "POST", url: URL, headers: &headers, body: received, received_at: NOW };
        verify_with_limits(&settings("stripe", secret), &req, limits)
    }

    /// No time budget, so what a test asserts does not depend on how busy the machine is.
    fn patient() -> ExplainLimits {
        ExplainLimits { time_budget: Duration::MAX, ..ExplainLimits::default() }
    }

    fn nested(levels: usize) -> Vec<u8> {
        [vec![b'['; levels], vec![b']'; levels]].concat()
    }

    #[test]
    fn a_deep_body_is_not_re_serialized_and_the_reason_says_why() {
        let body = nested(10_000);
        let out = check(&body, &body, "whsec_wrong", patient());
        assert_eq!(out.verdict, Verdict::InvalidSignature);
        assert_eq!(
            out.reason,
            "no secret matches the signature in `Stripe-Signature` (tried `current`): the secret is wrong, or the request was changed after it was signed; re-serialized JSON not tried: the body is nested 10000 levels deep (limit 64)"
        );
    }

    #[test]
    fn a_deep_body_still_gets_the_line_edits_tried() {
        let body = nested(10_000);
        let out = check(&body, &[&body[..], b"\n"].concat(), "whsec_right", patient());
        assert_eq!(out.verdict, Verdict::InvalidSignature);
        assert!(out.reason.starts_with("would match (secret `current`) if the body were without its trailing newline"));
    }

    #[test]
    fn json_at_the_depth_limit_is_still_re_serialized() {
        let compact = nested(64);
        let pretty =
            serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&compact).unwrap()).unwrap();
        let out = check(&compact, &pretty, "whsec_right", patient());
        assert!(out.reason.contains("if the body were re-serialized JSON (compact)"), "{}", out.reason);
        let shallower = ExplainLimits { max_depth: 63, ..patient() };
        let out = check(&compact, &pretty, "whsec_right", shallower);
        assert!(out.reason.ends_with("the body is nested 64 levels deep (limit 63)"), "{}", out.reason);
    }

    #[test]
    fn a_spent_budget_says_so_and_keeps_the_verdict() {
        let signed = br#"{"id":"evt_1","object":"event"}"#;
        let received = br#"{"id": "evt_1", "object": "event"}"#;
        let explained = check(signed, received, "whsec_right", patient());
        assert!(explained.reason.contains("re-serialized JSON (compact)"), "{}", explained.reason);

        let none = ExplainLimits { time_budget: Duration::ZERO, ..patient() };
        let out = check(signed, received, "whsec_right", none);
        assert_eq!(out.verdict, explained.verdict);
        assert_eq!(
            out.reason,
            "no secret matches the signature in `Stripe-Signature` (tried `current`): the secret is wrong, or the request was changed after it was signed; the search for an explanation stopped at its 0ms time budget"
        );
        assert_eq!(
            Skipped::OutOfTime(Duration::from_millis(50)).to_string(),
            "the search for an explanation stopped at its 50ms time budget"
        );
        assert_eq!(
            Skipped::OutOfTime(Duration::from_micros(1500)).to_string(),
            "the search for an explanation stopped at its 1500µs time budget"
        );
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let d = ExplainLimits::default();
        assert_eq!((d.max_body_bytes, d.max_depth, d.time_budget), (1 << 20, 64, Duration::from_millis(50)));
    }

    #[test]
    fn a_body_over_the_size_limit_is_not_changed() {
        let body = br#"{"id":"evt_1","object":"event"}"#;
        let small = ExplainLimits { max_body_bytes: 16, ..patient() };
        let out = check(body, &[&body[..], b"\n"].concat(), "whsec_right", small);
        assert!(
            out.reason.ends_with("; changes to the body not tried: the body is 32 B (limit 16 B)"),
            "{}",
            out.reason
        );
        let just_over = Skipped::BodyTooLarge { len: (1 << 20) + 1, limit: 1 << 20 };
        assert_eq!(
            just_over.to_string(),
            "changes to the body not tried: the body is 1048577 bytes (limit 1048576 bytes)"
        );
    }

    #[test]
    fn a_layout_past_its_cap_is_abandoned_and_named_once() {
        // Eight levels, then a long flat list: pretty-printing puts each `1` on a line indented
        // 18 or 36 spaces, far past four times the body.
        let body = format!("{}{}1{}", "[".repeat(8), "1,".repeat(200), "]".repeat(8)).into_bytes();
        let limits = ExplainLimits { max_body_bytes: body.len(), ..patient() };
        let out = check(&body, &body, "whsec_wrong", limits);
        let cap = human_bytes(body.len() * LAYOUT_GROWTH);
        assert!(
            out.reason
                .ends_with(&format!("; re-serialized JSON (pretty-printed) not tried: it would be larger than {cap}")),
            "{}",
            out.reason
        );
        assert!(!out.reason.contains("4 spaces"), "the wider layout is not built: {}", out.reason);
        // The layouts that fit are still tried.
        let spaced = String::from_utf8(body.clone()).unwrap().replace(',', ", ");
        let limits = ExplainLimits { max_body_bytes: spaced.len(), ..limits };
        let out = check(&body, spaced.as_bytes(), "whsec_right", limits);
        assert!(out.reason.contains("re-serialized JSON (compact)"), "{}", out.reason);
    }

    #[test]
    fn a_body_with_many_brackets_that_is_not_json_is_not_called_deep() {
        let body = format!("text {}", "[".repeat(100)).into_bytes();
        let out = check(&body, &body, "whsec_wrong", patient());
        assert!(!out.reason.contains("nested"), "{}", out.reason);
    }

    #[test]
    fn a_twilio_body_hash_mismatch_says_what_was_not_tried() {
        let body = nested(1000);
        let other = hex::encode(sha256(&[b"something else"]));
        let url = format!("{URL}?bodySHA256={other}");
        let headers = [Header::new("X-Twilio-Signature", b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_vec())];
        let req = Request { method: "POST", url: &url, headers: &headers, body: &body, received_at: NOW };
        let out = verify_with_limits(&settings("twilio", "token"), &req, patient());
        assert_eq!(out.verdict, Verdict::InvalidSignature);
        assert!(out.reason.starts_with("body changed: its SHA-256 is"), "{}", out.reason);
        assert!(
            out.reason.ends_with("; re-serialized JSON not tried: the body is nested 1000 levels deep (limit 64)"),
            "{}",
            out.reason
        );
    }

    #[test]
    fn line_edits_are_the_ones_that_change_the_body() {
        use LineChange::*;
        assert_eq!(LineChange::for_body(b"a"), [Some(AddFinalNewline), None]);
        assert_eq!(LineChange::for_body(b"a\nb\n"), [Some(DropFinalNewline), Some(LfToCrLf)]);
        assert_eq!(LineChange::for_body(b"a\r\nb\r\n"), [Some(DropFinalNewline), Some(CrLfToLf)]);
        assert_eq!(DropFinalNewline.apply(b"a\r\n"), b"a");
        assert_eq!(CrLfToLf.apply(b"a\r\nb"), b"a\nb");
        assert_eq!(LfToCrLf.apply(b"a\nb"), b"a\r\nb");
    }

    #[test]
    fn url_variants_cover_scheme_slash_and_query() {
        let v = url_variants("https://h.example/x?a=1");
        let urls: Vec<&str> = v.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(urls, ["http://h.example/x?a=1", "https://h.example/x/?a=1", "https://h.example/x"]);
    }
}
