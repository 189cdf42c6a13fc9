//! The signature schemes. Each provider is one small type implementing [`Scheme`]: where its
//! signature lives and what it covers. Everything shared — trying every secret, judging the
//! timestamp, explaining a mismatch — lives in the engine.

use std::borrow::Cow;

use hookmetry_core::GenericHmac;

pub(crate) use crate::event::{EventSpec, Source, TimeUnit};
use crate::{Request, SignError, SignInput, Signed, Verdict};

mod adyen;
mod bitbucket;
mod calendly;
mod discord;
mod generic;
mod github;
mod gitlab;
mod hubspot;
mod intercom;
mod linear;
mod mailgun;
mod paddle;
mod razorpay;
mod sendgrid;
mod shopify;
mod slack;
mod square;
mod standard;
mod stripe;
mod twilio;
mod twitch;
mod typeform;
mod woocommerce;
mod workos;
mod zoom;

// Schemes added for issue 20, one block per group so parallel work merges cleanly.
// group-a modules
mod body_mac;
mod buildkite;
mod circleci;
mod grafana;
mod heroku;
mod meta;
mod pagerduty;
mod sentry;
mod terraform_cloud;
mod vercel;

// group-b modules
mod checkout_com;
mod coinbase_commerce;
mod gocardless;
mod lemon_squeezy;
mod mercado_pago;
mod paystack;
mod recurly;
mod revolut;
mod xero;

// group-c modules
#[path = "box.rs"]
mod box_com;
mod cal_com;
mod dropbox;
mod front;
mod line;
mod notion;
mod nylas;
mod telnyx;
mod zendesk;

// group-d modules
mod alchemy;
mod contentful;
mod help_scout;
mod mux;
mod persona;
mod sanity;
mod segment;
mod tally;
mod webflow;

/// What a user sees about a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInfo {
    /// Lowercase with hyphens: `stripe`, `standard-webhooks`, …
    pub id: &'static str,
    /// As the provider writes its own name.
    pub name: &'static str,
    /// Seconds a signed timestamp may be from the receive time; `None` when the scheme signs none.
    pub default_tolerance: Option<u32>,
    /// Whether the signature covers the URL, so `publicUrl` matters.
    pub url_bound: bool,
    /// Whether the configured "secret" is the provider's public key.
    pub asymmetric: bool,
    /// Headers whose presence suggests this provider for an unconfigured endpoint, most telling first.
    pub detect: &'static [&'static str],
    /// Where the provider names the event, its id, creation time and delivery attempt.
    pub event: EventSpec<'static>,
}

/// Every built-in provider, in the order an unconfigured endpoint's request is matched against them.
pub fn providers() -> Vec<&'static ProviderInfo> {
    let mut all: Vec<&'static ProviderInfo> = builtins().iter().map(|s| s.info()).collect();
    all.push(&generic::INFO);
    all
}

/// Built-in schemes, in the order an unconfigured endpoint's request is matched against their
/// `detect` headers: more specific first (HubSpot v3 requests also carry the header v1 detects).
fn builtins() -> &'static [&'static dyn Scheme] {
    BUILTINS
}

static BUILTINS: &[&dyn Scheme] = &[
    &stripe::Stripe,
    &github::GitHub,
    &slack::SLACK,
    &standard::StandardWebhooks,
    &standard::Svix,
    &shopify::Shopify,
    &twilio::Twilio,
    &gitlab::GitLab,
    &bitbucket::Bitbucket,
    &square::Square,
    &paddle::Paddle,
    &linear::Linear,
    &zoom::ZOOM,
    &hubspot::HubSpotV3,
    &hubspot::HubSpotV1,
    &hubspot::HubSpotV2,
    &twitch::Twitch,
    &mailgun::Mailgun,
    &sendgrid::SendGrid,
    &discord::Discord,
    &intercom::Intercom,
    &woocommerce::WooCommerce,
    &typeform::Typeform,
    &razorpay::Razorpay,
    &calendly::Calendly,
    &workos::WorkOs,
    &adyen::AdyenHmacHeader,
    &adyen::Adyen,
    // group-a schemes
    &meta::META,
    &vercel::VERCEL,
    &sentry::SENTRY,
    &pagerduty::PAGERDUTY,
    &circleci::CIRCLECI,
    &buildkite::Buildkite,
    &terraform_cloud::TERRAFORM_CLOUD,
    &heroku::HEROKU,
    &grafana::GRAFANA,
    // group-b schemes
    &checkout_com::CHECKOUT_COM,
    &paystack::PAYSTACK,
    &lemon_squeezy::LEMON_SQUEEZY,
    &coinbase_commerce::COINBASE_COMMERCE,
    &recurly::Recurly,
    &gocardless::GOCARDLESS,
    &mercado_pago::MercadoPago,
    &revolut::Revolut,
    &xero::XERO,
    // group-c schemes
    &telnyx::Telnyx,
    &dropbox::DROPBOX,
    &box_com::BoxCom,
    &notion::NOTION,
    &zendesk::Zendesk,
    &front::Front,
    &nylas::NYLAS,
    &cal_com::CAL_COM,
    &line::LINE,
    // group-d schemes
    &alchemy::ALCHEMY,
    &mux::MUX,
    &persona::PERSONA,
    &webflow::Webflow,
    &help_scout::HELP_SCOUT,
    &tally::TALLY,
    &sanity::Sanity,
    &segment::SEGMENT,
    &contentful::Contentful,
];

/// A key made from one configured secret.
pub(crate) enum Key {
    Bytes(Vec<u8>),
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl Key {
    /// The bytes of a symmetric key; asymmetric schemes never ask for them.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Key::Bytes(b) => b,
            _ => &[],
        }
    }
}

/// A signed timestamp as it appeared (schemes sign the text) and as Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub raw: String,
    pub secs: i64,
    /// Set when the scheme documents seconds but the digits say otherwise (13 digits are
    /// milliseconds, 16 microseconds), so reasons can say the unit was inferred.
    pub inferred: Option<TimeUnit>,
}

impl Stamp {
    /// A timestamp read in the unit its scheme documents.
    pub(crate) fn exact(raw: impl Into<String>, secs: i64) -> Stamp {
        Stamp { raw: raw.into(), secs, inferred: None }
    }

    /// Parses Unix seconds, the form nearly every scheme documents. Senders that write
    /// milliseconds (13 or 14 digits) or microseconds (15 to 17) anyway are read in that unit: read
    /// as seconds they would be judged tens of thousands of years in the future.
    pub(crate) fn secs(raw: &str, header: &str) -> Result<Stamp, Failure> {
        let text = raw.trim();
        let n = text
            .parse::<i64>()
            .map_err(|_| Failure::malformed(format!("timestamp `{raw}` in `{header}` is not Unix seconds")))?;
        let digits = text.trim_start_matches(['-', '+']).trim_start_matches('0').len();
        // 12 digits stay seconds: that is every second from the year 5138 to 9999, which `sign`
        // writes, while milliseconds with 12 digits would be before 2001.
        let (secs, inferred) = match digits {
            13..=14 if n > 0 => (n.div_euclid(1000), Some(TimeUnit::Milliseconds)),
            15..=17 if n > 0 => (n.div_euclid(1_000_000), Some(TimeUnit::Microseconds)),
            _ => (n, None),
        };
        Ok(Stamp { raw: raw.to_string(), secs, inferred })
    }

    /// "; the timestamp `1700000000123` has 13 digits, so it was read as Unix milliseconds", or
    /// nothing when it was read as the scheme documents.
    pub(crate) fn note(&self) -> String {
        match self.inferred {
            Some(unit) => format!(
                "; the timestamp `{}` has {} digits, so it was read as Unix {} (the scheme documents seconds)",
                self.raw.trim(),
                self.raw.trim().trim_start_matches(['-', '+']).len(),
                unit.name()
            ),
            None => String::new(),
        }
    }
}

/// Signature material pulled out of a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    /// Where the signature came from, for reasons ("the signature in `Stripe-Signature`").
    pub source: String,
    /// Candidate signatures, decoded; any one matching is enough.
    pub signatures: Vec<Vec<u8>>,
    pub timestamp: Option<Stamp>,
    /// Message id, for schemes that sign one.
    pub id: Option<String>,
    /// Scheme-specific signed fields (a token, a signing string), in the scheme's own order.
    pub extra: Vec<String>,
}

/// Why a request could not be checked at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub verdict: Verdict,
    pub reason: String,
    /// Set when the body does not have the digest the request states for it: the engine then
    /// looks for the body change that explains it, within the caller's limits, and replaces
    /// `reason` when it finds one.
    pub stated_digest: Option<StatedDigest>,
}

/// A SHA-256 the request states its body has (Twilio's `bodySHA256`), and where it was stated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatedDigest {
    pub sha256: Vec<u8>,
    /// For reasons: "the `bodySHA256` in the signed URL".
    pub source: String,
}

impl Failure {
    pub(crate) fn missing_header(name: &str) -> Self {
        Failure::missing(format!("header `{name}` is missing"))
    }

    pub(crate) fn missing(reason: impl Into<String>) -> Self {
        Failure { verdict: Verdict::MissingSignature, reason: reason.into(), stated_digest: None }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Failure { verdict: Verdict::Malformed, reason: reason.into(), stated_digest: None }
    }
}

/// One view of the request to check a signature against: the original, or a variant the engine
/// tries to explain a mismatch (re-serialized body, other URL scheme, …).
#[derive(Debug, Clone)]
pub(crate) struct Message<'a> {
    pub method: &'a str,
    pub url: Cow<'a, str>,
    pub body: Cow<'a, [u8]>,
}

pub(crate) trait Scheme: Send + Sync {
    fn info(&self) -> &'static ProviderInfo;

    /// Turns a configured secret into a key; the error says what is wrong with it.
    fn key(&self, secret: &str) -> Result<Key, String> {
        Ok(Key::Bytes(secret.as_bytes().to_vec()))
    }

    /// Finds the signature, and the timestamp and id when the scheme has them.
    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure>;

    /// Whether one of `parsed.signatures` is right for `msg` under `key`. Constant-time in the
    /// signature bytes.
    fn matches(&self, key: &Key, msg: &Message<'_>, parsed: &Parsed) -> bool;

    /// Headers (or a body) that make `input` verify under `secret`.
    fn sign(&self, secret: &str, input: &SignInput<'_>) -> Result<Signed, SignError>;

    /// Whether the body is part of what is signed, so re-serialization could explain a mismatch.
    fn signs_body(&self) -> bool {
        true
    }
}

/// The event spec of the built-in provider `id`; `None` for an unknown id or `generic-hmac`.
pub(crate) fn event_spec(id: &str) -> Option<EventSpec<'static>> {
    builtins().iter().find(|s| s.info().id == id).map(|s| s.info().event)
}

pub(crate) enum ResolveError {
    Unknown,
    Invalid(String),
}

/// A scheme looked up by id; `generic-hmac` is built from its settings.
pub(crate) enum Resolved {
    Builtin(&'static dyn Scheme),
    Generic(Box<generic::Generic>),
}

impl Resolved {
    pub(crate) fn get(&self) -> &dyn Scheme {
        match self {
            Resolved::Builtin(s) => *s,
            Resolved::Generic(g) => g.as_ref(),
        }
    }
}

pub(crate) fn resolve(id: &str, generic: Option<&GenericHmac>) -> Result<Resolved, ResolveError> {
    if id == generic::INFO.id {
        let cfg = generic.ok_or_else(|| ResolveError::Invalid("generic-hmac needs its `generic` settings".into()))?;
        return generic::Generic::new(cfg).map(|g| Resolved::Generic(Box::new(g))).map_err(ResolveError::Invalid);
    }
    builtins().iter().find(|s| s.info().id == id).map(|s| Resolved::Builtin(*s)).ok_or(ResolveError::Unknown)
}
