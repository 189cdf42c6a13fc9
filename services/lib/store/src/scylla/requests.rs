//! The ways a request is sent and its rows read, shared by every kind of data.

use std::future::Future;
use std::ops::ControlFlow;
use std::sync::Mutex;

use ::scylla::deserialize::row::DeserializeRow as DeserializeRowTrait;
use ::scylla::response::PagingState;
use ::scylla::response::query_result::{QueryResult, QueryRowsResult};
use ::scylla::serialize::row::SerializeRow;
use ::scylla::statement::prepared::PreparedStatement;
use ::scylla::value::{CqlValue, Row};
use futures::{StreamExt, TryStreamExt, stream};

use super::Inner;
use super::errors::{corrupt, exec_error, rows_error, rows_type_error};
use crate::{Result, StoreError};

/// Requests one store call keeps in flight at once (existence checks and writes of a batch,
/// lookups of a team's tokens or endpoints).
const CONCURRENCY: usize = 32;

impl Inner {
    pub(super) async fn exec(
        &self,
        st: &PreparedStatement,
        values: impl SerializeRow,
        what: &str,
    ) -> Result<QueryResult> {
        self.session.execute_unpaged(st, values).await.map_err(|e| exec_error(what, &e))
    }

    /// The first row, if any.
    pub(super) async fn one<R>(
        &self,
        st: &PreparedStatement,
        values: impl SerializeRow,
        what: &str,
    ) -> Result<Option<R>>
    where
        R: for<'f, 'm> DeserializeRowTrait<'f, 'm>,
    {
        let rows = self.exec(st, values, what).await?.into_rows_result().map_err(|e| rows_error(what, &e))?;
        rows.maybe_first_row::<R>().map_err(|e| corrupt(what, &e))
    }

    /// Every row, page by page.
    pub(super) async fn all<R, V>(&self, st: &PreparedStatement, values: &V, what: &str) -> Result<Vec<R>>
    where
        R: for<'f, 'm> DeserializeRowTrait<'f, 'm>,
        V: SerializeRow + Sync,
    {
        let mut out = Vec::new();
        let mut state = PagingState::start();
        loop {
            let (result, paging) =
                self.session.execute_single_page(st, values, state).await.map_err(|e| exec_error(what, &e))?;
            let rows = result.into_rows_result().map_err(|e| rows_error(what, &e))?;
            decode_rows(&rows, what, &mut out)?;
            match paging.into_paging_control_flow() {
                ControlFlow::Break(()) => return Ok(out),
                ControlFlow::Continue(next) => state = next,
            }
        }
    }

    /// Runs a lightweight transaction and returns whether it applied.
    pub(super) async fn lwt(&self, st: &PreparedStatement, values: impl SerializeRow, what: &str) -> Result<bool> {
        let row: Option<Row> = self.one(st, values, what).await?;
        match row.and_then(|r| r.columns.into_iter().next().flatten()) {
            Some(CqlValue::Boolean(applied)) => Ok(applied),
            other => Err(StoreError::Backend(format!("{what}: unexpected lightweight transaction result {other:?}"))),
        }
    }

    /// Runs a lightweight `INSERT … IF NOT EXISTS`: `None` when it applied, otherwise the value
    /// the existing row holds in `column` (itself `None` when the result does not carry it). Any
    /// other conditional statement likewise: not applied, its result carries the current values
    /// of the columns its condition names.
    pub(super) async fn insert_if_absent(
        &self,
        st: &PreparedStatement,
        values: impl SerializeRow,
        column: &str,
        what: &str,
    ) -> Result<Option<Option<CqlValue>>> {
        let rows = self.exec(st, values, what).await?.into_rows_result().map_err(|e| rows_error(what, &e))?;
        // By name: which columns a result that did not apply carries, and in what order, is the
        // server's choice (the existing row's, after `[applied]`).
        let specs = rows.column_specs();
        let applied_at = specs.get_by_name("[applied]").map_or(0, |(i, _)| i);
        let column_at = specs.get_by_name(column).map(|(i, _)| i);
        let mut columns = rows.maybe_first_row::<Row>().map_err(|e| corrupt(what, &e))?.map(|r| r.columns);
        let mut take = |i: usize| columns.as_mut().and_then(|c| c.get_mut(i)).and_then(Option::take);
        match take(applied_at) {
            Some(CqlValue::Boolean(true)) => Ok(None),
            Some(CqlValue::Boolean(false)) => Ok(Some(column_at.and_then(take))),
            other => Err(StoreError::Backend(format!("{what}: unexpected lightweight transaction result {other:?}"))),
        }
    }
}

pub(super) fn decode_rows<R>(rows: &QueryRowsResult, what: &str, out: &mut Vec<R>) -> Result<()>
where
    R: for<'f, 'm> DeserializeRowTrait<'f, 'm>,
{
    for row in rows.rows::<R>().map_err(|e| rows_type_error(what, &e))? {
        out.push(row.map_err(|e| corrupt(what, &e))?);
    }
    Ok(())
}

/// Runs the futures with at most [`CONCURRENCY`] in flight, results in order. Takes built
/// futures rather than a stream with a closure: closures borrowing the call's arguments trip
/// up the `Send` inference of `async_trait` futures.
pub(super) async fn bounded<T, F>(futures: Vec<F>) -> Result<Vec<T>>
where
    F: Future<Output = Result<T>>,
{
    stream::iter(futures).buffered(CONCURRENCY).try_collect().await
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
