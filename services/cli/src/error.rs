//! Every failure the CLI reports, as one sentence for `error: <sentence>` on stderr, and the
//! mapping from what the server or the network said to those sentences.

use std::io;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "no API token: run `hookmetry login --url <URL>` once, or pass `--token <token>` / set HOOKMETRY_TOKEN (a \
         server's first start writes an admin token to <data dir>/admin-token)"
    )]
    NoToken,
    #[error("`--url` {0}")]
    BadUrl(String),
    #[error("cannot read the token file {}: {source}", path.display())]
    TokenFile { path: PathBuf, source: io::Error },
    #[error("cannot reach Hookmetry at {url}: {reason} — is `hookmetry serve` running?")]
    Unreachable { url: String, reason: String },
    #[error("Hookmetry at {url} did not answer in time")]
    Timeout { url: String },
    #[error("the request to Hookmetry at {url} failed: {reason}")]
    Transport { url: String, reason: String },
    #[error("the token was not accepted: {0}")]
    Unauthorized(String),
    /// [`CliError::Unauthorized`] with where the token came from and what to do.
    #[error("{0}")]
    Rejected(String),
    /// An error the server explained; its message is already a sentence.
    #[error("{message}")]
    Server {
        code: Option<String>,
        message: String,
        /// The input field a bad-input error names (`extensions.field`), for callers that can
        /// point at where it came from (`apply` finds its line in the file).
        field: Option<String>,
    },
    #[error("unexpected answer from Hookmetry at {url}: {detail}")]
    Protocol { url: String, detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Usage(String),
    /// What a script waited for or asserted did not hold (`await` timed out, an `assert` check
    /// failed, a `trigger --retry-like` run the provider gave up on); the sentence says what did
    /// happen.
    #[error("{0}")]
    Unmet(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
}

impl CliError {
    /// The reader went away (`hookmetry tail | head`): not an error worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    /// The GraphQL `extensions.code` when the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            CliError::Server { code, .. } => code.as_deref(),
            CliError::Unauthorized(_) | CliError::Rejected(_) => Some("UNAUTHENTICATED"),
            _ => None,
        }
    }
}

/// One entry of a GraphQL `errors` array.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GqlError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub extensions: Option<GqlExtensions>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GqlExtensions {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
}

impl GqlError {
    pub fn code(&self) -> Option<&str> {
        self.extensions.as_ref().and_then(|e| e.code.as_deref())
    }
}

/// The server prefixes authentication failures with this; "the token was not accepted" says it
/// already.
const UNAUTHENTICATED_PREFIX: &str = "not authenticated: ";

pub(crate) fn unauthorized(message: &str) -> CliError {
    CliError::Unauthorized(message.strip_prefix(UNAUTHENTICATED_PREFIX).unwrap_or(message).to_string())
}

/// The sentence for a non-empty `errors` array: the first error, with a count of the rest.
pub(crate) fn from_graphql_errors(errors: &[GqlError]) -> CliError {
    let Some(first) = errors.first() else {
        return CliError::Server {
            code: None,
            message: "the server reported an error without a message".into(),
            field: None,
        };
    };
    let code = first.code().map(str::to_owned);
    let mut message = match code.as_deref() {
        Some("UNAUTHENTICATED") => return unauthorized(&first.message),
        // The CLI's own queries are fixed; when the server rejects one it is another version.
        Some("GRAPHQL_VALIDATION_FAILED") => format!(
            "the server did not accept the CLI's query ({}); is it a different Hookmetry version than this CLI ({})?",
            first.message,
            env!("CARGO_PKG_VERSION")
        ),
        _ if first.message.is_empty() => "the server reported an error without a message".to_string(),
        _ => first.message.clone(),
    };
    match errors.len() {
        1 => {}
        2 => message.push_str(" (and 1 more error)"),
        n => message.push_str(&format!(" (and {} more errors)", n - 1)),
    }
    let field = first.extensions.as_ref().and_then(|e| e.field.clone());
    CliError::Server { code, message, field }
}

#[derive(Deserialize)]
struct GqlResponse<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Option<Vec<GqlError>>,
}

/// Turns one `POST /graphql` answer into `data` or the sentence that explains why not.
pub(crate) fn decode_response<T: serde::de::DeserializeOwned>(
    url: &str,
    status: u16,
    body: &[u8],
) -> Result<T, CliError> {
    let parsed: Result<GqlResponse<serde_json::Value>, _> = serde_json::from_slice(body);
    let response = match parsed {
        Ok(r) => r,
        Err(_) => {
            let detail = match status {
                401 => return Err(CliError::Unauthorized(format!("HTTP 401 from {url}"))),
                404 => "it has no /graphql (is the URL that of a Hookmetry server?)".to_string(),
                200..=299 => "the answer is not a GraphQL response in JSON".to_string(),
                s => format!("HTTP {s} with a body that is not a GraphQL response{}", snippet(body)),
            };
            return Err(CliError::Protocol { url: url.to_string(), detail });
        }
    };
    if let Some(errors) = response.errors.as_deref().filter(|e| !e.is_empty()) {
        if status == 401 {
            return Err(unauthorized(&errors[0].message));
        }
        return Err(from_graphql_errors(errors));
    }
    if !(200..=299).contains(&status) {
        return Err(CliError::Protocol { url: url.to_string(), detail: format!("HTTP {status} without an error") });
    }
    let data = response.data.unwrap_or(serde_json::Value::Null);
    serde_json::from_value(data).map_err(|e| CliError::Protocol {
        url: url.to_string(),
        detail: format!("the data does not have the expected shape ({e})"),
    })
}

/// The start of a non-GraphQL body (a proxy's error page, say), on one line.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect();
    if line.is_empty() { String::new() } else { format!(": {line}") }
}

/// The most useful reason in an error chain: the OS's word for a refused or reset connection,
/// otherwise the innermost message (outer layers only add "error sending request").
pub(crate) fn root_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut innermost = err.to_string();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return io_reason(io);
        }
        innermost = e.to_string();
        current = e.source();
    }
    innermost
}

pub(crate) fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => {
            // io::Error's Display adds "(os error 111)"; the words are what people read.
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_lowercase(),
                None => text,
            }
        }
    }
}

/// What a failed `reqwest` request means to the user.
pub(crate) fn from_reqwest(url: &str, e: &reqwest::Error) -> CliError {
    if e.is_timeout() {
        return CliError::Timeout { url: url.to_string() };
    }
    let reason = root_reason(e);
    if e.is_connect() {
        CliError::Unreachable { url: url.to_string(), reason }
    } else {
        CliError::Transport { url: url.to_string(), reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Data {
        value: i32,
    }

    #[test]
    fn a_401_says_the_token_was_not_accepted_with_the_servers_reason() {
        let body = br#"{"errors":[{"message":"not authenticated: the token is unknown or revoked","extensions":{"code":"UNAUTHENTICATED"}}]}"#;
        let e = decode_response::<Data>("http://h", 401, body).unwrap_err();
        assert_eq!(e.to_string(), "the token was not accepted: the token is unknown or revoked");
        // A proxy's 401 page is still an authentication failure.
        let e = decode_response::<Data>("http://h", 401, b"<html>401</html>").unwrap_err();
        assert_eq!(e.to_string(), "the token was not accepted: HTTP 401 from http://h");
    }

    #[test]
    fn graphql_errors_become_their_message_not_json() {
        let body = br#"{"data":null,"errors":[{"message":"endpoint not found","extensions":{"code":"NOT_FOUND"}}]}"#;
        let e = decode_response::<Data>("http://h", 200, body).unwrap_err();
        assert_eq!(e.to_string(), "endpoint not found");
        assert_eq!(e.code(), Some("NOT_FOUND"));

        let body = br#"{"errors":[{"message":"a","extensions":{"code":"BAD_USER_INPUT","field":"name"}},{"message":"b"},{"message":"c"}]}"#;
        let e = decode_response::<Data>("http://h", 200, body).unwrap_err();
        assert_eq!(e.to_string(), "a (and 2 more errors)");

        let body =
            br#"{"errors":[{"message":"Unknown field \"nope\"","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}"#;
        let e = decode_response::<Data>("http://h", 200, body).unwrap_err().to_string();
        assert!(e.starts_with("the server did not accept the CLI's query (Unknown field \"nope\")"), "{e}");
    }

    #[test]
    fn data_and_unexpected_answers() {
        let d: Data = decode_response("http://h", 200, br#"{"data":{"value":7}}"#).unwrap();
        assert_eq!(d.value, 7);
        let e = decode_response::<Data>("http://h", 502, b"<h1>Bad Gateway</h1>\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unexpected answer from Hookmetry at http://h: HTTP 502 with a body that is not a GraphQL response: <h1>Bad Gateway</h1>"
        );
        let e = decode_response::<Data>("http://h", 404, b"").unwrap_err();
        assert!(e.to_string().contains("has no /graphql"), "{e}");
        let e = decode_response::<Data>("http://h", 200, br#"{"data":{"value":"x"}}"#).unwrap_err();
        assert!(e.to_string().contains("expected shape"), "{e}");
    }

    #[tokio::test]
    async fn connection_refused_is_named_with_a_hint() {
        // A port that was just free: nothing listens there any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let e = reqwest::Client::new().post(format!("{url}/graphql")).send().await.unwrap_err();
        assert_eq!(
            from_reqwest(&url, &e).to_string(),
            format!("cannot reach Hookmetry at {url}: connection refused — is `hookmetry serve` running?")
        );
    }

    #[test]
    fn broken_pipe_is_recognised() {
        assert!(CliError::Output(io::Error::from(io::ErrorKind::BrokenPipe)).is_broken_pipe());
        assert!(!CliError::NoToken.is_broken_pipe());
    }
}
