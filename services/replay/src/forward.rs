//! The request a delivery sends, built from a capture and a target URL.

use bytes::Bytes;
use hookmetry_core::{CapturedRequest, Header, OutgoingRequest};
use hookmetry_egress::Url;
use http::header::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

/// The request that forwards `capture` to `target` unchanged.
///
/// - URL: `target` with the capture's path appended to its path when the capture's path is not
///   `/` (`https://r.example/hook` + `/orders/7` → `https://r.example/hook/orders/7`, one slash
///   between them), and the capture's query appended after the target's own with `&`. The
///   target's fragment is dropped (it is never sent). The path stays percent-encoded as captured,
///   but goes through the `url` crate like every URL the client sends to: dot segments (`/a/../b`,
///   also spelled `%2e%2e`) are resolved and characters not allowed in a path are
///   percent-encoded. A capture path whose dot segments would climb above the target's path
///   (`/../admin`, see [`hookmetry_core::path_climbs`]) is left unresolved instead, and the
///   sender refuses it: a stranger's request must not reach paths outside the target's.
/// - Headers: the capture's, in order, duplicates kept, values byte for byte, without
///   hop-by-hop headers (`Connection` and every header it names, `Keep-Alive`,
///   `Proxy-Authenticate`, `Proxy-Authorization`, `Proxy-Connection`, `TE`, `Trailer`,
///   `Transfer-Encoding`, `Upgrade`), HTTP/2 pseudo-headers, `Host` and `Content-Length`, which
///   the client sets for the target and the exact body. What reaches the wire is described on
///   [`crate::Sender`].
/// - Body: the captured bytes, and the capture's SHA-256 with them.
pub fn outgoing_request(capture: &CapturedRequest, target: &Url) -> OutgoingRequest {
    OutgoingRequest {
        method: capture.method.clone(),
        url: target_url(target, &capture.path, capture.query.as_deref()),
        headers: forwarded_headers(&capture.headers),
        body: capture.body.clone(),
        body_sha256: capture.body_sha256,
    }
}

/// `headers` without those a forwarded request must not carry (see [`outgoing_request`]). Lives
/// in the core crate so `hookmetry listen` forwards exactly like the replay worker.
pub use hookmetry_core::forwarded_headers;

/// `target` with `path` (unless `/`) and `query` appended.
fn target_url(target: &Url, path: &str, query: Option<&str>) -> String {
    let mut url = target.clone();
    url.set_fragment(None);
    if hookmetry_core::path_climbs(path) {
        // Kept as sent, so the sender sees the dot segments and refuses the request with the
        // path in its message; resolving them here would quietly send it elsewhere.
        let base = url.as_str().split(['?', '#']).next().unwrap_or_default().trim_end_matches('/').to_string();
        let query = match (url.query(), query) {
            (Some(own), Some(q)) if !own.is_empty() && !q.is_empty() => format!("?{own}&{q}"),
            (Some(own), _) if !own.is_empty() => format!("?{own}"),
            (_, Some(q)) => format!("?{q}"),
            _ => String::new(),
        };
        return format!("{base}{path}{query}");
    }
    if !path.is_empty() && path != "/" {
        let base = url.path();
        let base = base.strip_suffix('/').unwrap_or(base);
        let joined = if path.starts_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") };
        url.set_path(&joined);
    }
    match (url.query(), query) {
        (_, None) => {}
        // `?` with nothing after it: keep the target's query, or the bare `?` when it has none.
        (Some(own), Some("")) if !own.is_empty() => {}
        (None | Some(""), Some(q)) => url.set_query(Some(q)),
        (Some(own), Some(q)) => {
            let merged = format!("{own}&{q}");
            url.set_query(Some(&merged));
        }
    }
    url.into()
}

/// Changes a user made before replaying; `None` keeps the capture's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    pub method: Option<String>,
    /// Replaces the capture's path and query, as in `/orders/7?expand=items`; without a `?` the
    /// request has no query. Appended to the target's path and query like a captured path.
    pub path: Option<String>,
    /// Replaces every header. Hop-by-hop headers, `Host` and `Content-Length` are dropped from
    /// these too.
    pub headers: Option<Vec<Header>>,
    pub body: Option<Bytes>,
}

/// A request to send and whether it differs from the capture's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub request: OutgoingRequest,
    /// The method, URL, headers or body differ from what [`outgoing_request`] gives for the
    /// capture (the `edited` flag of a delivery). Edits that restate the capture's values leave
    /// it false.
    pub edited: bool,
}

/// An edit that cannot be sent; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("`{0}` is not an HTTP method: use letters such as POST or PURGE, without spaces")]
    Method(String),
    #[error("the path must start with `/` and contain no spaces or control characters")]
    Path,
    #[error("`{0}` is not a valid header name: use letters, digits and `-`, without spaces or `:`")]
    HeaderName(String),
    #[error("the value of header `{0}` contains a line break or another control character")]
    HeaderValue(String),
}

/// The request that sends `capture` to `target` with `edits` applied, the body's SHA-256
/// recomputed when the body changed.
///
/// Edited values are checked here, so a mistake is reported to the user before a delivery
/// exists rather than as a failed attempt.
pub fn with_edits(capture: &CapturedRequest, target: &Url, edits: &Edits) -> Result<Prepared, EditError> {
    let original = outgoing_request(capture, target);
    let mut request = original.clone();
    if let Some(method) = &edits.method {
        http::Method::from_bytes(method.as_bytes()).map_err(|_| EditError::Method(method.clone()))?;
        request.method = method.clone();
    }
    if let Some(path_and_query) = &edits.path {
        if !path_and_query.starts_with('/') || path_and_query.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(EditError::Path);
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query.as_str(), None),
        };
        request.url = target_url(target, path, query);
    }
    if let Some(headers) = &edits.headers {
        for h in headers {
            HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| EditError::HeaderName(h.name.clone()))?;
            HeaderValue::from_bytes(&h.value).map_err(|_| EditError::HeaderValue(h.name.clone()))?;
        }
        request.headers = forwarded_headers(headers);
    }
    if let Some(body) = &edits.body {
        request.body = body.clone();
        request.body_sha256 = Sha256::digest(body).into();
    }
    let edited = request != original;
    Ok(Prepared { request, edited })
}

/// `request` carrying `traceparent` (`replay.propagate_trace_context`): a captured
/// `traceparent` is replaced where it stood (its first occurrence; repeats are dropped), and a
/// captured `tracestate` is dropped, since it belongs to the trace of the replaced value.
/// Without a captured one, `traceparent` goes last. The body and every other header are kept.
pub fn with_traceparent(request: &OutgoingRequest, traceparent: &str) -> OutgoingRequest {
    let header = Header::new("traceparent", Bytes::copy_from_slice(traceparent.as_bytes()));
    let mut headers = Vec::with_capacity(request.headers.len() + 1);
    let mut placed = false;
    for h in &request.headers {
        if h.name.trim_ascii().eq_ignore_ascii_case("traceparent") {
            if !placed {
                headers.push(header.clone());
                placed = true;
            }
        } else if !h.name.trim_ascii().eq_ignore_ascii_case("tracestate") {
            headers.push(h.clone());
        }
    }
    if !placed {
        headers.push(header);
    }
    OutgoingRequest { headers, ..request.clone() }
}

#[cfg(test)]
mod tests {
    use hookmetry_core::{CaptureId, EndpointId, TeamId, Timestamp};

    use super::*;

    #[test]
    fn traceparent_replaces_the_captured_one_in_place_and_drops_its_tracestate() {
        let ours = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let theirs = capture(
            "/",
            None,
            &[
                ("X-First", b"1"),
                ("TraceParent", b"00-11111111111111111111111111111111-2222222222222222-01"),
                ("tracestate", b"vendor=abc"),
                ("X-Last", b"\xff"),
                ("traceparent", b"repeated"),
            ],
            b"{\"exact\": true}",
        );
        let request = outgoing_request(&theirs, &Url::parse("http://r.example/").unwrap());
        let traced = with_traceparent(&request, ours);
        let names: Vec<(&str, &[u8])> = traced.headers.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
        assert_eq!(names, [("X-First", &b"1"[..]), ("traceparent", ours.as_bytes()), ("X-Last", &b"\xff"[..])]);
        assert_eq!((&traced.body, traced.body_sha256), (&request.body, request.body_sha256));
        assert_eq!((&traced.method, &traced.url), (&request.method, &request.url));

        let plain =
            outgoing_request(&capture("/", None, &[("A", b"1")], b""), &Url::parse("http://r.example/").unwrap());
        let names: Vec<String> = with_traceparent(&plain, ours).headers.iter().map(|h| h.name.clone()).collect();
        assert_eq!(names, ["A", "traceparent"], "appended when the capture had none");
    }

    fn capture(path: &str, query: Option<&str>, headers: &[(&str, &[u8])], body: &[u8]) -> CapturedRequest {
        CapturedRequest {
            id: CaptureId::new(),
            endpoint_id: EndpointId::new(),
            team_id: TeamId::new(),
            method: "POST".into(),
            path: path.into(),
            query: query.map(Into::into),
            headers: headers.iter().map(|(n, v)| Header::new(*n, Bytes::copy_from_slice(v))).collect(),
            body: Bytes::copy_from_slice(body),
            body_sha256: Sha256::digest(body).into(),
            remote_addr: "203.0.113.9".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::now(),
            answered: None,
        }
    }

    fn url_for(target: &str, path: &str, query: Option<&str>) -> String {
        outgoing_request(&capture(path, query, &[], b""), &Url::parse(target).unwrap()).url
    }

    #[test]
    fn the_capture_path_is_appended_with_one_slash() {
        assert_eq!(url_for("http://r.example/hook", "/", None), "http://r.example/hook");
        assert_eq!(url_for("http://r.example/hook/", "/", None), "http://r.example/hook/");
        assert_eq!(url_for("http://r.example", "/", None), "http://r.example/");
        assert_eq!(url_for("http://r.example", "/orders/7", None), "http://r.example/orders/7");
        assert_eq!(url_for("http://r.example/", "/orders/7", None), "http://r.example/orders/7");
        assert_eq!(url_for("http://r.example/hook", "/orders/7", None), "http://r.example/hook/orders/7");
        assert_eq!(url_for("http://r.example/hook/", "/orders/7/", None), "http://r.example/hook/orders/7/");
        assert_eq!(url_for("http://r.example:3000/a#frag", "/b", None), "http://r.example:3000/a/b");
    }

    #[test]
    fn the_path_stays_percent_encoded_as_captured() {
        assert_eq!(
            url_for("http://r.example/hook", "/a%2Fb/%C3%A9%20x", None),
            "http://r.example/hook/a%2Fb/%C3%A9%20x"
        );
        // The url crate resolves dot segments, as any HTTP client would.
        assert_eq!(url_for("http://r.example/hook", "/a/../b", None), "http://r.example/hook/b");
    }

    #[test]
    fn the_capture_query_follows_the_target_query() {
        assert_eq!(url_for("http://r.example/hook", "/", Some("a=1&b=%20")), "http://r.example/hook?a=1&b=%20");
        assert_eq!(url_for("http://r.example/hook?k=v", "/x", Some("a=1")), "http://r.example/hook/x?k=v&a=1");
        assert_eq!(url_for("http://r.example/hook?k=v", "/", None), "http://r.example/hook?k=v");
        assert_eq!(url_for("http://r.example/hook?k=v", "/", Some("")), "http://r.example/hook?k=v");
        assert_eq!(url_for("http://r.example/hook?", "/", Some("a")), "http://r.example/hook?a");
        // A bare `?` in the capture is kept when the target has no query.
        assert_eq!(url_for("http://r.example/hook", "/", Some("")), "http://r.example/hook?");
    }

    #[test]
    fn hop_by_hop_and_client_set_headers_are_dropped_the_rest_kept_in_order() {
        let c = capture(
            "/",
            None,
            &[
                ("Host", b"abc.hooks.example"),
                ("X-B", b"1"),
                ("Connection", b"keep-alive, X-Trace , Upgrade"),
                ("content-type", b"application/json"),
                ("X-Trace", b"drop me"),
                ("Keep-Alive", b"timeout=5"),
                ("X-A", b"\xff\xfe raw"),
                ("Transfer-Encoding", b"chunked"),
                ("TE", b"trailers"),
                ("Trailer", b"X-Sum"),
                ("Upgrade", b"h2c"),
                ("Proxy-Authorization", b"Basic Zm9v"),
                ("Proxy-Authenticate", b"Basic"),
                ("Proxy-Connection", b"keep-alive"),
                ("Content-Length", b"2"),
                ("X-B", b"2"),
                (":authority", b"abc.hooks.example"),
                ("x-trace", b"also dropped"),
            ],
            b"{}",
        );
        let out = outgoing_request(&c, &Url::parse("http://r.example/").unwrap());
        let got: Vec<(&str, &[u8])> = out.headers.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
        assert_eq!(
            got,
            [("X-B", &b"1"[..]), ("content-type", b"application/json"), ("X-A", b"\xff\xfe raw"), ("X-B", b"2")]
        );
    }

    #[test]
    fn method_and_body_are_the_captured_ones() {
        let mut c = capture("/", None, &[], b"\x00\x01\xfe\xff not utf-8");
        c.method = "PURGE".into();
        let out = outgoing_request(&c, &Url::parse("http://r.example/").unwrap());
        assert_eq!(out.method, "PURGE");
        assert_eq!(out.body, c.body);
        assert_eq!(out.body_sha256, c.body_sha256);
    }

    #[test]
    fn no_edits_or_restated_values_are_not_an_edit() {
        let c = capture("/p", Some("q=1"), &[("X-A", b"1"), ("Connection", b"close")], b"body");
        let target = Url::parse("http://r.example/hook").unwrap();
        let plain = with_edits(&c, &target, &Edits::default()).unwrap();
        assert!(!plain.edited);
        assert_eq!(plain.request, outgoing_request(&c, &target));
        let restated = Edits {
            method: Some("POST".into()),
            path: Some("/p?q=1".into()),
            // The hop-by-hop header is dropped from edits too, so this restates the capture.
            headers: Some(vec![Header::new("X-A", "1"), Header::new("Connection", "close")]),
            body: Some(Bytes::from_static(b"body")),
        };
        assert!(!with_edits(&c, &target, &restated).unwrap().edited);
    }

    #[test]
    fn edits_replace_values_and_recompute_the_hash() {
        let c = capture("/p", Some("q=1"), &[("X-A", b"1")], b"body");
        let target = Url::parse("http://r.example/hook?t=0").unwrap();
        let edits = Edits {
            method: Some("PUT".into()),
            path: Some("/other/1?x=2".into()),
            headers: Some(vec![Header::new("X-New", "v"), Header::new("Host", "evil.example")]),
            body: Some(Bytes::from_static(b"new body")),
        };
        let p = with_edits(&c, &target, &edits).unwrap();
        assert!(p.edited);
        assert_eq!(p.request.method, "PUT");
        assert_eq!(p.request.url, "http://r.example/hook/other/1?t=0&x=2");
        assert_eq!(p.request.headers, vec![Header::new("X-New", "v")]);
        assert_eq!(p.request.body, Bytes::from_static(b"new body"));
        let want: [u8; 32] = Sha256::digest(b"new body").into();
        assert_eq!(p.request.body_sha256, want);
        assert_ne!(p.request.body_sha256, c.body_sha256);

        let only_path = Edits { path: Some("/p".into()), ..Edits::default() };
        let p = with_edits(&c, &target, &only_path).unwrap();
        assert!(p.edited, "dropping the query is an edit");
        assert_eq!(p.request.url, "http://r.example/hook/p?t=0");
    }

    #[test]
    fn invalid_edits_are_refused_with_a_reason() {
        let c = capture("/", None, &[], b"");
        let target = Url::parse("http://r.example/").unwrap();
        let edit = |e: Edits| with_edits(&c, &target, &e).unwrap_err();
        assert_eq!(edit(Edits { method: Some("PO ST".into()), ..Edits::default() }), EditError::Method("PO ST".into()));
        assert_eq!(edit(Edits { path: Some("no-slash".into()), ..Edits::default() }), EditError::Path);
        assert_eq!(edit(Edits { path: Some("/a b".into()), ..Edits::default() }), EditError::Path);
        let headers = |name: &str, value: &'static [u8]| Edits {
            headers: Some(vec![Header::new(name, Bytes::from_static(value))]),
            ..Edits::default()
        };
        assert_eq!(edit(headers("X A", b"v")), EditError::HeaderName("X A".into()));
        assert_eq!(edit(headers("X-A", b"v\r\nInjected: 1")), EditError::HeaderValue("X-A".into()));
        // obs-text is a valid value.
        assert!(with_edits(&c, &target, &headers("X-A", b"caf\xe9")).is_ok());
    }
}
