//! `hookmetry-bench`: ingest throughput and latency of `hookmetry serve` (durable acknowledgement)
//! against a bare axum handler that reads the body and answers 200, measured in one run with the
//! same load generator, so the ratio means something on a shared, noisy machine.
//!
//! Both servers run as child processes; the load comes from this process over loopback.
//! Usage: `cargo build --release -p hookmetry -p hookmetry-bench && target/release/hookmetry-bench`
//!
//! That is the `ingest` mode, the default. The others, each printing JSON, are subcommands, one
//! module each: `target URL`, `subscription-latency N`, `kafka BROKERS`, `deliveries N`,
//! `listen-latency N`, `reverify N`, `read-path` and `fan-out` (see `--help` and `docs/benchmarks.md`). The load flags
//! (`--connections`, `--seconds`, `--body-bytes`, `--rate`) and `--hookmetry` go before or after
//! the mode.

mod all;
mod bare;
mod deliveries;
mod fan_out;
mod ingest;
mod kafka;
mod listen;
mod load;
mod overload;
mod processor;
mod read_path;
mod reverify;
mod spans;
mod subscription;
mod support;
mod wire;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::load::{LoadOptions, closed_loop};

/// Benchmarks of hookmetry, each printing JSON; with no mode named, `ingest`.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// `ingest`'s options, for when no mode is named.
    #[command(flatten)]
    ingest: ingest::IngestArgs,
    /// The hookmetry binary; defaults to the one next to this executable.
    #[arg(long, global = true)]
    hookmetry: Option<PathBuf>,
    #[command(flatten)]
    load: LoadOptions,
}

impl Cli {
    /// The mode named, `ingest` when none is.
    fn take_mode(&mut self) -> Result<Mode, clap::Error> {
        match self.mode.take() {
            None => Ok(Mode::Ingest(std::mem::take(&mut self.ingest))),
            // Only `ingest` reads `--traces`; another mode must not ignore it silently.
            Some(mode) if self.ingest.traces.is_some() && !matches!(mode, Mode::Ingest(_)) => Err(Self::command()
                .error(clap::error::ErrorKind::ArgumentConflict, "`--traces` is an option of `ingest` only")),
            Some(Mode::Ingest(args)) => {
                Ok(Mode::Ingest(ingest::IngestArgs { traces: args.traces.or(self.ingest.traces) }))
            }
            Some(mode) => Ok(mode),
        }
    }
}

#[derive(Subcommand)]
enum Mode {
    /// Ingest throughput and latency against a bare axum handler (the default).
    Ingest(ingest::IngestArgs),
    /// Only load this URL and print the result (for profiling a server started by hand).
    Target { url: String },
    /// Capture → subscriber latency over this many captures, sent at `--rate` per second.
    SubscriptionLatency { captures: usize },
    /// Compare `hookmetry run --roles ingest,processor,api` on this broker (`host:port`) with a
    /// raw rdkafka producer (same acks=all idempotent settings, same concurrency and record
    /// size), and report the processor's lag under the load.
    Kafka { brokers: String },
    /// How many deliveries per second `hookmetry serve` makes to a local sink that answers 200,
    /// over this many deliveries, against a plain hyper client sending the same requests to the
    /// same sink with as many in flight as the worker sends to one target.
    Deliveries(deliveries::DeliveriesArgs),
    /// Capture → local server latency through `hookmetry listen`, over this many captures sent at
    /// `--rate` per second (open loop).
    ListenLatency { captures: usize },
    /// Stores this many Stripe captures signed with a secret the endpoint lacks, then times
    /// `reverifyCaptures` over all of them twice: with nothing changed, and after a secret is
    /// added (every reason changes, so every capture is announced through `captureChanged`).
    Reverify { captures: usize },
    /// Far more load than the server can take (many connections and slow large uploads), what
    /// it answers meanwhile, its peak memory, and how fast throughput comes back afterwards.
    Overload(overload::OverloadArgs),
    /// Every benchmark behind the performance targets, and a table of the results.
    All(all::AllArgs),
    /// Seeds one endpoint with `--captures` stored captures (1M by default), then measures
    /// `captures(first: 50)` without body fields over GraphQL with `--connections` clients: the
    /// first page, two filters and a page deep behind an `after` cursor, against `{ __typename }`.
    ReadPath(read_path::ReadPathArgs),
    /// `captureReceived` fan-out: `--subscribers` WebSocket subscriptions over `--endpoints`
    /// endpoints while captures arrive at `--captures-per-s`: latency, dropped subscribers, RSS.
    FanOut(fan_out::FanOutArgs),
    /// The processor's CPU per capture on signed Stripe events, apart from ingest: an
    /// `ingest,api` node appends them, then a `processor` node alone stores them. `--baseline
    /// BIN` measures another build the same way in alternate rounds and reports the ratio.
    Processor(processor::ProcessorArgs),
    /// Run only the bare handler (used internally as the comparison child process).
    #[command(hide = true)]
    BareServer,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    let mode = cli.take_mode().unwrap_or_else(|e| e.exit());
    let load = &cli.load;
    let me = std::env::current_exe()?;
    let hookmetry = cli.hookmetry.clone().unwrap_or_else(|| me.with_file_name("hookmetry"));
    let report = match mode {
        Mode::Ingest(args) => ingest::run(load, &args, &hookmetry, &me).await?,
        Mode::BareServer => return bare::serve().await,
        Mode::Target { url } => closed_loop(load, std::slice::from_ref(&url)).await?.json(None),
        Mode::SubscriptionLatency { captures } => {
            subscription::run(&hookmetry, captures, load.rate, load.body_bytes).await?
        }
        Mode::Kafka { brokers } => kafka::run(load, &hookmetry, &brokers).await?,
        Mode::Deliveries(args) => deliveries::run(load, &args, &hookmetry, &me).await?,
        Mode::ListenLatency { captures } => listen::run(&hookmetry, captures, load.rate, load.body_bytes).await?,
        Mode::Reverify { captures } => reverify::run(load, &hookmetry, captures).await?,
        Mode::Overload(args) => overload::run(load, &args, &hookmetry).await?,
        Mode::All(args) => all::run(load, &args, &hookmetry, &me).await?,
        Mode::ReadPath(args) => read_path::run(load, &args, &hookmetry).await?,
        Mode::Processor(args) => processor::run(&args, &hookmetry).await?,
        Mode::FanOut(args) => fan_out::run(&args, load.body_bytes, &hookmetry).await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Mode};

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ingest_is_the_default_and_flags_go_either_side_of_the_mode() {
        let mut cli = Cli::try_parse_from(["b", "--connections", "64", "--seconds", "10", "--traces", "1.0"]).unwrap();
        assert!(matches!(cli.take_mode(), Ok(Mode::Ingest(ref a)) if a.traces == Some(1.0)));
        assert_eq!((cli.load.connections, cli.load.seconds), (64, 10));
        let cli = Cli::try_parse_from(["b", "--rate", "200", "listen-latency", "1000", "--body-bytes", "8"]).unwrap();
        assert!(matches!(cli.mode, Some(Mode::ListenLatency { captures: 1000 })));
        assert_eq!((cli.load.rate, cli.load.body_bytes, cli.load.connections), (200, 8, 16));
        let cli = Cli::try_parse_from(["b", "kafka", "127.0.0.1:19092", "--connections", "16"]).unwrap();
        assert!(matches!(cli.mode, Some(Mode::Kafka { ref brokers }) if brokers == "127.0.0.1:19092"));
        let mut cli = Cli::try_parse_from(["b", "ingest", "--traces", "0.5"]).unwrap();
        assert!(matches!(cli.take_mode(), Ok(Mode::Ingest(ref a)) if a.traces == Some(0.5)));
        let mut cli = Cli::try_parse_from(["b", "--traces", "1.0", "reverify", "10"]).unwrap();
        assert!(cli.take_mode().is_err(), "--traces is not silently ignored by another mode");
    }
}
