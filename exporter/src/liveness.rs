//! Engine liveness for `/healthz`.
//!
//! The engine thread calls [`Liveness::beat`] as it makes progress; the health
//! endpoint reports healthy while the last beat is recent and the daemon has
//! not marked the engine stopped. A beat is one relaxed atomic store.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared engine-liveness signal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Liveness {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    origin: Instant,
    /// Milliseconds since `origin` of the last beat.
    last_beat_ms: AtomicU64,
    stopped: AtomicBool,
    stale_after: Duration,
}

impl Liveness {
    /// A signal that counts as alive for `stale_after` after each beat. The
    /// creation time counts as the first beat.
    pub fn new(stale_after: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                last_beat_ms: AtomicU64::new(0),
                stopped: AtomicBool::new(false),
                stale_after,
            }),
        }
    }

    /// Records progress. Call from the engine loop (at least once per
    /// `stale_after`, including while idle waiting for input).
    pub fn beat(&self) {
        let ms = self.inner.origin.elapsed().as_millis() as u64;
        self.inner.last_beat_ms.store(ms, Relaxed);
    }

    /// Marks the engine as stopped (e.g. its thread exited or panicked).
    pub fn mark_stopped(&self) {
        self.inner.stopped.store(true, Relaxed);
    }

    /// Time since the last beat.
    pub fn since_last_beat(&self) -> Duration {
        let last = Duration::from_millis(self.inner.last_beat_ms.load(Relaxed));
        self.inner.origin.elapsed().saturating_sub(last)
    }

    /// Whether the engine counts as alive and making progress.
    pub fn is_healthy(&self) -> bool {
        !self.inner.stopped.load(Relaxed) && self.since_last_beat() <= self.inner.stale_after
    }
}

impl Default for Liveness {
    /// Stale after 10 s without a beat.
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_until_stale_or_stopped() {
        let l = Liveness::new(Duration::from_millis(50));
        assert!(l.is_healthy());
        std::thread::sleep(Duration::from_millis(80));
        assert!(!l.is_healthy());
        l.beat();
        assert!(l.is_healthy());
        l.mark_stopped();
        assert!(!l.is_healthy());
    }
}
