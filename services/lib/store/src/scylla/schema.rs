//! Connecting, and bringing a keyspace's schema to this build's version.

use std::sync::Arc;

use ::scylla::client::Compression;
use ::scylla::client::execution_profile::ExecutionProfile;
use ::scylla::client::session::Session;
use ::scylla::client::session_builder::SessionBuilder;
use ::scylla::errors::{ExecutionError, UseKeyspaceError};
use ::scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use hookmetry_core::Timestamp;

use super::errors::{Kind, attempt_kind, classify, corrupt, exec_error, rows_error, session_error};
use super::{ScyllaOptions, cql};
use crate::{Result, StoreError};

pub(super) fn latest_version() -> u32 {
    cql::MIGRATIONS.len() as u32
}

pub(super) async fn connect(options: &ScyllaOptions) -> Result<Session> {
    let profile = ExecutionProfile::builder()
        .consistency(options.consistency)
        .serial_consistency(Some(options.serial_consistency()))
        .request_timeout(Some(options.request_timeout))
        .build();
    SessionBuilder::new()
        .known_nodes(&options.nodes)
        .default_execution_profile_handle(profile.into_handle())
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
        // Bodies are often JSON and compress well; LZ4 costs little CPU.
        .compression(Some(Compression::Lz4))
        .build()
        .await
        .map_err(|e| session_error(&options.nodes, &e))
}

pub(super) async fn use_keyspace(session: &Session, options: &ScyllaOptions) -> Result<()> {
    session.use_keyspace(&options.keyspace, false).await.map_err(|e| {
        let what = format!("use keyspace {}", options.keyspace);
        match &e {
            UseKeyspaceError::RequestError(a) => classify(&what, attempt_kind(a), &e),
            UseKeyspaceError::RequestTimeout(_) => classify(&what, Kind::Unavailable, &e),
            _ => classify(&what, Kind::Backend, &e),
        }
    })
}

pub(super) async fn schema_version(session: &Session) -> Result<u32> {
    let what = "read schema version";
    let result = session.query_unpaged(cql::SELECT_SCHEMA_VERSION, ()).await.map_err(|e| exec_error(what, &e))?;
    let rows = result.into_rows_result().map_err(|e| rows_error(what, &e))?;
    let row = rows.maybe_first_row::<(Option<i32>,)>().map_err(|e| corrupt(what, &e))?;
    let version = row.and_then(|(v,)| v).unwrap_or(0);
    u32::try_from(version).map_err(|_| StoreError::Corrupt(format!("{what}: negative version {version}")))
}

pub(super) async fn migrate(session: &Session, options: &ScyllaOptions) -> Result<u32> {
    let ddl = |what: String| move |e: ExecutionError| exec_error(&what, &e);
    if options.create_keyspace {
        let what = format!("create keyspace {}", options.keyspace);
        let create = cql::create_keyspace(&options.keyspace, &options.replication, options.disable_tablets);
        match session.query_unpaged(create, ()).await {
            Ok(_) => {}
            // Servers without tablets do not know the option; they use vnodes anyway.
            Err(e) if options.disable_tablets && e.to_string().to_ascii_lowercase().contains("tablets") => {
                let create = cql::create_keyspace(&options.keyspace, &options.replication, false);
                session.query_unpaged(create, ()).await.map_err(ddl(what))?;
            }
            Err(e) => return Err(ddl(what)(e)),
        }
    }
    use_keyspace(session, options).await?;
    session.query_unpaged(cql::CREATE_SCHEMA_VERSION, ()).await.map_err(ddl("create schema_version".into()))?;
    let version = schema_version(session).await?;
    if version > latest_version() {
        return Err(StoreError::Backend(format!(
            "keyspace {} is at schema version {version}, newer than this build supports ({})",
            options.keyspace,
            latest_version()
        )));
    }
    for (i, statements) in cql::MIGRATIONS.iter().enumerate().skip(version as usize) {
        for statement in *statements {
            match session.query_unpaged(*statement, ()).await {
                Ok(_) => {}
                // A migration run again after a crash finds its column added: done.
                Err(e) if cql::adds_column(statement) && cql::column_exists(&e.to_string()) => {}
                Err(e) => return Err(ddl(format!("migrate to version {}", i + 1))(e)),
            }
        }
        let to = i as i32 + 1;
        session
            .query_unpaged(cql::UPSERT_SCHEMA_VERSION, (to, Timestamp::now().micros()))
            .await
            .map_err(ddl(format!("record schema version {to}")))?;
        tracing::info!(keyspace = %options.keyspace, version = to, "scylla store schema migrated");
    }
    Ok(latest_version())
}
