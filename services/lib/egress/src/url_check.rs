use std::net::IpAddr;

use url::Url;

use crate::error::EgressError;
use crate::policy::EgressPolicy;

/// Checks a target URL before anything is sent to it.
///
/// Only `http` and `https` are replayed. A host that is an IP address is checked against the
/// policy here, because an IP literal is connected to without a lookup; a host name passes, and
/// [`crate::resolve_allowed`] checks what it resolves to at connect time.
///
/// The `url` crate has already rewritten other IPv4 spellings (`2130706433`, `0x7f.1`,
/// `0177.0.0.1`, `127.1`, `127.0.0.1.`) to dotted decimal, the same parse the client connects with,
/// so they are caught as the address they spell.
///
/// User info (`https://user:secret@host/`) is accepted: some receivers take basic auth that way,
/// and it cannot change where the request goes, since the host checked is the host connected to.
pub fn check_url(url: &Url, policy: &EgressPolicy) -> Result<(), EgressError> {
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(EgressError::bad_url(format!("only http and https URLs can be replayed, not {other}")));
        }
    }
    let host = match url.host_str() {
        Some(host) if !host.is_empty() => host,
        _ => return Err(EgressError::bad_url("the URL has no host")),
    };
    // IPv6 literals come bracketed from `host_str`.
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(addr) => policy.check(host, addr),
        Err(_) => Ok(()),
    }
}

/// The base in `own_bases` (this instance's capture base URLs) that `url` is a capture URL of:
/// same host and port (scheme aside: a TLS proxy in front changes it) and a path under
/// `<base path>/h/`. Forwarding to it would capture the request again, in a loop.
pub fn own_capture_base<'a>(url: &Url, own_bases: &'a [String]) -> Option<&'a str> {
    let host = |u: &Url| u.host_str().map(|h| h.trim_end_matches('.').to_ascii_lowercase());
    own_bases.iter().map(String::as_str).find(|base| {
        let Ok(b) = Url::parse(base) else { return false };
        let prefix = format!("{}/h/", b.path().trim_end_matches('/'));
        host(&b) == host(url)
            && b.port_or_known_default() == url.port_or_known_default()
            && url.path().starts_with(&prefix)
    })
}

/// `bases` plus, for each one on this machine (a loopback or unspecified address, or
/// `localhost`), the other spellings that reach the same port here: `localhost`, `127.0.0.1`,
/// `[::1]`. A target can name this instance by any of them.
pub fn with_local_aliases(bases: &[String]) -> Vec<String> {
    let mut out: Vec<String> = bases.to_vec();
    for base in bases {
        let Ok(u) = Url::parse(base) else { continue };
        let local = match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
            None => false,
        };
        if let (true, Some(port)) = (local, u.port_or_known_default()) {
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                out.push(format!("{}://{host}:{port}{}", u.scheme(), u.path().trim_end_matches('/')));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod own_tests {
    use super::*;

    #[test]
    fn capture_urls_of_this_instance_are_recognised_by_host_port_and_path() {
        let bases = vec!["http://127.0.0.1:8080".to_string(), "https://hooks.example.com/hm".to_string()];
        let own = |u: &str| own_capture_base(&Url::parse(u).unwrap(), &bases);
        assert_eq!(own("http://127.0.0.1:8080/h/abc"), Some("http://127.0.0.1:8080"));
        assert_eq!(own("https://HOOKS.example.com./hm/h/abc/x?y"), Some("https://hooks.example.com/hm"));
        assert_eq!(own("http://hooks.example.com:443/hm/h/abc"), Some("https://hooks.example.com/hm"));
        assert_eq!(own("http://127.0.0.1:8081/h/abc"), None);
        assert_eq!(own("http://127.0.0.1:8080/hook"), None);
        assert_eq!(own("https://hooks.example.com/h/abc"), None);
        let local = with_local_aliases(&["http://0.0.0.0:8080".to_string()]);
        assert!(own_capture_base(&Url::parse("http://localhost:8080/h/x").unwrap(), &local).is_some(), "{local:?}");
        assert!(own_capture_base(&Url::parse("http://[::1]:8080/h/x").unwrap(), &local).is_some(), "{local:?}");
        assert!(own_capture_base(&Url::parse("http://localhost:8081/h/x").unwrap(), &local).is_none());
    }
}
