//! How driver errors become `StoreError`s.

use std::fmt;

use ::scylla::errors::{
    DbError, ExecutionError, IntoRowsResultError, NewSessionError, PrepareError, RequestAttemptError, RowsError,
};

use crate::StoreError;

/// How a driver error surfaces: `Unavailable` for what may pass (no node reachable, timeouts,
/// too few replicas, overload), `Corrupt` for rows that do not decode, `Backend` for the rest
/// (syntax, schema mismatch, authorisation: retrying will not help).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Unavailable,
    Backend,
    Corrupt,
}

pub(super) fn classify(what: &str, kind: Kind, e: &dyn fmt::Display) -> StoreError {
    let message = format!("{what}: {e}");
    match kind {
        Kind::Unavailable => StoreError::Unavailable(message),
        Kind::Backend => StoreError::Backend(message),
        Kind::Corrupt => StoreError::Corrupt(message),
    }
}

pub(super) fn db_kind(e: &DbError) -> Kind {
    match e {
        DbError::Unavailable { .. }
        | DbError::Overloaded
        | DbError::IsBootstrapping
        | DbError::ReadTimeout { .. }
        | DbError::WriteTimeout { .. }
        | DbError::RateLimitReached { .. } => Kind::Unavailable,
        _ => Kind::Backend,
    }
}

pub(super) fn attempt_kind(e: &RequestAttemptError) -> Kind {
    match e {
        RequestAttemptError::DbError(db, _) => db_kind(db),
        RequestAttemptError::BrokenConnectionError(_) | RequestAttemptError::UnableToAllocStreamId => Kind::Unavailable,
        _ => Kind::Backend,
    }
}

pub(super) fn prepare_kind(e: &PrepareError) -> Kind {
    match e {
        PrepareError::ConnectionPoolError(_) => Kind::Unavailable,
        PrepareError::AllAttemptsFailed { first_attempt } => attempt_kind(first_attempt),
        _ => Kind::Backend,
    }
}

pub(super) fn exec_kind(e: &ExecutionError) -> Kind {
    match e {
        ExecutionError::EmptyPlan
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::SchemaAgreementError(_)
        | ExecutionError::MetadataError(_) => Kind::Unavailable,
        ExecutionError::LastAttemptError(a) => attempt_kind(a),
        ExecutionError::PrepareError(p) => prepare_kind(p),
        _ => Kind::Backend,
    }
}

pub(super) fn exec_error(what: &str, e: &ExecutionError) -> StoreError {
    classify(what, exec_kind(e), e)
}

pub(super) fn prepare_error(cql: &str, e: &PrepareError) -> StoreError {
    classify(&format!("prepare `{cql}`"), prepare_kind(e), e)
}

pub(super) fn session_error(nodes: &[String], e: &NewSessionError) -> StoreError {
    let kind = match e {
        NewSessionError::EmptyKnownNodesList | NewSessionError::IllegalConfig(_) => Kind::Backend,
        _ => Kind::Unavailable,
    };
    classify(&format!("connect to {}", nodes.join(",")), kind, e)
}

pub(super) fn rows_error(what: &str, e: &IntoRowsResultError) -> StoreError {
    classify(what, Kind::Backend, e)
}

pub(super) fn rows_type_error(what: &str, e: &RowsError) -> StoreError {
    classify(what, Kind::Corrupt, e)
}

pub(super) fn corrupt(what: &str, e: &dyn fmt::Display) -> StoreError {
    classify(what, Kind::Corrupt, e)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn driver_errors_are_classified() {
        let unavailable =
            DbError::Unavailable { consistency: ::scylla::statement::Consistency::LocalQuorum, required: 2, alive: 1 };
        assert_eq!(db_kind(&unavailable), Kind::Unavailable);
        assert_eq!(db_kind(&DbError::Overloaded), Kind::Unavailable);
        assert_eq!(db_kind(&DbError::SyntaxError), Kind::Backend);
        assert_eq!(db_kind(&DbError::Unauthorized), Kind::Backend);
        let attempt = RequestAttemptError::DbError(DbError::IsBootstrapping, "bootstrapping".into());
        assert_eq!(attempt_kind(&attempt), Kind::Unavailable);
        assert_eq!(exec_kind(&ExecutionError::LastAttemptError(attempt)), Kind::Unavailable);
        assert_eq!(exec_kind(&ExecutionError::EmptyPlan), Kind::Unavailable);
        assert_eq!(exec_kind(&ExecutionError::RequestTimeout(Duration::from_secs(1))), Kind::Unavailable);
        let invalid = RequestAttemptError::DbError(DbError::Invalid, "unconfigured table".into());
        let err = exec_error("read team", &ExecutionError::LastAttemptError(invalid));
        assert!(matches!(&err, StoreError::Backend(m) if m.starts_with("read team: ")), "{err:?}");
        let err = session_error(&["n1:9042".into()], &NewSessionError::EmptyKnownNodesList);
        assert!(matches!(&err, StoreError::Backend(m) if m.contains("n1:9042")), "{err:?}");
        let err = session_error(&["n1:9042".into()], &NewSessionError::FailedToResolveAnyHostname(vec!["n1".into()]));
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}
