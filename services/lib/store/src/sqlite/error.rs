//! How SQLite errors become `StoreError`s.

use rusqlite::ErrorCode;
use rusqlite::types::Type;

use crate::{Result, StoreError};

/// `what` says which operation failed; `entity` is what a constraint violation conflicts on.
pub(super) fn sql_error(entity: &'static str, what: &str, e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    let message = format!("{what}: {e}");
    match &e {
        E::SqliteFailure(f, _) => match f.code {
            // What may pass by itself or by an operator's hand (a full or read-only disk, an I/O
            // error): the processor retries these instead of dead-lettering the capture.
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly => StoreError::Unavailable(message),
            // Every foreign key in the schema references `teams`.
            ErrorCode::ConstraintViolation if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                StoreError::NotFound { entity: "team" }
            }
            ErrorCode::ConstraintViolation => StoreError::Conflict { entity, detail: message },
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt(message),
            _ => StoreError::Backend(message),
        },
        E::FromSqlConversionFailure(..) | E::InvalidColumnType(..) | E::IntegralValueOutOfRange(..) => {
            StoreError::Corrupt(message)
        }
        _ => StoreError::Backend(message),
    }
}

pub(super) fn found(changed: usize, entity: &'static str) -> Result<()> {
    if changed == 0 { Err(StoreError::NotFound { entity }) } else { Ok(()) }
}

pub(super) fn corrupt(
    column: usize,
    ty: Type,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, ty, e.into())
}
