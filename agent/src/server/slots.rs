//! The connection cap: which connections are open, which of them wait for a request (idle,
//! or stalled in one), and which one makes way when a new connection arrives at the cap.
//!
//! Refusing the newest connection at the cap let any process of the user lock its owner out
//! by opening 128 connections and sending nothing. So at the cap the connection that has
//! waited longest without a request being served is closed instead, and the new one takes
//! its slot: a flood only ever pushes out older waiting connections (its own first), and a
//! connection whose request is being served is never closed. Only when every slot is busy
//! with a request is the new connection refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::Notify;

/// The open connections, by the order they were accepted in.
#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Occupant>>,
}

/// What the cap knows of one open connection.
struct Occupant {
    /// Since when it has waited for a request; `None` while one is being served.
    waiting_since: Mutex<Option<Instant>>,
    /// Woken when the connection must make way for a newer one.
    evict: Notify,
}

impl Occupant {
    fn waiting_since(&self) -> MutexGuard<'_, Option<Instant>> {
        self.waiting_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What [`Slots::take`] did for a new connection.
pub(crate) enum Admission {
    /// A slot was free.
    Free(Slot),
    /// The cap was reached: the longest-waiting connection was told to close, and its slot
    /// is the new one's.
    MadeWay(Slot),
    /// Every slot is busy serving a request: the new connection is closed.
    Full,
}

/// One open connection's place under the cap; it is given back when dropped.
pub(crate) struct Slot {
    id: u64,
    occupant: Arc<Occupant>,
    table: Arc<Mutex<Table>>,
}

impl Slot {
    /// A request arrived in full: this connection is not to be closed for a newer one.
    pub(crate) fn serving(&self) {
        *self.occupant.waiting_since() = None;
    }

    /// The reply is going out: the connection waits for the next request from now.
    pub(crate) fn waiting(&self) {
        *self.occupant.waiting_since() = Some(Instant::now());
    }

    /// Completes once the connection has been chosen to make way for a newer one (at once,
    /// if it was chosen while it was serving a request).
    pub(crate) async fn evicted(&self) {
        self.occupant.evict.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.table).open.remove(&self.id);
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The cap on connections served at once.
pub(crate) struct Slots {
    table: Arc<Mutex<Table>>,
    max: usize,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Slots {
        Slots {
            table: Arc::default(),
            max: max.max(1),
        }
    }

    /// A slot for a connection accepted at `now`: a free one, else the one of the connection
    /// that has waited longest for a request (ties: the oldest connection), else none.
    pub(crate) fn take(&self, now: Instant) -> Admission {
        let mut table = lock(&self.table);
        let mut made_way = false;
        if table.open.len() >= self.max {
            let longest_waiting = table
                .open
                .iter()
                .filter_map(|(id, o)| o.waiting_since().map(|since| (since, *id)))
                .min();
            let Some((_, victim)) = longest_waiting else {
                return Admission::Full;
            };
            if let Some(occupant) = table.open.remove(&victim) {
                occupant.evict.notify_one();
            }
            made_way = true;
        }
        let id = table.next_id;
        table.next_id += 1;
        let occupant = Arc::new(Occupant {
            waiting_since: Mutex::new(Some(now)),
            evict: Notify::new(),
        });
        table.open.insert(id, Arc::clone(&occupant));
        let slot = Slot {
            id,
            occupant,
            table: Arc::clone(&self.table),
        };
        if made_way {
            Admission::MadeWay(slot)
        } else {
            Admission::Free(slot)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::Duration;

    use super::*;

    fn slot(admission: Admission) -> Option<Slot> {
        match admission {
            Admission::Free(slot) | Admission::MadeWay(slot) => Some(slot),
            Admission::Full => None,
        }
    }

    fn is_evicted(slot: &Slot) -> bool {
        let evicted = std::pin::pin!(slot.evicted());
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        evicted.poll(&mut cx).is_ready()
    }

    #[test]
    fn under_the_cap_every_connection_gets_a_free_slot() {
        let slots = Slots::new(2);
        let now = Instant::now();
        let a = slots.take(now);
        let b = slots.take(now);
        assert!(matches!(a, Admission::Free(_)));
        assert!(matches!(b, Admission::Free(_)));
    }

    #[test]
    fn at_the_cap_the_longest_waiting_connection_makes_way() {
        let slots = Slots::new(2);
        let t0 = Instant::now();
        let old = slot(slots.take(t0)).expect("slot");
        let newer = slot(slots.take(t0 + Duration::from_secs(1))).expect("slot");
        let newest = slots.take(t0 + Duration::from_secs(2));
        assert!(matches!(newest, Admission::MadeWay(_)));
        assert!(
            is_evicted(&old),
            "the oldest waiting connection was not told to go"
        );
        assert!(!is_evicted(&newer));
    }

    #[test]
    fn a_connection_being_served_is_never_the_one_to_make_way() {
        let slots = Slots::new(2);
        let t0 = Instant::now();
        let busy = slot(slots.take(t0)).expect("slot");
        busy.serving();
        let waiting = slot(slots.take(t0 + Duration::from_secs(1))).expect("slot");
        let newest = slot(slots.take(t0 + Duration::from_secs(2))).expect("slot");
        assert!(is_evicted(&waiting));
        assert!(!is_evicted(&busy));
        // Now both slots serve a request: a new connection is refused.
        newest.serving();
        busy.serving();
        assert!(matches!(
            slots.take(t0 + Duration::from_secs(3)),
            Admission::Full
        ));
        // Once one is answered it waits again, and may make way.
        busy.waiting();
        assert!(matches!(slots.take(Instant::now()), Admission::MadeWay(_)));
        assert!(is_evicted(&busy));
    }

    #[test]
    fn a_closed_connection_frees_its_slot() {
        let slots = Slots::new(1);
        let only = slot(slots.take(Instant::now())).expect("slot");
        drop(only);
        assert!(matches!(slots.take(Instant::now()), Admission::Free(_)));
    }
}
