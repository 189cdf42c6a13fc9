//! Re-signing a delivery's request with its endpoint's current secret, so a receiver that checks
//! timestamps accepts a replay; the capture keeps its original signature.

use hookmetry_core::{Endpoint, Header, OutgoingRequest, Timestamp};
use sha2::Digest;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResignError {
    #[error("the endpoint has no signature settings to sign with")]
    NoSettings,
    #[error("the endpoint has no signing secret to sign with")]
    NoSecret,
    #[error("cannot re-sign as `{provider}`: {reason}")]
    Sign { provider: String, reason: String },
}

/// Replaces the request's signature with one made at `now` with the endpoint's first secret:
/// same-named headers are replaced where the first of them stood, new ones appended.
pub fn resign(endpoint: &Endpoint, request: &mut OutgoingRequest, now: Timestamp) -> Result<(), ResignError> {
    let settings = endpoint.verification.as_ref().ok_or(ResignError::NoSettings)?;
    let secret = settings.secrets.first().ok_or(ResignError::NoSecret)?;
    let input = hookmetry_verify::SignInput {
        method: &request.method,
        url: &request.url,
        body: &request.body,
        timestamp: now.micros().div_euclid(1_000_000),
        id: None,
        headers: &request.headers,
    };
    let signed = hookmetry_verify::sign(&settings.provider, &secret.value, settings.generic.as_ref(), &input)
        .map_err(|e| ResignError::Sign { provider: settings.provider.to_string(), reason: e.to_string() })?;
    for (name, value) in signed.headers {
        let header = Header::new(name.clone(), value);
        match request.headers.iter().position(|h| h.name.eq_ignore_ascii_case(&name)) {
            Some(first) => {
                request.headers[first] = header;
                let mut i = first + 1;
                while i < request.headers.len() {
                    if request.headers[i].name.eq_ignore_ascii_case(&name) {
                        request.headers.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            None => request.headers.push(header),
        }
    }
    if let Some(body) = signed.body {
        request.body_sha256 = sha2::Sha256::digest(&body).into();
        request.body = body.into();
    }
    Ok(())
}
