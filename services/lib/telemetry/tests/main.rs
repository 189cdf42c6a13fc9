//! Trace export to a collector, and what a span costs (an ignored measurement).
//!
//! One test binary for the crate, one module per subject: each binary links the crate and its
//! dependencies again.

mod export;
mod span_cost;
