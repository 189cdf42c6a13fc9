//! The request head as it goes on the wire.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use url::{Position, Url};

/// Why a request was not sent; the message is for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsendable(pub(crate) String);

/// `tchar` of RFC 9110 §5.6.2: what a method or a header name may consist of.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
}

/// A field value may hold visible ASCII, spaces, tabs and obs-text (bytes 0x80–0xFF, which some
/// providers do send), but no other control character: a CR or LF would end the line early and
/// let a captured value inject headers of its own.
fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

pub(crate) fn check_method(method: &str) -> Result<(), Unsendable> {
    if is_token(method.as_bytes()) {
        Ok(())
    } else {
        Err(Unsendable(format!("`{method}` is not a valid HTTP method, so the request was not sent")))
    }
}

pub(crate) fn check_header(name: &str, value: &[u8]) -> Result<(), Unsendable> {
    if !is_token(name.as_bytes()) {
        return Err(Unsendable(format!("`{name}` is not a valid header name, so the request was not sent")));
    }
    if !is_field_value(value) {
        return Err(Unsendable(format!(
            "the value of header `{name}` contains a line break or another control character, so the request was \
             not sent"
        )));
    }
    Ok(())
}

/// Whether a request says how long its body is even when it has none: clients send
/// `Content-Length: 0` for methods that normally carry a body, and nothing for those that do
/// not, which is what a provider's own request looked like.
fn announces_length(method: &str, body_len: usize) -> bool {
    body_len > 0 || !matches!(method, "GET" | "HEAD" | "DELETE" | "OPTIONS" | "TRACE" | "CONNECT")
}

/// The `Host` value for `url`: the port only when it is not the scheme's default.
pub(crate) fn host_value(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The request line and header section, checked already ([`check_method`], [`check_header`]).
///
/// `Host` comes first (RFC 9110 §7.2 asks user agents to send it first), then `headers` exactly
/// as given: order, repeated names where they are, the case of each name, values byte for byte.
/// `Authorization` from the URL's user info comes next, unless `headers` has one, and
/// `Content-Length` last.
pub(crate) fn request_head<'a>(
    method: &str,
    url: &Url,
    headers: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
    body_len: usize,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    let target = &url[Position::BeforePath..Position::AfterQuery];
    head.extend_from_slice(if target.is_empty() { b"/" } else { target.as_bytes() });
    head.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    head.extend_from_slice(host_value(url).as_bytes());
    head.extend_from_slice(b"\r\n");
    let mut has_authorization = false;
    for (name, value) in headers {
        has_authorization |= name.eq_ignore_ascii_case("authorization");
        head.extend_from_slice(name.as_bytes());
        head.push(b':');
        if !value.is_empty() {
            head.push(b' ');
            head.extend_from_slice(value);
        }
        head.extend_from_slice(b"\r\n");
    }
    if !url.username().is_empty() && !has_authorization {
        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode).unwrap_or_default();
        let mut pair = user;
        pair.push(b':');
        pair.extend_from_slice(&password);
        head.extend_from_slice(b"Authorization: Basic ");
        head.extend_from_slice(STANDARD.encode(pair).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if announces_length(method, body_len) {
        head.extend_from_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// User info comes percent-encoded in a URL; basic auth wants the bytes.
fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, url: &str, headers: &[(&str, &[u8])], body_len: usize) -> String {
        let url = Url::parse(url).unwrap();
        String::from_utf8_lossy(&request_head(method, &url, headers.iter().copied(), body_len)).into_owned()
    }

    #[test]
    fn headers_keep_their_order_case_and_repeats() {
        let got = head(
            "POST",
            "http://r.example:8080/hook?a=1",
            &[("X-A", b"1"), ("x-B", b"2"), ("x-a", b"3"), ("X-Empty", b"")],
            2,
        );
        assert_eq!(
            got,
            "POST /hook?a=1 HTTP/1.1\r\nHost: r.example:8080\r\nX-A: 1\r\nx-B: 2\r\nx-a: 3\r\nX-Empty:\r\n\
             Content-Length: 2\r\n\r\n"
        );
    }

    #[test]
    fn the_default_port_is_left_out_of_host_and_an_empty_path_is_a_slash() {
        assert_eq!(head("GET", "https://r.example:443", &[], 0), "GET / HTTP/1.1\r\nHost: r.example\r\n\r\n");
        assert_eq!(head("GET", "http://[::1]:81/", &[], 0), "GET / HTTP/1.1\r\nHost: [::1]:81\r\n\r\n");
    }

    #[test]
    fn content_length_zero_only_for_methods_that_carry_a_body() {
        assert!(head("POST", "http://r.example/", &[], 0).contains("Content-Length: 0\r\n"));
        assert!(head("PURGE", "http://r.example/", &[], 0).contains("Content-Length: 0\r\n"));
        assert!(!head("GET", "http://r.example/", &[], 0).contains("Content-Length"));
        assert!(head("GET", "http://r.example/", &[], 3).contains("Content-Length: 3\r\n"));
    }

    #[test]
    fn user_info_becomes_basic_auth_unless_the_request_has_its_own() {
        let got = head("POST", "http://us%40er:p%3Ass@r.example/", &[], 0);
        // base64("us@er:p:ss")
        assert!(got.contains("Authorization: Basic dXNAZXI6cDpzcw==\r\n"), "{got}");
        let got = head("POST", "http://user:pass@r.example/", &[("authorization", b"Bearer x")], 0);
        assert!(!got.contains("Basic"), "{got}");
    }

    #[test]
    fn methods_and_names_must_be_tokens_and_values_free_of_line_breaks() {
        assert!(check_method("PURGE").is_ok());
        assert_eq!(
            check_method("GET /x").unwrap_err().0,
            "`GET /x` is not a valid HTTP method, so the request was not sent"
        );
        assert!(check_header("X-Ok", b"caf\xe9\tok").is_ok());
        assert!(check_header("X Bad", b"v").is_err());
        assert!(check_header("", b"v").is_err());
        for bad in [&b"a\r\nInjected: 1"[..], b"a\nb", b"a\x00b", b"a\x7fb"] {
            assert!(check_header("X-Split", bad).is_err(), "{bad:?}");
        }
    }
}
