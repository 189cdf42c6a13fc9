//! `captureReceived`: live captures over WebSocket.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Subscription};
use futures::Stream;
use hookmetry_core::{EndpointId, TokenId};
use hookmetry_store::Store;

use super::{Access, CaptureObject, parse_id};
use crate::ApiError;
use crate::live::{ListenerGuard, LiveSubscription as HubSubscription, Next};

/// How often a live subscription re-checks that its token is still valid and its endpoint still
/// exists, so a revoked token or a deleted endpoint stops the stream without a reconnect.
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
            super::listen::validate_listener_name("listener", name)?;
        }
        a.endpoint(endpoint).await?.ok_or(ApiError::NotFound("endpoint"))?;
        let hub = a.ctx.hub.as_ref().ok_or_else(|| ApiError::Unavailable("live captures are not enabled".into()))?;
        let sub = hub.subscribe(endpoint).map_err(|e| ApiError::LimitExceeded(e.to_string()))?;
        let state = State {
            sub,
            store: a.ctx.store.clone(),
            token: a.caller.token_id,
            endpoint,
            buffer: hub.buffer(),
            recheck: tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_INTERVAL, RECHECK_INTERVAL),
            done: false,
            _listener: listener.map(|_| hub.listener_guard()),
        };
        Ok(futures::stream::unfold(state, |mut s| async move {
            let item = s.next().await?;
            Some((item, s))
        }))
    }
}

struct State {
    sub: HubSubscription,
    store: Arc<dyn Store>,
    token: TokenId,
    endpoint: EndpointId,
    buffer: usize,
    recheck: tokio::time::Interval,
    done: bool,
    _listener: Option<ListenerGuard>,
}

impl State {
    /// The next item, a final error, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Result<CaptureObject, ApiError>> {
        if self.done {
            return None;
        }
        loop {
            tokio::select! {
                next = self.sub.next() => match next {
                    Some(Next::Capture(capture)) => return Some(Ok(CaptureObject((*capture).clone()))),
                    Some(Next::Lagged) => return self.end(ApiError::Lagged { buffer: self.buffer }),
                    None => return None,
                },
                _ = self.recheck.tick() => {
                    if let Some(reason) = self.still_allowed().await {
                        return self.end(reason);
                    }
                }
            }
        }
    }

    fn end(&mut self, e: ApiError) -> Option<Result<CaptureObject, ApiError>> {
        self.done = true;
        Some(Err(e))
    }

    async fn still_allowed(&self) -> Option<ApiError> {
        match self.store.token(self.token).await {
            Ok(Some(t)) if !t.revoked => {}
            Ok(_) => return Some(ApiError::Unauthenticated("the token was revoked")),
            // A store hiccup is not a reason to drop a subscriber; the next check decides.
            Err(_) => return None,
        }
        match self.store.endpoint(self.endpoint).await {
            Ok(None) => Some(ApiError::NotFound("endpoint")),
            _ => None,
        }
    }
}
