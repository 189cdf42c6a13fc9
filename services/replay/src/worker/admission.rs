//! The worker's limits: one attempt per delivery in flight, `per_target_concurrency` sends at
//! once per `host:port`, `max_in_flight` attempts started in all, and a bounded queue per target.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use hookmetry_core::{Delivery, DeliveryId};
use prometheus::IntGauge;
use tokio::sync::Notify;

use super::{Shared, WorkerSettings};

/// Deliveries a target may have waiting for one of its lanes, per lane. Enough that its lanes
/// never wait for the next poll or scan while it keeps up; small enough that a stalled target
/// holds little memory.
pub(super) const QUEUE_PER_LANE: usize = 32;

/// Which deliveries are in flight here, and how many per target.
///
/// A target has up to `per_target` lanes, each a task sending its deliveries one after the
/// other over a kept-alive connection, and a queue of at most `per_target * QUEUE_PER_LANE`
/// deliveries its lanes take from. Queued deliveries are not claimed yet: they are still
/// pending and due in the store, so if this process dies nothing is lost, and they count
/// against `max_queued`, not against `max_in_flight`, so a stalled target's queue never keeps
/// another target from sending. Past both bounds a delivery is not held in memory at all: a
/// later scan finds it in the store. Per-target state is removed when it is idle.
pub(super) struct Admission {
    state: Mutex<AdmissionState>,
    per_target: usize,
    queue_per_target: usize,
    max_in_flight: usize,
    max_queued: usize,
    in_flight_gauge: IntGauge,
    /// Signalled whenever an attempt finishes or a queued delivery leaves its queue.
    pub(super) slot_freed: Notify,
}

#[derive(Default)]
struct AdmissionState {
    /// Queued, sending, or waiting for their attempt to be recorded.
    known: HashSet<DeliveryId>,
    /// Started (claimed or sending or recording): what `max_in_flight` bounds.
    started: usize,
    queued: usize,
    targets: HashMap<String, Target>,
    /// Something due was deferred since the last scan began.
    deferred: bool,
    /// A slot freed after a deferral: a scan now would find work for it.
    rescan: bool,
}

#[derive(Default)]
struct Target {
    lanes: usize,
    queue: VecDeque<Delivery>,
}

#[derive(Debug)]
pub(super) enum Busy {
    /// This delivery is already queued or in flight here.
    InFlight,
    /// Its target's queue, or the worker, is at its limit.
    Full,
}

/// What became of an admitted delivery.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// A new lane is to start with it.
    Lane,
    /// Queued for a lane of its target that is already running.
    Queued,
}

impl Admission {
    pub(super) fn new(settings: &WorkerSettings, in_flight_gauge: IntGauge) -> Self {
        Self {
            state: Mutex::default(),
            per_target: settings.per_target_concurrency,
            queue_per_target: settings.per_target_concurrency * QUEUE_PER_LANE,
            max_in_flight: settings.max_in_flight,
            max_queued: settings.max_in_flight * 4,
            in_flight_gauge,
            slot_freed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AdmissionState> {
        // Nothing in the critical sections can panic half-way; a poisoned lock still holds
        // consistent counts.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits `d` (bound for `target`): a new lane when the target has a lane to spare and the
    /// worker room for one more attempt, else its target's queue when there is room.
    pub(super) fn take(&self, d: &Delivery, target: &str) -> Result<Admit, Busy> {
        let mut guard = self.lock();
        let s = &mut *guard;
        if s.known.contains(&d.id) {
            return Err(Busy::InFlight);
        }
        let t = s.targets.entry(target.to_string()).or_default();
        let admitted = if t.lanes < self.per_target && s.started < self.max_in_flight {
            t.lanes += 1;
            s.started += 1;
            Admit::Lane
        } else if t.lanes > 0 && t.queue.len() < self.queue_per_target && s.queued < self.max_queued {
            t.queue.push_back(d.clone());
            s.queued += 1;
            Admit::Queued
        } else {
            if t.lanes == 0 {
                s.targets.remove(target);
            }
            s.deferred = true;
            return Err(Busy::Full);
        };
        s.known.insert(d.id);
        self.in_flight_gauge.set(i64::try_from(s.started).unwrap_or(i64::MAX));
        Ok(admitted)
    }

    /// The next queued delivery of `target` for the lane asking, which then counts as started;
    /// `None` ends the lane (also when the worker has no room for another attempt: the queue is
    /// then served by the lanes left, or found again in the store).
    pub(super) fn next(&self, target: &str) -> Option<Delivery> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let t = s.targets.get_mut(target)?;
        let next = if s.started < self.max_in_flight { t.queue.pop_front() } else { None };
        match next {
            Some(d) => {
                s.queued -= 1;
                s.started += 1;
                self.in_flight_gauge.set(i64::try_from(s.started).unwrap_or(i64::MAX));
                drop(guard);
                self.slot_freed.notify_one();
                Some(d)
            }
            None => {
                t.lanes -= 1;
                if t.lanes == 0 {
                    // No lane is left to serve what is queued: forget it here; it is pending
                    // and due in the store, so the next scan finds it.
                    let dropped: Vec<DeliveryId> = t.queue.drain(..).map(|d| d.id).collect();
                    s.queued -= dropped.len();
                    for id in &dropped {
                        s.known.remove(id);
                    }
                    if !dropped.is_empty() {
                        s.deferred = true;
                    }
                    s.targets.remove(target);
                }
                None
            }
        }
    }

    /// A lane ended without asking [`Admission::next`] (its task panicked or was aborted).
    pub(super) fn lane_lost(&self, target: &str) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(t) = s.targets.get_mut(target) else { return };
        t.lanes = t.lanes.saturating_sub(1);
        if t.lanes == 0 {
            let dropped: Vec<DeliveryId> = t.queue.drain(..).map(|d| d.id).collect();
            s.queued -= dropped.len();
            for id in &dropped {
                s.known.remove(id);
            }
            s.targets.remove(target);
            s.deferred = true;
        }
    }

    /// `id`'s attempt is over (recorded, or given up for the store to hand out again).
    pub(super) fn release(&self, id: DeliveryId) {
        let mut s = self.lock();
        if s.known.remove(&id) {
            s.started = s.started.saturating_sub(1);
        }
        if s.deferred {
            s.rescan = true;
        }
        self.in_flight_gauge.set(i64::try_from(s.started).unwrap_or(i64::MAX));
        drop(s);
        self.slot_freed.notify_one();
    }

    pub(super) fn full(&self) -> bool {
        let s = self.lock();
        s.started >= self.max_in_flight && s.queued >= self.max_queued
    }

    /// Whether `target` can take another delivery now.
    pub(super) fn has_room(&self, target: &str) -> bool {
        let s = self.lock();
        match s.targets.get(target) {
            None => s.started < self.max_in_flight,
            Some(t) => {
                (t.lanes < self.per_target && s.started < self.max_in_flight)
                    || (t.queue.len() < self.queue_per_target && s.queued < self.max_queued)
            }
        }
    }

    pub(super) fn note_deferred(&self) {
        self.lock().deferred = true;
    }

    pub(super) fn begin_scan(&self) {
        let mut s = self.lock();
        s.deferred = false;
        s.rescan = false;
    }

    pub(super) fn rescan_wanted(&self) -> bool {
        self.lock().rescan
    }
}

/// One started attempt's place; dropping it (also when its task panics or is aborted) frees it.
pub(super) struct Slot {
    shared: Arc<Shared>,
    id: DeliveryId,
}

impl Slot {
    pub(super) fn new(shared: &Arc<Shared>, id: DeliveryId) -> Self {
        Self { shared: shared.clone(), id }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.admission.release(self.id);
    }
}

/// A running lane of a target; if its task ends without [`Admission::next`] saying so, the
/// lane's place is given back.
pub(super) struct Lane {
    shared: Arc<Shared>,
    target: String,
    ended: bool,
}

impl Lane {
    pub(super) fn new(shared: &Arc<Shared>, target: String) -> Self {
        Self { shared: shared.clone(), target, ended: false }
    }

    pub(super) fn target(&self) -> &str {
        &self.target
    }

    /// The next delivery for this lane, or `None` when the lane is over.
    pub(super) fn next(&mut self) -> Option<Delivery> {
        let next = self.shared.admission.next(&self.target);
        self.ended = next.is_none();
        next
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.admission.lane_lost(&self.target);
        }
    }
}

#[cfg(test)]
mod tests {
    use hookmetry_core::{DeliveryOrigin, DeliveryState, OutgoingRequest, Timestamp};

    use super::*;

    fn delivery() -> Delivery {
        let now = Timestamp::now();
        Delivery {
            id: DeliveryId::new(),
            team_id: hookmetry_core::TeamId::new(),
            endpoint_id: hookmetry_core::EndpointId::new(),
            capture_id: hookmetry_core::CaptureId::new(),
            origin: DeliveryOrigin::Manual,
            request: OutgoingRequest {
                method: "POST".into(),
                url: "http://a/".into(),
                headers: Vec::new(),
                body: bytes::Bytes::new(),
                body_sha256: [0; 32],
            },
            edited: false,
            resigned: false,
            state: DeliveryState::Pending,
            attempts: 0,
            max_attempts: 5,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
            trace_parent: None,
            retry_like: None,
        }
    }

    #[test]
    fn lanes_per_target_then_a_bounded_queue_then_the_store() {
        let settings = WorkerSettings { per_target_concurrency: 2, max_in_flight: 3, ..WorkerSettings::default() };
        let gauge = IntGauge::new("in_flight", "test").unwrap();
        let a = Admission::new(&settings, gauge.clone());
        // max_in_flight 3 allows 12 queued in all, fewer than target a's own queue bound.
        let queued = 12;
        assert!(queued < 2 * QUEUE_PER_LANE);
        let ds: Vec<Delivery> = (0..(2 + queued + 2)).map(|_| delivery()).collect();
        assert_eq!(a.take(&ds[0], "a:80").unwrap(), Admit::Lane);
        assert!(matches!(a.take(&ds[0], "a:80"), Err(Busy::InFlight)));
        assert_eq!(a.take(&ds[1], "a:80").unwrap(), Admit::Lane);
        for d in &ds[2..2 + queued] {
            assert_eq!(a.take(d, "a:80").unwrap(), Admit::Queued);
        }
        assert!(!a.has_room("a:80"));
        assert!(matches!(a.take(&ds[2 + queued], "a:80"), Err(Busy::Full)), "the queues are full");
        assert_eq!(a.take(&ds[2 + queued + 1], "b:443").unwrap(), Admit::Lane);
        assert_eq!(gauge.get(), 3);

        // The worker is at max_in_flight: a lane takes nothing more until an attempt ends.
        assert_eq!(a.next("a:80"), None, "the lane ends while the worker is full");
        a.release(ds[0].id);
        assert_eq!(a.next("a:80").map(|d| d.id), Some(ds[2].id), "first queued, first sent");
        a.begin_scan();
        a.note_deferred();
        a.release(ds[1].id);
        assert!(a.rescan_wanted(), "a deferred delivery can use the freed slot");

        // The last lane of a target leaves its queue to the store.
        a.release(ds[2].id);
        assert_eq!(a.next("a:80").map(|d| d.id), Some(ds[3].id));
        a.release(ds[3].id);
        a.lane_lost("a:80");
        a.release(ds[2 + queued + 1].id);
        assert_eq!(a.next("b:443"), None);
        let s = a.lock();
        assert!(s.known.is_empty() && s.targets.is_empty(), "nothing is kept for idle targets");
        assert_eq!((s.started, s.queued, gauge.get()), (0, 0, 0));
    }
}
