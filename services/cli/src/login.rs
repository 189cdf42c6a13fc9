//! `hookmetry login|logout|whoami`: saves a server URL and token as a named profile, so later
//! commands run without `--url` and `--token`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::client::{self, Client, Connection, DEFAULT_URL, LOCAL_ADMIN_TOKEN, TokenSource};
use crate::error::CliError;
use crate::output::Output;
use crate::profile::{self, Profile, Profiles};

/// The profile `login` writes when `--profile` is not given.
const DEFAULT_PROFILE: &str = "default";

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Make this profile the default even when another one is.
    #[arg(long = "make-default")]
    pub make_default: bool,
    /// Print the result as JSON (the token is never printed).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct WhoamiArgs {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Who a token is, as `me` says.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Me {
    role: String,
    instance_admin: bool,
    token: Named,
    team: Named,
}

#[derive(Debug, Deserialize, Serialize)]
struct Named {
    id: String,
    name: String,
}

const ME: &str = "{ me { role instanceAdmin token { id name } team { id name } } }";

#[derive(Deserialize)]
struct MeData {
    me: Me,
}

fn profiles_path() -> Result<PathBuf, CliError> {
    profile::path()
        .ok_or_else(|| CliError::Usage("no place for profiles: set HOME, XDG_CONFIG_HOME or HOOKMETRY_PROFILES".into()))
}

fn describe(me: &Me) -> String {
    let role = if me.instance_admin { "instance ADMIN".to_string() } else { me.role.clone() };
    format!("token `{}` ({role} of team `{}`)", me.token.name, me.team.name)
}

pub(crate) async fn login(args: LoginArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let path = profiles_path()?;
    let mut profiles = Profiles::load(&path)?;
    let name = profile::validate_name(conn.profile.as_deref().unwrap_or(DEFAULT_PROFILE))?;
    let raw_url = conn
        .url
        .clone()
        .or_else(|| profiles.profiles.get(&name).map(|p| p.url.clone()))
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    let url = client::parse_base_url(&raw_url)?;
    let (token, source) = match conn.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => (t.to_string(), TokenSource::Given),
        None => token_from_elsewhere(&url)?,
    };
    let client = Client::with(url, token.clone(), source)?;
    let me = client.query::<MeData>(ME, serde_json::json!({})).await?.me;
    let first = profiles.default.is_none() || profiles.default.as_deref() == Some(name.as_str());
    profiles.profiles.insert(name.clone(), Profile { url: client.base.clone(), token });
    if first || args.make_default {
        profiles.default = Some(name.clone());
    }
    profiles.save(&path)?;
    let default = profiles.default.as_deref() == Some(name.as_str());
    if args.json {
        return out.json_pretty(&serde_json::json!({
            "profile": name, "url": client.base, "default": default, "file": path, "me": me,
        }));
    }
    let how = if default {
        "the default".to_string()
    } else {
        format!("not the default: pass `--profile {name}` or `hookmetry login --profile {name} --make-default`")
    };
    out.text(&format!(
        "logged in to {} with {}\nsaved as profile `{name}` ({how}) in {}\n",
        client.base,
        describe(&me),
        path.display()
    ))
}

/// No `--token`: a line on stdin when it is piped, the admin token a local `hookmetry serve`
/// wrote in this folder when there is one, else a prompt (only when a person is there to answer
/// it: a script gets the sentence naming `--token` instead).
fn token_from_elsewhere(url: &reqwest::Url) -> Result<(String, TokenSource), CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() && !crate::output::can_ask() {
        if let Ok((token, source)) = client::resolve_token(None, url, Path::new(LOCAL_ADMIN_TOKEN)) {
            eprintln!("note: no token given; using the admin token in ./{LOCAL_ADMIN_TOKEN}");
            return Ok((token, source));
        }
        return Err(CliError::Usage(
            "no token: pass `--token <token>` or set HOOKMETRY_TOKEN (or pipe it on stdin); not asking, as \
             stdout or stderr is not a terminal"
                .into(),
        ));
    }
    if stdin.is_terminal() {
        if let Ok((token, source)) = client::resolve_token(None, url, Path::new(LOCAL_ADMIN_TOKEN)) {
            eprintln!("note: no token given; using the admin token in ./{LOCAL_ADMIN_TOKEN}");
            return Ok((token, source));
        }
        eprint!("API token for {}: ", client::base_string(url));
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let token = line.trim().to_string();
    if token.is_empty()
        && let Ok((token, source)) = client::resolve_token(None, url, Path::new(LOCAL_ADMIN_TOKEN))
    {
        eprintln!("note: no token given; using the admin token in ./{LOCAL_ADMIN_TOKEN}");
        return Ok((token, source));
    }
    if token.is_empty() {
        return Err(CliError::Usage(
            "no token: pass `--token <token>`, or paste one when asked (a server's first start writes an admin \
             token to <data dir>/admin-token; team admins make others in the inspector's team settings)"
                .into(),
        ));
    }
    Ok((token, TokenSource::Given))
}

pub(crate) fn logout(args: LogoutArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let path = profiles_path()?;
    let mut profiles = Profiles::load(&path)?;
    let name = match conn.profile.as_deref() {
        Some(n) => profile::validate_name(n)?,
        None => profiles.default.clone().ok_or_else(|| {
            CliError::Usage(format!("no default profile in {}; name one with `--profile`", path.display()))
        })?,
    };
    if profiles.profiles.remove(&name).is_none() {
        return Err(CliError::NotFound(format!("no profile `{name}` in {}", path.display())));
    }
    if profiles.default.as_deref() == Some(name.as_str()) {
        profiles.default = None;
    }
    profiles.save(&path)?;
    if args.json {
        return out.json_pretty(&serde_json::json!({ "removed": name, "file": path }));
    }
    out.text(&format!(
        "removed profile `{name}` from {}; the token itself stays valid until an admin revokes it\n",
        path.display()
    ))
}

pub(crate) async fn whoami(args: WhoamiArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let client = Client::new(conn)?;
    let me = client.query::<MeData>(ME, serde_json::json!({})).await?.me;
    let from = match &client.source {
        TokenSource::Given => "--token or HOOKMETRY_TOKEN".to_string(),
        TokenSource::Profile { name, file } => format!("profile `{name}` in {}", file.display()),
        TokenSource::LocalFile(p) => format!("./{}", p.display()),
    };
    if args.json {
        return out.json_pretty(&serde_json::json!({ "url": client.base, "tokenFrom": from, "me": me }));
    }
    out.text(&format!("{} at {} (token from {from})\n", describe(&me), client.base))
}
