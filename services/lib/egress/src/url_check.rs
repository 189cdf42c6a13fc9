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
