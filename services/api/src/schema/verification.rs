//! Signature verification: per-endpoint settings (secrets are write-only), results on captures,
//! re-verification after a secret change, and the list of supported providers.

use std::collections::BTreeMap;

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use hookmetry_core::{
    EndpointId, GenericHmac, Role, SigningSecret, Timestamp, Verdict, Verification, VerificationSettings,
};
use hookmetry_proto::{CaptureChange, CaptureChangeKind};
use hookmetry_store::{CaptureFilter, CapturePage};

use super::common::{Access, decode_cursor, encode_cursor, parse_id};
use super::endpoints::EndpointObject;
use crate::ApiError;

/// Most secrets one endpoint keeps: enough for a rotation or two.
pub const MAX_SECRETS: usize = 10;
/// Longest secret (or public key) accepted.
pub const MAX_SECRET_BYTES: usize = 4096;
/// Largest tolerance accepted: a week.
pub const MAX_TOLERANCE_SECONDS: i32 = 7 * 86_400;
/// Most captures one `reverifyCaptures` call checks; the answer says when more remain.
pub const REVERIFY_MAX: usize = 10_000;

/// The answer to "is this capture authentic?".
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "Verdict")]
pub enum VerdictValue {
    /// A configured secret matches and the timestamp (if signed) is within tolerance.
    Valid,
    /// A signature is present but no configured secret matches it.
    InvalidSignature,
    /// The provider's signature header (or field) is absent.
    MissingSignature,
    /// The signature matches but was made too long before (or after) receipt.
    TimestampOutOfTolerance,
    /// The signature is present but cannot be read (wrong prefix, encoding or length).
    Malformed,
    /// No verification is configured, or it cannot be used.
    NotConfigured,
}

impl From<Verdict> for VerdictValue {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Valid => VerdictValue::Valid,
            Verdict::InvalidSignature => VerdictValue::InvalidSignature,
            Verdict::MissingSignature => VerdictValue::MissingSignature,
            Verdict::TimestampOutOfTolerance => VerdictValue::TimestampOutOfTolerance,
            Verdict::Malformed => VerdictValue::Malformed,
            Verdict::NotConfigured => VerdictValue::NotConfigured,
        }
    }
}

impl From<VerdictValue> for Verdict {
    fn from(v: VerdictValue) -> Self {
        match v {
            VerdictValue::Valid => Verdict::Valid,
            VerdictValue::InvalidSignature => Verdict::InvalidSignature,
            VerdictValue::MissingSignature => Verdict::MissingSignature,
            VerdictValue::TimestampOutOfTolerance => Verdict::TimestampOutOfTolerance,
            VerdictValue::Malformed => Verdict::Malformed,
            VerdictValue::NotConfigured => Verdict::NotConfigured,
        }
    }
}

/// The result of checking one capture's signature.
pub struct VerificationObject(pub Verification);

#[Object(name = "Verification")]
impl VerificationObject {
    /// The configured provider id, or for an unconfigured endpoint the provider the request looks
    /// like; null when it looks like none.
    async fn provider(&self) -> Option<&str> {
        self.0.provider.as_deref()
    }
    async fn verdict(&self) -> VerdictValue {
        self.0.verdict.into()
    }
    /// Why, in words a person can act on.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// The label of the secret that matched.
    async fn secret_label(&self) -> Option<&str> {
        self.0.secret_label.as_deref()
    }
    /// When this result was computed (RFC 3339). Timestamps are judged against the receive time,
    /// not this one.
    async fn verified_at(&self) -> String {
        self.0.verified_at.to_rfc3339()
    }
}

/// A signature scheme Hookmetry checks.
#[derive(SimpleObject)]
#[graphql(name = "Provider")]
pub struct ProviderObject {
    /// The id used in `verification.provider`.
    id: &'static str,
    name: &'static str,
    /// Seconds a signed timestamp may be from the receive time by default; null when the scheme
    /// signs no timestamp.
    default_tolerance_seconds: Option<i32>,
    /// Whether the signature covers the URL, so `publicUrl` matters.
    url_bound: bool,
    /// Whether the secret to configure is the provider's public key.
    public_key: bool,
}

/// How an endpoint's captures are checked. Secret values are never returned.
pub struct VerificationSettingsObject(pub VerificationSettings);

#[Object(name = "VerificationSettings")]
impl VerificationSettingsObject {
    async fn provider(&self) -> &str {
        &self.0.provider
    }
    /// Labels of the configured secrets, current first; their values are write-only.
    async fn secrets(&self) -> Vec<SecretObject> {
        self.0.secrets.iter().map(|s| SecretObject { label: s.label.clone() }).collect()
    }
    /// As configured; null means the provider's default (`effectiveToleranceSeconds`).
    async fn tolerance_seconds(&self) -> Option<i32> {
        self.0.tolerance_seconds.map(|t| t as i32)
    }
    /// The tolerance applied; 0 means timestamps are not checked.
    async fn effective_tolerance_seconds(&self) -> Option<i32> {
        let default = || {
            hookmetry_verify::providers()
                .into_iter()
                .find(|p| p.id == self.0.provider)
                .and_then(|p| p.default_tolerance)
        };
        self.0.tolerance_seconds.or_else(default).map(|t| t as i32)
    }
    async fn public_url(&self) -> Option<&str> {
        self.0.public_url.as_deref()
    }
    async fn generic(&self) -> Option<GenericHmacObject> {
        self.0.generic.clone().map(GenericHmacObject)
    }
}

/// A configured secret: only its label is ever shown.
#[derive(SimpleObject)]
#[graphql(name = "Secret")]
pub struct SecretObject {
    label: String,
}

pub struct GenericHmacObject(GenericHmac);

#[Object(name = "GenericHmac")]
impl GenericHmacObject {
    async fn header(&self) -> &str {
        &self.0.header
    }
    async fn algorithm(&self) -> &str {
        &self.0.algorithm
    }
    async fn encoding(&self) -> &str {
        &self.0.encoding
    }
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn template(&self) -> &str {
        &self.0.template
    }
    async fn timestamp_header(&self) -> Option<&str> {
        self.0.timestamp_header.as_deref()
    }
    async fn id_header(&self) -> Option<&str> {
        self.0.id_header.as_deref()
    }
}

/// How to check an endpoint's captures. Replaces the earlier settings; their secrets are kept
/// when `secrets` is left out and the provider stays the same.
#[derive(InputObject)]
#[graphql(name = "VerificationInput")]
pub struct VerificationInput {
    /// A provider id from `providers`, e.g. `stripe`, `standard-webhooks`, `generic-hmac`.
    provider: String,
    /// Current secret first; later ones are accepted while being rotated out. For SendGrid and
    /// Discord the value is the provider's public key as the provider displays it. Left out, the
    /// endpoint keeps the secrets it has, so tolerance or public URL can change without sending
    /// them again; required for a new provider.
    secrets: Option<Vec<SecretInput>>,
    /// Largest distance between the signed timestamp and the receive time; default the
    /// provider's; 0 turns the check off.
    tolerance_seconds: Option<i32>,
    /// The URL the provider was given, for schemes that sign it (Twilio, Square, HubSpot v2/v3).
    /// Default: this server's public base URL + `/h/<token>`.
    public_url: Option<String>,
    /// Required for `generic-hmac`.
    generic: Option<GenericHmacInput>,
}

#[derive(InputObject)]
#[graphql(name = "SecretInput")]
pub struct SecretInput {
    label: String,
    value: String,
}

/// A signature scheme described by its parts.
#[derive(InputObject)]
#[graphql(name = "GenericHmacInput")]
pub struct GenericHmacInput {
    /// Header carrying the signature.
    header: String,
    /// `sha1`, `sha256` or `sha512`.
    #[graphql(default_with = "\"sha256\".to_string()")]
    algorithm: String,
    /// `hex` or `base64`.
    #[graphql(default_with = "\"hex\".to_string()")]
    encoding: String,
    /// Text before the signature in the header, e.g. `sha256=`.
    #[graphql(default)]
    prefix: String,
    /// What is signed, with `{timestamp}`, `{id}`, `{body}`, `{url}` and `{method}` placeholders.
    #[graphql(default_with = "\"{body}\".to_string()")]
    template: String,
    /// Header carrying the signed Unix timestamp.
    timestamp_header: Option<String>,
    /// Header carrying the message id.
    id_header: Option<String>,
}

fn field(path: &str) -> String {
    format!("verification.{path}")
}

/// Checks input and turns it into settings; errors name the field. `current` supplies the secrets
/// when the input leaves them out.
pub(crate) fn validate_verification(
    input: VerificationInput,
    current: Option<&VerificationSettings>,
) -> Result<VerificationSettings, ApiError> {
    let provider = input.provider.trim().to_string();
    let secrets = match (input.secrets, current) {
        (Some(given), _) => secrets_of(given)?,
        // Kept secrets still go through the provider's key check in `hookmetry_verify::validate`.
        (None, Some(c)) if c.provider == provider => c.secrets.clone(),
        // Another provider's secrets are the wrong kind of key far more often than not.
        (None, Some(c)) => {
            return Err(ApiError::bad(
                "verification.secrets",
                format!("the provider changes from `{}` to `{provider}`: give its secrets", c.provider),
            ));
        }
        (None, None) => Vec::new(),
    };
    let tolerance_seconds = match input.tolerance_seconds {
        None => None,
        Some(t) if (0..=MAX_TOLERANCE_SECONDS).contains(&t) => Some(t as u32),
        Some(t) => {
            return Err(ApiError::bad(
                "verification.toleranceSeconds",
                format!("must be between 0 and {MAX_TOLERANCE_SECONDS}, got {t}"),
            ));
        }
    };
    let settings = VerificationSettings {
        provider,
        secrets,
        tolerance_seconds,
        public_url: input.public_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty()),
        generic: input.generic.map(|g| GenericHmac {
            header: g.header,
            algorithm: g.algorithm,
            encoding: g.encoding,
            prefix: g.prefix,
            template: g.template,
            timestamp_header: g.timestamp_header,
            id_header: g.id_header,
        }),
    };
    if let Some(url) = &settings.public_url
        && (url.len() > 2048 || url.parse::<http::Uri>().map(|u| u.host().is_none()).unwrap_or(true))
    {
        return Err(ApiError::bad("verification.publicUrl", "must be an absolute http(s) URL of at most 2048 bytes"));
    }
    hookmetry_verify::validate(&settings).map_err(|(path, message)| ApiError::bad(field(&path), message))?;
    Ok(settings)
}

fn secrets_of(given: Vec<SecretInput>) -> Result<Vec<SigningSecret>, ApiError> {
    if given.len() > MAX_SECRETS {
        return Err(ApiError::bad("verification.secrets", format!("at most {MAX_SECRETS} secrets")));
    }
    for (i, s) in given.iter().enumerate() {
        if s.value.len() > MAX_SECRET_BYTES {
            return Err(ApiError::bad(
                format!("verification.secrets[{i}].value"),
                format!("at most {MAX_SECRET_BYTES} bytes"),
            ));
        }
        if s.label.chars().count() > 100 || s.label.chars().any(char::is_control) {
            return Err(ApiError::bad(
                format!("verification.secrets[{i}].label"),
                "at most 100 characters, no control characters",
            ));
        }
    }
    Ok(given.into_iter().map(|s| SigningSecret::new(s.label.trim(), s.value)).collect())
}

impl VerificationInput {
    /// How `updateEndpoint` changes verification: absent keeps it, null removes it.
    pub(crate) fn apply(
        current: &mut Option<VerificationSettings>,
        input: MaybeUndefined<VerificationInput>,
    ) -> Result<(), ApiError> {
        match input {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => *current = None,
            MaybeUndefined::Value(v) => *current = Some(validate_verification(v, current.as_ref())?),
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct VerificationQuery;

#[Object]
impl VerificationQuery {
    /// Every signature scheme Hookmetry checks.
    async fn providers(&self) -> Vec<ProviderObject> {
        hookmetry_verify::providers()
            .into_iter()
            .map(|p| ProviderObject {
                id: p.id,
                name: p.name,
                default_tolerance_seconds: p.default_tolerance.map(|t| t as i32),
                url_bound: p.url_bound,
                public_key: p.asymmetric,
            })
            .collect()
    }
}

#[derive(InputObject)]
struct AddSecretInput {
    endpoint_id: ID,
    label: String,
    value: String,
}

#[derive(InputObject)]
struct RemoveSecretInput {
    endpoint_id: ID,
    label: String,
}

#[derive(InputObject)]
struct ReverifyCapturesInput {
    endpoint_id: ID,
    /// Captures received at or after this RFC 3339 time.
    since: String,
    /// `endCursor` of a previous call that answered `hasMore`.
    after: Option<String>,
}

#[derive(SimpleObject)]
struct VerdictCount {
    verdict: VerdictValue,
    count: i32,
}

/// What `reverifyCaptures` did.
#[derive(SimpleObject)]
struct ReverifyResult {
    /// Captures checked again by this call.
    count: i32,
    /// Their new verdicts.
    verdicts: Vec<VerdictCount>,
    /// More captures since `since` remain; call again with `after: endCursor`.
    has_more: bool,
    end_cursor: Option<String>,
}

#[derive(Default)]
pub struct VerificationMutation;

#[Object]
impl VerificationMutation {
    /// Adds a secret as the current one, keeping the others for the rotation; the endpoint must
    /// already have verification settings. Needs EDITOR.
    async fn add_verification_secret(
        &self,
        c: &Context<'_>,
        input: AddSecretInput,
    ) -> Result<EndpointObject, ApiError> {
        let a = Access::of(c);
        let mut endpoint = a.editable_endpoint(&input.endpoint_id, "change endpoints (needs EDITOR)").await?;
        let id = endpoint.id;
        let Some(mut settings) = endpoint.verification.clone() else {
            return Err(ApiError::bad(
                "endpointId",
                "the endpoint has no verification settings; set them with updateEndpoint",
            ));
        };
        if settings.secrets.len() >= MAX_SECRETS {
            return Err(ApiError::bad(
                "label",
                format!("the endpoint already has {MAX_SECRETS} secrets; remove one first"),
            ));
        }
        if input.value.len() > MAX_SECRET_BYTES {
            return Err(ApiError::bad("value", format!("at most {MAX_SECRET_BYTES} bytes")));
        }
        settings.secrets.insert(0, SigningSecret::new(input.label.trim(), input.value));
        hookmetry_verify::validate(&settings).map_err(|(path, message)| {
            // Errors about the new secret name this mutation's own fields.
            let f = match path.as_str() {
                "secrets[0].label" => "label".to_string(),
                "secrets[0].value" => "value".to_string(),
                other => other.to_string(),
            };
            ApiError::bad(f, message)
        })?;
        endpoint.verification = Some(settings);
        a.ctx.store.update_endpoint(&endpoint).await?;
        tracing::info!(endpoint_id = %id, "verification secret added");
        Ok(EndpointObject(endpoint))
    }

    /// Removes a secret by label (after a rotation); the last one cannot be removed — set
    /// `verification: null` with updateEndpoint to stop verifying. Needs EDITOR.
    async fn remove_verification_secret(
        &self,
        c: &Context<'_>,
        input: RemoveSecretInput,
    ) -> Result<EndpointObject, ApiError> {
        let a = Access::of(c);
        let mut endpoint = a.editable_endpoint(&input.endpoint_id, "change endpoints (needs EDITOR)").await?;
        let id = endpoint.id;
        let settings = endpoint
            .verification
            .as_mut()
            .ok_or_else(|| ApiError::bad("endpointId", "the endpoint has no verification settings"))?;
        let before = settings.secrets.len();
        settings.secrets.retain(|s| s.label != input.label);
        if settings.secrets.len() == before {
            return Err(ApiError::bad("label", format!("no secret is labelled `{}`", input.label)));
        }
        if settings.secrets.is_empty() {
            return Err(ApiError::bad("label", "this is the only secret; set `verification: null` to stop verifying"));
        }
        a.ctx.store.update_endpoint(&endpoint).await?;
        tracing::info!(endpoint_id = %id, "verification secret removed");
        Ok(EndpointObject(endpoint))
    }

    /// Checks the endpoint's captures received since `since` again with its current settings
    /// (after adding or fixing a secret), newest first, at most 10000 per call. Timestamps are
    /// still judged against each capture's receive time. Needs EDITOR.
    async fn reverify_captures(
        &self,
        c: &Context<'_>,
        input: ReverifyCapturesInput,
    ) -> Result<ReverifyResult, ApiError> {
        let a = Access::of(c);
        let id: EndpointId = parse_id("endpointId", &input.endpoint_id)?;
        let since = Timestamp::parse_rfc3339(&input.since).map_err(|e| ApiError::bad("since", e))?;
        let mut before = match &input.after {
            Some(cursor) => Some(decode_cursor(cursor)?),
            None => None,
        };
        let endpoint = a.endpoint(id).await?.ok_or(ApiError::NotFound("endpoint"))?;
        a.require(endpoint.team_id, Role::Editor, "re-verify captures (needs EDITOR)")?;

        let mut counts: BTreeMap<&'static str, (Verdict, i32)> = BTreeMap::new();
        let mut count = 0usize;
        let mut has_more = false;
        let filter = CaptureFilter { received_from: Some(since), ..Default::default() };
        while count < REVERIFY_MAX {
            let limit = 200.min(REVERIFY_MAX - count) as u32;
            let page = a
                .ctx
                .store
                .captures(id, &CapturePage { limit, before, filter: filter.clone(), without_bodies: false })
                .await?;
            let now = Timestamp::now();
            // Off the async workers: each check may spend its explanation budget on a body a
            // stranger sent (see the processor).
            let (items, ep, base) = (page.items.clone(), endpoint.clone(), a.ctx.settings.public_base_url.clone());
            let results: Vec<_> = tokio::task::spawn_blocking(move || {
                let limits = hookmetry_verify::ExplainLimits::default();
                items
                    .iter()
                    .map(|capture| {
                        (capture.id, hookmetry_verify::verify_capture_with_limits(&ep, capture, &base, now, limits))
                    })
                    .collect()
            })
            .await
            .map_err(|e| ApiError::Internal(format!("verification task failed: {e}")))?;
            // What each capture had before, so only real changes are announced to open views.
            let ids: Vec<_> = page.items.iter().map(|c| c.id).collect();
            let before_results = a.ctx.store.verifications(&ids).await?;
            a.ctx.store.put_verifications(&results).await?;
            for (_, v) in &results {
                counts.entry(v.verdict.as_str()).or_insert((v.verdict, 0)).1 += 1;
            }
            let changed = page
                .items
                .iter()
                .zip(&results)
                .filter(|(capture, (_, new))| {
                    before_results
                        .get(&capture.id)
                        .is_none_or(|old| (old.verdict, &old.reason) != (new.verdict, &new.reason))
                })
                .map(|(capture, _)| CaptureChange::of(capture, CaptureChangeKind::Verified))
                .collect::<Vec<_>>();
            a.ctx.announcer.capture_changes(&changed).await;
            count += results.len();
            before = page.items.last().map(|c| c.id);
            has_more = page.has_more;
            if !page.has_more {
                break;
            }
        }
        tracing::info!(endpoint_id = %id, count, "captures re-verified");
        Ok(ReverifyResult {
            count: count as i32,
            verdicts: counts
                .into_values()
                .map(|(verdict, count)| VerdictCount { verdict: verdict.into(), count })
                .collect(),
            has_more,
            end_cursor: if has_more { before.map(encode_cursor) } else { None },
        })
    }
}
