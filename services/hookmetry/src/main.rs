use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use hookmetry_config::{Config, RunMode, Sources};
use tokio_util::sync::CancellationToken;

// glibc's malloc took 15 % of the server's CPU under capture load, most of it in freeing and
// consolidating the per-request buffers (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Hookmetry: capture, inspect, verify and replay webhooks.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The server the client commands talk to (global: accepted before or after the command).
    #[command(flatten)]
    connection: hookmetry_cli::Connection,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process on the embedded log and database (the default).
    Serve(ServeArgs),
    /// Run some roles in this process on the configured log and store (a cluster node).
    Run(RunArgs),
    /// Prepare a store: create or upgrade its schema and, on a new one, the admin token.
    Migrate(MigrateArgs),
    /// Mint a new instance-admin token and revoke the old one (for an operator with access to
    /// the store and the data dir).
    AdminToken(AdminTokenArgs),
    /// Print the built-in configuration defaults, with a comment on every key.
    Defaults,
    /// Print the GraphQL schema (SDL).
    Schema,
    #[command(flatten)]
    Client(hookmetry_cli::Command),
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Configuration file (TOML) layered over the defaults.
    #[arg(long, env = "HOOKMETRY_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [config: server.listen, default 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Directory for the embedded log and database [config: server.data_dir, default ./hookmetry-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Any config key, e.g. `--set ingest.max_body_bytes=100MiB` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Roles to run, comma-separated: ingest, processor, api, replay (or all).
    #[arg(long, env = "HOOKMETRY_ROLES", value_parser = parse_roles)]
    roles: hookmetry::Roles,
    /// Log URL, e.g. kafka://b1:9092,b2:9092 [config: log.url].
    #[arg(long)]
    log: Option<String>,
    /// Store URL, e.g. scylla://n1:9042/hookmetry or sqlite:///var/lib/hookmetry/db [config: store.url].
    #[arg(long)]
    store: Option<String>,
    #[command(flatten)]
    common: ServeArgs,
}

#[derive(clap::Args)]
struct MigrateArgs {
    /// Store URL [config: store.url].
    #[arg(long)]
    store: Option<String>,
    /// Also write the new admin token to DIR/admin-token (mode 0600).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// On a new store, use the admin token held in this environment variable (e.g. one mounted
    /// from a Kubernetes Secret) instead of making one, and do not print it.
    #[arg(long, value_name = "VAR")]
    admin_token_env: Option<String>,
    /// Configuration file (TOML) layered over the defaults.
    #[arg(long, env = "HOOKMETRY_CONFIG")]
    config: Option<PathBuf>,
    /// Any config key, e.g. `--set store.scylla_replication_factor=1` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(clap::Args)]
struct AdminTokenArgs {
    /// Make a new instance-admin token, revoke every other one, print the new one and write it
    /// to DATA_DIR/admin-token (mode 0600).
    #[arg(long, required = true)]
    rotate: bool,
    /// Data dir of the instance [config: server.data_dir, default ./hookmetry-data]; its store
    /// is used unless --store or store.url says otherwise.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Store URL [config: store.url].
    #[arg(long)]
    store: Option<String>,
    /// Configuration file (TOML) layered over the defaults.
    #[arg(long, env = "HOOKMETRY_CONFIG")]
    config: Option<PathBuf>,
    /// Any config key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn parse_roles(s: &str) -> Result<hookmetry::Roles, String> {
    s.parse()
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| {
        // `cargo run --release` lands here: say what runs, and where its data and token go, so
        // nobody mistakes this folder's ./hookmetry-data for another server's.
        eprintln!(
            "note: no command given, so this is `hookmetry serve` with its data in ./hookmetry-data (see \
             `hookmetry --help` for the client commands)"
        );
        Command::Serve(ServeArgs::default())
    });
    match command {
        Command::Defaults => print!("{}", hookmetry_config::DEFAULTS_TOML),
        Command::Schema => print!("{}", hookmetry_api::sdl()),
        Command::Serve(args) => serve(args, None)?,
        Command::Run(args) => {
            let mut common = args.common;
            common.set.extend(args.log.map(|l| format!("log.url={l}")));
            common.set.extend(args.store.map(|s| format!("store.url={s}")));
            serve(common, Some(args.roles))?
        }
        Command::Migrate(args) => migrate(args)?,
        Command::AdminToken(args) => admin_token(args)?,
        // The client reports its own errors as sentences and picks the exit code.
        Command::Client(cmd) => return Ok(hookmetry_cli::run(cmd, &cli.connection)),
    }
    Ok(ExitCode::SUCCESS)
}

fn load_config(args: ServeArgs) -> anyhow::Result<Config> {
    let mut overrides = Vec::new();
    if let Some(listen) = args.listen {
        overrides.push(("server.listen".to_string(), listen));
    }
    if let Some(dir) = args.data_dir {
        overrides.push(("server.data_dir".to_string(), dir.display().to_string()));
    }
    for kv in args.set {
        let (k, v) = kv.split_once('=').with_context(|| format!("--set takes KEY=VALUE, got `{kv}`"))?;
        overrides.push((k.trim().to_string(), v.to_string()));
    }
    Ok(hookmetry::settings::load(&Sources { file: args.config, env: std::env::vars().collect(), overrides })?)
}

/// `serve` (every role, admin token on first start) or `run --roles` (a cluster node).
fn serve(args: ServeArgs, roles: Option<hookmetry::Roles>) -> anyhow::Result<()> {
    let config = load_config(args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let telemetry = {
        // Span export's gRPC client lives on this runtime.
        let _runtime = runtime.enter();
        hookmetry::init_telemetry(&config, Some(roles.unwrap_or(hookmetry::Roles::ALL)))?
    };
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
        let shutdown = CancellationToken::new();
        tokio::spawn(signal_shutdown(shutdown.clone()));
        match roles {
            None => hookmetry::run(config, listener, shutdown, print_banner).await,
            Some(roles) => hookmetry::run_roles(config, roles, RunMode::Run, listener, shutdown, print_banner).await,
        }
    });
    // The last spans go out while the runtime still runs.
    telemetry.shutdown();
    served
}

fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let mut set = args.set;
    set.extend(args.store.map(|s| format!("store.url={s}")));
    let config = load_config(ServeArgs { config: args.config, set, ..ServeArgs::default() })?;
    // Log lines only: a migration is not traced.
    let _telemetry = hookmetry::init_telemetry(&config, None)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let given = match &args.admin_token_env {
        Some(var) => Some(std::env::var(var).with_context(|| format!("--admin-token-env: ${var} is not set"))?),
        None => None,
    };
    let token = runtime.block_on(hookmetry::migrate(&config, args.data_dir.as_deref(), given))?;
    match token {
        Some(_) if args.admin_token_env.is_some() => {
            println!(
                "store prepared; its admin API token is the one in ${} (not printed)",
                args.admin_token_env.as_deref().unwrap_or_default()
            );
        }
        Some(token) => {
            println!("store prepared; admin API token (shown once):");
            println!("  {token}");
            if let Some(dir) = &args.data_dir {
                println!("  also written to {}", dir.join(hookmetry::ADMIN_TOKEN_FILE).display());
            }
        }
        None => println!("store is up to date (it already has an admin token)"),
    }
    Ok(())
}

fn admin_token(args: AdminTokenArgs) -> anyhow::Result<()> {
    let mut set = args.set;
    set.extend(args.store.map(|s| format!("store.url={s}")));
    let config = load_config(ServeArgs { config: args.config, data_dir: args.data_dir, set, ..ServeArgs::default() })?;
    let _telemetry = hookmetry::init_telemetry(&config, None)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let dir = config.server.data_dir.clone();
    let rotated = runtime.block_on(hookmetry::rotate_admin_token(&config, Some(&dir)))?;
    println!("new instance-admin token (shown once; also in {}):", dir.join(hookmetry::ADMIN_TOKEN_FILE).display());
    println!("  {}", rotated.secret);
    println!("revoked {} earlier instance-admin token(s)", rotated.revoked);
    Ok(())
}

/// What a person starting the server needs to see, on stdout rather than in the logs.
fn print_banner(s: &hookmetry::Started) {
    println!("hookmetry is listening on {}", s.base_url);
    if let Some(token) = &s.new_admin_token {
        println!();
        println!("  admin API token (shown once; also in {}):", s.data_dir.join(hookmetry::ADMIN_TOKEN_FILE).display());
        println!("    {token}");
        println!();
    }
    println!("  GraphQL:      {}/graphql", s.base_url);
    println!("  capture URLs: {}/h/<endpoint token>", s.capture_base_url);
    if let Some(reason) = hookmetry_egress::unreachable_reason(&s.capture_base_url) {
        let [first, then] = hookmetry_egress::reachability_advice();
        println!();
        println!("  providers cannot reach these capture URLs: {reason}. Two ways that work:");
        println!("    1. {first}");
        println!("    2. {then}");
        println!(
            "  Meanwhile `hookmetry trigger stripe payment_intent.succeeded --to <endpoint>` sends signed samples here."
        );
    }
    if s.new_admin_token.is_some() {
        println!();
        println!("  save the token for the CLI: hookmetry login --url {} --token <token above>", s.base_url);
    }
}

async fn signal_shutdown(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
