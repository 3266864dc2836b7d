//! `pg_stat_statements` snapshots (`snapshot_t,query_id,calls,total_exec_time_ms`):
//! plan-regression residuals per query id, and one workload-phase residual per
//! snapshot on channel `pgss_digest_mix`.
//!
//! Needs the whole trace: times are relative to the first snapshot, each query
//! id's baseline is the mean of its first three intervals, and the phase
//! residual is normalised by the largest entropy of the whole trace.

use super::buffered::Held;
use super::formulas::{entropy, frozen_baseline, latency_residual};
use super::names::Names;
use super::tabular::{Reject, Row, Tabular};
use super::time_order::cmp_time;
use super::{DistillError, Out, ResidualClass};

/// Intervals per query id that make its baseline.
const BASELINE_INTERVALS: usize = 3;
/// Snapshot times closer than this are one snapshot.
const SAME_SNAPSHOT: f64 = 1e-9;
/// Channel of the workload-phase residual.
const PHASE_CHANNEL: &str = "pgss_digest_mix";

#[derive(Debug, Clone, Copy)]
struct Snap {
    t: f64,
    qid: u32,
    calls: u64,
    exec_ms: f64,
}

#[derive(Default)]
pub(crate) struct Pgss {
    rows: Vec<Snap>,
    qids: Names,
}

impl Tabular for Pgss {
    const COLUMNS: &'static [&'static str] =
        &["snapshot_t", "query_id", "calls", "total_exec_time_ms"];
    const REQUIRED: usize = 4;

    fn row(&mut self, row: &Row<'_>) -> Result<(), Reject> {
        let t = row.f64(0)?;
        let calls = row.u64(2)?;
        let exec_ms = row.f64(3)?;
        // The reference skips exactly these rows (after decoding them).
        if !t.is_finite() {
            return Err(Reject::non_finite("snapshot_t", t));
        }
        if !exec_ms.is_finite() {
            return Err(Reject::non_finite("total_exec_time_ms", exec_ms));
        }
        let qid = self.qids.id(row.str(1));
        self.rows.push(Snap {
            t,
            qid,
            calls,
            exec_ms,
        });
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        if self.rows.len() < 2 {
            return Err(out.invalid(format!(
                "{} snapshot rows; at least 2 are needed to compute a delta",
                self.rows.len()
            )));
        }
        // All rows by time, stable: file order among equal times.
        let mut by_time: Vec<u32> = (0..self.rows.len() as u32).collect();
        by_time.sort_by(|&a, &b| cmp_time(self.rows[a as usize].t, self.rows[b as usize].t));
        let times = snapshot_times(&self.rows, &by_time);
        let t0 = times[0];
        let rank = self.qids.ranks();
        let mut held = Held::default();
        self.plan_regression(&by_time, &rank, t0, &mut held);
        phase(&self.rows, &by_time, &times, &rank, t0, &mut held);
        held.flush(out)?;
        Ok(())
    }
}

/// Distinct snapshot times, ascending; a time within 1e-9 of the last kept
/// one is the same snapshot (the reference's `dedup_by`).
fn snapshot_times(rows: &[Snap], by_time: &[u32]) -> Vec<f64> {
    let mut times: Vec<f64> = by_time.iter().map(|&i| rows[i as usize].t).collect();
    times.dedup_by(|a, b| (*a - *b).abs() < SAME_SNAPSHOT);
    times
}

impl Pgss {
    /// Per query id, in byte order of the ids: the mean time per call of each
    /// interval with new calls and no negative time delta; the first three
    /// make the baseline, the rest are residuals.
    fn plan_regression(&self, by_time: &[u32], rank: &[u32], t0: f64, held: &mut Held) {
        // Group by query id keeping time order (counting sort by rank).
        let mut start = vec![0usize; rank.len() + 1];
        for &i in by_time {
            start[rank[self.rows[i as usize].qid as usize] as usize + 1] += 1;
        }
        for r in 0..rank.len() {
            start[r + 1] += start[r];
        }
        let mut grouped = vec![0u32; by_time.len()];
        let mut next = start.clone();
        for &i in by_time {
            let r = rank[self.rows[i as usize].qid as usize] as usize;
            grouped[next[r]] = i;
            next[r] += 1;
        }
        let mut means: Vec<(f64, f64)> = Vec::new();
        for r in 0..rank.len() {
            let snaps = &grouped[start[r]..start[r + 1]];
            means.clear();
            for w in snaps.windows(2) {
                let (a, b) = (&self.rows[w[0] as usize], &self.rows[w[1] as usize]);
                let dt = b.exec_ms - a.exec_ms;
                let dc = b.calls.saturating_sub(a.calls);
                if dc == 0 || dt < 0.0 {
                    continue;
                }
                means.push((b.t - t0, dt / dc as f64));
            }
            if means.len() <= BASELINE_INTERVALS {
                continue;
            }
            let baseline = frozen_baseline(means.iter().map(|m| m.1), BASELINE_INTERVALS);
            let qid = self.rows[snaps[0] as usize].qid;
            let channel = held.channels.id(self.qids.name(qid));
            for &(t, mean) in &means[BASELINE_INTERVALS..] {
                held.push_id(
                    t,
                    ResidualClass::PlanRegression,
                    channel,
                    latency_residual(mean, baseline),
                );
            }
        }
    }
}

/// One residual per snapshot: `1 − H / H_max`, H the entropy of the call mix
/// (calls since the previous row of each query id; since 0 for its first
/// row, so the first snapshot weighs cumulative counts), H_max the largest H
/// of the trace.
fn phase(rows: &[Snap], by_time: &[u32], times: &[f64], rank: &[u32], t0: f64, held: &mut Held) {
    let mut prev_calls: Vec<Option<u64>> = vec![None; rank.len()];
    // Which snapshot a query id was last matched in (first match wins).
    let mut matched_at: Vec<usize> = vec![usize::MAX; rank.len()];
    let mut present: Vec<(u32, u32)> = Vec::new();
    let mut shares: Vec<f64> = Vec::new();
    let mut entropies: Vec<(f64, f64)> = Vec::new();
    let mut lo = 0;
    for (k, &t) in times.iter().enumerate() {
        // Rows within 1e-9 of `t` are contiguous in time order.
        while lo < by_time.len() && rows[by_time[lo] as usize].t - t <= -SAME_SNAPSHOT {
            lo += 1;
        }
        present.clear();
        for &i in &by_time[lo..] {
            let r = &rows[i as usize];
            if (r.t - t).abs() >= SAME_SNAPSHOT {
                break;
            }
            if matched_at[r.qid as usize] != k {
                matched_at[r.qid as usize] = k;
                present.push((rank[r.qid as usize], i));
            }
        }
        present.sort_unstable_by_key(|p| p.0);
        shares.clear();
        let mut total: u64 = 0;
        for &(_, i) in &present {
            let r = &rows[i as usize];
            let prev = prev_calls[r.qid as usize].unwrap_or(0);
            let delta = r.calls.saturating_sub(prev);
            prev_calls[r.qid as usize] = Some(r.calls);
            if delta > 0 {
                shares.push(delta as f64);
                // Wraps on absurd counters as the reference's release build
                // does (a debug build would panic).
                total = total.wrapping_add(delta);
            }
        }
        if total == 0 || shares.is_empty() {
            continue;
        }
        entropies.push((t, entropy(&mut shares, total)));
    }
    let max = entropies.iter().fold(0.0f64, |m, e| m.max(e.1));
    if max <= 0.0 {
        return;
    }
    let channel = held.channels.id(PHASE_CHANNEL);
    for (t, h) in entropies {
        held.push_id(t - t0, ResidualClass::WorkloadPhase, channel, 1.0 - h / max);
    }
}
