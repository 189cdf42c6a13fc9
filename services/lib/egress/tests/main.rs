//! The SSRF guard and the byte-exact HTTP/1.1 client.
//!
//! One test binary for the crate, one module per subject: each binary links the crate and its
//! dependencies again.

mod classify;
mod http;
mod policy;
