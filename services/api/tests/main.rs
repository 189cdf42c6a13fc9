//! The exported curl commands run for real, and the served schema against the committed one.
//!
//! One test binary for the crate, one module per subject: each binary links the crate and its
//! dependencies again.

mod export_curl;
mod schema_drift;
