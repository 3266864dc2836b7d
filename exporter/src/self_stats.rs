//! Metrics the exporter keeps about itself (scrapes, render time, textfile
//! writes): live atomic counters shared by the server and textfile threads,
//! and the plain-data copy the renderer reads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::Mutex;

use crate::histogram::{FixedHistogram, HistogramSnapshot, RENDER_DURATION_BOUNDS_SECONDS};

/// Plain-data copy of the exporter's own metrics, as rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterStats {
    /// Metric scrapes answered (`<ns>_scrapes_total`).
    pub scrapes_total: u64,
    /// Render time per scrape (`<ns>_scrape_render_duration_seconds`), over
    /// [`RENDER_DURATION_BOUNDS_SECONDS`].
    pub render_duration: HistogramSnapshot,
    /// Successful textfile writes (`<ns>_textfile_writes_total`).
    pub textfile_writes_total: u64,
    /// Failed textfile writes (`<ns>_textfile_write_errors_total`).
    pub textfile_write_errors_total: u64,
}

impl Default for ExporterStats {
    fn default() -> Self {
        Self {
            scrapes_total: 0,
            render_duration: HistogramSnapshot::empty(RENDER_DURATION_BOUNDS_SECONDS),
            textfile_writes_total: 0,
            textfile_write_errors_total: 0,
        }
    }
}

/// Live counters behind [`ExporterStats`]; shared (via `Arc`) by the scrape
/// server and the textfile writer.
#[derive(Debug)]
pub struct ExporterCounters {
    scrapes: AtomicU64,
    textfile_writes: AtomicU64,
    textfile_errors: AtomicU64,
    render: Mutex<FixedHistogram>,
}

impl Default for ExporterCounters {
    fn default() -> Self {
        Self {
            scrapes: AtomicU64::new(0),
            textfile_writes: AtomicU64::new(0),
            textfile_errors: AtomicU64::new(0),
            render: Mutex::new(FixedHistogram::new(RENDER_DURATION_BOUNDS_SECONDS)),
        }
    }
}

impl ExporterCounters {
    /// Counts one answered scrape and the time its render took.
    pub fn record_scrape(&self, render: Duration) {
        self.scrapes.fetch_add(1, Relaxed);
        self.render.lock().observe(render.as_secs_f64());
    }

    /// Counts one textfile write, successful or not.
    pub fn record_textfile_write(&self, ok: bool) {
        let c = if ok {
            &self.textfile_writes
        } else {
            &self.textfile_errors
        };
        c.fetch_add(1, Relaxed);
    }

    /// Copies the current values into `out`, reusing its allocations.
    pub fn snapshot_into(&self, out: &mut ExporterStats) {
        out.scrapes_total = self.scrapes.load(Relaxed);
        out.textfile_writes_total = self.textfile_writes.load(Relaxed);
        out.textfile_write_errors_total = self.textfile_errors.load(Relaxed);
        self.render.lock().snapshot_into(&mut out.render_duration);
    }

    /// The current values as a new [`ExporterStats`].
    pub fn snapshot(&self) -> ExporterStats {
        let mut out = ExporterStats::default();
        self.snapshot_into(&mut out);
        out
    }
}
