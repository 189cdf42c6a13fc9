//! What every operation on a WebSocket shares: its token is checked against the store when the
//! operation starts and every `api.session_recheck` while it streams, so a revoked token stops
//! acting at once and its subscriptions end within the recheck interval; and it holds a slot of
//! the node's and of its team's subscription budget (`api.max_subscribers`,
//! `api.max_subscribers_per_team`) while it runs.
//!
//! Operations over WebSocket (`graphql-transport-ws` sends queries and mutations that way too)
//! all pass through async-graphql's `subscribe` hook, which is where this sits; HTTP requests
//! authenticate per request and never reach it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextSubscribe};
use async_graphql::{Pos, Response};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use hookmetry_core::{TeamId, TokenId};
use hookmetry_store::Store;
use hookmetry_telemetry::{Metrics, TelemetryError};
use prometheus::IntCounterVec;

use crate::{ApiError, Caller, Ctx};

/// Marks a WebSocket connection's data; its operations are re-checked.
pub(crate) struct WsSession;

/// Subscription slots of one API node, in total and per team.
pub struct Subscriptions {
    max: usize,
    per_team: usize,
    held: Mutex<(usize, HashMap<TeamId, usize>)>,
    refused: IntCounterVec,
}

impl Subscriptions {
    pub fn new(max: usize, per_team: usize, metrics: &Metrics) -> Result<Arc<Self>, TelemetryError> {
        let refused = metrics.counter_vec(
            "hookmetry_api_subscriptions_refused_total",
            "WebSocket operations refused because a subscription limit was reached, by the key of the limit.",
            &["limit"],
        )?;
        // Both series exist from the start, so `increase()` sees the first refusal.
        for key in ["api.max_subscribers", "api.max_subscribers_per_team"] {
            refused.with_label_values(&[key]);
        }
        Ok(Arc::new(Self { max, per_team: per_team.min(max), held: Mutex::new((0, HashMap::new())), refused }))
    }

    fn take(self: &Arc<Self>, team: TeamId) -> Result<Slot, ApiError> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let team_held = held.1.get(&team).copied().unwrap_or(0);
        let refuse = |key: &'static str, max: usize| {
            self.refused.with_label_values(&[key]).inc();
            let whose = if key == "api.max_subscribers_per_team" { " for this team" } else { "" };
            ApiError::LimitExceeded(format!("this API node already serves {max} live subscriptions{whose} ({key})"))
        };
        if held.0 >= self.max {
            return Err(refuse("api.max_subscribers", self.max));
        }
        if team_held >= self.per_team {
            return Err(refuse("api.max_subscribers_per_team", self.per_team));
        }
        held.0 += 1;
        *held.1.entry(team).or_default() += 1;
        Ok(Slot { owner: self.clone(), team })
    }
}

struct Slot {
    owner: Arc<Subscriptions>,
    team: TeamId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.owner.held.lock().unwrap_or_else(|e| e.into_inner());
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.team) {
            *n -= 1;
            if *n == 0 {
                held.1.remove(&self.team);
            }
        }
    }
}

pub(crate) struct Sessions;

impl ExtensionFactory for Sessions {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Sessions)
    }
}

fn refusal(e: ApiError) -> Response {
    Response::from_errors(vec![async_graphql::Error::new_with_source(e).into_server_error(Pos::default())])
}

/// `None` while the token may act; the error to end with once it may not.
async fn check(store: &dyn Store, token: TokenId) -> Option<ApiError> {
    match store.token(token).await {
        Ok(Some(t)) if !t.revoked => None,
        Ok(_) => Some(ApiError::Unauthenticated("the token was revoked")),
        // A store hiccup ends nothing; the next check decides.
        Err(e) => {
            tracing::debug!(error = %e, token_id = %token, "session re-check failed");
            None
        }
    }
}

#[async_trait::async_trait]
impl Extension for Sessions {
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let (Some(_), Some(caller), Some(api)) =
            (ctx.data_opt::<WsSession>(), ctx.data_opt::<Caller>(), ctx.data_opt::<Ctx>())
        else {
            return next.run(ctx, stream);
        };
        let slot = match api.subscriptions.take(caller.team_id) {
            Ok(slot) => slot,
            Err(e) => return futures::stream::once(async move { refusal(e) }).boxed(),
        };
        let (store, token, every) = (api.store.clone(), caller.token_id, api.settings.ws.session_recheck);
        let inner = next.run(ctx, stream);
        guarded(inner, store, token, every, api.settings.max_response_bytes, slot).boxed()
    }
}

/// `inner`, refused before its first item and ended after any later tick if the token may no
/// longer act; `slot` is held until the stream is dropped.
fn guarded<'s>(
    inner: BoxStream<'s, Response>,
    store: Arc<dyn Store>,
    token: TokenId,
    every: Duration,
    max_response_bytes: u64,
    slot: Slot,
) -> impl futures::Stream<Item = Response> + 's {
    struct State<'s> {
        inner: BoxStream<'s, Response>,
        store: Arc<dyn Store>,
        token: TokenId,
        tick: tokio::time::Interval,
        started: bool,
        done: bool,
        max_response_bytes: u64,
        _slot: Slot,
    }
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let state = State { inner, store, token, tick, started: false, done: false, max_response_bytes, _slot: slot };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if !s.started {
            s.started = true;
            if let Some(e) = check(s.store.as_ref(), s.token).await {
                s.done = true;
                return Some((refusal(e), s));
            }
        }
        loop {
            tokio::select! {
                // Each response of the operation has a body budget of its own.
                item = crate::budget::scope(crate::budget::Budget::new(s.max_response_bytes), s.inner.next()) => {
                    return item.map(|r| (r, s));
                }
                // The check runs outside the race, so a busy stream cannot keep cutting it short.
                _ = s.tick.tick() => {
                    if let Some(e) = check(s.store.as_ref(), s.token).await {
                        s.done = true;
                        return Some((refusal(e), s));
                    }
                }
            }
        }
    })
}
