//! `hookmetry endpoint|tail|await|assert|capture|sign|replay|deliveries|delivery|listen`: the terminal client of a Hookmetry server's GraphQL API.
//!
//! The `hookmetry` binary embeds [`Command`] next to `serve` and hands it to [`run`]. Results go
//! to stdout, notes and problems to stderr (`error: <sentence>`, never a JSON dump). Exit codes:
//! 0 success (Ctrl-C ending `tail` or `listen` included), 1 a server or user error, or what a
//! script waited for or checked did not hold (`await` timed out, an `assert` check failed);
//! clap exits with 2 on usage errors (a bad `--match` expression included) before [`run`] is
//! called. Nothing asks a question unless stdin, stdout and stderr are a terminal.
//!
//! The server is `--url` / HOOKMETRY_URL, the token `--token` / HOOKMETRY_TOKEN, both accepted
//! anywhere on the command line; without them the profile `hookmetry login` saved (`--profile` /
//! HOOKMETRY_PROFILE, else the default one), else `http://127.0.0.1:8080` with the admin token a
//! local `hookmetry serve` wrote to `./hookmetry-data/admin-token`. A refused token is reported
//! with where it came from.

use std::process::ExitCode;

mod apply;
mod assert;
mod await_cmd;
mod capture;
mod capture_list;
mod client;
mod delivery;
mod endpoint;
mod endpoint_update;
mod error;
mod export;
mod format;
mod history;
mod ids;
mod listen;
mod login;
mod matching;
mod model;
mod output;
mod profile;
mod replay;
mod sign;
mod spec;
mod tail;
mod target;
mod trigger;
mod trigger_retry;

pub use apply::ApplyArgs;
pub use assert::AssertArgs;
pub use await_cmd::AwaitArgs;
pub use capture::{CaptureArgs, CaptureCommand, ShowArgs};
pub use capture_list::ListArgs as CaptureListArgs;
pub use client::{Connection, LOCAL_ADMIN_TOKEN};
pub use delivery::{DeliveriesArgs, DeliveryArgs, DeliveryCommand};
pub use endpoint::{EndpointArgs, EndpointCommand};
pub use endpoint_update::UpdateArgs as EndpointUpdateArgs;
pub use error::CliError;
pub use export::ExportArgs;
pub use listen::ListenArgs;
pub use login::{LoginArgs, LogoutArgs, WhoamiArgs};
pub use replay::ReplayArgs;
pub use sign::SignArgs;
pub use tail::TailArgs;
pub use trigger::TriggerArgs;

/// The client subcommands of `hookmetry`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Save a server URL and token as a profile (in the user's config dir, 0600) so later
    /// commands need no `--url`/`--token`; `--profile NAME` keeps several.
    Login(LoginArgs),
    /// Remove a saved profile (the default one unless `--profile` names another).
    Logout(LogoutArgs),
    /// Show which server, token, team and role commands use now, and where the token came from.
    Whoami(WhoamiArgs),
    /// Create, list, show, update and delete endpoints (capture URLs).
    Endpoint(EndpointArgs),
    /// Print an endpoint's captures as they arrive, one line each (`--json` for full records).
    Tail(TailArgs),
    /// Wait until captures matching `--match` expressions are stored (including ones stored
    /// shortly before), print them and exit 0; exit 1 on `--timeout` with what did arrive.
    Await(Box<AwaitArgs>),
    /// Check one capture (verdict, the status ingest answered, event type, `--match`
    /// expressions, the last delivery's status): `ok` or `FAILED` per check, exit 1 if any fails.
    Assert(Box<AssertArgs>),
    /// List captures (filtered, newest first), or show one (headers, body pretty-printed by
    /// content type) or export it.
    Capture(CaptureArgs),
    /// Print the headers a provider would send to sign a body (no server needed).
    Sign(Box<SignArgs>),
    /// Send a capture again to a URL (byte for byte, or re-signed) and follow its attempts.
    Replay(ReplayArgs),
    /// Send a realistic sample event of a provider (Stripe, GitHub, Shopify, Slack, …) to an
    /// endpoint, signed with its secret, and show its verdict; `--list` shows the events.
    Trigger(Box<TriggerArgs>),
    /// List a capture's deliveries (replays, forwarding rules, listeners) with their state.
    Deliveries(DeliveriesArgs),
    /// Show, follow or cancel one delivery.
    Delivery(DeliveryArgs),
    /// Forward each capture to a server on this machine (no public URL needed) and report every
    /// attempt back; `--name` makes it deliver what it missed while stopped.
    Listen(ListenArgs),
    /// Create or update a team's endpoints from a YAML file, printing the diff (`--dry-run`
    /// changes nothing, `--prune` deletes endpoints the file does not name).
    Apply(ApplyArgs),
    /// Write a team's endpoints as a file `apply` reads; secrets as environment variable
    /// references, never values.
    Export(ExportArgs),
}

/// Runs `command` against the server `conn` names, reports any error on stderr, and returns the
/// process exit code.
pub fn run(command: Command, conn: &Connection) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(command, conn)) {
        Ok(()) => ExitCode::SUCCESS,
        // `hookmetry tail | head -3`: the reader had enough, which is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `command`, writing results to stdout; the error is left to the caller to report.
pub async fn execute(command: Command, conn: &Connection) -> Result<(), CliError> {
    let mut out = output::Output::stdout();
    match command {
        Command::Login(args) => login::login(args, conn, &mut out).await,
        Command::Logout(args) => login::logout(args, conn, &mut out),
        Command::Whoami(args) => login::whoami(args, conn, &mut out).await,
        Command::Endpoint(args) => endpoint::run(args, conn, &mut out).await,
        Command::Tail(args) => tail::run(args, conn, &mut out).await,
        Command::Await(args) => await_cmd::run(*args, conn, &mut out).await,
        Command::Assert(args) => assert::run(*args, conn, &mut out).await,
        Command::Capture(args) => capture::run(args, conn, &mut out).await,
        Command::Sign(args) => sign::run(*args, &mut out),
        Command::Replay(args) => replay::run(args, conn, &mut out).await,
        Command::Deliveries(args) => delivery::deliveries(args, conn, &mut out).await,
        Command::Delivery(args) => delivery::run(args, conn, &mut out).await,
        Command::Listen(args) => listen::run(args, conn, &mut out).await,
        Command::Trigger(args) => trigger::run(*args, conn, &mut out).await,
        Command::Apply(args) => apply::run(args, &client::Client::new(conn)?, &mut out).await,
        Command::Export(args) => export::run(args, &client::Client::new(conn)?, &mut out).await,
    }
}
