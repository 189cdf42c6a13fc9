//! Captures and their verification results.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use ::scylla::response::PagingState;
use async_trait::async_trait;
use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, EndpointId, EventGroup, GroupMember, Timestamp, Verification};
use uuid::Uuid;

use super::errors::{exec_error, rows_error};
use super::requests::{bounded, decode_rows};
use super::rows::{CaptureByIdValues, CaptureRow, LocationRow};
use super::{Inner, ScyllaStore, paging};
use crate::{CaptureList, CapturePage, CaptureStore, Result, StoreError};

/// The most index rows one redelivery group or resource read examines: a group or a resource
/// with more is an outlier, and its oldest rows are the ones read.
const GROUP_SCAN: i32 = 1_000;

/// `received_at, answered, answered_by, verdict, verification` of a capture.
type AnswerRow = (Option<i64>, Option<(i32, i32)>, Option<super::rows::AnsweredBy>, Option<String>, Option<String>);

/// Days read from `capture_days` at a time when deleting an endpoint.
const DELETE_DAYS_PER_READ: i32 = 1_000;

impl Inner {
    pub(super) async fn capture_exists(&self, id: CaptureId) -> Result<bool> {
        let row: Option<(Option<i64>,)> =
            self.one(&self.st.select_capture_exists, (id.0,), "check whether a capture is stored").await?;
        Ok(matches!(row, Some((Some(_),))))
    }

    /// Endpoint, day and remaining TTL (`None`: no TTL) of a stored capture.
    pub(super) async fn capture_location(&self, id: CaptureId, what: &str) -> Result<Option<(Uuid, i32, Option<i32>)>> {
        let row: Option<LocationRow> = self.one(&self.st.select_capture_location, (id.0,), what).await?;
        Ok(match row {
            Some((Some(endpoint), Some(day), Some(_), ttl)) => Some((endpoint, day, ttl)),
            _ => None,
        })
    }

    pub(super) async fn delete_capture_rows(&self, endpoint: Uuid, day: i32, id: Uuid) -> Result<()> {
        self.exec(&self.st.delete_capture_by_endpoint, (endpoint, day, id), "delete capture").await?;
        self.exec(&self.st.delete_capture_by_id, (id,), "delete capture").await?;
        self.delete_deliveries_of(id).await
    }

    /// The TTL for rows about a capture: what is left of the capture's, 0 (none) when the
    /// capture has none or is not stored.
    pub(super) async fn capture_ttl(&self, capture: CaptureId, what: &str) -> Result<i32> {
        Ok(self.capture_location(capture, what).await?.and_then(|(_, _, ttl)| ttl).map_or(0, |t| t.max(1)))
    }

    /// `list` with the bodies its listing rows lack read by id. A capture whose body is not
    /// there yet (it is being written: `captures_by_id` is written last) or any more (it is
    /// being deleted) is left out, as a read a moment earlier or later would have.
    async fn with_bodies(&self, list: CaptureList) -> Result<CaptureList> {
        let CaptureList { items, has_more, body_sizes } = list;
        let mut rows: Vec<paging::StoredCapture> = items
            .into_iter()
            .zip(&body_sizes)
            .map(|(capture, &size)| paging::StoredCapture {
                // An empty body is loaded by definition; an old row's body came with it.
                body_loaded: size == 0 || !capture.body.is_empty(),
                capture,
                verdict: None,
                event_type: None,
                event_id: None,
                body_size: size,
            })
            .collect();
        self.load_bodies(&mut rows, "list captures").await?;
        let (items, body_sizes) = rows.into_iter().filter(|r| r.body_loaded).map(|r| (r.capture, r.body_size)).unzip();
        Ok(CaptureList { items, has_more, body_sizes })
    }

    /// Reads from `captures_by_id` the bodies `rows` lack. A row whose body is not there (its
    /// capture is being written, and `captures_by_id` is written last, or being deleted) keeps
    /// an empty body and `body_loaded` false.
    pub(super) async fn load_bodies(&self, rows: &mut [paging::StoredCapture], what: &str) -> Result<()> {
        let missing: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i].body_loaded).collect();
        let bodies: Vec<Option<(Option<Bytes>,)>> = bounded(
            missing.iter().map(|&i| self.one(&self.st.select_capture_body, (rows[i].capture.id.0,), what)).collect(),
        )
        .await?;
        for (i, body) in missing.into_iter().zip(bodies) {
            if let Some((Some(body),)) = body {
                rows[i].capture.body = body;
                rows[i].body_loaded = true;
            }
        }
        Ok(())
    }

    /// Deletes every capture of an endpoint, day by day, and its day index.
    pub(super) async fn delete_endpoint_captures(&self, endpoint: Uuid) -> Result<()> {
        let what = "delete endpoint captures";
        let mut at_most = i32::MAX;
        loop {
            let days: Vec<(i32,)> =
                self.all(&self.st.select_capture_days, &(endpoint, at_most, DELETE_DAYS_PER_READ), what).await?;
            for &(day,) in &days {
                let ids: Vec<(Uuid,)> = self.all(&self.st.select_capture_ids_in_day, &(endpoint, day), what).await?;
                bounded(
                    ids.into_iter()
                        .map(|(id,)| async move {
                            self.exec(&self.st.delete_capture_by_id, (id,), what).await?;
                            self.delete_deliveries_of(id).await
                        })
                        .collect(),
                )
                .await?;
                self.exec(&self.st.delete_capture_day_partition, (endpoint, day), what).await?;
            }
            match days.last() {
                Some(&(last,)) if days.len() as i32 >= DELETE_DAYS_PER_READ && last > i32::MIN => at_most = last - 1,
                _ => break,
            }
        }
        self.exec(&self.st.delete_capture_days, (endpoint,), what).await?;
        Ok(())
    }
}

/// Reads one endpoint's day partitions for the paging walk.
struct DayReader<'a> {
    inner: &'a Inner,
    endpoint: Uuid,
    /// The walk's filter reads bodies (`body_contains`): each row's is read by id.
    load_bodies: bool,
}

impl paging::DaySource for DayReader<'_> {
    type Resume = PagingState;

    async fn days(&mut self, at_most: paging::Day, max: u32) -> Result<Vec<paging::Day>> {
        let max = i32::try_from(max).unwrap_or(i32::MAX);
        let days: Vec<(i32,)> = self
            .inner
            .all(&self.inner.st.select_capture_days, &(self.endpoint, at_most, max), "list capture days")
            .await?;
        Ok(days.into_iter().map(|(d,)| d).collect())
    }

    async fn page(
        &mut self,
        day: paging::Day,
        before: Option<CaptureId>,
        page_size: usize,
        resume: Option<PagingState>,
    ) -> Result<paging::Page<PagingState>> {
        let what = "list captures";
        let st = &self.inner.st;
        let mut statement =
            if before.is_some() { st.select_captures_in_day_before.clone() } else { st.select_captures_in_day.clone() };
        statement.set_page_size(i32::try_from(page_size).unwrap_or(i32::MAX).max(1));
        let state = resume.unwrap_or_else(PagingState::start);
        let session = &self.inner.session;
        let (result, paging) = match before {
            Some(before) => session.execute_single_page(&statement, (self.endpoint, day, before.0), state).await,
            None => session.execute_single_page(&statement, (self.endpoint, day), state).await,
        }
        .map_err(|e| exec_error(what, &e))?;
        let rows = result.into_rows_result().map_err(|e| rows_error(what, &e))?;
        let mut raw: Vec<CaptureRow> = Vec::new();
        decode_rows(&rows, what, &mut raw)?;
        let examined = raw.len();
        let mut rows = raw.into_iter().filter_map(|r| r.into_stored().transpose()).collect::<Result<Vec<_>>>()?;
        if self.load_bodies {
            self.inner.load_bodies(&mut rows, what).await?;
            // A capture whose body is not in `captures_by_id` is still being written (or being
            // deleted): left out, as a moment earlier or later it would be.
            rows.retain(|r| r.body_loaded);
        }
        let next = match paging.into_paging_control_flow() {
            ControlFlow::Break(()) => None,
            ControlFlow::Continue(next) => Some(next),
        };
        Ok(paging::Page { rows, examined, next })
    }
}

#[async_trait]
impl CaptureStore for ScyllaStore {
    /// Checks which ids are stored (reads, no LWT), then writes the others with a TTL from their
    /// team's retention: day markers, then `captures_by_endpoint`, then `captures_by_id`.
    /// Returns how many were written; a capture already past retention is neither written nor
    /// counted.
    async fn put_captures(&self, captures: &[CapturedRequest]) -> Result<usize> {
        let s = &*self.inner;
        let what = "store captures";
        let mut seen = HashSet::new();
        let candidates: Vec<&CapturedRequest> = captures.iter().filter(|c| seen.insert(c.id)).collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let stored: Vec<bool> = bounded(candidates.iter().map(|c| s.capture_exists(c.id)).collect()).await?;
        let now = Timestamp::now();
        let mut writes = Vec::new();
        let mut markers: HashMap<(Uuid, i32), i32> = HashMap::new();
        for (c, stored) in candidates.into_iter().zip(stored) {
            if stored {
                continue;
            }
            let days = s.retention_days(c.team_id).await?;
            let Some(ttl) = paging::capture_ttl(days, c.received_at, now) else { continue };
            let day = paging::capture_day(c.id, c.received_at);
            let marker = markers.entry((c.endpoint_id.0, day)).or_insert(0);
            *marker = (*marker).max(paging::day_marker_ttl(days));
            writes.push((c, day, ttl));
        }
        bounded(
            markers
                .iter()
                .map(|(&(endpoint, day), &ttl)| s.exec(&s.st.insert_capture_day, (endpoint, day, ttl), what))
                .collect(),
        )
        .await?;
        let headers = |c: &CapturedRequest| -> Vec<(String, Bytes)> {
            c.headers.iter().map(|h| (h.name.clone(), h.value.clone())).collect()
        };
        bounded(
            writes
                .iter()
                .map(|&(c, day, ttl)| {
                    let values = (
                        c.endpoint_id.0,
                        day,
                        c.id.0,
                        c.team_id.0,
                        c.method.as_str(),
                        c.path.as_str(),
                        c.query.as_deref(),
                        headers(c),
                        c.body.len() as i64,
                        c.body_sha256.as_slice(),
                        c.remote_addr.as_str(),
                        c.http_version.as_str(),
                        c.received_at.micros(),
                        super::rows::answered_column(c),
                        super::rows::answered_by_column(c),
                        ttl,
                    );
                    s.exec(&s.st.insert_capture_by_endpoint, values, what)
                })
                .collect(),
        )
        .await?;
        bounded(
            writes
                .iter()
                .map(|&(c, day, ttl)| {
                    let values = CaptureByIdValues {
                        capture_id: c.id.0,
                        endpoint_id: c.endpoint_id.0,
                        team_id: c.team_id.0,
                        day,
                        method: c.method.as_str(),
                        path: c.path.as_str(),
                        query: c.query.as_deref(),
                        headers: headers(c),
                        body: c.body.clone(),
                        body_size: c.body.len() as i64,
                        body_sha256: c.body_sha256.as_slice(),
                        remote_addr: c.remote_addr.as_str(),
                        http_version: c.http_version.as_str(),
                        received_at: c.received_at.micros(),
                        answered: super::rows::answered_column(c),
                        answered_by: super::rows::answered_by_column(c),
                        ttl,
                    };
                    s.exec(&s.st.insert_capture_by_id, values, what)
                })
                .collect(),
        )
        .await?;
        Ok(writes.len())
    }

    async fn capture(&self, id: CaptureId) -> Result<Option<CapturedRequest>> {
        let s = &*self.inner;
        let row = s.one::<CaptureRow>(&s.st.select_capture, (id.0,), "read capture").await?;
        let Some(stored) = row.map(CaptureRow::into_stored).transpose()?.flatten() else { return Ok(None) };
        // `captures_by_id` always holds the body; a row with only its size is broken.
        if !stored.body_loaded {
            return Err(StoreError::Corrupt(format!("capture {id}: body is missing")));
        }
        Ok(Some(stored.capture))
    }

    /// Walks the endpoint's day partitions newest first and filters client-side; see `paging`.
    /// Listing rows hold no body: a page without bodies reads none, a page with bodies reads
    /// the bodies of the rows it returns from `captures_by_id`, and only `body_contains` reads
    /// the body of every row it examines.
    async fn captures(&self, endpoint: EndpointId, page: &CapturePage) -> Result<CaptureList> {
        let s = &*self.inner;
        let load_bodies = page.filter.body_contains.is_some();
        let mut reader = DayReader { inner: s, endpoint: endpoint.0, load_bodies };
        let mut scan = paging::scan(&mut reader, page, s.options.max_rows_examined).await?;
        if !page.without_bodies && !load_bodies {
            scan.list = s.with_bodies(scan.list).await?;
        }
        if scan.budget_exhausted {
            tracing::warn!(
                endpoint_id = %endpoint,
                examined = scan.examined,
                found = scan.list.items.len(),
                "capture listing stopped at its scan budget (max_rows_examined); a narrower filter or time range \
                 finds older matches"
            );
        }
        Ok(scan.list)
    }

    /// Each result: locate the capture (a read, so results for unknown ids create nothing),
    /// then update both tables with the row's remaining TTL. A later result for the same id in
    /// one call wins, as it would if they were applied in order.
    async fn put_verifications(&self, results: &[(CaptureId, Verification)]) -> Result<()> {
        let s = &*self.inner;
        let what = "store verifications";
        let mut last: HashMap<CaptureId, &Verification> = HashMap::new();
        for (id, v) in results {
            last.insert(*id, v);
        }
        let rows = last
            .into_iter()
            .map(|(id, v)| crate::verification_codec::encode(v).map(|(verdict, json)| (id, verdict, json, &v.event)))
            .collect::<Result<Vec<_>>>()?;
        bounded(
            rows.iter()
                .map(|(id, verdict, json, event)| async move {
                    let Some((endpoint, day, ttl)) = s.capture_location(*id, what).await? else { return Ok(()) };
                    // TTL 0 means "none" in CQL, which is right for a row without one; a row about
                    // to expire is left alone.
                    let ttl = match ttl {
                        None => 0,
                        Some(t) if t <= 0 => return Ok(()),
                        Some(t) => t,
                    };
                    let by_endpoint = (ttl, *verdict, json.as_str(), endpoint, day, id.0);
                    s.exec(&s.st.update_verification_by_endpoint, by_endpoint, what).await?;
                    s.exec(&s.st.update_verification_by_id, (ttl, *verdict, json.as_str(), id.0), what).await?;
                    if let Some(event_id) = &event.id {
                        s.exec(&s.st.insert_capture_by_event, (endpoint, event_id.as_str(), id.0, ttl), what).await?;
                    }
                    if let (Some(resource), Some(at)) = (&event.resource, event.created_at) {
                        let values = (endpoint, resource.as_str(), id.0, at.micros(), ttl);
                        s.exec(&s.st.insert_capture_by_resource, values, what).await?;
                    }
                    Ok::<_, StoreError>(())
                })
                .collect(),
        )
        .await
        .map(drop)
    }

    /// Reads the group's index partition (bounded by [`GROUP_SCAN`]) and checks each capture's
    /// current result, skipping rows a later result left behind.
    async fn event_group(&self, endpoint: EndpointId, event_id: &str, limit: usize) -> Result<EventGroup> {
        let s = &*self.inner;
        let what = "read event group";
        let ids: Vec<(Uuid,)> =
            s.all(&s.st.select_captures_by_event, &(endpoint.0, event_id, GROUP_SCAN), what).await?;
        let members = bounded(
            ids.into_iter()
                .map(|(id,)| async move {
                    let row: Option<AnswerRow> = s.one(&s.st.select_capture_answer, (id,), what).await?;
                    let Some((Some(received_at), answered, answered_by, Some(verdict), Some(json))) = row else {
                        return Ok::<_, StoreError>(None);
                    };
                    let event = crate::verification_codec::decode(&verdict, &json)?.event;
                    if event.id.as_deref() != Some(event_id) {
                        return Ok(None);
                    }
                    Ok(Some(GroupMember {
                        id: CaptureId(id),
                        received_at: Timestamp::from_micros(received_at),
                        answered: super::rows::answered(answered, answered_by),
                        attempt: event.attempt,
                        retry_reason: event.retry_reason,
                    }))
                })
                .collect(),
        )
        .await?;
        let mut members: Vec<GroupMember> = members.into_iter().flatten().collect();
        let total = members.len() as u64;
        members.truncate(limit);
        Ok(EventGroup { total, members })
    }

    /// Reads the resource's index rows before the cursor (bounded by [`GROUP_SCAN`]), newest
    /// creation time first, and returns the first whose capture's current result still says so.
    async fn newest_event_before(
        &self,
        endpoint: EndpointId,
        resource: &str,
        before: CaptureId,
    ) -> Result<Option<(CaptureId, Timestamp)>> {
        let s = &*self.inner;
        let what = "read newest event of a resource";
        let mut rows: Vec<(Uuid, Option<i64>)> = s
            .all(&s.st.select_captures_by_resource_before, &(endpoint.0, resource, before.0, GROUP_SCAN), what)
            .await?;
        rows.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
        for (id, at) in rows.into_iter().take(16) {
            let Some(at) = at else { continue };
            if let Some(v) = self.verification(CaptureId(id)).await?
                && v.event.resource.as_deref() == Some(resource)
                && v.event.created_at == Some(Timestamp::from_micros(at))
            {
                return Ok(Some((CaptureId(id), Timestamp::from_micros(at))));
            }
        }
        Ok(None)
    }

    async fn verification(&self, id: CaptureId) -> Result<Option<Verification>> {
        let s = &*self.inner;
        let row: Option<(Option<i64>, Option<String>, Option<String>)> =
            s.one(&s.st.select_verification, (id.0,), "read verification").await?;
        let Some((Some(_), Some(verdict), Some(json))) = row else { return Ok(None) };
        crate::verification_codec::decode(&verdict, &json).map(Some)
    }

    async fn verifications(&self, ids: &[CaptureId]) -> Result<std::collections::HashMap<CaptureId, Verification>> {
        // Point reads in parallel: each is a single-partition lookup.
        let found = futures::future::try_join_all(
            ids.iter().map(|&id| async move { self.verification(id).await.map(|v| v.map(|v| (id, v))) }),
        )
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn delete_capture(&self, id: CaptureId) -> Result<()> {
        let s = &*self.inner;
        let Some((endpoint, day, _)) = s.capture_location(id, "delete capture").await? else {
            return Err(StoreError::NotFound { entity: "capture" });
        };
        s.delete_capture_rows(endpoint, day, id.0).await
    }

    /// Nothing to do: every capture row was written with a TTL that ends its team's retention,
    /// and ScyllaDB drops expired rows itself (reads stop returning them at once; compaction
    /// reclaims the space). So this deletes nothing and returns 0.
    async fn expire_captures(&self, _now: Timestamp) -> Result<u64> {
        Ok(0)
    }
}
