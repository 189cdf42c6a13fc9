//! `hookmetry listen <endpoint> --forward-to http://localhost:3000/hook`: forwards each capture
//! of an endpoint to a server on this machine, through the `captureReceived` subscription (no
//! inbound port, no public URL), and reports every attempt back with `reportListenerAttempt`, so
//! teammates see what the local server answered.
//!
//! Two halves run side by side:
//! - the **feed** keeps a subscription open (reconnecting with backoff like `tail`) and queues
//!   captures in id order, each once. Before going live it queues what the listener missed: a
//!   named listener (`--name`) everything after its server-side cursor, which `startListener`
//!   sets when it first starts, so a capture sent while it is stopped is never skipped; any
//!   listener, after a reconnection, what arrived while it was disconnected;
//! - the **forwarder** sends queued captures one at a time. A failure the `--retry` policy
//!   retries is scheduled again with capped backoff while later captures go on (`--ordered`
//!   holds them back instead); other failures are recorded and skipped.
//!
//! A named listener holds a lease on its name (one running process per name; `--takeover`
//! hands it over) and re-signs each forward with a fresh timestamp when the endpoint checks
//! signatures (`--no-resign` keeps the provider's), so a receiver checking timestamps accepts
//! what it missed while offline.
//!
//! Its cursor moves to the newest capture such that every capture up to it is finished
//! (delivered, skipped or given up), reported with each attempt. A listener stopped between
//! the local server's answer and that report delivers the capture again when it comes back:
//! delivery is at least once.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant as StdInstant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use hookmetry_core::Header as CoreHeader;
use hookmetry_egress::Url;
use hookmetry_egress::http1::{self, FailureKind};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Client, Connection};
use crate::endpoint;
use crate::error::CliError;
use crate::format;
use crate::history;
use crate::model::{CAPTURE_FIELDS, Capture, Endpoint};
use crate::output::Output;
use crate::tail::{self, Backoff, End, PING_EVERY, SETTLE, SILENCE_LIMIT, Step};

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// Endpoint id, or the exact name of one endpoint of the team.
    pub endpoint: String,
    /// Team whose names `<ENDPOINT>` is looked up in [default: the token's team].
    #[arg(long)]
    pub team: Option<String>,
    /// Where to send each capture: a port (`3000`), `host:port[/path]` (http:// is assumed) or
    /// a full URL; the capture's path and query are appended to its path.
    #[arg(long = "forward-to", value_name = "URL")]
    pub forward_to: String,
    /// Makes the listener durable: started again with the same name (and endpoint), it first
    /// delivers, in order, what arrived while it was stopped. One process per name runs at a
    /// time. Letters, digits, `.`, `-`, `_`.
    #[arg(long)]
    pub name: Option<String>,
    /// Take the name over from a listener still running with it (that one stops).
    #[arg(long, requires = "name")]
    pub takeover: bool,
    /// Re-sign each forward with the endpoint's current secret and a fresh timestamp [default:
    /// on when the endpoint checks signatures and has a secret].
    #[arg(long, conflicts_with = "no_resign")]
    pub resign: bool,
    /// Forward the provider's original signature, even when it has gone stale.
    #[arg(long = "no-resign")]
    pub no_resign: bool,
    /// Failures that are retried, comma-separated: `5xx`, `4xx`, `connect` (refused, reset,
    /// TLS, no route), `timeout`, `all` or `none`. Others are recorded and skipped.
    #[arg(long, default_value = "5xx,connect", value_name = "CLASSES")]
    pub retry: String,
    /// Keep order: a capture being retried holds back every later one.
    #[arg(long)]
    pub ordered: bool,
    /// Forward only these event types, comma-separated; `*` matches any run of characters
    /// (`charge.*,customer.created`). Captures without a recognised type are skipped.
    #[arg(long, value_name = "TYPES")]
    pub events: Option<String>,
    /// Rewrites a capture path starting with FROM to start with TO instead (first match wins),
    /// e.g. `--path-map /stripe=/webhooks/stripe`. Repeatable.
    #[arg(long = "path-map", value_name = "FROM=TO")]
    pub path_map: Vec<String>,
    /// Forward only captures with exactly this method.
    #[arg(long)]
    pub method: Option<String>,
    /// Forward only captures whose path (after `/h/<token>`) starts with this.
    #[arg(long = "path-prefix", value_name = "PREFIX")]
    pub path_prefix: Option<String>,
    /// Forward only captures with this header (any case), whose value contains CONTAINS if given.
    #[arg(long, value_name = "NAME[:CONTAINS]")]
    pub header: Option<String>,
    /// Attempts per capture before giving up on it.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_attempts: u32,
    /// Time limit of one attempt, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Most attempts per capture (the server's limit too).
const MAX_ATTEMPTS: u32 = 1_000;
/// Most captures queued after an interruption; the oldest missed ones past it are skipped
/// with a note (they stay readable with `captures`).
const CATCH_UP_MAX: usize = 10_000;
/// Captures waiting for the forwarder. When full the feed stops reading the subscription; the
/// server then ends it as lagged, and the feed catches up from the last queued capture.
const QUEUE: usize = 1_000;
/// Response body bytes reported per attempt.
const REPORTED_BODY: usize = 64 * 1024;
/// Wait before attempt n+1: `RETRY_INITIAL × 2^(n−1)`, at most `RETRY_MAX`.
const RETRY_INITIAL: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Which failures are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct RetryPolicy {
    status_5xx: bool,
    status_4xx: bool,
    connect: bool,
    timeout: bool,
}

impl RetryPolicy {
    fn parse(raw: &str) -> Result<Self, CliError> {
        let mut p = Self::default();
        for class in raw.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match class.to_ascii_lowercase().as_str() {
                "5xx" => p.status_5xx = true,
                "4xx" => p.status_4xx = true,
                "connect" => p.connect = true,
                "timeout" => p.timeout = true,
                "all" => p = Self { status_5xx: true, status_4xx: true, connect: true, timeout: true },
                "none" => p = Self::default(),
                _ => {
                    return Err(CliError::Usage(format!(
                        "`--retry` takes 5xx, 4xx, connect, timeout, all or none, comma-separated; got `{class}`"
                    )));
                }
            }
        }
        Ok(p)
    }

    /// Whether an attempt that met `o` is tried again.
    fn retries(&self, o: &Outcome) -> bool {
        match (o.error, o.status) {
            (None, _) => false,
            (Some("STATUS"), Some(s)) if (500..600).contains(&s) => self.status_5xx,
            (Some("STATUS"), Some(_)) => self.status_4xx,
            (Some("TIMEOUT"), _) => self.timeout,
            (Some("CONNECT" | "RESET" | "TLS"), _) => self.connect,
            _ => false,
        }
    }
}

/// `--events`: type patterns with `*` wildcards.
fn event_matches(pattern: &str, event: &str) -> bool {
    hookmetry_core::event_type_matches(pattern, event)
}

/// What the flags say, checked before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    forward_to: Url,
    name: Option<String>,
    takeover: bool,
    /// `Some` when a flag decided; `None`: when the endpoint checks signatures.
    resign: Option<bool>,
    retry: RetryPolicy,
    ordered: bool,
    events: Option<Vec<String>>,
    path_map: Vec<(String, String)>,
    method: Option<String>,
    path_prefix: Option<String>,
    header: Option<(String, String)>,
    max_attempts: u32,
    timeout: Duration,
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Plan {
    fn of(args: &ListenArgs) -> Result<Self, CliError> {
        let forward_to = crate::target::parse_local_target("--forward-to", &args.forward_to)?;
        let events = match args.events.as_deref() {
            None => None,
            Some(raw) => {
                let list: Vec<String> =
                    raw.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
                if list.is_empty() || list.iter().any(|e| e.len() > 200 || e.chars().any(char::is_whitespace)) {
                    return Err(CliError::Usage(format!(
                        "`--events` must be event types separated by commas, such as `charge.*,customer.created`, got `{raw}`"
                    )));
                }
                Some(list)
            }
        };
        let name = match args.name.as_deref().map(str::trim) {
            None => None,
            Some(n)
                if !n.is_empty()
                    && n.len() <= 64
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) =>
            {
                Some(n.to_owned())
            }
            Some(n) => {
                return Err(CliError::Usage(format!(
                    "`--name` must be 1 to 64 letters, digits, `.`, `-` or `_`, got `{n}`"
                )));
            }
        };
        let mut path_map = Vec::new();
        for m in &args.path_map {
            match m.split_once('=') {
                Some((from, to)) if from.starts_with('/') && to.starts_with('/') => {
                    path_map.push((from.to_owned(), to.to_owned()))
                }
                _ => {
                    return Err(CliError::Usage(format!(
                        "`--path-map` must be FROM=TO with both paths starting with `/`, e.g. \
                         `/stripe=/webhooks/stripe`, got `{m}`"
                    )));
                }
            }
        }
        if let Some(m) = &args.method
            && !is_token(m)
        {
            return Err(CliError::Usage(format!("`--method` must be an HTTP method such as POST, got `{m}`")));
        }
        if let Some(p) = &args.path_prefix
            && !p.starts_with('/')
        {
            return Err(CliError::Usage(format!("`--path-prefix` must start with `/`, got `{p}`")));
        }
        let header = match &args.header {
            None => None,
            Some(h) => {
                let (name, contains) = h.split_once(':').unwrap_or((h.as_str(), ""));
                let name = name.trim();
                if !is_token(name) {
                    return Err(CliError::Usage(format!(
                        "`--header` must be NAME or NAME:CONTAINS with a header name such as X-GitHub-Event, got `{h}`"
                    )));
                }
                Some((name.to_owned(), contains.trim_start().to_owned()))
            }
        };
        if !(1..=MAX_ATTEMPTS).contains(&args.max_attempts) {
            return Err(CliError::Usage(format!(
                "`--max-attempts` must be 1 to {MAX_ATTEMPTS}, got {}",
                args.max_attempts
            )));
        }
        if args.timeout == 0 {
            return Err(CliError::Usage("`--timeout` must be at least 1 second".into()));
        }
        Ok(Self {
            forward_to,
            name,
            takeover: args.takeover,
            resign: if args.resign {
                Some(true)
            } else if args.no_resign {
                Some(false)
            } else {
                None
            },
            retry: RetryPolicy::parse(&args.retry)?,
            ordered: args.ordered,
            events,
            path_map,
            method: args.method.clone(),
            path_prefix: args.path_prefix.clone(),
            header,
            max_attempts: args.max_attempts,
            timeout: Duration::from_secs(args.timeout),
        })
    }

    /// Whether this listener forwards `c`, of event type `event` (every filter given must hold).
    fn wants(&self, c: &Capture, event: Option<&str>) -> bool {
        self.events.as_ref().is_none_or(|pats| event.is_some_and(|e| pats.iter().any(|p| event_matches(p, e))))
            && self.method.as_ref().is_none_or(|m| *m == c.method)
            && self.path_prefix.as_ref().is_none_or(|p| c.path.starts_with(p.as_str()))
            && self.header.as_ref().is_none_or(|(name, contains)| {
                c.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case(name)
                        && B64.decode(&h.value_base64).is_ok_and(|v| {
                            contains.is_empty() || v.windows(contains.len()).any(|w| w == contains.as_bytes())
                        })
                })
            })
    }

    /// `c`'s path after `--path-map`.
    fn mapped_path(&self, c: &Capture) -> String {
        self.path_map
            .iter()
            .find_map(|(from, to)| c.path.strip_prefix(from.as_str()).map(|rest| map_path(from, to, rest)))
            .unwrap_or_else(|| c.path.clone())
    }

    /// The mapped path when its `..` segments would climb above `--forward-to`'s path: such a
    /// capture is not sent (see `hookmetry_core::path_climbs`).
    fn climbing_path(&self, c: &Capture) -> Option<String> {
        let path = self.mapped_path(c);
        hookmetry_core::path_climbs(&path).then_some(path)
    }

    /// Where `c` goes: `--path-map` applied to its path, appended to `--forward-to` with the
    /// query, as the replay worker builds a target URL.
    fn url_for(&self, c: &Capture) -> Url {
        let path = self.mapped_path(c);
        let mut url = self.forward_to.clone();
        url.set_fragment(None);
        if !path.is_empty() && path != "/" {
            let base = url.path();
            let base = base.strip_suffix('/').unwrap_or(base);
            let joined = if path.starts_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") };
            url.set_path(&joined);
        }
        match (url.query().map(str::to_owned), c.query.as_deref()) {
            (_, None) => {}
            (Some(own), Some("")) if !own.is_empty() => {}
            (None, Some(q)) => url.set_query(Some(q)),
            (Some(own), Some(q)) if own.is_empty() => url.set_query(Some(q)),
            (Some(own), Some(q)) => url.set_query(Some(&format!("{own}&{q}"))),
        }
        url
    }
}

/// `to` in place of `from` before `rest`, keeping one `/` where `from` ended with one
/// (`/=/other` maps `/github` to `/other/github`).
fn map_path(from: &str, to: &str, rest: &str) -> String {
    match (to.ends_with('/'), rest.starts_with('/')) {
        (true, true) => format!("{to}{}", &rest[1..]),
        (false, false) if from.ends_with('/') && !rest.is_empty() => format!("{to}/{rest}"),
        _ => format!("{to}{rest}"),
    }
}

/// A capture to forward, and whether it arrived while this listener was not subscribed.
struct Queued {
    capture: Capture,
    missed: bool,
}

pub(crate) async fn run(args: ListenArgs, conn: &Connection, out: &mut Output) -> Result<(), CliError> {
    let plan = Plan::of(&args)?;
    let client = Client::new(conn)?;
    let endpoint = endpoint::resolve(&client, &args.endpoint, args.team.as_deref()).await?;
    // Forwarding into a capture URL of the same server would capture every forward again.
    let capture_base = endpoint.url.rsplit_once("/h/").map_or(endpoint.url.as_str(), |(base, _)| base).to_string();
    let own = hookmetry_egress::with_local_aliases(&[client.base.clone(), capture_base]);
    if let Some(base) = hookmetry_egress::own_capture_base(&plan.forward_to, &own) {
        return Err(CliError::Usage(format!(
            "`--forward-to` {} is a capture URL of this Hookmetry (under {base}/h/): every capture forwarded there would be captured and forwarded again",
            plan.forward_to
        )));
    }
    let signs = signing_provider(&client, &endpoint.id).await?;
    let resign = match (plan.resign, &signs) {
        (Some(true), None) => {
            return Err(CliError::Usage(format!(
                "`--resign`: endpoint `{}` has no signature provider and secret to sign with; set them with \
                 `hookmetry endpoint update {} --verify-provider …`",
                endpoint.name, endpoint.name
            )));
        }
        (Some(choice), _) => choice,
        (None, signs) => signs.is_some(),
    };
    // An unnamed listener still reports under a name, made up for this run, so its attempts
    // land on one delivery per capture; it keeps no cursor and holds no lease.
    let name = plan.name.clone().unwrap_or_else(|| {
        // The tail of a UUIDv7 is random; its head is the time.
        let id = hookmetry_core::DeliveryId::new().to_string();
        format!("anonymous-{}", &id[id.len() - 8..])
    });
    let lease = match &plan.name {
        Some(name) => Some(Lease::start(&client, &endpoint.id, name, plan.takeover).await?),
        None => None,
    };
    let http = crate::target::local_client(plan.timeout, plan.timeout, REPORTED_BODY)?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let resign_note = match (&signs, resign) {
        (Some(p), true) => {
            format!("; re-signing each forward as `{p}` with a fresh timestamp (--no-resign keeps the original)")
        }
        (Some(_), false) => "; forwarding the provider's original signatures (--no-resign)".to_string(),
        (None, _) => String::new(),
    };
    let mut feed = Feed {
        client: client.clone(),
        endpoint,
        name: name.clone(),
        durable: plan.name.is_some(),
        forward_to: plan.forward_to.to_string(),
        start_cursor: lease.as_ref().map(|l| l.cursor.clone()),
        note: resign_note,
        tx,
        last_queued: None,
        recent: VecDeque::new(),
        backoff: Backoff::default(),
        live_before: false,
        floor: None,
    };
    let mut forwarder = Forwarder {
        client: client.clone(),
        reporting: true,
        resign,
        resign_failed: false,
        http,
        plan,
        name,
        out,
        window: BTreeMap::new(),
        watermark: None,
        retries: BTreeMap::new(),
    };
    let keep = async {
        match &lease {
            Some(l) => l.keep(&client).await,
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = feed.run() => r,
        r = forwarder.run(rx) => r,
        r = keep => r,
        // Ctrl-C (or a closed terminal, or `kill`) is how a listener is meant to end; an attempt
        // in flight is not reported, so a named listener sends that capture again when it
        // comes back.
        _ = stop_signal() => Ok(()),
    };
    if let Some(l) = &lease {
        l.stop(&client).await;
    }
    result
}

/// SIGINT, SIGTERM or SIGHUP.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hup.recv() => {}
    }
}

/// The endpoint's signature provider when it checks signatures and has a secret to sign with.
async fn signing_provider(client: &Client, endpoint_id: &str) -> Result<Option<String>, CliError> {
    #[derive(Deserialize)]
    struct Data {
        endpoint: Option<Ep>,
    }
    #[derive(Deserialize)]
    struct Ep {
        verification: Option<Settings>,
    }
    #[derive(Deserialize)]
    struct Settings {
        provider: String,
        secrets: Vec<Value>,
    }
    let q = "query($id: ID!) { endpoint(id: $id) { verification { provider secrets { label } } } }";
    let data: Data = client.query(q, json!({ "id": endpoint_id })).await?;
    Ok(data.endpoint.and_then(|e| e.verification).filter(|v| !v.secrets.is_empty()).map(|v| v.provider))
}

/// A named listener's hold on its name: one running process per name.
struct Lease {
    /// Where this machine keeps the holder id, so a listener that was killed (no chance to
    /// release its lease) is not refused by its own lease when started again.
    state: Option<std::path::PathBuf>,
    endpoint_id: String,
    name: String,
    holder: String,
    description: String,
    /// Where the listener stands at its start: captures after this one are its to deliver.
    cursor: String,
}

/// Listeners renew their lease this often (a third of the server's 30 s lease).
const RENEW_EVERY: Duration = Duration::from_secs(10);

impl Lease {
    async fn start(client: &Client, endpoint_id: &str, name: &str, takeover: bool) -> Result<Self, CliError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            start_listener: Started,
        }
        #[derive(Deserialize)]
        struct Started {
            cursor: Cursor,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Cursor {
            capture_id: String,
        }
        let state = holder_file(&client.base, endpoint_id, name);
        let holder = state.as_deref().and_then(reusable_holder).unwrap_or_else(|| {
            let id = hookmetry_core::DeliveryId::new().to_string();
            format!("listen-{}", &id[id.len() - 12..])
        });
        let description = format!("{} pid {}", host_name(), std::process::id());
        let q = "mutation($input: StartListenerInput!) { startListener(input: $input) { cursor { captureId } } }";
        let input = json!({
            "endpointId": endpoint_id, "name": name, "holder": holder, "description": description, "takeover": takeover,
        });
        let started = client.query::<Data>(q, json!({ "input": input })).await?.start_listener;
        if let Some(path) = &state {
            remember_holder(path, &holder);
        }
        Ok(Self {
            state,
            endpoint_id: endpoint_id.to_owned(),
            name: name.to_owned(),
            holder,
            description,
            cursor: started.cursor.capture_id,
        })
    }

    fn input(&self) -> Value {
        json!({ "endpointId": self.endpoint_id, "name": self.name, "holder": self.holder, "description": self.description })
    }

    /// Renews until another process takes the name over, which ends this listener.
    async fn keep(&self, client: &Client) -> Result<(), CliError> {
        let q = "mutation($input: ListenerLeaseInput!) { renewListener(input: $input) { expiresAt } }";
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match client.query::<Value>(q, json!({ "input": self.input() })).await {
                Ok(_) => {}
                Err(e) if e.code() == Some("CONFLICT") => {
                    return Err(CliError::Usage(format!("{e}; this listener stops")));
                }
                // The lease outlives a few failed renewals; a longer outage may let another
                // process take the name, which the next renewal then says.
                Err(e) => eprintln!("note: could not renew the lease on listener `{}`: {e}", self.name),
            }
        }
    }

    /// Frees the name at once rather than when the lease runs out.
    async fn stop(&self, client: &Client) {
        let q = "mutation($input: ListenerLeaseInput!) { stopListener(input: $input) }";
        let stop = client.query::<Value>(q, json!({ "input": self.input() }));
        let _ = tokio::time::timeout(Duration::from_secs(3), stop).await;
        if let Some(path) = &self.state {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `<config dir>/listeners/<hash of server, endpoint and name>`: `HOLDER PID` of the last
/// process that ran this listener on this machine.
fn holder_file(server: &str, endpoint_id: &str, name: &str) -> Option<std::path::PathBuf> {
    use sha2::Digest as _;
    let dir = crate::profile::path()?.parent()?.join("listeners");
    let key = sha2::Sha256::digest(format!("{server}\n{endpoint_id}\n{name}"));
    let hex: String = key.iter().take(12).map(|b| format!("{b:02x}")).collect();
    Some(dir.join(hex))
}

/// The holder id in `path` when the process that used it is gone: its lease is this machine's
/// to take again. A process still running keeps it, and the server refuses the newcomer.
fn reusable_holder(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let (holder, pid) = text.trim().split_once(' ')?;
    let pid: u32 = pid.parse().ok()?;
    let alive = pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists();
    (!alive && holder.starts_with("listen-")).then(|| holder.to_owned())
}

fn remember_holder(path: &std::path::Path, holder: &str) {
    let Some(dir) = path.parent() else { return };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    if builder.create(dir).is_ok() {
        let _ = std::fs::write(path, format!("{holder} {}\n", std::process::id()));
    }
}

/// This machine's name, for the sentence a second listener of the same name gets.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unnamed host".into())
}

struct Feed {
    client: Client,
    endpoint: Endpoint,
    name: String,
    durable: bool,
    forward_to: String,
    /// A named listener's cursor as `startListener` gave it.
    start_cursor: Option<String>,
    /// Said once, when the listener first goes live.
    note: String,
    tx: mpsc::Sender<Queued>,
    /// The newest capture id queued (or, when nothing was, where the listener started).
    last_queued: Option<String>,
    /// The last ids queued, so a capture both caught up and received live is sent once.
    recent: VecDeque<String>,
    backoff: Backoff,
    live_before: bool,
    /// Where the listener started: its cursor, or the newest capture at its first start.
    /// Captures up to here are finished or history, even when their live event comes late (the
    /// processor announces a capture after storing it, so one stored just before the start
    /// may still arrive on the fresh subscription).
    floor: Option<String>,
}

impl Feed {
    async fn run(&mut self) -> Result<(), CliError> {
        loop {
            match self.session().await {
                End::Fatal(e) => return Err(e),
                End::Lagged(message) => {
                    eprintln!("note: the server ended the live stream ({message}); resubscribing and catching up")
                }
                End::Dropped(reason) => {
                    let wait = self.backoff.next_delay();
                    eprintln!("note: {reason}; reconnecting in {}", tail::seconds(wait));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn session(&mut self) -> End {
        let mut ws = match tail::connect(&self.client).await {
            Ok(ws) => ws,
            Err(end) => return end,
        };
        if let Err(end) = tail::handshake(&self.client, &mut ws).await {
            return end;
        }
        self.backoff.reset();
        let query = format!(
            "subscription($e: ID!, $l: String) {{ captureReceived(endpointId: $e, listener: $l) {{ {CAPTURE_FIELDS} }} }}"
        );
        let subscribe = json!({
            "id": "1",
            "type": "subscribe",
            "payload": { "query": query, "variables": { "e": self.endpoint.id, "l": self.name } },
        });
        if let Err(e) = ws.send(Message::text(subscribe.to_string())).await {
            return tail::dropped(&e);
        }
        // Subscribed first, caught up second: a capture stored in between comes both ways and
        // is queued once; none falls between the two.
        let mut live = Vec::new();
        let settle = tokio::time::sleep(SETTLE);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                _ = &mut settle => break,
                m = ws.next() => match tail::incoming(&self.client, &self.endpoint, m, &mut ws).await {
                    Step::Capture(c) => live.push(*c),
                    Step::Continue => {}
                    Step::End(end) => return end,
                },
            }
        }
        let caught_up = match self.catch_up().await {
            Ok(n) => n,
            Err(e) => return self.end_for(e),
        };
        for c in live {
            if let Err(end) = self.queue(c, false).await {
                return end;
            }
        }
        self.announce(caught_up);

        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                m = ws.next() => {
                    last_heard = Instant::now();
                    match tail::incoming(&self.client, &self.endpoint, m, &mut ws).await {
                        Step::Capture(c) => {
                            if let Err(end) = self.queue(*c, false).await {
                                return end;
                            }
                        }
                        Step::Continue => {}
                        Step::End(end) => return end,
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() >= SILENCE_LIMIT {
                        return End::Dropped(format!("no answer from the server for {}", tail::seconds(SILENCE_LIMIT)));
                    }
                    if let Err(e) = ws.send(Message::text(r#"{"type":"ping"}"#)).await {
                        return tail::dropped(&e);
                    }
                }
            }
        }
    }

    fn announce(&mut self, caught_up: usize) {
        let e = &self.endpoint;
        if !self.live_before {
            self.live_before = true;
            let kind = if self.durable { "durable listener" } else { "listener" };
            eprintln!(
                "listening on endpoint `{}` ({}) as {kind} `{}`, forwarding to {}{}; Ctrl-C to stop",
                e.name, e.id, self.name, self.forward_to, self.note
            );
        }
        if caught_up > 0 {
            eprintln!("note: {caught_up} capture(s) missed while offline are delivered first");
        }
    }

    /// Where this session catches up from: the last capture queued; at the first start, a
    /// named listener's cursor, else the newest capture (what is stored already is history).
    async fn start_point(&mut self) -> Result<Option<String>, CliError> {
        if self.live_before {
            return Ok(self.last_queued.clone());
        }
        if self.durable {
            return Ok(self.start_cursor.clone());
        }
        // A new listener starts with what arrives from now on.
        history::newest_id(&self.client, &self.endpoint.id).await
    }

    /// Queues, oldest first, the captures newer than the start point; returns how many.
    async fn catch_up(&mut self) -> Result<usize, CliError> {
        let start = self.start_point().await?;
        if start.is_none() && !self.live_before {
            // An endpoint without captures: nothing was missed.
            return Ok(0);
        }
        let (missed, truncated) =
            history::captures_since(&self.client, &self.endpoint.id, start.as_deref(), CAPTURE_FIELDS, CATCH_UP_MAX)
                .await?;
        if truncated {
            eprintln!(
                "note: more than {CATCH_UP_MAX} captures arrived while offline; the newest {CATCH_UP_MAX} are \
                 delivered and older ones skipped (read them with the `captures` query)"
            );
        }
        if !self.live_before {
            self.floor.clone_from(&start);
        }
        if self.last_queued.is_none() {
            self.last_queued = start;
        }
        let mut queued = 0;
        for c in missed {
            if self.queue(c, true).await.map_err(|_| CliError::Usage("the forwarder stopped".into()))? {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Hands `c` to the forwarder unless it was queued already; waits while the queue is full.
    async fn queue(&mut self, c: Capture, missed: bool) -> Result<bool, End> {
        if self.recent.contains(&c.id) || self.floor.as_deref().is_some_and(|f| c.id.as_str() <= f) {
            return Ok(false);
        }
        if self.recent.len() == QUEUE * 4 {
            self.recent.pop_front();
        }
        self.recent.push_back(c.id.clone());
        if self.last_queued.as_deref().is_none_or(|l| c.id.as_str() > l) {
            self.last_queued = Some(c.id.clone());
        }
        self.tx
            .send(Queued { capture: c, missed })
            .await
            .map_err(|_| End::Fatal(CliError::Usage("the forwarder stopped".into())))?;
        Ok(true)
    }

    fn end_for(&self, e: CliError) -> End {
        match e {
            CliError::Unreachable { .. } | CliError::Timeout { .. } | CliError::Transport { .. } => {
                End::Dropped(e.to_string())
            }
            CliError::Server { code: Some(ref c), .. } if c == "UNAVAILABLE" || c == "INTERNAL" => {
                End::Dropped(e.to_string())
            }
            e => End::Fatal(e),
        }
    }
}

struct Forwarder<'a> {
    client: Client,
    /// Off once the server refused a report for the token's role: attempts are still made,
    /// and nobody is told the same thing for every capture.
    reporting: bool,
    /// Re-sign every attempt with a fresh timestamp.
    resign: bool,
    /// A re-signing failure was noted; the originals are sent from then on.
    resign_failed: bool,
    http: http1::Client,
    plan: Plan,
    name: String,
    out: &'a mut Output,
    /// Captures taken from the queue, by id, and whether each is finished.
    window: BTreeMap<String, bool>,
    /// The newest capture such that every capture up to it is finished.
    watermark: Option<String>,
    /// Captures waiting for their next attempt, by when it is due.
    retries: BTreeMap<(Instant, String), Pending>,
}

/// What one attempt met, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    latency_ms: u64,
    status: Option<u16>,
    /// `None` for a 2xx answer.
    error: Option<&'static str>,
    message: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    truncated: bool,
}

impl Outcome {
    /// A capture that was not sent, for the reason given.
    fn refused(message: String) -> Self {
        Self {
            latency_ms: 0,
            status: None,
            error: Some("REFUSED"),
            message: Some(message),
            headers: Vec::new(),
            body: Vec::new(),
            truncated: false,
        }
    }
}

/// A capture between attempts.
struct Pending {
    q: Queued,
    event: Option<String>,
    url: Url,
    body: Vec<u8>,
    /// The number of the next attempt.
    number: u32,
}

/// What one attempt of a capture decided.
enum Next {
    Done,
    RetryAt(Instant),
}

impl Forwarder<'_> {
    async fn run(&mut self, mut rx: mpsc::Receiver<Queued>) -> Result<(), CliError> {
        loop {
            let due = self.retries.keys().next().map(|(at, _)| *at);
            // `--ordered`: nothing new while a capture waits for its next attempt.
            let take_new = !(self.plan.ordered && due.is_some());
            let sleep = tokio::time::sleep_until(due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)));
            tokio::select! {
                q = rx.recv(), if take_new => match q {
                    Some(q) => self.take(q).await?,
                    None => return Ok(()),
                },
                _ = sleep, if due.is_some() => {
                    if let Some((_, p)) = self.retries.pop_first() {
                        self.attempt(p).await?;
                    }
                }
            }
        }
    }

    /// A capture from the queue: forwarded, or finished at once when the filters leave it out.
    async fn take(&mut self, q: Queued) -> Result<(), CliError> {
        let c = &q.capture;
        let body = B64.decode(&c.body_base64).map_err(|e| CliError::Protocol {
            url: self.client.base.clone(),
            detail: format!("capture {} has a body that is not base64 ({e})", c.id),
        })?;
        let headers = core_headers(c);
        let event = hookmetry_verify::event_type(&headers, &body);
        self.window.insert(c.id.clone(), false);
        if !self.plan.wants(c, event.as_deref()) {
            self.finish(&c.id);
            return Ok(());
        }
        let url = self.plan.url_for(c);
        if let Some(path) = self.plan.climbing_path(c) {
            let outcome = Outcome::refused(format!(
                "not forwarded: the capture path `{path}` climbs above --forward-to's path through `..` segments"
            ));
            self.finish(&c.id);
            self.out.text(&line(c, event.as_deref(), &url, "", &outcome, "", missed_note(&q)))?;
            self.report(&q, &url, hookmetry_core::Timestamp::now(), &outcome, true).await;
            return Ok(());
        }
        self.attempt(Pending { q, event, url, body, number: 1 }).await
    }

    /// One attempt; schedules the next one when the policy retries what it met.
    async fn attempt(&mut self, p: Pending) -> Result<(), CliError> {
        let c = &p.q.capture;
        let headers = self.headers_for(c, &p.url).await;
        let started_at = hookmetry_core::Timestamp::now();
        let outcome = self.send(&c.method, &p.url, &headers, &p.body).await;
        let retry = self.plan.retry.retries(&outcome) && p.number < self.plan.max_attempts;
        let next = if retry { Next::RetryAt(Instant::now() + retry_delay(p.number)) } else { Next::Done };
        let after = match (&next, &outcome.error) {
            (Next::RetryAt(_), _) => format!("; next try in {}", tail::seconds(retry_delay(p.number))),
            (Next::Done, None) => String::new(),
            (Next::Done, Some(_)) if self.plan.retry.retries(&outcome) => {
                format!("; gave up after {} attempt(s)", p.number)
            }
            (Next::Done, Some(_)) => format!("; not retried (--retry {})", self.retry_flag()),
        };
        let attempt = format!("attempt {}: ", p.number);
        self.out.text(&line(c, p.event.as_deref(), &p.url, &attempt, &outcome, &after, missed_note(&p.q)))?;
        let last = matches!(next, Next::Done);
        if last {
            self.finish(&c.id);
        }
        self.report(&p.q, &p.url, started_at, &outcome, last).await;
        if let Next::RetryAt(at) = next {
            let key = (at, c.id.clone());
            if self.plan.ordered {
                // Holding the rest back anyway: wait here, as the order is the point.
                tokio::time::sleep_until(at).await;
                return Box::pin(self.attempt(Pending { number: p.number + 1, ..p })).await;
            }
            self.retries.insert(key, Pending { number: p.number + 1, ..p });
        }
        Ok(())
    }

    fn retry_flag(&self) -> String {
        let r = self.plan.retry;
        let classes: Vec<&str> =
            [(r.status_5xx, "5xx"), (r.status_4xx, "4xx"), (r.connect, "connect"), (r.timeout, "timeout")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
        if classes.is_empty() { "none".into() } else { classes.join(",") }
    }

    /// Marks `id` finished and moves the watermark over every finished capture at the front.
    fn finish(&mut self, id: &str) {
        if let Some(done) = self.window.get_mut(id) {
            *done = true;
        }
        while let Some(entry) = self.window.first_entry() {
            if !*entry.get() {
                break;
            }
            let (id, _) = entry.remove_entry();
            self.watermark = Some(id);
        }
    }

    /// The headers to send: the capture's, re-signed now when asked, without hop-by-hop ones,
    /// with the hop count one up (so a listener forwarding back into Hookmetry by another name
    /// than the ones refused at start ends at `ingest.max_hops`, like a forwarding rule).
    async fn headers_for(&mut self, c: &Capture, url: &Url) -> Vec<CoreHeader> {
        let mut headers = core_headers(c);
        if self.resign && !self.resign_failed {
            match self.resigned(c, url).await {
                Ok(h) => headers = h,
                Err(e) => {
                    self.resign_failed = true;
                    eprintln!("note: cannot re-sign captures ({e}); forwarding the original signatures from now on");
                }
            }
        }
        hookmetry_core::answer::with_next_hop(&hookmetry_core::forwarded_headers(&headers))
    }

    async fn resigned(&self, c: &Capture, url: &Url) -> Result<Vec<CoreHeader>, CliError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            resigned_capture: Resigned,
        }
        #[derive(Deserialize)]
        struct Resigned {
            headers: Vec<crate::model::Header>,
        }
        let q = "mutation($c: ID!, $t: String!) { resignedCapture(captureId: $c, target: $t) { headers { name value valueBase64 } } }";
        let data: Data = self.client.query(q, json!({ "c": c.id, "t": url.as_str() })).await?;
        Ok(data
            .resigned_capture
            .headers
            .iter()
            .map(|h| {
                CoreHeader::new(
                    h.name.clone(),
                    B64.decode(&h.value_base64).unwrap_or_else(|_| h.value.clone().into_bytes()),
                )
            })
            .collect())
    }

    async fn send(&self, method: &str, url: &Url, headers: &[CoreHeader], body: &[u8]) -> Outcome {
        let start = StdInstant::now();
        let pairs: Vec<(&str, &[u8])> = headers.iter().map(|h| (h.name.as_str(), &h.value[..])).collect();
        let exchange = self.http.send(&http1::Request { method, url, headers: &pairs, body }).await;
        let (error, message) = match (exchange.failure, exchange.status) {
            (Some(f), _) => (Some(error_name(f.kind)), Some(f.message)),
            (None, Some(status)) if !(200..300).contains(&status) => {
                let status = reqwest::StatusCode::from_u16(status).map_or(status.to_string(), |s| s.to_string());
                (Some("STATUS"), Some(format!("answered {status}")))
            }
            (None, _) => (None, None),
        };
        Outcome {
            latency_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            status: exchange.status,
            error,
            message,
            headers: exchange.headers.into_iter().map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned())).collect(),
            body: exchange.body.to_vec(),
            truncated: exchange.truncated,
        }
    }

    /// Reports an attempt; a report that cannot be made is noted and forwarding goes on (the
    /// local server's answer matters more than the record of it).
    async fn report(&mut self, q: &Queued, url: &Url, started_at: hookmetry_core::Timestamp, o: &Outcome, last: bool) {
        if !self.reporting {
            return;
        }
        let headers: Vec<Value> = o.headers.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect();
        let input = json!({
            "captureId": q.capture.id,
            "listener": self.name,
            "target": url.as_str(),
            "missed": q.missed,
            "durable": self.plan.name.is_some(),
            "maxAttempts": self.plan.max_attempts,
            "last": last,
            "cursor": self.watermark,
            "attempt": {
                "startedAt": started_at.to_rfc3339(),
                "latencyMs": o.latency_ms.min(i32::MAX as u64),
                "responseStatus": o.status,
                "error": o.error,
                "errorMessage": o.message,
                "responseHeaders": headers,
                "responseBodyBase64": B64.encode(&o.body),
                "responseTruncated": o.truncated,
            },
        });
        let q = "mutation($input: ReportListenerAttemptInput!) { reportListenerAttempt(input: $input) { id } }";
        // A few tries: a server restarting should not lose the record, nor stall forwarding long.
        for wait in [Duration::from_millis(200), Duration::from_secs(1), Duration::ZERO] {
            match self.client.query::<Value>(q, json!({ "input": input })).await {
                Ok(_) => return,
                Err(e) if wait.is_zero() => {
                    eprintln!("note: could not report the attempt to Hookmetry: {e}");
                    return;
                }
                Err(CliError::Unreachable { .. } | CliError::Timeout { .. } | CliError::Transport { .. }) => {
                    tokio::time::sleep(wait).await
                }
                Err(e) if e.code() == Some("FORBIDDEN") => {
                    eprintln!(
                        "note: this token may not record attempts ({e}); forwarding goes on, but teammates will not see these deliveries and a named listener keeps no cursor"
                    );
                    self.reporting = false;
                    return;
                }
                Err(e) => {
                    eprintln!("note: could not report the attempt to Hookmetry: {e}");
                    return;
                }
            }
        }
    }
}

/// The capture's headers as sent, exact bytes where the API gave them.
fn core_headers(c: &Capture) -> Vec<CoreHeader> {
    c.headers
        .iter()
        .map(|h| {
            CoreHeader::new(
                h.name.clone(),
                B64.decode(&h.value_base64).unwrap_or_else(|_| h.value.clone().into_bytes()),
            )
        })
        .collect()
}

fn missed_note(q: &Queued) -> &'static str {
    if q.missed { " (missed while offline)" } else { "" }
}

/// The `AttemptError` enum value a failure is reported as.
fn error_name(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Refused => "REFUSED",
        FailureKind::Connect => "CONNECT",
        FailureKind::Timeout => "TIMEOUT",
        FailureKind::Tls => "TLS",
        FailureKind::Reset => "RESET",
        FailureKind::Unsendable | FailureKind::Protocol | FailureKind::TooManyRedirects => "OTHER",
    }
}

/// One output line: local time, the capture, its event type, where it went, what happened,
/// and what comes next.
fn line(c: &Capture, event: Option<&str>, url: &Url, attempt: &str, o: &Outcome, after: &str, note: &str) -> String {
    let time = chrono::Local::now().format("%H:%M:%S");
    let event = event.map(|e| format!(" {}", format::escape_text(e, false))).unwrap_or_default();
    format!(
        "{time} {} {} {}{event} -> {url}: {attempt}{}{after}{note}\n",
        c.id,
        c.method,
        format::escape_text(&c.path, false),
        describe(o)
    )
}

fn describe(o: &Outcome) -> String {
    let what = match (o.status, &o.message) {
        (Some(s), None) => s.to_string(),
        // "answered 503 Service Unavailable" says no more than the status.
        (Some(s), Some(m)) if m.starts_with("answered ") => s.to_string(),
        (Some(s), Some(m)) => format!("{s} ({})", format::escape_text(m, false)),
        (None, Some(m)) => format::escape_text(m, false),
        (None, None) => "no answer".into(),
    };
    format!("{what} in {} ms", o.latency_ms)
}

/// Capped exponential backoff without jitter: one listener retries one local server, so there
/// is no crowd to spread out.
fn retry_delay(attempts_made: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts_made.saturating_sub(1)).unwrap_or(u32::MAX);
    RETRY_INITIAL.saturating_mul(factor).min(RETRY_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Header;

    fn args(extra: &[&str]) -> Result<Plan, CliError> {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            listen: ListenArgs,
        }
        let mut argv = vec!["hookmetry", "ep"];
        argv.extend_from_slice(extra);
        let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
        Plan::of(&cli.listen)
    }

    fn capture(method: &str, path: &str, query: Option<&str>, headers: &[(&str, &str)]) -> Capture {
        Capture {
            id: "c".into(),
            endpoint_id: "e".into(),
            team_id: "t".into(),
            method: method.into(),
            path: path.into(),
            query: query.map(Into::into),
            headers: headers
                .iter()
                .map(|(n, v)| Header { name: (*n).into(), value: (*v).into(), value_base64: B64.encode(v) })
                .collect(),
            body_base64: String::new(),
            body_text: None,
            body_size: 0,
            body_sha256: String::new(),
            remote_addr: String::new(),
            http_version: String::new(),
            received_at: String::new(),
            content_type: None,
            url: String::new(),
            verification: None,
            event: None,
            answer: None,
        }
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let cases = [
            (vec!["--forward-to", "ftp://h/x"], "`--forward-to` `ftp://h/x` is not a target URL"),
            (vec!["--forward-to", "http://"], "`--forward-to` `http://` is not a target URL"),
            (vec!["--forward-to", "3000", "--retry", "5xx,sometimes"], "`--retry` takes 5xx, 4xx, connect"),
            (vec!["--forward-to", "3000", "--events", " , "], "`--events` must be event types"),
            (vec!["--forward-to", "http://h", "--path-map", "stripe=/s"], "`--path-map` must be FROM=TO"),
            (vec!["--forward-to", "http://h", "--path-map", "/stripe"], "`--path-map` must be FROM=TO"),
            (vec!["--forward-to", "http://h", "--name", "a:b"], "`--name` must be 1 to 64"),
            (vec!["--forward-to", "http://h", "--method", "PO ST"], "`--method` must be an HTTP method"),
            (vec!["--forward-to", "http://h", "--path-prefix", "x"], "`--path-prefix` must start with `/`"),
            (vec!["--forward-to", "http://h", "--header", "a b:c"], "`--header` must be NAME or NAME:CONTAINS"),
            (vec!["--forward-to", "http://h", "--max-attempts", "0"], "`--max-attempts` must be 1 to 1000"),
        ];
        for (flags, want) in cases {
            let e = args(&flags).unwrap_err().to_string();
            assert!(e.starts_with(want), "{flags:?}: {e}");
        }
    }

    #[test]
    fn path_maps_rewrite_the_first_matching_prefix_and_keep_the_query() {
        let plan = args(&[
            "--forward-to",
            "http://localhost:3000/hooks?k=1",
            "--path-map",
            "/stripe=/payments/stripe",
            "--path-map",
            "/=/other",
        ])
        .unwrap();
        let url = |path: &str, query: Option<&str>| plan.url_for(&capture("POST", path, query, &[])).to_string();
        assert_eq!(
            url("/stripe/events", Some("live=1")),
            "http://localhost:3000/hooks/payments/stripe/events?k=1&live=1"
        );
        assert_eq!(url("/github", None), "http://localhost:3000/hooks/other/github?k=1");
        let plain = args(&["--forward-to", "http://localhost:3000/"]).unwrap();
        assert_eq!(plain.url_for(&capture("POST", "/", None, &[])).as_str(), "http://localhost:3000/");
        assert_eq!(plain.url_for(&capture("POST", "/a", Some("x=1"), &[])).as_str(), "http://localhost:3000/a?x=1");
    }

    #[test]
    fn filters_choose_by_method_path_and_header() {
        let plan = args(&[
            "--forward-to",
            "http://h",
            "--method",
            "POST",
            "--path-prefix",
            "/stripe",
            "--header",
            "Stripe-Signature:v1=",
        ])
        .unwrap();
        assert!(plan.wants(&capture("POST", "/stripe/x", None, &[("stripe-signature", "t=1,v1=ab")]), None));
        assert!(!plan.wants(&capture("PUT", "/stripe/x", None, &[("stripe-signature", "t=1,v1=ab")]), None));
        assert!(!plan.wants(&capture("POST", "/github", None, &[("stripe-signature", "t=1,v1=ab")]), None));
        assert!(!plan.wants(&capture("POST", "/stripe/x", None, &[("stripe-signature", "t=1")]), None));
        let present = args(&["--forward-to", "http://h", "--header", "x-github-event"]).unwrap();
        assert!(present.wants(&capture("GET", "/", None, &[("X-GitHub-Event", "push")]), None));
        assert!(!present.wants(&capture("GET", "/", None, &[]), None));
    }

    #[test]
    fn the_retry_policy_says_which_failures_come_back() {
        let outcome = |error: Option<&'static str>, status: Option<u16>| Outcome {
            error,
            status,
            ..Outcome::refused(String::new())
        };
        let default = RetryPolicy::parse("5xx,connect").unwrap();
        assert!(default.retries(&outcome(Some("STATUS"), Some(503))));
        assert!(!default.retries(&outcome(Some("STATUS"), Some(400))), "a 4xx is recorded and skipped");
        assert!(!default.retries(&outcome(Some("STATUS"), Some(429))));
        assert!(default.retries(&outcome(Some("CONNECT"), None)));
        assert!(default.retries(&outcome(Some("RESET"), None)));
        assert!(!default.retries(&outcome(Some("TIMEOUT"), None)), "the local server may have acted on it");
        assert!(!default.retries(&outcome(None, Some(200))));
        assert!(!default.retries(&outcome(Some("REFUSED"), None)));
        let all = RetryPolicy::parse("all").unwrap();
        assert!(all.retries(&outcome(Some("STATUS"), Some(404))) && all.retries(&outcome(Some("TIMEOUT"), None)));
        assert_eq!(RetryPolicy::parse("none").unwrap(), RetryPolicy::default());
    }

    #[test]
    fn event_patterns_match_with_wildcards() {
        assert!(event_matches("charge.*", "charge.succeeded"));
        assert!(event_matches("charge.*", "charge."));
        assert!(!event_matches("charge.*", "payment_intent.succeeded"));
        assert!(event_matches("*.created", "customer.subscription.created"));
        assert!(event_matches("orders/*", "orders/paid"));
        assert!(event_matches("*", "anything"));
        assert!(event_matches("a*b*c", "axxbyyc") && !event_matches("a*b*c", "axxbyy"));
        assert!(!event_matches("push", "pushed"));
        let plan = args(&["--forward-to", "3000", "--events", "charge.*,customer.created"]).unwrap();
        let c = capture("POST", "/", None, &[]);
        assert!(plan.wants(&c, Some("charge.refunded")) && plan.wants(&c, Some("customer.created")));
        assert!(!plan.wants(&c, Some("customer.updated")));
        assert!(!plan.wants(&c, None), "a capture without a recognised type is left out");
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let waits: Vec<u128> = (1..=7).map(|n| retry_delay(n).as_millis()).collect();
        assert_eq!(waits, [500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert_eq!(retry_delay(200), RETRY_MAX);
    }
}
