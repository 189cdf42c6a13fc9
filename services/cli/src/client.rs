//! Where the server is, which token to use, and GraphQL over HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{self, CliError};

/// Where the embedded server's first start writes its admin token, relative to the directory
/// `hookmetry serve` runs in (`server.data_dir` default + `ADMIN_TOKEN_FILE`). Spelled out here
/// because this crate sits below the server crate.
pub const LOCAL_ADMIN_TOKEN: &str = "hookmetry-data/admin-token";

/// How to reach the server, accepted anywhere on the command line (`hookmetry --profile work
/// tail x`, `hookmetry tail x --url …`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Connection {
    /// Base URL of the Hookmetry server [default: the profile's, else http://127.0.0.1:8080].
    #[arg(long, env = "HOOKMETRY_URL", global = true, display_order = 100)]
    pub url: Option<String>,
    /// API token [default: the profile's]. Without one, a server on this machine is tried with
    /// ./hookmetry-data/admin-token (the admin token a first `hookmetry serve` wrote there).
    #[arg(long, env = "HOOKMETRY_TOKEN", hide_env_values = true, global = true, display_order = 101)]
    pub token: Option<String>,
    /// Profile saved by `hookmetry login` [default: the one marked default].
    #[arg(long, env = "HOOKMETRY_PROFILE", global = true, display_order = 102)]
    pub profile: Option<String>,
}

/// Where an unconfigured CLI looks for a server.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// The server's base URL, checked: `http(s)://host[:port][/prefix]`, no trailing slash.
pub(crate) fn parse_base_url(raw: &str) -> Result<Url, CliError> {
    let raw = raw.trim();
    if !raw.contains("://") {
        return Err(CliError::BadUrl(format!("must start with http:// or https://, e.g. `http://{raw}`")));
    }
    let mut url = Url::parse(raw).map_err(|e| CliError::BadUrl(format!("is not a URL ({e}): `{raw}`")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CliError::BadUrl(format!("must start with http:// or https://, got `{raw}`")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(CliError::BadUrl(format!("must be the server's base URL without `?` or `#`, got `{raw}`")));
    }
    // People paste the GraphQL URL they use in GraphiQL; it names the same server.
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/graphql").unwrap_or(path).to_string();
    url.set_path(&path);
    Ok(url)
}

/// `url` as text without the trailing slash `Url` keeps for an empty path.
pub(crate) fn base_string(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// Whether the URL names this machine: only then may a local admin token be sent to it.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where the token came from: said when the server refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenSource {
    Given,
    Profile { name: String, file: PathBuf },
    LocalFile(PathBuf),
}

impl TokenSource {
    /// The sentence for a token `url` refused with `reason`: which token it was and what to do.
    pub fn explain(&self, url: &str, reason: &str) -> String {
        match self {
            TokenSource::Given => {
                format!("the token from --token or HOOKMETRY_TOKEN was not accepted by {url} ({reason})")
            }
            TokenSource::Profile { name, file } => format!(
                "the token of profile `{name}` (in {}) was not accepted by {url} ({reason}); \
                 `hookmetry login --profile {name}` saves a new one",
                file.display()
            ),
            TokenSource::LocalFile(path) => format!(
                "the admin token in ./{} (written by a `hookmetry serve` started in this folder) was not accepted by \
                 {url} ({reason}): that server has another data dir; pass --token, or save a token with \
                 `hookmetry login --url {url}`",
                path.display()
            ),
        }
    }
}

/// The URL and token a command uses, and where the token came from.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub url: Url,
    pub token: String,
    pub source: TokenSource,
}

/// Picks the server and token: flags and environment first, then the profile (its token only
/// for its own URL: a token is never sent to a server it was not saved for), then, for a server
/// on this machine, the local admin-token file.
pub(crate) fn resolve(
    conn: &Connection,
    profiles_file: Option<&Path>,
    local_file: &Path,
) -> Result<Resolved, CliError> {
    // A command that names its server and token reads no profiles: a broken profiles file must
    // not stand in the way of `--url … --token …`.
    let given = conn.url.is_some() && conn.token.as_deref().is_some_and(|t| !t.trim().is_empty());
    let profiles = match profiles_file {
        Some(f) if conn.profile.is_some() || !given => crate::profile::Profiles::load(f)?,
        _ => crate::profile::Profiles::default(),
    };
    let profile = match conn.profile.as_deref().map(crate::profile::validate_name).transpose()? {
        Some(name) => match profiles.profiles.get(&name) {
            Some(p) => Some((name, p)),
            None => {
                let file = profiles_file.map_or("the profiles file".into(), |f| f.display().to_string());
                return Err(CliError::Usage(format!(
                    "no profile `{name}` in {file}; `hookmetry login --profile {name} --url <URL>` makes it"
                )));
            }
        },
        None => profiles.default.as_ref().and_then(|n| profiles.profiles.get(n).map(|p| (n.clone(), p))),
    };
    let url = match (conn.url.as_deref(), &profile) {
        (Some(u), _) => parse_base_url(u)?,
        (None, Some((_, p))) => parse_base_url(&p.url)?,
        (None, None) => parse_base_url(DEFAULT_URL)?,
    };
    if let Some(t) = conn.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        return Ok(Resolved { url, token: t.to_string(), source: TokenSource::Given });
    }
    if let Some((name, p)) = &profile
        && parse_base_url(&p.url).is_ok_and(|u| u == url)
    {
        let file = profiles_file.map(Path::to_path_buf).unwrap_or_default();
        return Ok(Resolved { url, token: p.token.clone(), source: TokenSource::Profile { name: name.clone(), file } });
    }
    let (token, source) = resolve_token(None, &url, local_file)?;
    Ok(Resolved { url, token, source })
}

/// The token to send: the one given, else the local admin-token file when the server is on this
/// machine. A remote URL never gets the local admin token, which is the instance's master key.
pub(crate) fn resolve_token(
    given: Option<&str>,
    url: &Url,
    local_file: &Path,
) -> Result<(String, TokenSource), CliError> {
    if let Some(t) = given.map(str::trim).filter(|t| !t.is_empty()) {
        return Ok((t.to_string(), TokenSource::Given));
    }
    if !is_loopback(url) || !local_file.is_file() {
        return Err(CliError::NoToken);
    }
    let token = std::fs::read_to_string(local_file)
        .map_err(|source| CliError::TokenFile { path: local_file.to_path_buf(), source })?
        .trim()
        .to_string();
    if token.is_empty() {
        return Err(CliError::NoToken);
    }
    Ok((token, TokenSource::LocalFile(local_file.to_path_buf())))
}

/// A GraphQL client bound to one server and token.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    /// Base URL as the user should see it, e.g. `http://127.0.0.1:8080`.
    pub base: String,
    pub base_url: Url,
    pub token: String,
    pub source: TokenSource,
}

impl Client {
    pub fn new(conn: &Connection) -> Result<Self, CliError> {
        let profiles = crate::profile::path();
        let Resolved { url: base_url, token, source } =
            resolve(conn, profiles.as_deref(), Path::new(LOCAL_ADMIN_TOKEN))?;
        if let TokenSource::LocalFile(path) = &source {
            eprintln!("note: no token given; using the admin token in ./{}", path.display());
        }
        Self::with(base_url, token, source)
    }

    /// A client for exactly this URL and token.
    pub fn with(base_url: Url, token: String, source: TokenSource) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hookmetry-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // No overall limit: a capture with a large body takes as long as the network needs.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Transport { url: base_string(&base_url), reason: error::root_reason(&e) })?;
        Ok(Self { http, base: base_string(&base_url), base_url, token, source })
    }

    /// `data` of a query, deserialized into `T`, or the error as a sentence.
    pub async fn query<T: DeserializeOwned>(&self, query: &str, variables: Value) -> Result<T, CliError> {
        let resp = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| error::from_reqwest(&self.base, &e))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| error::from_reqwest(&self.base, &e))?;
        error::decode_response(&self.base, status, &body).map_err(|e| self.explain(e))
    }

    /// `e` with the token's origin when the server refused the token.
    pub fn explain(&self, e: CliError) -> CliError {
        match e {
            CliError::Unauthorized(reason) => CliError::Rejected(self.source.explain(&self.base, &reason)),
            e => e,
        }
    }

    /// `ws(s)://…/graphql/ws` for subscriptions.
    pub fn ws_url(&self) -> String {
        let mut url = self.base_url.clone();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // Only fails for schemes that cannot change, and http(s) → ws(s) can.
        let _ = url.set_scheme(scheme);
        format!("{}/graphql/ws", base_string(&url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised_and_checked() {
        assert_eq!(base_string(&parse_base_url("http://127.0.0.1:8080").unwrap()), "http://127.0.0.1:8080");
        assert_eq!(base_string(&parse_base_url("http://127.0.0.1:8080/").unwrap()), "http://127.0.0.1:8080");
        assert_eq!(base_string(&parse_base_url("https://h.example/hm/graphql/").unwrap()), "https://h.example/hm");
        let e = parse_base_url("127.0.0.1:8080").unwrap_err().to_string();
        assert_eq!(e, "`--url` must start with http:// or https://, e.g. `http://127.0.0.1:8080`");
        let e = parse_base_url("ftp://h").unwrap_err().to_string();
        assert!(e.starts_with("`--url` must start with http:// or https://"), "{e}");
        let e = parse_base_url("http://exa mple").unwrap_err().to_string();
        assert!(e.starts_with("`--url` is not a URL"), "{e}");
        assert!(parse_base_url("http://h/?x=1").is_err());
    }

    #[test]
    fn ws_url_follows_the_scheme() {
        let conn = |url: &str| Connection { url: Some(url.into()), token: Some("t".into()), profile: None };
        assert_eq!(Client::new(&conn("http://127.0.0.1:8080")).unwrap().ws_url(), "ws://127.0.0.1:8080/graphql/ws");
        assert_eq!(Client::new(&conn("https://h.example/hm/")).unwrap().ws_url(), "wss://h.example/hm/graphql/ws");
    }

    #[test]
    fn a_broken_profiles_file_is_read_only_when_a_profile_is_needed() {
        let dir = std::env::temp_dir().join(format!("hookmetry-cli-broken-profiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("profiles.toml");
        std::fs::write(&file, "default = [").unwrap();
        let none = dir.join("no-admin-token");
        let conn = |url: Option<&str>, token: Option<&str>| Connection {
            url: url.map(Into::into),
            token: token.map(Into::into),
            profile: None,
        };
        let given = resolve(&conn(Some("http://h.example"), Some("hm_t")), Some(&file), &none).unwrap();
        assert_eq!((given.token.as_str(), given.source), ("hm_t", TokenSource::Given));
        let e = resolve(&conn(Some("http://h.example"), None), Some(&file), &none).unwrap_err().to_string();
        assert!(e.starts_with(&format!("the profiles file {} is not valid", file.display())), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_falls_back_to_the_local_file_only_for_a_local_server() {
        let dir = std::env::temp_dir().join(format!("hookmetry-cli-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("admin-token");
        let local = parse_base_url("http://127.0.0.1:8080").unwrap();
        let remote = parse_base_url("https://hooks.example.com").unwrap();

        assert!(matches!(resolve_token(None, &local, &file), Err(CliError::NoToken)));
        std::fs::write(&file, "hm_secret\n").unwrap();
        assert_eq!(
            resolve_token(None, &local, &file).unwrap(),
            ("hm_secret".into(), TokenSource::LocalFile(file.clone()))
        );
        let localhost = parse_base_url("http://localhost:9000").unwrap();
        assert_eq!(resolve_token(Some(""), &localhost, &file).unwrap().0, "hm_secret");
        assert!(matches!(resolve_token(None, &remote, &file), Err(CliError::NoToken)), "never sent to another host");
        assert_eq!(resolve_token(Some(" hm_given "), &remote, &file).unwrap(), ("hm_given".into(), TokenSource::Given));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
