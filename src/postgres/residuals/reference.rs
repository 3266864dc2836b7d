//! The reference's live formulas (`dsfb-database` 0.1.1,
//! `live::distiller::DistillerState::ingest`), reproduced bit for bit —
//! the differential test `tests/postgres_reference_mode.rs` holds them to
//! it. Its quirks stay, on purpose (docs/sources.md#residual-modes lists
//! them): a query id's baseline is frozen after its first three intervals; a
//! wait class counts idle clients and background processes, emits only
//! increases, and keeps its last count while absent; `pg_stat_io` is read
//! as cumulative ratios; a query id first seen counts all its calls as new.

use super::{Class, Clock, ResidualSink, TimeOrigin};
use crate::postgres::snapshot::{PgssRow, Snapshot, StatDatabaseRow};
use std::collections::HashMap;

/// Intervals averaged into a query id's frozen baseline.
pub const BASELINE_WINDOW: usize = 3;

/// The reference's smallest plan-regression denominator.
const MIN_BASELINE: f64 = 1e-9;

/// The workload-phase channel.
pub const DIGEST_MIX_CHANNEL: &str = "pgss_digest_mix";

/// Per query id: the previous counters and the baseline.
#[derive(Debug, Default, Clone)]
struct QueryState {
    last: Option<(u64, f64)>,
    warmup: [f64; BASELINE_WINDOW],
    warmed: usize,
    baseline: f64,
}

impl QueryState {
    /// `(mean, baseline)` of the interval that ends at these counters, once
    /// the baseline is frozen; `None` while warming up, on the first sight,
    /// when no call completed or a counter went back.
    fn push(&mut self, calls: u64, total_ms: f64) -> Option<(f64, f64)> {
        let (prev_calls, prev_total) = self.last.replace((calls, total_ms))?;
        let dc = calls.saturating_sub(prev_calls);
        let dt = total_ms - prev_total;
        if dc == 0 || dt < 0.0 {
            return None;
        }
        let mean = dt / dc as f64;
        if self.warmed < BASELINE_WINDOW {
            self.warmup[self.warmed] = mean;
            self.warmed += 1;
            if self.warmed == BASELINE_WINDOW {
                let sum: f64 = self.warmup.iter().sum();
                self.baseline = sum / BASELINE_WINDOW as f64;
            }
            return None;
        }
        Some((mean, self.baseline))
    }
}

/// The reference mode's running state.
#[derive(Debug)]
pub struct Reference {
    clock: Clock,
    queries: HashMap<String, QueryState>,
    prev_calls: HashMap<String, u64>,
    waits: HashMap<(String, String), u64>,
    databases: HashMap<String, (u64, u64)>,
    max_entropy: f64,
    // Scratch space reused across polls.
    label: String,
    shares: Vec<f64>,
}

impl Reference {
    /// Fresh state.
    pub fn new(origin: TimeOrigin) -> Self {
        Self {
            clock: Clock::new(origin),
            queries: HashMap::new(),
            prev_calls: HashMap::new(),
            waits: HashMap::new(),
            databases: HashMap::new(),
            max_entropy: 0.0,
            label: String::new(),
            shares: Vec::new(),
        }
    }

    /// Emits the residuals of one snapshot, in the reference's order.
    pub fn ingest(&mut self, snap: &Snapshot, sink: &mut impl ResidualSink) {
        let t = self.clock.at(snap.t);
        let mut rows: Vec<&PgssRow> = snap.pgss.iter().collect();
        // Stable, like the reference's: a query id listed twice keeps its
        // rows' order, and the second row sees the first's counters.
        rows.sort_by(|a, b| a.query_id.cmp(&b.query_id));
        self.plan_regression(&rows, t, sink);
        self.contention(snap, t, sink);
        self.stat_io(snap, t, sink);
        self.stat_database(snap, t, sink);
        self.workload_phase(&rows, t, sink);
    }

    fn plan_regression(&mut self, rows: &[&PgssRow], t: f64, sink: &mut impl ResidualSink) {
        for row in rows {
            let state = match self.queries.get_mut(row.query_id.as_str()) {
                Some(s) => s,
                None => self.queries.entry(row.query_id.clone()).or_default(),
            };
            if let Some((mean, baseline)) = state.push(row.calls, row.total_exec_time_ms) {
                let r = (mean - baseline) / baseline.abs().max(MIN_BASELINE);
                sink.residual(t, Class::PlanRegression, &row.query_id, r);
            }
        }
    }

    fn contention(&mut self, snap: &Snapshot, t: f64, sink: &mut impl ResidualSink) {
        let mut counts: HashMap<(&str, &str), u64> = HashMap::new();
        for row in &snap.activity {
            if row.wait_event_type != "None" {
                *counts
                    .entry((&row.wait_event_type, &row.wait_event))
                    .or_default() += 1;
            }
        }
        let mut keys: Vec<((&str, &str), u64)> = counts.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((kind, event), count) in keys {
            let key = (kind.to_owned(), event.to_owned());
            let prev = self.waits.insert(key, count).unwrap_or(0);
            let delta = count.saturating_sub(prev);
            if delta == 0 {
                continue;
            }
            self.label.clear();
            self.label.push_str(kind);
            self.label.push_str("::");
            self.label.push_str(event);
            sink.residual(t, Class::Contention, &self.label, delta as f64);
        }
    }

    fn stat_io(&mut self, snap: &Snapshot, t: f64, sink: &mut impl ResidualSink) {
        // Cumulative since the statistics were reset: the reference's ratio.
        let mut buckets: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
        for row in &snap.stat_io {
            let e = buckets.entry((&row.object, &row.context)).or_default();
            e.0 = e.0.wrapping_add(row.hits);
            e.1 = e.1.wrapping_add(row.reads);
        }
        let mut keys: Vec<_> = buckets.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((object, context), (hits, reads)) in keys {
            let total = hits.wrapping_add(reads);
            if total == 0 {
                continue;
            }
            let observed = hits as f64 / total as f64;
            self.label.clear();
            self.label.push_str(object);
            self.label.push_str("::");
            self.label.push_str(context);
            sink.residual(t, Class::CacheIo, &self.label, 1.0 - observed);
        }
    }

    fn stat_database(&mut self, snap: &Snapshot, t: f64, sink: &mut impl ResidualSink) {
        // The fallback emits only when pg_stat_io gave nothing this poll,
        // but always keeps the counters.
        let emit = snap.stat_io.is_empty();
        let mut rows: Vec<&StatDatabaseRow> = snap.stat_database.iter().collect();
        rows.sort_by(|a, b| a.datname.cmp(&b.datname));
        for row in rows {
            let current = (row.blks_hit, row.blks_read);
            let (prev_hit, prev_read) = match self.databases.get_mut(row.datname.as_str()) {
                Some(slot) => std::mem::replace(slot, current),
                None => {
                    self.databases.insert(row.datname.clone(), current);
                    current
                }
            };
            if !emit {
                continue;
            }
            let dh = row.blks_hit.saturating_sub(prev_hit);
            let dr = row.blks_read.saturating_sub(prev_read);
            let total = dh.wrapping_add(dr);
            if total == 0 {
                continue;
            }
            let observed = dh as f64 / total as f64;
            self.label.clear();
            self.label.push_str("db::");
            self.label.push_str(&row.datname);
            sink.residual(t, Class::CacheIo, &self.label, 1.0 - observed);
        }
    }

    fn workload_phase(&mut self, rows: &[&PgssRow], t: f64, sink: &mut impl ResidualSink) {
        // Shannon entropy of this interval's call shares against the largest
        // seen so far; a query id first seen counts all its calls.
        self.shares.clear();
        let mut total: u64 = 0;
        for row in rows {
            let prev = match self.prev_calls.get_mut(row.query_id.as_str()) {
                Some(slot) => std::mem::replace(slot, row.calls),
                None => {
                    self.prev_calls.insert(row.query_id.clone(), row.calls);
                    0
                }
            };
            let delta = row.calls.saturating_sub(prev);
            if delta > 0 {
                self.shares.push(delta as f64);
                total = total.wrapping_add(delta);
            }
        }
        if total == 0 || self.shares.is_empty() {
            return;
        }
        for s in &mut self.shares {
            *s /= total as f64;
        }
        let entropy: f64 = self
            .shares
            .iter()
            .filter(|s| **s > 0.0)
            .map(|s| -s * s.ln())
            .sum();
        self.max_entropy = self.max_entropy.max(entropy);
        if self.max_entropy <= 0.0 {
            return;
        }
        let r = 1.0 - entropy / self.max_entropy;
        sink.residual(t, Class::WorkloadPhase, DIGEST_MIX_CHANNEL, r);
    }
}
