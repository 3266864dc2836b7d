//! Fills the exporter's snapshot from the engine thread's state.

use super::checkpointing::CheckpointOutcomes;
use super::sources::SourceReport;
use motifd_engine::{Grammar, Pipeline, RejectReason, Sample};
use motifd_exporter::histogram::INGEST_TO_FLUSH_BOUNDS_SECONDS;
use motifd_exporter::{
    from_hdr, BuildInfo, HdrUnit, Liveness, MotifStats, ProcessStats, Snapshot, SnapshotPublisher,
};
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Every this many samples one is timed from arrival to release.
const PROBE_EVERY: u64 = 64;

/// A timed sample: released once the frontier reaches `t`.
struct Probe {
    t: f64,
    arrived: Instant,
}

impl PartialEq for Probe {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Probe {}
impl PartialOrd for Probe {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Probe {
    // Reversed: BinaryHeap is a max-heap and the earliest `t` must come out first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.t.total_cmp(&self.t)
    }
}

/// Engine-side metrics state.
pub struct MetricsFiller {
    publisher: Option<SnapshotPublisher>,
    liveness: Liveness,
    build: BuildInfo,
    latency: hdrhistogram::Histogram<u64>,
    probes: BinaryHeap<Probe>,
    seen: u64,
    /// Episode-log write errors, counted by the log (None: no episode log).
    pub episode_log_errors: Option<Arc<AtomicU64>>,
    /// Checkpoint outcomes, and whether this process restored one (None: no
    /// checkpoint configured).
    pub checkpoint: Option<(Arc<CheckpointOutcomes>, bool)>,
    /// Live PostgreSQL sources' counters, in configuration order.
    pub postgres: Vec<Arc<crate::postgres::metrics::SourceMetrics>>,
}

impl MetricsFiller {
    /// Publishes to `publisher` (if any) and beats `liveness` on every publish.
    pub fn new(publisher: Option<SnapshotPublisher>, liveness: Liveness) -> Self {
        Self {
            publisher,
            liveness,
            build: build_info(),
            // 1 µs .. 1 h, 3 significant digits.
            latency: hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
            probes: BinaryHeap::new(),
            seen: 0,
            episode_log_errors: None,
            checkpoint: None,
            postgres: Vec::new(),
        }
    }

    /// Times one sample in every [`PROBE_EVERY`] of a batch just received.
    pub fn probe_batch(&mut self, samples: &[Sample], frontier: f64) {
        let now = Instant::now();
        for s in samples {
            self.seen += 1;
            if self.seen % PROBE_EVERY == 0 && s.t >= frontier {
                self.probes.push(Probe {
                    t: s.t,
                    arrived: now,
                });
            }
        }
    }

    /// Records the probes the reorder buffer has released by now.
    pub fn observe_releases(&mut self, frontier: f64) {
        let now = Instant::now();
        while self.probes.peek().is_some_and(|p| p.t <= frontier) {
            let p = self.probes.pop().expect("peeked");
            let micros = now.duration_since(p.arrived).as_micros().max(1);
            self.latency
                .saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
        }
    }

    /// Publishes a snapshot of `pipeline` (the motif series follow
    /// `grammar`) and signals liveness.
    pub fn publish(
        &mut self,
        pipeline: &Pipeline,
        grammar: &Grammar,
        channel_depth: usize,
        sources: &SourceReport,
    ) {
        self.liveness.beat();
        let Some(publisher) = self.publisher.as_mut() else {
            return;
        };
        let (build, latency, postgres) = (&self.build, &self.latency, &self.postgres);
        let episode_log_errors = self
            .episode_log_errors
            .as_ref()
            .map(|c| c.load(Ordering::Relaxed));
        let checkpoint = self
            .checkpoint
            .as_ref()
            .map(|(c, restored)| checkpoint_stats(c, *restored));
        publisher.publish_with(|snap| {
            fill_motifs(snap, pipeline, grammar);
            fill_ingest(snap, pipeline);
            snap.ingest_channel_depth = Some(channel_depth as u64);
            snap.ingest_producers_refused_total = sources.producers_refused;
            snap.ingest_producers_idle_closed_total = sources.producers_idle_closed;
            snap.episode_log_write_errors_total = episode_log_errors;
            snap.checkpoint = checkpoint;
            crate::postgres::metrics::fill_all(postgres, &mut snap.postgres);
            from_hdr(
                latency,
                HdrUnit::Microseconds,
                INGEST_TO_FLUSH_BOUNDS_SECONDS,
                &mut snap.ingest_to_flush_latency,
            );
            snap.build.clone_from(build);
            snap.process = ProcessStats::read();
            for part in &sources.parts {
                part.fill(snap);
            }
        });
    }
}

/// Per-motif series, in grammar order (a replaced grammar's series go).
fn fill_motifs(snap: &mut Snapshot, pipeline: &Pipeline, grammar: &Grammar) {
    let engine = pipeline.engine();
    snap.motifs.truncate(grammar.motifs().len());
    for (i, spec) in grammar.motifs().iter().enumerate() {
        if snap.motifs.len() <= i {
            snap.motifs.push(MotifStats::new(spec.name.clone()));
        }
        let (out, st) = (&mut snap.motifs[i], engine.stats(i as u16));
        if out.name != spec.name {
            out.name.clone_from(&spec.name);
        }
        out.episodes_total = st.episodes;
        out.peak_last = st.last_peak;
        out.trust_sum_last = st.last_trust_sum;
        out.open_episodes = st.open;
        st.duration.snapshot_into(&mut out.duration);
        st.peak.snapshot_into(&mut out.peak);
    }
}

/// Records received and rejected, the reorder buffer and channel tracking.
fn fill_ingest(snap: &mut Snapshot, pipeline: &Pipeline) {
    let counters = pipeline.counters();
    let reorder = pipeline.reorder();
    snap.received_total = counters.received;
    snap.rejected.clear();
    snap.rejected.extend(
        RejectReason::ALL
            .iter()
            .map(|&r| (r.as_str().to_owned(), counters.rejected.get(r))),
    );
    let r = &mut snap.reorder;
    r.staged = counters.staged;
    r.flushed_total = counters.flushed;
    r.dropped_out_of_window_total = counters.dropped_out_of_window;
    r.dropped_recoverable_with_double_window_total =
        reorder.counters().dropped_within_double_window;
    r.watermark_seconds = finite_or_nan(reorder.frontier());
    r.newest_event_seconds = finite_or_nan(reorder.newest());
    reorder.counters().lateness.snapshot_into(&mut r.lateness);
    r.held_future = counters.held_future;
    r.released_at_cap_total = counters.released_at_cap;
    r.time_jumps_total = counters.time_jumps;
    let e = pipeline.engine().counters();
    snap.channels.tracked = e.channels_tracked;
    snap.channels.evicted_total = e.channels_evicted;
    snap.channels.refused_total = e.refused_channel_cap;
}

fn checkpoint_stats(c: &CheckpointOutcomes, restored: bool) -> motifd_exporter::CheckpointStats {
    let last = c.last_written_unix.load(Ordering::Relaxed);
    motifd_exporter::CheckpointStats {
        writes_total: c.written.load(Ordering::Relaxed),
        write_errors_total: c.errors.load(Ordering::Relaxed),
        skipped_total: c.skipped.load(Ordering::Relaxed),
        last_success_timestamp_seconds: if last == 0 {
            f64::NAN
        } else {
            f64::from_bits(last)
        },
        size_bytes: c.last_bytes.load(Ordering::Relaxed),
        restored,
    }
}

fn finite_or_nan(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        f64::NAN
    }
}

/// Version, commit and compiler of this binary (set by build.rs).
pub fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        git_commit: option_env!("MOTIFD_GIT_COMMIT")
            .unwrap_or("unknown")
            .to_owned(),
        rustc: option_env!("MOTIFD_RUSTC_VERSION")
            .unwrap_or("unknown")
            .to_owned(),
    }
}
