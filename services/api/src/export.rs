//! Exports of one stored capture for use outside Hookmetry: a curl command that sends the same
//! request again, and a HAR 1.2 entry for HTTP tools.
//!
//! Both take the full capture URL (`<base>/h/<token><path>[?<query>]`) from the caller, which
//! knows the public base URL; nothing here does I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hookmetry_core::CapturedRequest;
use serde_json::{Value, json};

/// A one-line bash/zsh command that sends `c` to `url` so that Hookmetry, capturing it again,
/// records the same method, path, raw query, header lines (name case, order, duplicates, value
/// bytes) and body bytes.
///
/// How the command gets there with curl (behaviour checked against curl 7.88.1):
/// - `--disable` comes first so a `~/.curlrc` cannot add headers or options; `--http1.1`,
///   `--path-as-is` and `--globoff` keep the request line exactly as given.
/// - Every captured header is passed with `-H`, in captured order; curl sends custom headers in
///   the order given, after its own, and a custom header replaces curl's own of the same name.
///   curl's own headers the capture lacked are removed with `-H 'Name:'` (`Host`, `User-Agent`,
///   `Accept`, and with a body `Content-Type` and `Expect`, which curl adds for bodies of 1 MiB
///   and more). Empty values are sent with curl's `-H 'Name;'` form.
/// - curl always writes `Host` as the first header line, whatever the `-H` order, and spells it
///   `Host`. When the capture's first header is `Host` (what real HTTP/1.1 clients send), that is
///   the captured layout. Otherwise (`Host` later, spelled `host`, or repeated) the command
///   starts with `-H 'Host:'`: curl then has no Host line of its own and passes the captured Host
///   lines through like any other header, in place. That relies on undocumented curl behaviour.
/// - The body goes through stdin (`--data-binary @-`), never as an argument; see `body_source`.
///
/// Known differences after a replay:
/// - The request is HTTP/1.1, so HTTP/1.0 and HTTP/2 captures come back as `HTTP/1.1`. HTTP/2
///   captures keep their lower-case names (HTTP/2 has no other case); when they carry no `host`
///   line the replay has none either, which a proxy in front of Hookmetry may refuse.
/// - A body captured without `Content-Length` or `Transfer-Encoding` (HTTP/2, HTTP/1.0) needs
///   framing on HTTP/1.1, so curl appends a `Content-Length` line after the captured headers.
/// - A `Transfer-Encoding: chunked` capture is re-sent chunked with curl's own chunk sizes;
///   Hookmetry stores the de-chunked body, which is the same.
/// - `HEAD` uses `--head` unless there is a body: curl refuses `--head` with data, so a HEAD
///   with a body uses `-X HEAD`, and curl then waits for a response body that will not come
///   (stop it with Ctrl-C or add `--max-time`).
/// - NUL bytes in header values cannot be passed in an argument; HTTP forbids them, so the
///   ingest parser never stores one.
/// - curl percent-encodes non-ASCII bytes in the URL path; captured paths and queries are ASCII
///   because the HTTP stack rejects anything else in a request target.
/// - Proxy environment variables (`http_proxy`, …) still apply; a proxy may alter the request.
pub fn curl_command(c: &CapturedRequest, url: &str) -> String {
    let has = |name: &str| c.headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
    // With chunked framing an empty body still needs its terminating chunk, which curl only
    // writes when it has data to send.
    let sends_data = !c.body.is_empty() || has("transfer-encoding");

    let mut args: Vec<String> =
        ["curl", "--disable", "--http1.1", "--path-as-is", "--globoff"].map(String::from).into();
    if c.method == "HEAD" && !sends_data {
        // `-X HEAD` would leave curl waiting for the response body the Content-Length announces.
        args.push("--head".into());
    } else {
        args.push("-X".into());
        args.push(shell_word(&c.method));
    }

    let host_lines = c.headers.iter().filter(|h| h.name.eq_ignore_ascii_case("host")).count();
    let host_in_curls_place = host_lines == 1 && c.headers.first().is_some_and(|h| h.name == "Host");
    if !host_in_curls_place {
        // Must come before any captured Host line: curl takes the first Host header it is given
        // as the replacement for its own.
        args.push("-H".into());
        args.push("'Host:'".into());
    }
    for h in &c.headers {
        let mut line = h.name.as_bytes().to_vec();
        if h.value.is_empty() {
            // `Name:` alone would tell curl to remove the header.
            line.push(b';');
        } else {
            line.extend_from_slice(b": ");
            line.extend_from_slice(&h.value);
        }
        args.push("-H".into());
        args.push(shell_quote(&line));
    }
    let mut remove = vec!["User-Agent", "Accept"];
    if sends_data {
        remove.extend(["Content-Type", "Expect"]);
    }
    for name in remove {
        if !has(name) {
            args.push("-H".into());
            args.push(format!("'{name}:'"));
        }
    }

    let mut command = String::new();
    if sends_data {
        if c.body.is_empty() {
            args.push("--data-binary".into());
            args.push("''".into());
        } else {
            command.push_str(&body_source(&c.body));
            command.push_str(" | ");
            args.push("--data-binary".into());
            args.push("@-".into());
        }
    }
    args.push(shell_quote(url.as_bytes()));
    command.push_str(&args.join(" "));
    command
}

/// The shell pipeline that writes `body` to stdout.
///
/// Through stdin rather than as a `--data-binary` argument because an argument cannot hold NUL
/// bytes, Linux refuses any single argument over 128 KiB, and curl reads a file when the value
/// starts with `@`. `printf '%s'` (a shell builtin, so no argument limit) prints its argument
/// verbatim, unlike a format string or `echo`. Text stays readable; anything that is not UTF-8
/// or contains NUL (which no shell string can hold) goes through base64: it is exact for every
/// byte, needs no quoting and grows the command by a third instead of fourfold for `\xHH`.
/// `--decode` is the spelling GNU and macOS `base64` both accept.
fn body_source(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains('\0') => format!("printf '%s' {}", shell_quote(body)),
        _ => format!("printf '%s' '{}' | base64 --decode", BASE64.encode(body)),
    }
}

/// `s` unquoted when every character is plain, quoted otherwise.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        s.to_string()
    } else {
        shell_quote(s.as_bytes())
    }
}

/// One shell word that expands to exactly `bytes` (NUL aside, which no shell word can hold).
///
/// Plain single quotes when the bytes are UTF-8 without control characters; otherwise ANSI-C
/// quoting (`$'…'`, bash and zsh), where control characters and non-UTF-8 bytes become `\xHH`.
/// Control characters are escaped even where single quotes could hold them so the command stays
/// on one line and a terminal paste cannot turn a tab or carriage return into something else.
fn shell_quote(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(char::is_control) => format!("'{}'", s.replace('\'', r"'\''")),
        _ => {
            let mut out = String::from("$'");
            for chunk in bytes.utf8_chunks() {
                for ch in chunk.valid().chars() {
                    match ch {
                        '\\' => out.push_str(r"\\"),
                        // Not `\'`: with `\x27` the word stays one quoted span even to tools
                        // that only know plain single quotes (history expansion, highlighters),
                        // which would otherwise see the text after `\'` as unquoted.
                        '\'' => out.push_str(r"\x27"),
                        ch if ch.is_control() => {
                            for b in ch.encode_utf8(&mut [0; 4]).bytes() {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                        }
                        ch => out.push(ch),
                    }
                }
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out.push('\'');
            out
        }
    }
}

/// One HAR 1.2 `log.entries[]` item for `c`, requested at `url`.
///
/// Hookmetry records requests, not the answers it gave, so the mandatory `response` is a
/// placeholder (status 0) that says so in its comment, and all timings are 0. Header values and
/// query parameters that are not UTF-8 are converted lossily; a body that is not UTF-8 is kept
/// exactly, base64-encoded, with `postData.encoding` (the field HAR 1.2 defines for response
/// content, and the HAR 1.3 proposal for `postData`).
pub fn har_entry(c: &CapturedRequest, url: &str) -> Value {
    let headers: Vec<Value> =
        c.headers.iter().map(|h| json!({ "name": h.name, "value": String::from_utf8_lossy(&h.value) })).collect();
    let cookies: Vec<Value> = c
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("cookie"))
        .flat_map(|h| parse_cookies(&String::from_utf8_lossy(&h.value)))
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let query: Vec<Value> = parse_query(c.query.as_deref().unwrap_or(""))
        .into_iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();

    let mut request = json!({
        "method": c.method,
        "url": url,
        "httpVersion": c.http_version,
        "cookies": cookies,
        "headers": headers,
        "queryString": query,
        // The raw request head is not stored (only its parsed lines), so its size is unknown.
        "headersSize": -1,
        "bodySize": c.body.len(),
    });
    if !c.body.is_empty() {
        let mime_type = c
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-type"))
            .map(|h| String::from_utf8_lossy(&h.value).into_owned())
            .unwrap_or_default();
        request["postData"] = match std::str::from_utf8(&c.body) {
            Ok(text) => json!({ "mimeType": mime_type, "text": text }),
            Err(_) => json!({
                "mimeType": mime_type,
                "text": BASE64.encode(&c.body),
                "encoding": "base64",
                "comment": "The body is not valid UTF-8; text holds its exact bytes base64-encoded.",
            }),
        };
    }

    json!({
        "startedDateTime": c.received_at.to_rfc3339(),
        "time": 0,
        "request": request,
        "response": {
            "status": 0,
            "statusText": "",
            "httpVersion": c.http_version,
            "cookies": [],
            "headers": [],
            "content": { "size": 0, "mimeType": "" },
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
            "comment": "Hookmetry records the request only, not the response it sent; this response is a placeholder.",
        },
        "cache": {},
        "timings": { "send": 0, "wait": 0, "receive": 0 },
        "comment": format!("Hookmetry capture {}", c.id),
    })
}

/// `name=value` pairs of one `Cookie` header, in order.
fn parse_cookies(header: &str) -> Vec<(String, String)> {
    header
        .split(';')
        .map(|pair| pair.trim_matches([' ', '\t']))
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => {
                (name.trim_matches([' ', '\t']).to_string(), value.trim_matches([' ', '\t']).to_string())
            }
            // RFC 6265bis reads a pair without `=` as a value with an empty name.
            None => (String::new(), pair.to_string()),
        })
        .collect()
}

/// Query parameters, decoded the way browsers and `URLSearchParams` do (`+` is a space), in
/// order; empty segments (`a=1&&b=2`) are skipped.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_text(name), form_text(value))
        })
        .collect()
}

fn form_text(s: &str) -> String {
    String::from_utf8_lossy(&hookmetry_core::form_decode(s)).into_owned()
}

#[cfg(test)]
mod tests {
    use hookmetry_core::{CaptureId, EndpointId, Header, TeamId, Timestamp};

    use super::*;

    const BASE: &str = "https://hooks.example.com/h/tok";

    fn capture(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> CapturedRequest {
        CapturedRequest {
            id: CaptureId::from_bytes([0x01; 16]),
            endpoint_id: EndpointId::from_bytes([0x02; 16]),
            team_id: TeamId::from_bytes([0x03; 16]),
            method: method.into(),
            path: path.into(),
            query: query.map(String::from),
            headers: headers.iter().map(|(n, v)| Header::new(*n, v.to_vec())).collect(),
            body: body.to_vec().into(),
            body_sha256: [0; 32],
            remote_addr: "203.0.113.9:41000".into(),
            http_version: "HTTP/1.1".into(),
            // 2026-11-27T06:55:08.000001Z
            received_at: Timestamp::from_micros(1_795_762_508_000_001),
            answered: None,
        }
    }

    fn url(c: &CapturedRequest) -> String {
        match &c.query {
            Some(q) => format!("{BASE}{}?{q}", c.path),
            None => format!("{BASE}{}", c.path),
        }
    }

    const JSON: &[u8] = br#"{"id":"evt_1","type":"charge.succeeded"}"#;

    fn json_post() -> CapturedRequest {
        capture(
            "POST",
            "/stripe",
            None,
            &[
                ("Host", b"hooks.example.com"),
                ("User-Agent", b"Stripe/1.0 (+https://stripe.com/docs/webhooks)"),
                ("Content-Length", b"40"),
                ("Accept", b"*/*; q=0.5, application/xml"),
                ("Content-Type", b"application/json; charset=utf-8"),
                ("Stripe-Signature", b"t=1795762508,v1=5257a869e7ec"),
            ],
            JSON,
        )
    }

    #[test]
    fn curl_json_post_sends_captured_headers_in_order_and_body_from_stdin() {
        let c = json_post();
        assert_eq!(
            curl_command(&c, &url(&c)),
            concat!(
                r#"printf '%s' '{"id":"evt_1","type":"charge.succeeded"}' | "#,
                "curl --disable --http1.1 --path-as-is --globoff -X POST ",
                "-H 'Host: hooks.example.com' ",
                "-H 'User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)' ",
                "-H 'Content-Length: 40' ",
                "-H 'Accept: */*; q=0.5, application/xml' ",
                "-H 'Content-Type: application/json; charset=utf-8' ",
                "-H 'Stripe-Signature: t=1795762508,v1=5257a869e7ec' ",
                "-H 'Expect:' --data-binary @- 'https://hooks.example.com/h/tok/stripe'"
            )
        );
    }

    #[test]
    fn curl_binary_body_goes_through_base64() {
        let c = capture(
            "PUT",
            "/blob",
            None,
            &[("Host", b"h"), ("Content-Length", b"5")],
            &[0x00, 0x01, b'a', 0xff, b'\n'],
        );
        assert_eq!(
            curl_command(&c, &url(&c)),
            "printf '%s' 'AAFh/wo=' | base64 --decode | curl --disable --http1.1 --path-as-is --globoff -X PUT \
             -H 'Host: h' -H 'Content-Length: 5' -H 'User-Agent:' -H 'Accept:' -H 'Content-Type:' -H 'Expect:' \
             --data-binary @- 'https://hooks.example.com/h/tok/blob'"
        );
    }

    #[test]
    fn curl_text_body_with_newlines_and_quotes_uses_ansi_c_quoting() {
        let c =
            capture("POST", "/", None, &[("Host", b"h"), ("Content-Length", b"20")], b"{\"a\": \"it's\\n\"}\r\n\t!");
        let cmd = curl_command(&c, &url(&c));
        assert!(cmd.starts_with(r#"printf '%s' $'{"a": "it\x27s\\n"}\x0d\x0a\x09!' | curl "#), "{cmd}");
        assert!(!cmd.contains('\n'));
    }

    #[test]
    fn curl_quotes_header_values() {
        let c = capture(
            "POST",
            "/",
            None,
            &[
                ("Host", b"h"),
                ("X-Quote", b"it's \"fine\" $HOME `x`"),
                ("X-Utf8", "café ☕".as_bytes()),
                ("X-Latin1", b"caf\xe9"),
                ("X-Tab", b"a\tb"),
                ("X-Empty", b""),
            ],
            b"",
        );
        assert_eq!(
            curl_command(&c, &url(&c)),
            concat!(
                "curl --disable --http1.1 --path-as-is --globoff -X POST -H 'Host: h' ",
                r#"-H 'X-Quote: it'\''s "fine" $HOME `x`' "#,
                "-H 'X-Utf8: café ☕' ",
                r"-H $'X-Latin1: caf\xe9' ",
                r"-H $'X-Tab: a\x09b' ",
                "-H 'X-Empty;' ",
                "-H 'User-Agent:' -H 'Accept:' 'https://hooks.example.com/h/tok/'"
            )
        );
    }

    #[test]
    fn curl_head_uses_head_flag_and_get_removes_missing_defaults() {
        let head = capture("HEAD", "/ping", None, &[("Host", b"h"), ("User-Agent", b"probe")], b"");
        assert_eq!(
            curl_command(&head, &url(&head)),
            "curl --disable --http1.1 --path-as-is --globoff --head -H 'Host: h' -H 'User-Agent: probe' \
             -H 'Accept:' 'https://hooks.example.com/h/tok/ping'"
        );
        // curl refuses `--head` together with data.
        let head_with_body = capture("HEAD", "/", None, &[("Host", b"h"), ("Content-Length", b"1")], b"x");
        assert!(curl_command(&head_with_body, &url(&head_with_body)).contains(" -X HEAD "));
    }

    #[test]
    fn curl_keeps_path_and_query_raw() {
        let c = capture("GET", "/a/../b/./%2e%2E//c", Some("ids[]=1&ids[]=2&next=%2Fx&q={y}"), &[("Host", b"h")], b"");
        assert_eq!(
            curl_command(&c, &url(&c)),
            "curl --disable --http1.1 --path-as-is --globoff -X GET -H 'Host: h' -H 'User-Agent:' -H 'Accept:' \
             'https://hooks.example.com/h/tok/a/../b/./%2e%2E//c?ids[]=1&ids[]=2&next=%2Fx&q={y}'"
        );
    }

    #[test]
    fn curl_get_with_body_keeps_method_and_body() {
        let c = capture("GET", "/", None, &[("Host", b"h"), ("Content-Length", b"2")], b"{}");
        let cmd = curl_command(&c, &url(&c));
        assert!(cmd.starts_with("printf '%s' '{}' | curl "), "{cmd}");
        assert!(cmd.contains(" -X GET ") && cmd.contains(" --data-binary @- "), "{cmd}");
    }

    #[test]
    fn curl_clears_its_own_host_when_the_captured_one_is_not_first() {
        let late = capture("GET", "/", None, &[("User-Agent", b"ua"), ("Host", b"h")], b"");
        assert_eq!(
            curl_command(&late, &url(&late)),
            "curl --disable --http1.1 --path-as-is --globoff -X GET -H 'Host:' -H 'User-Agent: ua' -H 'Host: h' \
             -H 'Accept:' 'https://hooks.example.com/h/tok/'"
        );
        let lower = capture("GET", "/", None, &[("host", b"h"), ("accept", b"*/*")], b"");
        assert!(
            curl_command(&lower, &url(&lower)).contains(" -H 'Host:' -H 'host: h' -H 'accept: */*' -H 'User-Agent:' ")
        );
        let none = capture("DELETE", "/", None, &[], b"");
        assert_eq!(
            curl_command(&none, &url(&none)),
            "curl --disable --http1.1 --path-as-is --globoff -X DELETE -H 'Host:' -H 'User-Agent:' -H 'Accept:' \
             'https://hooks.example.com/h/tok/'"
        );
    }

    #[test]
    fn curl_chunked_empty_body_still_sends_data() {
        let c = capture("POST", "/", None, &[("Host", b"h"), ("Transfer-Encoding", b"chunked")], b"");
        assert!(
            curl_command(&c, &url(&c)).ends_with(" -H 'Expect:' --data-binary '' 'https://hooks.example.com/h/tok/'")
        );
    }

    #[test]
    fn curl_quotes_unusual_methods() {
        let c = capture("M'X", "/", None, &[("Host", b"h")], b"");
        assert!(curl_command(&c, &url(&c)).contains(r" -X 'M'\''X' "));
    }

    #[test]
    fn har_entry_for_json_post() {
        let mut c = json_post();
        c.query = Some("a=1&b=x+y%2Fz&&flag&ids[]=7".into());
        c.headers.push(Header::new("Cookie", &b"sid=abc; theme=dark ;lone"[..]));
        assert_eq!(
            har_entry(&c, &url(&c)),
            json!({
                "startedDateTime": "2026-11-27T06:55:08.000001Z",
                "time": 0,
                "request": {
                    "method": "POST",
                    "url": "https://hooks.example.com/h/tok/stripe?a=1&b=x+y%2Fz&&flag&ids[]=7",
                    "httpVersion": "HTTP/1.1",
                    "cookies": [
                        { "name": "sid", "value": "abc" },
                        { "name": "theme", "value": "dark" },
                        { "name": "", "value": "lone" },
                    ],
                    "headers": [
                        { "name": "Host", "value": "hooks.example.com" },
                        { "name": "User-Agent", "value": "Stripe/1.0 (+https://stripe.com/docs/webhooks)" },
                        { "name": "Content-Length", "value": "40" },
                        { "name": "Accept", "value": "*/*; q=0.5, application/xml" },
                        { "name": "Content-Type", "value": "application/json; charset=utf-8" },
                        { "name": "Stripe-Signature", "value": "t=1795762508,v1=5257a869e7ec" },
                        { "name": "Cookie", "value": "sid=abc; theme=dark ;lone" },
                    ],
                    "queryString": [
                        { "name": "a", "value": "1" },
                        { "name": "b", "value": "x y/z" },
                        { "name": "flag", "value": "" },
                        { "name": "ids[]", "value": "7" },
                    ],
                    "postData": {
                        "mimeType": "application/json; charset=utf-8",
                        "text": r#"{"id":"evt_1","type":"charge.succeeded"}"#,
                    },
                    "headersSize": -1,
                    "bodySize": 40,
                },
                "response": {
                    "status": 0,
                    "statusText": "",
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [],
                    "content": { "size": 0, "mimeType": "" },
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": -1,
                    "comment": "Hookmetry records the request only, not the response it sent; this response is a placeholder.",
                },
                "cache": {},
                "timings": { "send": 0, "wait": 0, "receive": 0 },
                "comment": "Hookmetry capture 01010101-0101-0101-0101-010101010101",
            })
        );
    }

    #[test]
    fn har_entry_binary_body_is_base64_and_lossy_headers() {
        let c = capture("PUT", "/", None, &[("X-Latin1", b"caf\xe9")], &[0x00, 0x01, b'a', 0xff, b'\n']);
        let entry = har_entry(&c, &url(&c));
        assert_eq!(
            entry["request"]["postData"],
            json!({
                "mimeType": "",
                "text": "AAFh/wo=",
                "encoding": "base64",
                "comment": "The body is not valid UTF-8; text holds its exact bytes base64-encoded.",
            })
        );
        assert_eq!(entry["request"]["headers"], json!([{ "name": "X-Latin1", "value": "caf\u{fffd}" }]));
        assert_eq!(entry["request"]["bodySize"], 5);
        assert_eq!(entry["request"]["queryString"], json!([]));
    }

    #[test]
    fn har_entry_without_body_has_no_post_data() {
        let c = capture("GET", "/", Some(""), &[("Host", b"h")], b"");
        let entry = har_entry(&c, &url(&c));
        assert!(entry["request"].get("postData").is_none());
        assert_eq!(entry["request"]["bodySize"], 0);
        assert_eq!(entry["request"]["queryString"], json!([]));
    }

    #[test]
    fn query_decoding_keeps_bad_escapes_and_order() {
        assert_eq!(
            parse_query("b=2&a=%zz%2&c=%E2%98%95&d=%ff&=v"),
            [("b", "2"), ("a", "%zz%2"), ("c", "☕"), ("d", "\u{fffd}"), ("", "v")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }
}
