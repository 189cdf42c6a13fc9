//! GitLab: no signature; `X-Gitlab-Token` carries the webhook's secret token itself, compared
//! here in constant time. The body is not covered.
//! <https://docs.gitlab.com/user/project/integrations/webhooks/#validate-payloads-by-using-a-secret-token>

use super::{EventSpec, Failure, Key, Message, Parsed, ProviderInfo, Scheme, Source};
use crate::util::{any_eq, required};
use crate::{Request, SignError, SignInput, Signed};

pub(crate) struct GitLab;

static INFO: ProviderInfo = ProviderInfo {
    id: "gitlab",
    name: "GitLab",
    default_tolerance: None,
    url_bound: false,
    asymmetric: false,
    // Every GitLab webhook names its event; the token is only there when one is configured.
    detect: &["X-Gitlab-Event", "X-Gitlab-Token"],
    event: EventSpec {
        id: &[Source::Header("Idempotency-Key"), Source::Header("X-Gitlab-Event-UUID")],
        kind: &[Source::Header("X-Gitlab-Event")],
        ..EventSpec::NONE
    },
};

const HEADER: &str = "X-Gitlab-Token";

impl Scheme for GitLab {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    /// The header holds the secret itself, so no reason here ever quotes its value.
    fn parse(&self, req: &Request<'_>) -> Result<Parsed, Failure> {
        let value = required(req.headers, HEADER)?;
        if value.is_empty() {
            return Err(Failure::malformed(format!(
                "`{HEADER}` is empty: set a secret token on the webhook in GitLab"
            )));
        }
        Ok(Parsed { source: format!("`{HEADER}`"), signatures: vec![value.as_bytes().to_vec()], ..Default::default() })
    }

    fn matches(&self, key: &Key, _msg: &Message<'_>, parsed: &Parsed) -> bool {
        any_eq(key.bytes(), &parsed.signatures)
    }

    fn sign(&self, secret: &str, _input: &SignInput<'_>) -> Result<Signed, SignError> {
        Ok(Signed { headers: vec![(HEADER.into(), secret.to_string())], body: None })
    }

    fn signs_body(&self) -> bool {
        false
    }
}
