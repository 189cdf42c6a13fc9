//! The `Store` conformance suite on each backend, and SQLite's own behaviour.
//!
//! One test binary for the crate, one module per subject: each binary links the crate and its
//! dependencies again.

mod scylla_conformance;
mod sqlite_conformance;
mod sqlite_migration;
