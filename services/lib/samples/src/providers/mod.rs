//! One module per provider: its events, and how it builds and addresses a request. Each module's
//! `draft` makes the body as a value (so `--set` can change it before it is serialised) and the
//! headers the provider sends, in its order, without the signature.

use serde_json::Value;

use crate::ProviderSamples;

mod github;
mod linear;
mod paddle;
mod shopify;
mod slack;
mod square;
mod standard;
mod stripe;
mod twilio;

/// In the order `trigger --list` shows them: the most used first.
pub(crate) static ALL: &[ProviderSamples] = &[
    stripe::SAMPLES,
    github::SAMPLES,
    shopify::SAMPLES,
    slack::SAMPLES,
    standard::SAMPLES,
    twilio::SAMPLES,
    paddle::SAMPLES,
    square::SAMPLES,
    linear::SAMPLES,
];

/// A sample before `--set` and serialisation.
#[derive(Debug)]
pub(crate) struct Draft {
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug)]
pub(crate) enum Body {
    /// Serialised compactly, or with two-space indents where the provider sends it so (Stripe).
    Json { value: Value, pretty: bool },
    /// Form fields in order, for `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
}

/// `(name, value)` pairs as owned strings.
pub(crate) fn headers<const N: usize>(pairs: [(&str, String); N]) -> Vec<(String, String)> {
    pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}
