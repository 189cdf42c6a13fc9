//! Every provider's signature scheme: published vectors, round trips, each failure's reason,
//! and properties checked with generated inputs.
//!
//! One test binary for the crate, one module per subject: each binary links the crate and its
//! dependencies again.

mod common;

mod commerce_and_messaging;
mod core_providers;
mod crm_events_and_keys;
mod payments_and_scheduling;
mod properties;
// group-a
mod dev_tools;
// group-b
mod payments_more;
// group-c
mod saas_messaging;
// group-d
mod content_and_data;
