//! Metrics the exporter keeps about itself (scrapes, render time, scrape
//! connections, textfile writes): live atomic counters shared by the server
//! and textfile threads, and the plain-data copy the renderer reads.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use parking_lot::Mutex;

use crate::histogram::{FixedHistogram, HistogramSnapshot, RENDER_DURATION_BOUNDS_SECONDS};

/// Why the scrape server closed a connection itself (rather than the client
/// closing it or the server stopping). A closed set, rendered in this order
/// as the `reason` label of `<ns>_scrape_connections_closed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Refused with 503: `max_connections` were open already.
    ConnectionLimit,
    /// Nothing received from the client for `idle_timeout`.
    IdleTimeout,
    /// A response write made no progress for `write_timeout`: the client
    /// stopped reading with less than the unread limit queued.
    WriteTimeout,
    /// The client left more than the unread limit of responses unread (it
    /// pipelines requests and reads nothing).
    UnreadResponses,
    /// A request head was not whole within the request timeout of its first
    /// byte (answered 408).
    RequestTimeout,
    /// At the connection cap, a new connection took the slot of this one,
    /// whose request head had been arriving longest (answered 408).
    Displaced,
    /// A request head over 16 KiB (answered 431).
    HeaderTooLarge,
    /// A request that is not well-formed HTTP/1.1, or asks for what the
    /// server does not read: a body over 1 KiB, `Expect` (answered 400, 413
    /// or 417).
    BadRequest,
}

impl CloseReason {
    /// Every reason, in rendering order.
    pub const ALL: [Self; 8] = [
        Self::ConnectionLimit,
        Self::IdleTimeout,
        Self::WriteTimeout,
        Self::UnreadResponses,
        Self::RequestTimeout,
        Self::Displaced,
        Self::HeaderTooLarge,
        Self::BadRequest,
    ];

    /// The `reason` label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionLimit => "connection_limit",
            Self::IdleTimeout => "idle_timeout",
            Self::WriteTimeout => "write_timeout",
            Self::UnreadResponses => "unread_responses",
            Self::RequestTimeout => "request_timeout",
            Self::Displaced => "displaced",
            Self::HeaderTooLarge => "header_too_large",
            Self::BadRequest => "bad_request",
        }
    }
}

/// Plain-data copy of the exporter's own metrics, as rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct ExporterStats {
    /// Metric scrapes answered (`<ns>_scrapes_total`).
    pub scrapes_total: u64,
    /// Render time per scrape (`<ns>_scrape_render_duration_seconds`), over
    /// [`RENDER_DURATION_BOUNDS_SECONDS`].
    pub render_duration: HistogramSnapshot,
    /// Scrape connections open now (`<ns>_scrape_connections_open`).
    pub scrape_connections_open: u64,
    /// Connections the server closed itself, indexed like
    /// [`CloseReason::ALL`] (`<ns>_scrape_connections_closed_total{reason}`).
    pub scrape_connections_closed_total: [u64; CloseReason::ALL.len()],
    /// `SCHED_FIFO` priority the scrape path runs at, 0 for normal
    /// scheduling (`<ns>_scrape_realtime_priority`).
    pub scrape_realtime_priority: u64,
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
            scrape_connections_open: 0,
            scrape_connections_closed_total: [0; CloseReason::ALL.len()],
            scrape_realtime_priority: 0,
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
    connections_open: AtomicU64,
    connections_closed: [AtomicU64; CloseReason::ALL.len()],
    realtime_priority: AtomicU64,
    textfile_writes: AtomicU64,
    textfile_errors: AtomicU64,
    render: Mutex<FixedHistogram>,
}

impl Default for ExporterCounters {
    fn default() -> Self {
        Self {
            scrapes: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_closed: Default::default(),
            realtime_priority: AtomicU64::new(0),
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

    /// Counts a scrape connection admitted; [`Self::connection_ended`] undoes it.
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
    }

    /// Counts an admitted scrape connection gone, for whatever reason.
    pub fn connection_ended(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// Counts a connection the server closed (or refused) itself.
    pub fn connection_closed(&self, reason: CloseReason) {
        self.connections_closed[reason as usize].fetch_add(1, Relaxed);
    }

    /// Connections closed for `reason` so far.
    pub fn connections_closed(&self, reason: CloseReason) -> u64 {
        self.connections_closed[reason as usize].load(Relaxed)
    }

    /// Records the `SCHED_FIFO` priority the scrape path runs at (0: none).
    pub fn set_realtime_priority(&self, priority: u8) {
        self.realtime_priority.store(u64::from(priority), Relaxed);
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
        out.scrape_connections_open = self.connections_open.load(Relaxed);
        for (out, c) in out
            .scrape_connections_closed_total
            .iter_mut()
            .zip(&self.connections_closed)
        {
            *out = c.load(Relaxed);
        }
        out.scrape_realtime_priority = self.realtime_priority.load(Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_counters_in_rendering_order() {
        let counters = ExporterCounters::default();
        for (i, reason) in CloseReason::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                counters.connection_closed(reason);
            }
        }
        let stats = counters.snapshot();
        assert_eq!(
            stats.scrape_connections_closed_total,
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
        for (i, reason) in CloseReason::ALL.into_iter().enumerate() {
            assert_eq!(counters.connections_closed(reason), i as u64 + 1);
        }
        let names: Vec<_> = CloseReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "connection_limit",
                "idle_timeout",
                "write_timeout",
                "unread_responses",
                "request_timeout",
                "displaced",
                "header_too_large",
                "bad_request"
            ]
        );
    }

    #[test]
    fn open_connections_and_priority_are_gauges() {
        let counters = ExporterCounters::default();
        counters.connection_opened();
        counters.connection_opened();
        counters.connection_ended();
        counters.set_realtime_priority(7);
        let stats = counters.snapshot();
        assert_eq!(stats.scrape_connections_open, 1);
        assert_eq!(stats.scrape_realtime_priority, 7);
    }
}
