use thiserror::Error;

/// Why a body has no shape.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ShapeError {
    /// Larger than [`Limits::max_body`](crate::Limits::max_body); not parsed at all.
    #[error("body is {len} bytes, more than the {max} bytes shapes are inferred from")]
    TooLarge { len: usize, max: usize },
    /// Not one well-formed JSON value (the parser's reason, with line and column).
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// A JSON scalar (string, number, boolean, null) at the top: no fields to infer. Objects and
    /// arrays (batch senders such as SendGrid post an array of events) have shapes.
    #[error("body is a JSON {0}, not an object or an array")]
    NotObject(&'static str),
}
