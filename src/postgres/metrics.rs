//! Per-source counters: written by the source's thread, read by the engine
//! thread when it publishes a metrics snapshot (`<ns>_postgres_*`,
//! docs/metrics.md).

use super::session::Failure;
use motifd_exporter::histogram::POSTGRES_POLL_DURATION_BOUNDS_SECONDS;
use motifd_exporter::{FixedHistogram, PostgresSourceStats};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// One source's counters.
#[derive(Debug)]
pub struct SourceMetrics {
    /// The source's name (the `source` label).
    pub name: String,
    up: AtomicBool,
    polls: AtomicU64,
    errors: [AtomicU64; Failure::ALL.len()],
    reconnects: AtomicU64,
    /// f64 bits; NaN before the first success.
    last_success: AtomicU64,
    /// f64 bits.
    interval: AtomicU64,
    residuals: AtomicU64,
    tape_errors: AtomicU64,
    // One writer at the poll rate, one reader every publish: never contended
    // in a way that matters, and never on the sample path.
    durations: Mutex<FixedHistogram>,
}

impl SourceMetrics {
    /// Fresh counters for source `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            up: AtomicBool::new(false),
            polls: AtomicU64::new(0),
            errors: Default::default(),
            reconnects: AtomicU64::new(0),
            last_success: AtomicU64::new(f64::NAN.to_bits()),
            interval: AtomicU64::new(f64::NAN.to_bits()),
            residuals: AtomicU64::new(0),
            tape_errors: AtomicU64::new(0),
            durations: Mutex::new(FixedHistogram::new(POSTGRES_POLL_DURATION_BOUNDS_SECONDS)),
        }
    }

    /// A poll succeeded at Unix time `at`, taking `took`.
    pub fn poll_ok(&self, took: Duration, at: f64) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.last_success.store(at.to_bits(), Ordering::Relaxed);
        self.durations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .observe(took.as_secs_f64());
    }

    /// A connect or poll failed.
    pub fn error(&self, reason: Failure) {
        let i = Failure::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.errors[i].fetch_add(1, Ordering::Relaxed);
    }

    /// A session was re-established.
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// A verified session is open (or not).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Relaxed);
    }

    /// The interval between polls is now `interval`.
    pub fn set_interval(&self, interval: Duration) {
        self.interval
            .store(interval.as_secs_f64().to_bits(), Ordering::Relaxed);
    }

    /// `n` residual samples went to the engine.
    pub fn residuals(&self, n: u64) {
        self.residuals.fetch_add(n, Ordering::Relaxed);
    }

    /// A tape write failed.
    pub fn tape_error(&self) {
        self.tape_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Polls completed so far.
    pub fn polls(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// Copies the counters into `out`, reusing its allocations.
    pub fn fill(&self, out: &mut PostgresSourceStats) {
        if out.source != self.name {
            out.source.clone_from(&self.name);
        }
        out.up = self.up.load(Ordering::Relaxed);
        out.polls_total = self.polls.load(Ordering::Relaxed);
        out.poll_errors_total.clear();
        out.poll_errors_total.extend(
            Failure::ALL
                .iter()
                .zip(&self.errors)
                .map(|(r, n)| (r.as_str(), n.load(Ordering::Relaxed))),
        );
        out.reconnects_total = self.reconnects.load(Ordering::Relaxed);
        out.last_success_timestamp_seconds =
            f64::from_bits(self.last_success.load(Ordering::Relaxed));
        out.poll_interval_seconds = f64::from_bits(self.interval.load(Ordering::Relaxed));
        out.residuals_total = self.residuals.load(Ordering::Relaxed);
        out.tape_write_errors_total = self.tape_errors.load(Ordering::Relaxed);
        self.durations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .snapshot_into(&mut out.poll_duration);
    }
}

/// Fresh counters for each of `sources`, in order (the daemon publishes them
/// from its first snapshot on, before the sources start).
pub fn for_sources(sources: &[super::config::Settings]) -> Vec<std::sync::Arc<SourceMetrics>> {
    sources
        .iter()
        .map(|s| std::sync::Arc::new(SourceMetrics::new(s.name.clone())))
        .collect()
}

/// Fills `out` with one entry per source, in order.
pub fn fill_all(sources: &[std::sync::Arc<SourceMetrics>], out: &mut Vec<PostgresSourceStats>) {
    out.truncate(sources.len());
    for (i, m) in sources.iter().enumerate() {
        if out.len() <= i {
            out.push(PostgresSourceStats::new(m.name.clone()));
        }
        m.fill(&mut out[i]);
    }
}
