//! Learned event shapes and per-capture schema changes.

use async_trait::async_trait;
use hookmetry_core::{CaptureId, EndpointId, EventShape, Timestamp};
use uuid::Uuid;

use super::ScyllaStore;
use super::requests::bounded;
use crate::{EndpointStore, Result, ShapeStore, StoreError};

/// `endpoint_id, event_type, shape, samples, updated_at` of `event_shapes`.
type ShapeRow = (Uuid, String, Option<String>, Option<i64>, Option<i64>);

fn shape(row: ShapeRow) -> Option<EventShape> {
    let (endpoint, event_type, shape, samples, updated_at) = row;
    Some(EventShape {
        endpoint_id: EndpointId(endpoint),
        event_type,
        shape: shape?,
        samples: u64::try_from(samples.unwrap_or(0)).unwrap_or(0),
        updated_at: Timestamp::from_micros(updated_at.unwrap_or(0)),
    })
}

#[async_trait]
impl ShapeStore for ScyllaStore {
    async fn event_shape(&self, endpoint: EndpointId, event_type: &str) -> Result<Option<EventShape>> {
        let s = &*self.inner;
        let row: Option<ShapeRow> =
            s.one(&s.st.select_event_shape, (endpoint.0, event_type), "read event shape").await?;
        Ok(row.and_then(shape))
    }

    async fn event_shapes(&self, endpoint: EndpointId, limit: usize) -> Result<Vec<EventShape>> {
        let s = &*self.inner;
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let rows: Vec<ShapeRow> = s.all(&s.st.select_event_shapes, &(endpoint.0, limit), "list event shapes").await?;
        Ok(rows.into_iter().filter_map(shape).collect())
    }

    /// A shape is written only while its endpoint exists (read first); one racing the endpoint's
    /// deletion may outlive it, unread, until the endpoint id is reused, which it never is.
    async fn put_event_shapes(&self, shapes: &[EventShape]) -> Result<()> {
        let s = &*self.inner;
        let what = "store event shapes";
        let mut endpoints: Vec<EndpointId> = shapes.iter().map(|s| s.endpoint_id).collect();
        endpoints.sort_unstable_by_key(|e| e.0);
        endpoints.dedup();
        let mut live = std::collections::HashSet::new();
        for e in endpoints {
            if self.endpoint(e).await?.is_some() {
                live.insert(e);
            }
        }
        bounded(
            shapes
                .iter()
                .filter(|sh| live.contains(&sh.endpoint_id))
                .map(|sh| {
                    let values = (
                        sh.endpoint_id.0,
                        sh.event_type.as_str(),
                        sh.shape.as_str(),
                        i64::try_from(sh.samples).unwrap_or(i64::MAX),
                        sh.updated_at.micros(),
                    );
                    s.exec(&s.st.insert_event_shape, values, what)
                })
                .collect(),
        )
        .await
        .map(drop)
    }

    async fn put_schema_changes(&self, changes: &[(CaptureId, String)]) -> Result<()> {
        let s = &*self.inner;
        let what = "store schema changes";
        bounded(
            changes
                .iter()
                .map(|(id, change)| async move {
                    let Some((_, _, ttl)) = s.capture_location(*id, what).await? else { return Ok(()) };
                    let ttl = match ttl {
                        None => 0,
                        Some(t) if t <= 0 => return Ok(()),
                        Some(t) => t,
                    };
                    s.exec(&s.st.update_schema_change, (ttl, change.as_str(), id.0), what).await?;
                    Ok::<_, StoreError>(())
                })
                .collect(),
        )
        .await
        .map(drop)
    }

    async fn schema_change(&self, capture: CaptureId) -> Result<Option<String>> {
        let s = &*self.inner;
        let row: Option<(Option<i64>, Option<String>)> =
            s.one(&s.st.select_schema_change, (capture.0,), "read schema change").await?;
        // A cell without its row (the capture expired or was deleted meanwhile) is no change.
        Ok(row.and_then(|(received_at, change)| received_at.and(change)))
    }
}
