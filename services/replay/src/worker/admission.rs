//! The worker's limits: one attempt per delivery in flight, `per_target_concurrency` per
//! `host:port`, `max_in_flight` in all.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use hookmetry_core::DeliveryId;
use prometheus::IntGauge;
use tokio::sync::Notify;

use super::{Shared, WorkerSettings};

/// Which deliveries are in flight here, and how many per target.
///
/// A delivery that cannot start because its target or the worker is at its limit is not queued
/// in memory: it is pending and due in the store, so a later scan starts it. A waiting task
/// would hold a slot of the global bound, and a slow target could fill them all and stall every
/// other target. Counts per target are removed when they reach zero, so the map holds only
/// targets with attempts in flight.
pub(super) struct Admission {
    state: Mutex<AdmissionState>,
    per_target: usize,
    max_in_flight: usize,
    in_flight_gauge: IntGauge,
    /// Signalled whenever an attempt finishes.
    pub(super) slot_freed: Notify,
}

#[derive(Default)]
struct AdmissionState {
    in_flight: HashSet<DeliveryId>,
    targets: HashMap<String, usize>,
    /// Something due was deferred since the last scan began.
    deferred: bool,
    /// A slot freed after a deferral: a scan now would find work for it.
    rescan: bool,
}

#[derive(Debug)]
pub(super) enum Busy {
    /// This delivery's attempt is already in flight here.
    InFlight,
    /// Its target, or the worker, is at its limit.
    Full,
}

impl Admission {
    pub(super) fn new(settings: &WorkerSettings, in_flight_gauge: IntGauge) -> Self {
        Self {
            state: Mutex::default(),
            per_target: settings.per_target_concurrency,
            max_in_flight: settings.max_in_flight,
            in_flight_gauge,
            slot_freed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, AdmissionState> {
        // Nothing in the critical sections can panic half-way; a poisoned lock still holds
        // consistent counts.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves a place for `id`'s attempt to `target`.
    pub(super) fn take(&self, id: DeliveryId, target: &str) -> Result<(), Busy> {
        let mut s = self.lock();
        if s.in_flight.contains(&id) {
            return Err(Busy::InFlight);
        }
        let busy = s.targets.get(target).copied().unwrap_or(0);
        if s.in_flight.len() >= self.max_in_flight || busy >= self.per_target {
            s.deferred = true;
            return Err(Busy::Full);
        }
        s.in_flight.insert(id);
        *s.targets.entry(target.to_string()).or_insert(0) += 1;
        self.in_flight_gauge.set(i64::try_from(s.in_flight.len()).unwrap_or(i64::MAX));
        Ok(())
    }

    pub(super) fn release(&self, id: DeliveryId, target: &str) {
        let mut s = self.lock();
        s.in_flight.remove(&id);
        if let Some(n) = s.targets.get_mut(target) {
            *n -= 1;
            if *n == 0 {
                s.targets.remove(target);
            }
        }
        if s.deferred {
            s.rescan = true;
        }
        self.in_flight_gauge.set(i64::try_from(s.in_flight.len()).unwrap_or(i64::MAX));
        drop(s);
        self.slot_freed.notify_one();
    }

    pub(super) fn full(&self) -> bool {
        self.lock().in_flight.len() >= self.max_in_flight
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

/// One admitted attempt; dropping it (also when its task panics or is aborted) frees its place.
pub(super) struct Slot {
    shared: Arc<Shared>,
    id: DeliveryId,
    target: String,
}

impl Slot {
    pub(super) fn take(shared: &Arc<Shared>, id: DeliveryId, target: &str) -> Result<Self, Busy> {
        shared.admission.take(id, target)?;
        Ok(Self { shared: shared.clone(), id, target: target.to_string() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.admission.release(self.id, &self.target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_limits_each_target_and_the_worker_and_forgets_idle_targets() {
        let settings = WorkerSettings { per_target_concurrency: 2, max_in_flight: 3, ..WorkerSettings::default() };
        let gauge = IntGauge::new("in_flight", "test").unwrap();
        let a = Admission::new(&settings, gauge.clone());
        let ids: Vec<DeliveryId> = (0..4).map(|_| DeliveryId::new()).collect();
        assert!(a.take(ids[0], "a:80").is_ok());
        assert!(matches!(a.take(ids[0], "a:80"), Err(Busy::InFlight)));
        assert!(a.take(ids[1], "a:80").is_ok());
        assert!(matches!(a.take(ids[2], "a:80"), Err(Busy::Full)), "target a is at its limit");
        assert!(a.take(ids[2], "b:443").is_ok());
        assert!(a.full());
        assert!(matches!(a.take(ids[3], "c:80"), Err(Busy::Full)), "the worker is at its limit");
        assert_eq!(gauge.get(), 3);

        a.begin_scan();
        assert!(!a.rescan_wanted());
        assert!(matches!(a.take(ids[3], "a:80"), Err(Busy::Full)));
        a.release(ids[0], "a:80");
        assert!(a.rescan_wanted(), "a deferred delivery can use the freed slot");
        a.release(ids[1], "a:80");
        a.release(ids[2], "b:443");
        let s = a.lock();
        assert!(s.in_flight.is_empty() && s.targets.is_empty(), "nothing is kept for idle targets");
        assert_eq!(gauge.get(), 0);
    }
}
