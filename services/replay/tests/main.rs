//! Sending attempts to misbehaving receivers, and the replay worker on the embedded backends.
//!
//! One test binary for the crate, one module per subject: each binary links the crate and its
//! dependencies again.

mod send;
mod worker;
