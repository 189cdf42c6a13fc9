/// Why a sample could not be built or signed. Each names what was asked for, and for a wrong name,
/// what would have been right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("no samples for provider `{provider}`; providers with samples: {known}")]
    UnknownProvider { provider: String, known: String },
    #[error("{provider} has no sample event `{event}`; its events: {known}")]
    UnknownEvent { provider: &'static str, event: String, known: String },
    #[error("cannot set `{path}`: {reason}")]
    BadPath { path: String, reason: String },
    #[error("time {0} is not Unix seconds that sample timestamps can be written from (1970-01-02 to 9999-11-21)")]
    BadTime(i64),
    #[error("cannot sign as `{provider}`: {source}")]
    Sign {
        provider: String,
        #[source]
        source: hookmetry_verify::SignError,
    },
}
