//! Whether providers on the internet can reach a capture URL, judged from its host alone: a
//! laptop's `http://127.0.0.1:8080/h/…` pasted into a provider's dashboard never receives
//! anything, and saying so at once saves the first hour of a new user.

use crate::{AddressClass, Url, classify};

/// Why a base URL cannot be reached from the internet; `None` from [`unreachable_reason`] means
/// it may be (a public name or address: DNS and firewalls are not checked).
pub fn unreachable_reason(base_url: &str) -> Option<String> {
    let Ok(url) = Url::parse(base_url.trim()) else {
        return Some(format!("`{base_url}` is not a URL"));
    };
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return match classify(ip) {
            AddressClass::Public => None,
            class => Some(format!("{host} is a {} that providers on the internet cannot reach", class.name())),
        };
    }
    let local_suffix =
        [".localhost", ".local", ".internal", ".lan", ".home.arpa", ".localdomain"].iter().find(|s| host.ends_with(*s));
    if host == "localhost" || local_suffix.is_some() || !host.contains('.') {
        return Some(format!("{host} is a name for this machine or its local network that providers cannot resolve"));
    }
    None
}

/// The two ways a provider's webhooks reach a developer's machine, as commands.
pub fn reachability_advice() -> [&'static str; 2] {
    [
        "run Hookmetry where providers can reach it (a server or the Helm chart) and tell it its public URL: \
         `hookmetry serve --set server.public_url=https://hooks.example.com`",
        "then forward its captures to this machine, no public URL needed here: `hookmetry login --url \
         https://hooks.example.com` and `hookmetry listen <endpoint> --forward-to 3000`",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_are_named_and_public_ones_pass() {
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
            "http://10.1.2.3",
            "http://192.168.1.20:8080",
            "http://0.0.0.0:8080",
            "http://laptop.local",
            "http://hookmetry:8080",
            "http://api.svc.cluster.internal",
        ] {
            assert!(unreachable_reason(local).is_some(), "{local}");
        }
        assert!(unreachable_reason("http://127.0.0.1:8080").unwrap().contains("loopback address"));
        for public in ["https://hooks.example.com", "http://203.0.114.7", "https://[2606:4700::1111]"] {
            assert_eq!(unreachable_reason(public), None, "{public}");
        }
    }
}
