//! Shape inference and drift detection, with exact values, and properties checked with generated
//! JSON.
//!
//! One test binary for the crate, one module per subject.

mod common;

mod drift;
mod infer;
mod limits;
mod properties;
mod schema;
mod stored;
