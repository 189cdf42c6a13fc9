//! Live fan-out: feeds `captureReceived` subscribers from the events log's tail.
//!
//! Every API node tails the events topic itself, so a capture stored by any processor reaches
//! subscribers on every node. Subscribers are indexed by endpoint, so an event wakes only the
//! subscribers of its endpoint. Each subscriber owns a bounded queue; when a subscriber does not
//! drain it fast enough the queue fills, the hub drops that subscriber (its queue goes with it)
//! and the subscription ends with a `LAGGED` error. Memory per subscriber is therefore at most
//! `buffer` events, however slow the client or its network is.
//!
//! The hub reads each announced capture from the store itself, once per node, before queueing
//! it, and only when its endpoint has subscribers here. Subscribers never load anything: a
//! subscriber whose connection is stalled must not hold up a shared load that others wait for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookmetry_core::{CaptureSummary, CapturedRequest, EndpointId, TOPIC_EVENTS};
use hookmetry_log::EventLog;
use hookmetry_proto::{CaptureChange, DeliveryUpdate, Event};
use hookmetry_store::Store;
use hookmetry_telemetry::{Metrics, TelemetryError};
use prometheus::{IntCounter, IntCounterVec, IntGauge};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
#[error("this API node already serves {max} live subscriptions (api.max_subscribers)")]
pub struct TooManySubscribers {
    pub max: usize,
}

struct Slot {
    id: u64,
    tx: mpsc::Sender<Arc<CapturedRequest>>,
    lagged: Arc<AtomicBool>,
}

pub struct Hub {
    slots: Mutex<HashMap<EndpointId, Vec<Slot>>>,
    /// Delivery changes for `deliveryUpdated` subscribers, who filter it themselves: they are
    /// few (people watching a replay), and a broadcast channel bounds each one's backlog.
    deliveries: tokio::sync::broadcast::Sender<DeliveryUpdate>,
    /// Deletions and new verdicts of stored captures for `captureChanged`, filtered the same way.
    changes: tokio::sync::broadcast::Sender<CaptureChange>,
    count: AtomicUsize,
    next_id: AtomicU64,
    buffer: usize,
    max: usize,
    metrics: HubMetrics,
}

struct HubMetrics {
    subscribers: IntGauge,
    listeners: IntGauge,
    delivered: IntCounter,
    lagged: IntCounter,
    events: IntCounterVec,
}

impl HubMetrics {
    fn register(m: &Metrics) -> Result<Self, TelemetryError> {
        Ok(Self {
            subscribers: m.gauge("hookmetry_api_live_subscribers", "captureReceived subscriptions this API node is serving.")?,
            listeners: m.gauge("hookmetry_api_active_listeners", "captureReceived subscriptions of `hookmetry listen` (given a `listener` name) this API node is serving.")?,
            delivered: m.counter("hookmetry_api_live_deliveries_total", "Capture events queued for live subscribers.")?,
            lagged: m.counter("hookmetry_api_live_lagged_total", "Subscriptions ended because their buffer (api.subscriber_buffer) was full.")?,
            events: m.counter_vec("hookmetry_api_live_events_total", "Events read from the events log tail, by outcome.", &["outcome"])?,
        })
    }
}

/// What a subscriber reads; dropping it unsubscribes.
pub struct LiveSubscription {
    rx: mpsc::Receiver<Arc<CapturedRequest>>,
    lagged: Arc<AtomicBool>,
    _guard: Unsubscribe,
}

pub enum Next {
    Capture(Arc<CapturedRequest>),
    /// The subscriber fell `buffer` events behind and was dropped.
    Lagged,
}

impl LiveSubscription {
    /// The next event, `Lagged` once after falling behind, then `None`.
    pub async fn next(&mut self) -> Option<Next> {
        match self.rx.recv().await {
            Some(c) => Some(Next::Capture(c)),
            None if self.lagged.swap(false, Ordering::AcqRel) => Some(Next::Lagged),
            None => None,
        }
    }
}

/// See [`Hub::listener_guard`].
pub struct ListenerGuard {
    hub: Arc<Hub>,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.hub.metrics.listeners.dec();
    }
}

struct Unsubscribe {
    hub: Arc<Hub>,
    endpoint: EndpointId,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.hub.remove(self.endpoint, self.id);
    }
}

impl Hub {
    pub fn new(buffer: usize, max: usize, metrics: &Metrics) -> Result<Arc<Self>, TelemetryError> {
        Ok(Arc::new(Self {
            slots: Mutex::new(HashMap::new()),
            deliveries: tokio::sync::broadcast::channel(buffer.max(1)).0,
            changes: tokio::sync::broadcast::channel(buffer.max(1)).0,
            count: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            buffer: buffer.max(1),
            max,
            metrics: HubMetrics::register(metrics)?,
        }))
    }

    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// Every delivery change from now on; a receiver more than `buffer` behind gets `Lagged`.
    pub fn subscribe_deliveries(&self) -> tokio::sync::broadcast::Receiver<DeliveryUpdate> {
        self.deliveries.subscribe()
    }

    /// Every capture change from now on; a receiver more than `buffer` behind gets `Lagged`.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<CaptureChange> {
        self.changes.subscribe()
    }

    /// Counts a `hookmetry listen` subscription in `hookmetry_api_active_listeners` until the
    /// guard is dropped (with the subscription's stream).
    pub fn listener_guard(self: &Arc<Self>) -> ListenerGuard {
        self.metrics.listeners.inc();
        ListenerGuard { hub: self.clone() }
    }

    pub fn subscribers(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub fn subscribe(self: &Arc<Self>, endpoint: EndpointId) -> Result<LiveSubscription, TooManySubscribers> {
        let (tx, rx) = mpsc::channel(self.buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut slots = self.lock();
            if self.count.load(Ordering::Acquire) >= self.max {
                return Err(TooManySubscribers { max: self.max });
            }
            slots.entry(endpoint).or_default().push(Slot { id, tx, lagged: lagged.clone() });
            self.count.fetch_add(1, Ordering::AcqRel);
        }
        self.metrics.subscribers.inc();
        Ok(LiveSubscription { rx, lagged, _guard: Unsubscribe { hub: self.clone(), endpoint, id } })
    }

    fn remove(&self, endpoint: EndpointId, id: u64) {
        let mut slots = self.lock();
        if let Some(list) = slots.get_mut(&endpoint)
            && let Some(pos) = list.iter().position(|s| s.id == id)
        {
            list.swap_remove(pos);
            if list.is_empty() {
                slots.remove(&endpoint);
            }
            self.count.fetch_sub(1, Ordering::AcqRel);
            self.metrics.subscribers.dec();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EndpointId, Vec<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `capture` for every subscriber of its endpoint without ever waiting: a full queue
    /// drops that subscriber rather than slowing the others or growing.
    pub fn publish(&self, capture: Arc<CapturedRequest>) {
        let endpoint = capture.endpoint_id;
        let mut slots = self.lock();
        let Some(list) = slots.get_mut(&endpoint) else { return };
        let before = list.len();
        list.retain(|slot| match slot.tx.try_send(capture.clone()) {
            Ok(()) => {
                self.metrics.delivered.inc();
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                slot.lagged.store(true, Ordering::Release);
                self.metrics.lagged.inc();
                tracing::info!(endpoint_id = %endpoint, buffer = self.buffer, "live subscriber lagged; dropping it");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        let removed = before - list.len();
        if list.is_empty() {
            slots.remove(&endpoint);
        }
        if removed > 0 {
            self.count.fetch_sub(removed, Ordering::AcqRel);
            self.metrics.subscribers.sub(removed as i64);
        }
    }

    /// Tails the events log until `shutdown`, reopening the tail after errors. Events appended
    /// while the tail is being reopened are missed by live subscribers (never by `captures`).
    pub async fn run(self: Arc<Self>, log: Arc<dyn EventLog>, store: Arc<dyn Store>, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let mut tail = match log.tail(TOPIC_EVENTS).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot tail the events log");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            loop {
                let batch = tokio::select! {
                    b = tail.next_batch(512, Duration::from_millis(500)) => b,
                    _ = shutdown.cancelled() => return,
                };
                match batch {
                    Ok(records) => {
                        backoff = Duration::from_millis(100);
                        for r in records {
                            self.dispatch(store.as_ref(), r.payload).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "events log tail failed; reopening");
                        break;
                    }
                }
            }
        }
    }

    fn has_subscribers(&self, endpoint: EndpointId) -> bool {
        self.lock().contains_key(&endpoint)
    }

    async fn dispatch(&self, store: &dyn Store, value: bytes::Bytes) {
        match hookmetry_proto::decode_event(value) {
            Ok(Some(Event::CaptureStored(summary))) => {
                self.metrics.events.with_label_values(&["capture_stored"]).inc();
                if self.has_subscribers(summary.endpoint_id) {
                    self.load_and_publish(store, &summary).await;
                }
            }
            Ok(Some(Event::DeliveryUpdated(update))) => {
                self.metrics.events.with_label_values(&["delivery_updated"]).inc();
                // No receiver is the common case, not an error.
                let _ = self.deliveries.send(update);
            }
            Ok(Some(Event::CaptureChanged(change))) => {
                self.metrics.events.with_label_values(&["capture_changed"]).inc();
                let _ = self.changes.send(change);
            }
            // An event kind from a newer version: nothing here knows what to do with it.
            Ok(None) => self.metrics.events.with_label_values(&["unknown"]).inc(),
            Err(e) => {
                self.metrics.events.with_label_values(&["undecodable"]).inc();
                tracing::warn!(error = %e, "undecodable event skipped");
            }
        }
    }
}

impl Hub {
    async fn load_and_publish(&self, store: &dyn Store, summary: &CaptureSummary) {
        match store.capture(summary.id).await {
            Ok(Some(capture)) => self.publish(Arc::new(capture)),
            // Deleted between storing and now: there is nothing to show.
            Ok(None) => self.metrics.events.with_label_values(&["deleted"]).inc(),
            Err(e) => {
                self.metrics.events.with_label_values(&["unreadable"]).inc();
                tracing::warn!(error = %e, capture_id = %summary.id, "live capture not delivered: store read failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hookmetry_core::{CaptureId, TeamId, Timestamp};

    use super::*;

    fn summary(endpoint: EndpointId) -> CapturedRequest {
        CapturedRequest {
            id: CaptureId::new(),
            endpoint_id: endpoint,
            team_id: TeamId::new(),
            method: "POST".into(),
            path: "/".into(),
            query: None,
            headers: vec![],
            body: bytes::Bytes::new(),
            body_sha256: [0; 32],
            remote_addr: "127.0.0.1".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::now(),
            answered: None,
        }
    }

    #[tokio::test]
    async fn events_reach_only_their_endpoint_in_order() {
        let hub = Hub::new(8, 10, &Metrics::new()).unwrap();
        let (a, b) = (EndpointId::new(), EndpointId::new());
        let mut sa = hub.subscribe(a).unwrap();
        let mut sb = hub.subscribe(b).unwrap();
        let events: Vec<_> = (0..3).map(|_| summary(a)).collect();
        for e in &events {
            hub.publish(Arc::new(e.clone()));
        }
        for e in &events {
            let Some(Next::Capture(got)) = sa.next().await else { panic!("expected a capture") };
            assert_eq!(got.id, e.id);
        }
        hub.publish(Arc::new(summary(b)));
        assert!(matches!(sb.next().await, Some(Next::Capture(c)) if c.endpoint_id == b));
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_dropped_at_its_buffer_and_told_so() {
        let hub = Hub::new(4, 10, &Metrics::new()).unwrap();
        let ep = EndpointId::new();
        let mut slow = hub.subscribe(ep).unwrap();
        let mut fast = hub.subscribe(ep).unwrap();
        for _ in 0..4 {
            hub.publish(Arc::new(summary(ep)));
            assert!(matches!(fast.next().await, Some(Next::Capture(_))));
        }
        assert_eq!(hub.subscribers(), 2);
        // The fifth event finds the slow queue full: the slow subscriber goes, the fast stays.
        hub.publish(Arc::new(summary(ep)));
        assert_eq!(hub.subscribers(), 1);
        for _ in 0..10_000 {
            hub.publish(Arc::new(summary(ep)));
            assert!(matches!(fast.next().await, Some(Next::Capture(_))));
        }
        let mut queued = 0;
        loop {
            match slow.next().await {
                Some(Next::Capture(_)) => queued += 1,
                Some(Next::Lagged) => break,
                None => panic!("the slow subscriber was not told it lagged"),
            }
        }
        assert_eq!(queued, 4, "a slow subscriber holds at most its buffer");
        assert!(slow.next().await.is_none());
    }

    #[tokio::test]
    async fn subscriber_limit_and_unsubscribe_on_drop() {
        let hub = Hub::new(4, 2, &Metrics::new()).unwrap();
        let ep = EndpointId::new();
        let s1 = hub.subscribe(ep).unwrap();
        let _s2 = hub.subscribe(ep).unwrap();
        let e = hub.subscribe(ep).err().unwrap();
        assert_eq!(e.to_string(), "this API node already serves 2 live subscriptions (api.max_subscribers)");
        drop(s1);
        assert_eq!(hub.subscribers(), 1);
        let _s3 = hub.subscribe(ep).unwrap();
    }
}
