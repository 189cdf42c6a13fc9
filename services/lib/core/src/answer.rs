//! What a capture URL may answer. Capture URLs are public and their answers are chosen by any
//! EDITOR, while the web inspector keeps its tokens in the browser: an answer must never be able
//! to run as the inspector, set its cookies, install a service worker over it, or split the
//! response. The API checks custom responses on write with [`check_response_header`] and
//! [`check_content_type`]; ingest applies [`SANDBOX_HEADERS`] to every answer and filters stored
//! headers again with [`check_response_header`], so a row written before these rules is harmless.

/// Added to every answer of a capture URL, default, custom, handshake or error. `sandbox` gives a
/// document loaded from it an opaque origin with scripts off, whatever its content type.
pub const SANDBOX_HEADERS: [(&str, &str); 3] = [
    ("content-security-policy", "sandbox"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-resource-policy", "same-site"),
];

/// Header names a custom response may set, besides any `x-…` name not listed in
/// [`REFUSED_X_HEADERS`]. Everything else is refused by name: framing (`Content-Length`,
/// `Transfer-Encoding`, `Connection`), state (`Set-Cookie`), navigation (`Location`, `Refresh`,
/// `Link`), and every header that changes what a browser allows (CSP, CORS, HSTS,
/// `Service-Worker-Allowed`, …).
pub const ALLOWED_RESPONSE_HEADERS: [&str; 12] = [
    "content-type",
    "cache-control",
    "retry-after",
    "etag",
    "last-modified",
    "expires",
    "vary",
    "content-language",
    "pragma",
    "age",
    "warning",
    "www-authenticate",
];

/// `x-…` names that browsers act on.
pub const REFUSED_X_HEADERS: [&str; 6] = [
    "x-frame-options",
    "x-content-type-options",
    "x-xss-protection",
    "x-permitted-cross-domain-policies",
    "x-dns-prefetch-control",
    "x-download-options",
];

/// Whether a custom response may set header `name`; `Err` says why not.
pub fn check_response_header(name: &str) -> Result<(), String> {
    let lower = name.to_ascii_lowercase();
    if ALLOWED_RESPONSE_HEADERS.contains(&lower.as_str())
        || (lower.starts_with("x-")
            && !REFUSED_X_HEADERS.contains(&lower.as_str())
            && !lower.starts_with("x-hookmetry"))
    {
        return Ok(());
    }
    Err(format!(
        "`{name}` cannot be set on a capture URL's answer: only {} and `x-…` headers may be, because the answer is served by the same server as the inspector",
        ALLOWED_RESPONSE_HEADERS.iter().map(|h| format!("`{h}`")).collect::<Vec<_>>().join(", ")
    ))
}

/// Whether a browser would run or render `content_type` as an active document (HTML, XML with
/// its stylesheets, SVG, scripts, server push of documents).
pub fn is_active_content_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    matches!(essence.as_str(), "text/html" | "application/xhtml+xml" | "text/xml" | "application/xml" | "text/xsl")
        || sub.ends_with("+xml")
        || sub.contains("script")
        || (kind == "multipart" && sub.starts_with("x-mixed-replace"))
}

/// Whether a custom response may declare `content_type`. Active types need a capture origin of
/// their own (`server.capture_base_url`), so what they render never shares the inspector's origin.
pub fn check_content_type(content_type: &str, separate_capture_origin: bool) -> Result<(), String> {
    if separate_capture_origin || !is_active_content_type(content_type) {
        return Ok(());
    }
    Err(format!(
        "`{content_type}` is a type browsers render or run; it is allowed only when capture URLs have their own origin (set server.capture_base_url to a host other than the inspector's)"
    ))
}

/// Request header that counts how many times Hookmetry has forwarded a request (forwarding
/// rules, replays, `hookmetry listen`). Ingest refuses requests past `ingest.max_hops`, so a loop
/// through a third party still ends.
pub const HOP_HEADER: &str = "Hookmetry-Hops";

/// The hop count of a request with these headers: the largest valid `Hookmetry-Hops` value, 0
/// when absent. An unparsable value counts as one hop: it was set by someone.
pub fn hops<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> u32 {
    headers
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(HOP_HEADER))
        .map(|(_, v)| std::str::from_utf8(v).ok().and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(1))
        .max()
        .unwrap_or(0)
}

/// `headers` as a forwarded request sends them: any `Hookmetry-Hops` dropped and one added at
/// the end, counting this forward.
pub fn with_next_hop(headers: &[crate::Header]) -> Vec<crate::Header> {
    let next = hops(headers.iter().map(|h| (h.name.as_str(), &h.value[..]))).saturating_add(1);
    headers
        .iter()
        .filter(|h| !h.name.trim_ascii().eq_ignore_ascii_case(HOP_HEADER))
        .cloned()
        .chain(std::iter::once(crate::Header::new(HOP_HEADER, bytes::Bytes::from(next.to_string()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_that_act_on_a_browser_are_refused_by_name() {
        for ok in ["Content-Type", "cache-control", "Retry-After", "X-Request-Id", "x-custom"] {
            assert!(check_response_header(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Set-Cookie",
            "Content-Length",
            "transfer-encoding",
            "Connection",
            "Service-Worker-Allowed",
            "Content-Security-Policy",
            "Access-Control-Allow-Origin",
            "X-Frame-Options",
            "Location",
            "Hookmetry-Capture-Id",
            "X-Hookmetry-Anything",
        ] {
            let e = check_response_header(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn active_content_types_are_recognised_with_parameters_and_any_case() {
        for t in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            " application/javascript",
            "text/ecmascript",
            "image/svg+xml",
            "application/rss+xml",
            "multipart/x-mixed-replace;boundary=x",
            "text/xml",
        ] {
            assert!(is_active_content_type(t), "{t}");
            assert!(check_content_type(t, false).unwrap_err().contains("server.capture_base_url"));
            assert!(check_content_type(t, true).is_ok());
        }
        for t in ["application/json", "text/plain", "application/x-www-form-urlencoded", "image/png", ""] {
            assert!(!is_active_content_type(t), "{t}");
        }
    }

    #[test]
    fn a_forward_replaces_the_count_with_one_more() {
        let h = |n: &str, v: &'static str| crate::Header::new(n, bytes::Bytes::from_static(v.as_bytes()));
        let out = with_next_hop(&[h("A", "1"), h("hookmetry-hops", "2"), h("B", "2")]);
        let names: Vec<_> = out.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
        assert_eq!(names, vec![("A", &b"1"[..]), ("B", b"2"), ("Hookmetry-Hops", b"3")]);
        assert_eq!(hops(out.iter().map(|h| (h.name.as_str(), &h.value[..]))), 3);
    }

    #[test]
    fn hop_counts_take_the_largest_and_count_garbage_as_one() {
        let h = |v: &'static [u8]| vec![("hookmetry-hops", v)];
        assert_eq!(hops(Vec::<(&str, &[u8])>::new()), 0);
        assert_eq!(hops(h(b"2")), 2);
        assert_eq!(hops(h(b"junk")), 1);
        assert_eq!(hops(vec![("Hookmetry-Hops", b"1".as_slice()), ("HOOKMETRY-HOPS", b"3".as_slice())]), 3);
    }
}
