//! Where a replay (or `listen`) sends requests on this machine, as people type it: `3000`,
//! `:3000`, `localhost:3000/hook`, or a full `http(s)://` URL.

use reqwest::Url;

use crate::error::CliError;

/// `raw` as the URL to send to. A bare port or `:port` means `http://localhost:<port>/`; a
/// `host:port[/path]` without a scheme gets `http://` (a local server rarely speaks TLS); a URL
/// with a scheme must be http or https and is taken as it is. Anything else is refused with a
/// sentence naming what was typed.
pub(crate) fn parse_local_target(flag: &str, raw: &str) -> Result<Url, CliError> {
    let raw = raw.trim();
    let refuse = |why: &str| {
        CliError::Usage(format!(
            "`{flag}` `{raw}` is not a target URL ({why}); give a port (`3000`), `localhost:3000/hook`, or a full \
             http(s) URL"
        ))
    };
    if raw.is_empty() {
        return Err(refuse("it is empty"));
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else if let Some(port) = raw.strip_prefix(':').or_else(|| raw.bytes().all(|b| b.is_ascii_digit()).then_some(raw))
    {
        check_port(port).map_err(|why| refuse(&why))?;
        format!("http://localhost:{port}/")
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| refuse(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("only http and https are sent to"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("it has no host"));
    }
    Ok(url)
}

/// The HTTP/1.1 client (exact header order, as the replay worker sends) for requests the user
/// aims from their own machine at a server they chose: anything on it or their network is fair,
/// except the cloud metadata addresses no class toggle opens. Redirects are reported, not
/// followed: the server answers for itself.
pub(crate) fn local_client(
    connect_timeout: std::time::Duration,
    total_timeout: std::time::Duration,
    max_response_body_bytes: usize,
) -> Result<hookmetry_egress::http1::Client, CliError> {
    use hookmetry_egress::EgressPolicy;
    hookmetry_egress::http1::Client::new(hookmetry_egress::http1::ClientSettings {
        policy: EgressPolicy {
            allow_loopback: true,
            allow_private: true,
            allow_link_local: true,
            ..EgressPolicy::cluster()
        },
        connect_timeout,
        total_timeout,
        max_response_body_bytes,
        follow_redirects: false,
        extra_root_certificates: Vec::new(),
        pool: hookmetry_egress::http1::PoolSettings::default(),
    })
    .map_err(|e| CliError::Usage(format!("cannot start the HTTP client: {e}")))
}

/// `port` is a TCP port a server can listen on (1 to 65535); the reason otherwise.
fn check_port(port: &str) -> Result<(), String> {
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{port}` is not a port between 1 and 65535")),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        parse_local_target("--to", raw).unwrap_or_else(|e| panic!("{raw}: {e}")).to_string()
    }

    #[test]
    fn ports_and_hosts_without_a_scheme_are_local_http() {
        assert_eq!(ok("3000"), "http://localhost:3000/");
        assert_eq!(ok(":3000"), "http://localhost:3000/");
        assert_eq!(ok(" 8080 "), "http://localhost:8080/");
        assert_eq!(ok("localhost:3000/hook"), "http://localhost:3000/hook");
        assert_eq!(ok("127.0.0.1:4242"), "http://127.0.0.1:4242/");
        assert_eq!(ok("localhost:3000/hook?x=1"), "http://localhost:3000/hook?x=1");
    }

    #[test]
    fn full_urls_are_taken_as_they_are() {
        assert_eq!(ok("http://localhost:3000/webhooks"), "http://localhost:3000/webhooks");
        assert_eq!(ok("https://receiver.example/in"), "https://receiver.example/in");
    }

    #[test]
    fn anything_else_is_a_sentence() {
        let e = parse_local_target("--to", "ftp://host/x").unwrap_err().to_string();
        assert_eq!(
            e,
            "`--to` `ftp://host/x` is not a target URL (only http and https are sent to); give a port (`3000`), \
             `localhost:3000/hook`, or a full http(s) URL"
        );
        assert!(parse_local_target("--to", "70000").unwrap_err().to_string().contains("`70000` is not a port"));
        assert!(parse_local_target("--to", ":0").unwrap_err().to_string().contains("`0` is not a port"));
        assert!(parse_local_target("--to", "").unwrap_err().to_string().contains("it is empty"));
        assert!(parse_local_target("--to", "http://").is_err());
        assert!(parse_local_target("--to", "local host:3000").is_err());
    }
}
