//! Black-box suites: real HTTP, GraphQL, WebSocket and CLI against `hookmetry serve` in-process
//! or as child processes. One test binary with one module per subject: every binary links the
//! whole server, so one binary instead of one per subject saves most of the build and the disk.
//!
//! Run one subject with a filter on its module, e.g. `cargo test -p hookmetry-tests --test suite
//! verification::`. Tests share this process, so none may change process-wide state (environment
//! variables, the clock shift other than through `TestServer`, the current directory) or measure
//! this process; memory and descriptors are measured on child servers.

mod cluster_support;
mod common;

mod access;
mod apply;
mod capture;
mod cli;
mod cluster;
mod cluster_takeover;
mod durability;
mod events;
mod export;
mod graphql_ws_client;
mod harness;
mod limits;
mod listen;
mod live;
mod metrics_conventions;
mod replay;
mod replay_worker;
mod retry_profiles;
mod roles;
mod scenarios;
mod security;
mod serve;
mod traces;
mod ui;
mod verification;
