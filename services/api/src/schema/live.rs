//! `captureReceived`: live captures over WebSocket; `captureChanged`: deletions and new
//! verdicts of captures already shown, so every open view follows them.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Enum, ID, SimpleObject, Subscription};
use futures::Stream;
use hookmetry_core::EndpointId;
use hookmetry_proto::{CaptureChange, CaptureChangeKind};
use hookmetry_store::Store;
use tokio::sync::broadcast::error::RecvError;

use super::CaptureObject;
use super::common::{Access, parse_id, validate_listener_name};
use super::verification::VerificationObject;
use crate::ApiError;
use crate::live::{ListenerGuard, LiveSubscription as HubSubscription, Next};

/// How often a live subscription re-checks that its endpoint still exists, so a deleted endpoint
/// stops the stream without a reconnect. Its token is re-checked for every WebSocket operation
/// (session.rs).
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// Every capture of the endpoint stored from now on, in order, with all its fields. A
    /// subscriber that falls `api.subscriber_buffer` captures behind gets one `LAGGED` error and
    /// the subscription ends; re-subscribe and page `captures` for what was missed.
    /// `hookmetry listen` names itself in `listener`, which counts it as an active listener
    /// (the `hookmetry_api_active_listeners` metric).
    async fn capture_received(
        &self,
        c: &Context<'_>,
        endpoint_id: ID,
        listener: Option<String>,
    ) -> Result<impl Stream<Item = Result<CaptureObject, ApiError>> + use<>, ApiError> {
        let a = Access::of(c);
        let endpoint: EndpointId = parse_id("endpointId", &endpoint_id)?;
        if let Some(name) = &listener {
            validate_listener_name("listener", name)?;
        }
        a.endpoint(endpoint).await?.ok_or(ApiError::NotFound("endpoint"))?;
        let hub = &a.ctx.hub;
        let sub = hub.subscribe(endpoint).map_err(|e| ApiError::LimitExceeded(e.to_string()))?;
        let state = State {
            sub,
            watch: Watchdog::new(&a, endpoint, hub.buffer()),
            _listener: listener.map(|_| hub.listener_guard()),
        };
        Ok(futures::stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        }))
    }

    /// Changes to the endpoint's stored captures from now on: `DELETED`, or `VERIFIED` when a
    /// re-verification gave a capture another verdict or reason (with the new result). Open
    /// lists and capture views use it to stay true. A subscriber that falls
    /// `api.subscriber_buffer` changes behind gets one `LAGGED` error and the stream ends.
    async fn capture_changed(
        &self,
        c: &Context<'_>,
        endpoint_id: ID,
    ) -> Result<impl Stream<Item = Result<CaptureChangeObject, ApiError>> + use<>, ApiError> {
        let (rx, watch) = watched_changes(c, &endpoint_id).await?;
        Ok(futures::stream::unfold(ChangeState { rx, watch }, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        }))
    }

    /// The endpoint's captures from now on whose body added, dropped or retyped a field of their
    /// event type's learned JSON shape, with what changed. For alerting on a provider changing
    /// its payloads; the shapes themselves are `Endpoint.eventShapes`. A subscriber that falls
    /// `api.subscriber_buffer` changes behind gets one `LAGGED` error and the stream ends.
    async fn schema_changed(
        &self,
        c: &Context<'_>,
        endpoint_id: ID,
    ) -> Result<impl Stream<Item = Result<SchemaChangedObject, ApiError>> + use<>, ApiError> {
        let (rx, watch) = watched_changes(c, &endpoint_id).await?;
        Ok(futures::stream::unfold(SchemaState { rx, watch }, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        }))
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "CaptureChangeKind")]
pub enum CaptureChangeKindValue {
    /// The capture was deleted.
    Deleted,
    /// The capture was verified again with another outcome; `verification` has it.
    Verified,
}

/// A change to a capture already stored.
#[derive(SimpleObject)]
#[graphql(name = "CaptureChange")]
pub struct CaptureChangeObject {
    capture_id: ID,
    kind: CaptureChangeKindValue,
    /// The capture's verification as it is now; null for `DELETED`.
    verification: Option<VerificationObject>,
}

struct ChangeState {
    rx: tokio::sync::broadcast::Receiver<CaptureChange>,
    watch: Watchdog,
}

/// The changes feed and its watchdog for an endpoint the caller may see (`NOT_FOUND` otherwise),
/// what `captureChanged` and `schemaChanged` both start from.
async fn watched_changes(
    c: &Context<'_>,
    endpoint_id: &ID,
) -> Result<(tokio::sync::broadcast::Receiver<CaptureChange>, Watchdog), ApiError> {
    let a = Access::of(c);
    let endpoint: EndpointId = parse_id("endpointId", endpoint_id)?;
    a.endpoint(endpoint).await?.ok_or(ApiError::NotFound("endpoint"))?;
    let hub = &a.ctx.hub;
    Ok((hub.subscribe_changes(), Watchdog::new(&a, endpoint, hub.buffer())))
}

/// The next change of the watched endpoint that `wanted` accepts; a final error (lagged, or the
/// endpoint is gone), after which the stream ends; or `None` when it has ended.
async fn next_change(
    rx: &mut tokio::sync::broadcast::Receiver<CaptureChange>,
    watch: &mut Watchdog,
    wanted: impl Fn(&CaptureChange) -> bool,
) -> Option<Result<CaptureChange, ApiError>> {
    if watch.done {
        return None;
    }
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                Ok(change) if change.endpoint_id == watch.endpoint && wanted(&change) => return Some(Ok(change)),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return watch.end(ApiError::Lagged { buffer: watch.buffer }),
                Err(RecvError::Closed) => return None,
            },
            _ = watch.recheck.tick() => {
                if let Some(reason) = watch.check().await {
                    return watch.end(reason);
                }
            }
        }
    }
}

impl ChangeState {
    async fn next(&mut self) -> Option<Result<CaptureChangeObject, ApiError>> {
        loop {
            let change = match next_change(&mut self.rx, &mut self.watch, |_| true).await? {
                Ok(change) => change,
                Err(e) => return Some(Err(e)),
            };
            match self.object(change).await {
                Ok(Some(o)) => return Some(Ok(o)),
                Ok(None) => {}
                Err(e) => return self.watch.end(e),
            }
        }
    }

    /// The change as subscribers see it; `None` when a new verdict's capture is gone already
    /// (its deletion follows).
    async fn object(&self, change: CaptureChange) -> Result<Option<CaptureChangeObject>, ApiError> {
        let capture_id = ID(change.capture_id.to_string());
        Ok(match change.kind {
            CaptureChangeKind::Deleted => {
                Some(CaptureChangeObject { capture_id, kind: CaptureChangeKindValue::Deleted, verification: None })
            }
            CaptureChangeKind::Verified => {
                self.watch.store.verification(change.capture_id).await?.map(|v| CaptureChangeObject {
                    capture_id,
                    kind: CaptureChangeKindValue::Verified,
                    verification: Some(VerificationObject(v)),
                })
            }
            // `schemaChanged` carries these.
            CaptureChangeKind::SchemaChanged => None,
        })
    }
}

/// `schemaChanged`: the endpoint's captures that change their event type's learned shape.
struct SchemaState {
    rx: tokio::sync::broadcast::Receiver<CaptureChange>,
    watch: Watchdog,
}

impl SchemaState {
    async fn next(&mut self) -> Option<Result<SchemaChangedObject, ApiError>> {
        loop {
            let wanted = |c: &CaptureChange| c.kind == CaptureChangeKind::SchemaChanged;
            let change = match next_change(&mut self.rx, &mut self.watch, wanted).await? {
                Ok(change) => change,
                Err(e) => return Some(Err(e)),
            };
            match self.object(change).await {
                Ok(Some(o)) => return Some(Ok(o)),
                Ok(None) => {}
                Err(e) => return self.watch.end(e),
            }
        }
    }

    /// `None` when the capture is gone already, or its change cannot be read.
    async fn object(&self, change: CaptureChange) -> Result<Option<SchemaChangedObject>, ApiError> {
        let store = &self.watch.store;
        let Some(json) = store.schema_change(change.capture_id).await? else { return Ok(None) };
        let Some(parsed) = super::events::SchemaChangeObject::parse(&json) else { return Ok(None) };
        let event_type = store.verification(change.capture_id).await?.and_then(|v| v.event.kind);
        Ok(Some(SchemaChangedObject { capture_id: ID(change.capture_id.to_string()), event_type, change: parsed }))
    }
}

/// A capture that changed its event type's learned shape.
#[derive(SimpleObject)]
#[graphql(name = "SchemaChanged")]
pub struct SchemaChangedObject {
    capture_id: ID,
    event_type: Option<String>,
    change: super::events::SchemaChangeObject,
}

struct State {
    sub: HubSubscription,
    watch: Watchdog,
    _listener: Option<ListenerGuard>,
}

impl State {
    /// The next item, a final error, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Result<CaptureObject, ApiError>> {
        if self.watch.done {
            return None;
        }
        loop {
            tokio::select! {
                next = self.sub.next() => match next {
                    Some(Next::Capture(capture)) => return Some(Ok(CaptureObject::loaded(capture))),
                    Some(Next::Lagged) => return self.watch.end(ApiError::Lagged { buffer: self.watch.buffer }),
                    None => return None,
                },
                // The check runs outside the race, so a stream of events cannot keep cutting it
                // short; only the wait for the tick races them.
                _ = self.watch.recheck.tick() => {
                    if let Some(reason) = self.watch.check().await {
                        return self.watch.end(reason);
                    }
                }
            }
        }
    }
}

/// What every live subscription checks besides its events: every `RECHECK_INTERVAL`, that its
/// endpoint still exists; and whether it has ended.
struct Watchdog {
    store: Arc<dyn Store>,
    endpoint: EndpointId,
    buffer: usize,
    recheck: tokio::time::Interval,
    done: bool,
}

impl Watchdog {
    fn new(a: &Access<'_>, endpoint: EndpointId, buffer: usize) -> Self {
        Self {
            store: a.ctx.store.clone(),
            endpoint,
            buffer,
            recheck: tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_INTERVAL, RECHECK_INTERVAL),
            done: false,
        }
    }

    /// Why the subscription must end now, if it must: its endpoint was deleted. Run at each tick
    /// of `recheck`.
    async fn check(&self) -> Option<ApiError> {
        match self.store.endpoint(self.endpoint).await {
            Ok(None) => Some(ApiError::NotFound("endpoint")),
            _ => None,
        }
    }

    /// The stream's last item: `e`, after which it ends.
    fn end<T>(&mut self, e: ApiError) -> Option<Result<T, ApiError>> {
        self.done = true;
        Some(Err(e))
    }
}
