//! Learned event shapes and per-capture schema changes.

use async_trait::async_trait;
use hookmetry_core::{CaptureId, EndpointId, EventShape, Timestamp};
use rusqlite::OptionalExtension;

use super::{SqliteStore, Sync};
use crate::{Result, ShapeStore};

const SHAPE_COLUMNS: &str = "endpoint_id, event_type, shape, samples, updated_at";

fn shape_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventShape> {
    Ok(EventShape {
        endpoint_id: EndpointId::from_bytes(r.get(0)?),
        event_type: r.get(1)?,
        shape: r.get(2)?,
        samples: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
        updated_at: Timestamp::from_micros(r.get(4)?),
    })
}

#[async_trait]
impl ShapeStore for SqliteStore {
    async fn event_shape(&self, endpoint: EndpointId, event_type: &str) -> Result<Option<EventShape>> {
        let event_type = event_type.to_string();
        self.read("read event shape", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SHAPE_COLUMNS} FROM event_shapes WHERE endpoint_id = ?1 AND event_type = ?2"
            ))?
            .query_row((endpoint.as_bytes(), &event_type), shape_from_row)
            .optional()
        })
        .await
    }

    async fn event_shapes(&self, endpoint: EndpointId, limit: usize) -> Result<Vec<EventShape>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read("list event shapes", move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SHAPE_COLUMNS} FROM event_shapes WHERE endpoint_id = ?1 ORDER BY event_type LIMIT ?2"
            ))?
            .query_map((endpoint.as_bytes(), limit), shape_from_row)?
            .collect()
        })
        .await
    }

    /// One transaction, synced like capture batches: a shape lost with the machine is learned
    /// again from the next captures.
    async fn put_event_shapes(&self, shapes: &[EventShape]) -> Result<()> {
        if shapes.is_empty() {
            return Ok(());
        }
        let shapes = shapes.to_vec();
        self.write_with(Sync::Normal, "event shape", "store event shapes", move |tx| {
            // Only for endpoints that exist: a shape of a deleted endpoint is dropped, not an error.
            let mut upsert = tx.prepare_cached(
                "INSERT INTO event_shapes (endpoint_id, event_type, shape, samples, updated_at) \
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM endpoints WHERE id = ?1) \
                 ON CONFLICT (endpoint_id, event_type) DO UPDATE SET \
                 shape = excluded.shape, samples = excluded.samples, updated_at = excluded.updated_at",
            )?;
            for s in &shapes {
                upsert.execute((
                    s.endpoint_id.as_bytes(),
                    &s.event_type,
                    &s.shape,
                    i64::try_from(s.samples).unwrap_or(i64::MAX),
                    s.updated_at.micros(),
                ))?;
            }
            Ok(())
        })
        .await
    }

    async fn put_schema_changes(&self, changes: &[(CaptureId, String)]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let changes = changes.to_vec();
        self.write_with(Sync::Normal, "capture", "store schema changes", move |tx| {
            let mut update = tx.prepare_cached("UPDATE captures SET schema_change = ?2 WHERE id = ?1")?;
            for (id, change) in &changes {
                update.execute((id.as_bytes(), change))?;
            }
            Ok(())
        })
        .await
    }

    async fn schema_change(&self, capture: CaptureId) -> Result<Option<String>> {
        let row = self
            .read("read schema change", move |conn| {
                conn.prepare_cached("SELECT schema_change FROM captures WHERE id = ?1")?
                    .query_row([capture.as_bytes()], |r| r.get::<_, Option<String>>(0))
                    .optional()
            })
            .await?;
        Ok(row.flatten())
    }
}
