//! The `EventLog` conformance suite on each backend, and the embedded log's own behaviour.
//!
//! One test binary for the crate, one module per subject: each binary links the crate and its
//! dependencies again.

mod embedded;
mod embedded_conformance;
mod kafka_conformance;
