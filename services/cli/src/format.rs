//! Pure text formatting: sizes, times, tables, hex dumps, bodies by content type, tail lines.
//!
//! Everything a webhook sender controls (paths, header values, bodies) is printed with control
//! characters escaped, so a capture cannot move the cursor, recolour or retitle the terminal of
//! the person inspecting it. `--raw` is the way to get the exact bytes.

use std::fmt::Write as _;

use crate::model::Capture;
pub(crate) use hookmetry_verify::pretty_json;

/// Bodies longer than this are hex-dumped only in part; `--raw | xxd` shows all of them.
pub(crate) const HEXDUMP_LIMIT: usize = 64 * 1024;

/// `512 B`, `1.5 KiB`, `12.0 MiB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `1234567` → `1,234,567`.
pub(crate) fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The API's RFC 3339 time in this machine's zone with its offset (`2026-12-05 18:30:00 +01:00`),
/// for a moment a person acts on (an endpoint's expiry); anything else unchanged.
pub(crate) fn local_date_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// The API's RFC 3339 UTC time (`2026-11-27T06:55:08.123456Z`) as `06:55:08.123Z`; anything
/// else unchanged.
pub(crate) fn clock_time(rfc3339: &str) -> String {
    let Some((_, time)) = rfc3339.split_once('T') else { return rfc3339.to_string() };
    let time = time.strip_suffix('Z').unwrap_or(time);
    if time.len() < 8 {
        return rfc3339.to_string();
    }
    let (hms, rest) = time.split_at(8);
    let mut millis: String =
        rest.strip_prefix('.').unwrap_or("").chars().take_while(char::is_ascii_digit).take(3).collect();
    while millis.len() < 3 {
        millis.push('0');
    }
    format!("{hms}.{millis}Z")
}

/// `2026-11-27T06:55:08.123456Z` → `2026-11-27 06:55:08`.
pub(crate) fn date_time(rfc3339: &str) -> String {
    match rfc3339.split_once('T') {
        Some((date, time)) if time.len() >= 8 => format!("{date} {}", &time[..8]),
        _ => rfc3339.to_string(),
    }
}

/// Columns padded to their widest cell, two spaces apart; the last column is not padded.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < cols {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad + 2));
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `hexdump -C` layout: offset, 16 bytes in two groups of 8, printable ASCII between bars.
pub(crate) fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 5);
    for (n, chunk) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "{:08x}  ", n * 16);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, "{b:02x} ");
                }
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|&b| if b.is_ascii_graphic() || b == b' ' { b as char } else { '.' }));
        out.push_str("|\n");
    }
    out
}

/// `s` safe for a terminal: control characters as `\x1b` / `\u{9b}`. Newlines, tabs and the CR
/// of CRLF stay when `multiline`; tabs always stay.
pub(crate) fn escape_text(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push(c),
            '\n' if multiline => out.push(c),
            '\r' if multiline && chars.peek() == Some(&'\n') => out.push(c),
            c if c.is_control() => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    let code = c as u32;
    if code < 0x80 {
        let _ = write!(out, "\\x{code:02x}");
    } else {
        let _ = write!(out, "\\u{{{code:x}}}");
    }
}

/// Whether `bytes` can go to a terminal as they are: UTF-8 text without control characters
/// other than newlines, carriage returns and tabs.
pub(crate) fn terminal_safe(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')))
}

/// Header value bytes on one line: UTF-8 as text, other bytes as `\xff`.
pub(crate) fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape_text(chunk.valid(), false));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `application/json; charset=utf-8` → `application/json`.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type == "text/json" || media_type.ends_with("+json")
}

/// Types that are text whatever their top-level type says.
fn is_text(media_type: &str) -> bool {
    media_type.starts_with("text/")
        || media_type.ends_with("+xml")
        || matches!(
            media_type,
            "application/xml"
                | "application/javascript"
                | "application/x-ndjson"
                | "application/graphql"
                | "application/yaml"
                | "application/x-yaml"
        )
}

const FORM: &str = "application/x-www-form-urlencoded";

/// `a=1&b=x+y%21` → `[("a", "1"), ("b", "x y!")]`; `None` when the body cannot be URL-encoded
/// form data (anything but printable ASCII, a trailing newline aside).
pub(crate) fn decode_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let body = body.strip_suffix(b"\r\n").or_else(|| body.strip_suffix(b"\n")).unwrap_or(body);
    if !body.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    Some(
        text.split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect(),
    )
}

/// Form decoding of one key or value, shown with `\xff` for bytes that are not UTF-8.
fn percent_decode(s: &str) -> String {
    escape_bytes(&hookmetry_core::form_decode(s))
}

/// A body as `capture show` prints it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RenderedBody {
    /// How it is shown, e.g. `application/json, pretty-printed`.
    pub how: String,
    pub text: String,
}

pub(crate) fn render_body(content_type: Option<&str>, body: &[u8]) -> RenderedBody {
    let shown = |how: String, text: String| RenderedBody { how, text };
    if body.is_empty() {
        return shown("empty".into(), String::new());
    }
    let mt = content_type.map(media_type).filter(|m| !m.is_empty());
    let utf8 = std::str::from_utf8(body).ok();
    match (mt.as_deref(), utf8) {
        (Some(m), Some(text)) if is_json(m) => match pretty_json(text) {
            Some(p) => shown(format!("{m}, pretty-printed"), p),
            None => shown(format!("{m}, but not valid JSON; as text"), escape_text(text, true)),
        },
        (Some(FORM), _) => match decode_form(body) {
            Some(pairs) => shown(format!("{FORM}, decoded"), form_lines(&pairs)),
            None => hex(format!("{FORM}, but not URL-encoded text")),
        },
        (Some(m), Some(text)) if is_text(m) => shown(m.to_string(), escape_text(text, true)),
        (None, Some(text)) => match pretty_json(text) {
            Some(p) if text.trim_start().starts_with(['{', '[']) => {
                shown("no Content-Type; JSON, pretty-printed".into(), p)
            }
            _ if !text.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
                shown("no Content-Type; text".into(), escape_text(text, true))
            }
            _ => hex("no Content-Type".into()),
        },
        (Some(m), Some(_)) => hex(m.to_string()),
        (Some(m), None) => hex(format!("{m}, not UTF-8")),
        (None, None) => hex("no Content-Type, not UTF-8".into()),
    }
    .with_hex(body)
}

/// Marker for [`render_body`]: the body goes into a hex dump, described by `how`.
fn hex(how: String) -> RenderedBody {
    RenderedBody { how, text: String::new() }
}

impl RenderedBody {
    /// Fills in the hex dump for bodies [`hex`] marked.
    fn with_hex(mut self, body: &[u8]) -> Self {
        if self.text.is_empty() && !body.is_empty() {
            let shown = &body[..body.len().min(HEXDUMP_LIMIT)];
            self.text = hexdump(shown);
            if shown.len() < body.len() {
                self.how = format!(
                    "{}; hex dump of the first {} of {} bytes",
                    self.how,
                    group_thousands(shown.len() as u64),
                    group_thousands(body.len() as u64)
                );
            } else {
                self.how = format!("{}; hex dump", self.how);
            }
        }
        self
    }
}

/// `key = value` lines with the `=` aligned (up to a point: one long key does not push every
/// value far right).
fn form_lines(pairs: &[(String, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.chars().count()).filter(|&w| w <= 32).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in pairs {
        let pad = width.saturating_sub(k.chars().count());
        let _ = writeln!(out, "{k}{} = {v}", " ".repeat(pad));
    }
    out
}

/// One `tail` line: time (UTC), method, path and query, size, media type, capture id.
pub(crate) fn tail_line(c: &Capture) -> String {
    let media = c.content_type.as_deref().map(media_type).filter(|m| !m.is_empty()).unwrap_or_else(|| "-".into());
    let mut line = format!(
        "{}  {:<7} {:<30} {:>10}  {:<24} {}",
        clock_time(&c.received_at),
        escape_text(&c.method, false),
        escape_text(&c.target(), false),
        human_size(c.body_size),
        escape_text(&media, false),
        c.id
    );
    // The provider's event type, when the capture names one (`charge.succeeded`).
    if let Some(kind) = c.event.as_ref().and_then(|e| e.kind.as_deref()) {
        line.push_str("  ");
        line.push_str(&escape_text(kind, false));
    }
    // A failure the endpoint answered on purpose (a scenario) or by its custom response: the
    // sender will retry, and the line says why the next one comes.
    if let Some(a) = c.answer.as_ref().filter(|a| a.notable()) {
        line.push_str("  answered ");
        line.push_str(&if a.timed_out { "timeout".to_string() } else { a.status.to_string() });
    }
    // Only endpoints that verify get the column; an unconfigured one's guess is noise here.
    if let Some(v) = c.verification.as_ref().filter(|v| v.verdict != "NOT_CONFIGURED") {
        line.push_str("  ");
        line.push_str(&verdict_label(&v.verdict));
    }
    line
}

/// The words for a verdict the API names (`INVALID_SIGNATURE` → `invalid signature`), spelled
/// by `hookmetry_core::Verdict::label` only; a name this CLI does not know (a newer server) is
/// shown as sent.
pub(crate) fn verdict_label(api_name: &str) -> String {
    match hookmetry_core::Verdict::parse(api_name) {
        Some(v) => v.label().to_string(),
        None => escape_text(api_name, false),
    }
}

/// What to tell someone about to paste `capture_url` into a provider's dashboard when providers
/// cannot reach it; `None` when they may.
pub(crate) fn reachability_note(capture_url: &str) -> Option<String> {
    let reason = hookmetry_egress::unreachable_reason(capture_url)?;
    let [first, then] = hookmetry_egress::reachability_advice();
    Some(format!(
        "note: providers cannot reach this URL: {reason}. Two ways that work:\n  1. {first}\n  2. {then}\n  \
         (`hookmetry trigger <provider> <event> --to <endpoint>` sends signed sample events here meanwhile)\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_size(512 * 1024 * 1024 * 1024), "512.0 GiB");
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1234567), "1,234,567");
    }

    #[test]
    fn times() {
        assert_eq!(clock_time("2026-11-27T06:55:08.123456Z"), "06:55:08.123Z");
        assert_eq!(clock_time("2026-11-27T06:55:08Z"), "06:55:08.000Z");
        assert_eq!(clock_time("2026-11-27T06:55:08.5Z"), "06:55:08.500Z");
        assert_eq!(clock_time("garbage"), "garbage");
        assert_eq!(date_time("2026-11-27T06:55:08.123456Z"), "2026-11-27 06:55:08");
    }

    #[test]
    fn tables_align_and_do_not_pad_the_last_column() {
        let rows = vec![vec!["1".into(), "stripé".into(), "u1".into()], vec!["22".into(), "gh".into(), "u2".into()]];
        assert_eq!(table(&["ID", "NAME", "URL"], &rows), "ID  NAME    URL\n1   stripé  u1\n22  gh      u2\n");
    }

    #[test]
    fn hexdump_layout() {
        let dump = hexdump(b"Hello, world!\n\x00\x01\xffmore");
        assert_eq!(
            dump,
            "00000000  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64 21 0a 00 01  |Hello, world!...|\n\
             00000010  ff 6d 6f 72 65                                    |.more|\n"
        );
        assert_eq!(hexdump(b""), "");
    }

    #[test]
    fn form_decoding() {
        let pairs = decode_form(b"a=1&name=J%C3%BCrgen+M&empty=&flag&&pct=100%25&bad=%zz%4\n").unwrap();
        let expected =
            [("a", "1"), ("name", "Jürgen M"), ("empty", ""), ("flag", ""), ("pct", "100%"), ("bad", "%zz%4")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        // Decoded bytes that are controls or not UTF-8 are escaped, not written raw.
        assert_eq!(decode_form(b"x=%1b%5b2J%ff").unwrap(), [("x".to_string(), "\\x1b[2J\\xff".to_string())]);
        assert_eq!(decode_form(b"a=\x01"), None);
        assert_eq!(decode_form("a=é".as_bytes()), None);
        let r = render_body(Some("application/x-www-form-urlencoded"), b"amount=10&currency=eur");
        assert_eq!(r.text, "amount   = 10\ncurrency = eur\n");
    }

    #[test]
    fn json_is_reindented_keeping_order_and_spelling() {
        let text = r#"{"z":1.0,"a":[1, 2 ,{}],"big":12345678901234567890123,"s":"x\"y, {z}: [","e":[],"n":{"k":null}}"#;
        assert_eq!(
            pretty_json(text).unwrap(),
            "{\n  \"z\": 1.0,\n  \"a\": [\n    1,\n    2,\n    {}\n  ],\n  \"big\": 12345678901234567890123,\n  \
             \"s\": \"x\\\"y, {z}: [\",\n  \"e\": [],\n  \"n\": {\n    \"k\": null\n  }\n}"
        );
        assert_eq!(pretty_json("  42 ").unwrap(), "42");
        assert_eq!(pretty_json("{\"a\":1"), None);
        assert_eq!(pretty_json("{} {}"), None);
        // A raw C1 control (legal in JSON strings) is escaped, meaning unchanged.
        assert_eq!(pretty_json("[\"\u{9b}2J\"]").unwrap(), "[\n  \"\\u009b2J\"\n]");
    }

    #[test]
    fn terminal_escapes_are_neutralised() {
        assert_eq!(escape_text("a\x1b[31mred\r\nline\rover\ttab", true), "a\\x1b[31mred\r\nline\\x0dover\ttab");
        assert_eq!(escape_text("a\nb", false), "a\\x0ab");
        assert_eq!(escape_text("\u{9b}", false), "\\u{9b}");
        assert_eq!(escape_bytes(b"ok \xff\xfe caf\xc3\xa9"), "ok \\xff\\xfe café");
        assert!(terminal_safe("plain\r\n\ttext é".as_bytes()));
        assert!(!terminal_safe(b"\x1b[2J"));
        assert!(!terminal_safe("\u{9b}".as_bytes()));
        assert!(!terminal_safe(b"\xff"));
    }

    #[test]
    fn bodies_by_content_type() {
        let r = render_body(Some("application/json; charset=utf-8"), br#"{"b":1,"a":2}"#);
        assert_eq!(
            r,
            RenderedBody {
                how: "application/json, pretty-printed".into(),
                text: "{\n  \"b\": 1,\n  \"a\": 2\n}".into()
            }
        );
        assert_eq!(
            render_body(Some("application/vnd.api+json"), b"[]").how,
            "application/vnd.api+json, pretty-printed"
        );
        let r = render_body(Some("application/json"), b"{oops");
        assert_eq!(r.how, "application/json, but not valid JSON; as text");
        assert_eq!(r.text, "{oops");
        let r = render_body(Some("text/plain"), b"line 1\nline \x1b2\n");
        assert_eq!((r.how.as_str(), r.text.as_str()), ("text/plain", "line 1\nline \\x1b2\n"));
        let r = render_body(Some("application/octet-stream"), b"abc");
        assert_eq!(r.how, "application/octet-stream; hex dump");
        assert!(r.text.starts_with("00000000  61 62 63"), "{}", r.text);
        assert_eq!(render_body(Some("text/plain"), b"\xff\xfe").how, "text/plain, not UTF-8; hex dump");
        assert_eq!(render_body(None, b" {\"a\":1}").how, "no Content-Type; JSON, pretty-printed");
        assert_eq!(render_body(None, b"hello\n").how, "no Content-Type; text");
        assert_eq!(render_body(None, b"\x00\x01").how, "no Content-Type; hex dump");
        assert_eq!(render_body(Some("text/plain"), b"").how, "empty");
        let big = vec![0u8; HEXDUMP_LIMIT + 1];
        let r = render_body(Some("image/png"), &big);
        assert_eq!(r.how, "image/png; hex dump of the first 65,536 of 65,537 bytes");
        assert_eq!(r.text.lines().count(), HEXDUMP_LIMIT / 16);
    }

    #[test]
    fn tail_lines() {
        let c = Capture {
            id: "0193a7d2-0000-7000-8000-000000000001".into(),
            endpoint_id: "e".into(),
            team_id: "t".into(),
            method: "POST".into(),
            path: "/events".into(),
            query: Some("live=1".into()),
            headers: vec![],
            body_base64: String::new(),
            body_text: None,
            body_size: 1536,
            body_sha256: String::new(),
            remote_addr: String::new(),
            http_version: "HTTP/1.1".into(),
            received_at: "2026-11-27T06:55:08.123456Z".into(),
            content_type: Some("application/json; charset=utf-8".into()),
            url: String::new(),
            verification: None,
            event: None,
            answer: None,
        };
        assert_eq!(
            tail_line(&c),
            "06:55:08.123Z  POST    /events?live=1                    1.5 KiB  application/json         0193a7d2-0000-7000-8000-000000000001"
        );
        let v = |verdict: &str| {
            Some(crate::model::Verification {
                provider: None,
                verdict: verdict.into(),
                reason: String::new(),
                secret_label: None,
            })
        };
        let checked = Capture { verification: v("INVALID_SIGNATURE"), ..c.clone() };
        assert!(tail_line(&checked).ends_with("0193a7d2-0000-7000-8000-000000000001  invalid signature"));
        let unconfigured = Capture { verification: v("NOT_CONFIGURED"), ..c.clone() };
        assert!(tail_line(&unconfigured).ends_with("0193a7d2-0000-7000-8000-000000000001"));
        let typed = Capture {
            event: Some(crate::model::Event {
                id: None,
                kind: Some("charge.succeeded\u{1b}[2J".into()),
                created_at: None,
                attempt: None,
                retry_reason: None,
                resource: None,
            }),
            ..checked
        };
        assert!(
            tail_line(&typed)
                .ends_with("0193a7d2-0000-7000-8000-000000000001  charge.succeeded\\x1b[2J  invalid signature"),
            "{}",
            tail_line(&typed)
        );
        let answer =
            |status, timed_out| crate::model::Answer { rule_id: None, status, delay_ms: 0, step: None, timed_out };
        let failed = Capture { answer: Some(answer(503, false)), ..typed.clone() };
        assert!(tail_line(&failed).ends_with("charge.succeeded\\x1b[2J  answered 503  invalid signature"));
        let held = Capture { answer: Some(answer(504, true)), ..typed.clone() };
        assert!(tail_line(&held).ends_with("answered timeout  invalid signature"));
        let fine = Capture { answer: Some(answer(204, false)), ..typed.clone() };
        assert_eq!(tail_line(&fine), tail_line(&typed), "a prompt 2xx is not worth a column");
    }
}
