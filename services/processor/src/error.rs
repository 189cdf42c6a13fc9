//! Why the processor could not handle a batch, or one record of it, and whether trying again
//! can help.

use hookmetry_log::LogError;
use hookmetry_store::StoreError;

/// Whether a failure can go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The store or the log is unavailable or timed out: retried with backoff until it succeeds,
    /// because skipping would lose captures that ingest acknowledged.
    Transient,
    /// This data will never be accepted (a missing team, a conflict, corrupt or rejected data):
    /// retried a bounded number of times, then the record goes to the dead-letter topic so it
    /// cannot stall the group.
    Permanent,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::Transient => "transient",
            Failure::Permanent => "permanent",
        }
    }

    /// How a store error is retried. Every variant is named, so a new one needs a decision.
    pub fn of_store(e: &StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Failure::Transient,
            StoreError::NotFound { .. }
            | StoreError::Conflict { .. }
            | StoreError::NameTaken { .. }
            | StoreError::Corrupt(_)
            | StoreError::Backend(_) => Failure::Permanent,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{what}: {source}")]
    Store {
        /// The step that failed, e.g. `store verifications`.
        what: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("verification task failed: {0}")]
    Verify(#[from] tokio::task::JoinError),
    #[error("set aside a record: {0}")]
    SetAside(#[from] LogError),
}

impl ProcessError {
    pub(crate) fn store(what: &'static str) -> impl FnOnce(StoreError) -> Self {
        move |source| ProcessError::Store { what, source }
    }

    pub fn failure(&self) -> Failure {
        match self {
            ProcessError::Store { source, .. } => Failure::of_store(source),
            // A panic in verification comes back with the same capture; a cancelled task only
            // means the runtime is shutting down.
            ProcessError::Verify(e) if e.is_panic() => Failure::Permanent,
            ProcessError::Verify(_) => Failure::Transient,
            ProcessError::SetAside(_) => Failure::Transient,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unavailable_store_is_transient() {
        assert_eq!(Failure::of_store(&StoreError::Unavailable("timed out".into())), Failure::Transient);
        for e in [
            StoreError::NotFound { entity: "team" },
            StoreError::Conflict { entity: "capture", detail: "x".into() },
            StoreError::NameTaken { name: "n".into() },
            StoreError::Corrupt("x".into()),
            StoreError::Backend("x".into()),
        ] {
            assert_eq!(Failure::of_store(&e), Failure::Permanent, "{e}");
        }
        let e = ProcessError::store("store")(StoreError::Unavailable("down".into()));
        assert_eq!(e.failure(), Failure::Transient);
        assert_eq!(e.to_string(), "store: store unavailable: down");
    }
}
