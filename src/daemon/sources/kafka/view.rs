//! What the Kafka source adds to the published metrics: the group
//! membership families (`<ns>_kafka_*`), and what its partitions did here
//! added into the engine families — per-motif episodes and histograms,
//! records received and rejected, staged, flushed and dropped samples,
//! tracked channels — so `sum by (motif)` over the group's instances counts
//! every episode the group closed.
//!
//! Counters count what happened in this process: a partition taken on
//! brings its state but not its past counts, so counters never go down when
//! partitions move (gauges — staged, open episodes, tracked channels — are
//! the partitions held now).

use super::output::MotifCounts;
use super::partitions::{Counts, Totals, Work};
use crate::daemon::sources::SnapshotPart;
use motifd_engine::FixedHistogram;
use motifd_engine::RejectReason;
use motifd_exporter::{HistogramSnapshot, KafkaStats, Snapshot};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// The figures as of the last publish.
#[derive(Debug, Clone, Default)]
struct Figures {
    kafka: KafkaStats,
    motifs: Vec<(String, MotifCounts)>,
    open: Vec<(String, u64)>,
    totals: Totals,
    staged: u64,
    tracked: u64,
}

/// Published by the consumer thread, read by the engine thread's publish.
#[derive(Debug, Default)]
pub struct KafkaView(Mutex<Option<Figures>>);

impl KafkaView {
    /// Takes the figures of `work` now; `high` are the high watermarks.
    pub fn update(
        &self,
        work: &Work,
        high: &BTreeMap<i32, i64>,
        delivery: &super::clients::Delivery,
    ) {
        let (staged, tracked, open) = work.gauges();
        let positions = work.positions();
        let figures = Figures {
            kafka: stats(&work.counts, &positions, high, delivery),
            motifs: work.out.motifs.clone(),
            open,
            totals: work.totals(),
            staged,
            tracked,
        };
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(figures);
    }
}

fn stats(
    c: &Counts,
    positions: &[(i32, Option<i64>)],
    high: &BTreeMap<i32, i64>,
    delivery: &super::clients::Delivery,
) -> KafkaStats {
    use std::sync::atomic::Ordering::Relaxed;
    let lag = positions
        .iter()
        .filter_map(|&(p, next)| {
            let hw = *high.get(&p)?;
            // Nothing applied yet: all of what the partition holds is lag
            // (from its start; a restored one has a next offset).
            Some((p, (hw - next.unwrap_or(0)).max(0)))
        })
        .collect();
    let next_offsets = positions
        .iter()
        .filter_map(|&(p, next)| Some((p, next?)))
        .collect();
    KafkaStats {
        assigned_partitions: positions.len() as u64,
        lag,
        next_offsets,
        rebalances_total: c.rebalances,
        messages_total: c.messages,
        messages_skipped_total: c.skipped,
        restores_total: c.restores,
        fresh_starts_total: c.fresh,
        restore_failures_total: c.restore_failures,
        restored_age_seconds: c.restored_age.unwrap_or(f64::NAN),
        state_writes_total: c.state_writes,
        state_write_errors_total: c.state_write_errors,
        state_last_write_timestamp_seconds: c.last_write_unix.unwrap_or(f64::NAN),
        commit_errors_total: c.commit_errors,
        episodes_published_total: delivery.episodes_published.load(Relaxed),
        publish_errors_total: delivery.publish_errors.load(Relaxed),
    }
}

impl SnapshotPart for KafkaView {
    fn fill(&self, snap: &mut Snapshot) {
        let guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(f) = guard.as_ref() else {
            return;
        };
        for m in &mut snap.motifs {
            if let Some((_, c)) = f.motifs.iter().find(|(name, _)| *name == m.name) {
                m.episodes_total += c.episodes;
                if c.episodes > 0 {
                    m.peak_last = c.last_peak;
                    m.trust_sum_last = c.last_trust_sum;
                }
                add_histogram(&mut m.duration, &c.duration);
                add_histogram(&mut m.peak, &c.peak);
            }
            if let Some((_, n)) = f.open.iter().find(|(name, _)| *name == m.name) {
                m.open_episodes += n;
            }
        }
        let t = &f.totals;
        snap.received_total += t.received;
        for (reason, n) in &mut snap.rejected {
            if let Some(i) = RejectReason::ALL.iter().position(|r| r.as_str() == reason) {
                *n += t.rejected[i];
            }
        }
        snap.reorder.staged += f.staged;
        snap.reorder.flushed_total += t.flushed;
        snap.reorder.dropped_out_of_window_total += t.dropped;
        snap.channels.tracked += f.tracked;
        snap.channels.evicted_total += t.evicted;
        snap.channels.refused_total += t.refused;
        snap.kafka = Some(f.kafka.clone());
    }
}

/// Adds `from`'s counts into `to` (same bounds: both are the engine's).
fn add_histogram(to: &mut HistogramSnapshot, from: &FixedHistogram) {
    if to.bounds != from.bounds() {
        return;
    }
    for (slot, c) in to.cumulative.iter_mut().zip(from.cumulative()) {
        *slot += c;
    }
    to.count += from.count();
    to.sum += from.sum();
}
