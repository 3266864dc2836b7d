//! Handing snapshots from the engine thread to the scrape side.
//!
//! The current snapshot lives behind `Mutex<Arc<Snapshot>>`. Publishing swaps
//! the `Arc` (a pointer) under the lock; reading clones the `Arc` under the
//! lock. Neither side ever holds the lock while rendering, copying a snapshot
//! or doing I/O, so a slow scrape client can never make the engine wait longer
//! than another thread's pointer copy.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::snapshot::Snapshot;

/// Shared access to the most recently published [`Snapshot`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct SnapshotHandle {
    current: Arc<Mutex<Arc<Snapshot>>>,
}

impl SnapshotHandle {
    /// A handle holding `initial`.
    pub fn new(initial: Snapshot) -> Self {
        Self {
            current: Arc::new(Mutex::new(Arc::new(initial))),
        }
    }

    /// The latest published snapshot. The caller may keep it as long as it
    /// likes; later publishes do not change it.
    pub fn load(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.lock())
    }

    /// Makes `next` current and returns the previous snapshot.
    pub fn publish(&self, next: Arc<Snapshot>) -> Arc<Snapshot> {
        std::mem::replace(&mut *self.current.lock(), next)
    }
}

/// Engine-side helper that recycles snapshot allocations.
///
/// It keeps the previously published snapshot as a spare. On the next
/// publish, if no scraper still holds that spare, it is filled in place (its
/// vectors and strings keep their capacity); otherwise it is cloned first, so
/// the engine never waits for a reader.
#[derive(Debug)]
pub struct SnapshotPublisher {
    handle: SnapshotHandle,
    spare: Arc<Snapshot>,
}

impl SnapshotPublisher {
    /// A publisher for `handle`, starting from a copy of its current snapshot.
    pub fn new(handle: SnapshotHandle) -> Self {
        let spare = Arc::new((*handle.load()).clone());
        Self { handle, spare }
    }

    /// Lets `fill` update the spare snapshot, then publishes it. `fill` sees
    /// the values of an earlier publish, not necessarily the latest one: it
    /// must set every field it is responsible for.
    pub fn publish_with(&mut self, fill: impl FnOnce(&mut Snapshot)) {
        fill(Arc::make_mut(&mut self.spare));
        let next = Arc::clone(&self.spare);
        let previous = self.handle.publish(next);
        // Drop our extra reference to what we just published; keep the
        // previous one as the next spare.
        self.spare = previous;
    }

    /// The handle this publisher publishes to.
    pub fn handle(&self) -> &SnapshotHandle {
        &self.handle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_their_snapshot_while_the_engine_publishes() {
        let handle = SnapshotHandle::default();
        let mut publisher = SnapshotPublisher::new(handle.clone());
        publisher.publish_with(|s| s.received_total = 1);
        let held = handle.load();
        for n in 2..10 {
            publisher.publish_with(|s| s.received_total = n);
            assert_eq!(handle.load().received_total, n);
        }
        assert_eq!(held.received_total, 1, "a held snapshot never changes");
    }

    #[test]
    fn spare_is_reused_in_place_when_no_reader_holds_it() {
        let handle = SnapshotHandle::default();
        let mut publisher = SnapshotPublisher::new(handle.clone());
        publisher.publish_with(|s| s.received_total = 1);
        publisher.publish_with(|s| s.received_total = 2);
        // The spare is now the snapshot published first and is unshared.
        let spare_ptr = Arc::as_ptr(&publisher.spare);
        publisher.publish_with(|s| s.received_total = 3);
        assert_eq!(Arc::as_ptr(&handle.load()), spare_ptr);
    }
}
