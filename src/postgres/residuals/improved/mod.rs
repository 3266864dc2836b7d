//! The `improved` residual mode: the reference's live formulas with their
//! flaws fixed (docs/sources.md#residual-modes says what each fix is for).
//!
//! - **plan_regression**: the log-ratio of the interval's mean latency to a
//!   baseline that keeps learning (a geometric mean with half-life
//!   [`BASELINE_HALF_LIFE`]), so a noisy start-up or a lasting change of a
//!   statement ends its episode instead of holding it open for ever; scaled
//!   down for a statement whose latency is noisy by nature
//!   ([`NOISE_FLOOR`]); the median of the last [`PERSIST`] intervals, so one
//!   slow interval (a lock wait, a checkpoint) is not a regression; a
//!   counter reset restarts the query id; the observer's own statements are
//!   left out.
//! - **contention**: sessions *blocked* now — client backends running a
//!   statement and waiting on a lock, lightweight lock or buffer pin — per
//!   wait type (`Lock`, `LWLock`, `BufferPin`), as a level every poll (0 once
//!   a type clears; the median of the last [`PERSIST`] polls), instead of
//!   increases of every waiting session, idle clients and background
//!   processes included.
//! - **cache_io**: the miss ratio of the blocks accessed since the previous
//!   sample, from `pg_stat_io` as from `pg_stat_database`, emitted once at
//!   least [`MIN_BLOCKS`] were accessed, instead of a ratio of counters
//!   cumulated since the statistics were reset.
//! - **workload_phase**: the Jensen–Shannon divergence between this
//!   interval's call mix and the mix of the past few minutes, without the
//!   observer's own statements and without counting a new query id's past
//!   calls as this interval's.

use super::reference::DIGEST_MIX_CHANNEL;
use super::{Class, Clock, ResidualSink, TimeOrigin};
use crate::postgres::snapshot::Snapshot;
use std::collections::HashMap;

/// Half-life of a query id's latency baseline and of the reference call
/// mix, seconds.
pub const BASELINE_HALF_LIFE: f64 = 300.0;
/// Calls a query id's baseline must have seen before residuals are emitted.
pub const WARMUP_CALLS: u64 = 30;
/// Intervals with calls a query id's baseline must have seen first.
pub const WARMUP_INTERVALS: u32 = 5;
/// The log-ratio's typical deviation below which a statement counts as
/// quiet; a noisier statement's residual is scaled by `NOISE_FLOOR / its
/// deviation`, so its usual swings stay inside the drift envelope.
pub const NOISE_FLOOR: f64 = 0.1;
/// Intervals (polls) whose median is the residual: a fault persists, a
/// blip does not.
pub const PERSIST: usize = 3;
/// Blocks accessed before a cache sample is emitted.
pub const MIN_BLOCKS: u64 = 64;
/// Polls a query id may be absent before it is forgotten.
pub const FORGET_AFTER_POLLS: u32 = 600;
/// Wait types that mean a session is blocked by another.
pub const BLOCKING_WAIT_TYPES: [&str; 3] = ["Lock", "LWLock", "BufferPin"];
/// Calls the reference mix must hold before workload-phase samples start.
pub const MIX_WARMUP_CALLS: f64 = 200.0;

/// Per query id.
#[derive(Debug, Default, Clone)]
struct Query {
    last_calls: u64,
    last_ms: f64,
    /// ln of the baseline mean latency, and the mean |ln(interval / baseline)|.
    log_baseline: f64,
    deviation: f64,
    calls: u64,
    intervals: u32,
    recent: Recent,
    seen_at_poll: u64,
}

/// The last [`PERSIST`] raw values of a channel.
#[derive(Debug, Default, Clone, Copy)]
struct Recent {
    values: [f64; PERSIST],
    len: usize,
    next: usize,
}

impl Recent {
    /// Adds `v`; returns the median of the last [`PERSIST`] once there are
    /// that many.
    fn push(&mut self, v: f64) -> Option<f64> {
        self.values[self.next] = v;
        self.next = (self.next + 1) % PERSIST;
        self.len = (self.len + 1).min(PERSIST);
        if self.len < PERSIST {
            return None;
        }
        let mut sorted = self.values;
        sorted.sort_unstable_by(f64::total_cmp);
        Some(sorted[PERSIST / 2])
    }
}

impl Query {
    /// One interval with calls: its mean latency `mean` over `calls` calls.
    /// Returns the residual once the baseline has warmed up.
    fn step(&mut self, mean: f64, calls: u64, decay: f64) -> Option<f64> {
        // A statement faster than a nanosecond per call is timer noise.
        let log_mean = mean.max(1e-6).ln();
        self.calls += calls;
        self.intervals += 1;
        let warm = self.calls >= WARMUP_CALLS && self.intervals > WARMUP_INTERVALS;
        // During warm-up the baseline is the plain mean of the intervals so
        // far; then it forgets with the half-life, and one interval moves it
        // by at most a factor e^±1 times its weight, so a regression is
        // learnt slowly and leaves little behind.
        let x = log_mean - self.log_baseline;
        let (weight, learn) = if self.intervals <= WARMUP_INTERVALS {
            (1.0 / f64::from(self.intervals), x)
        } else {
            (1.0 - decay, x.clamp(-1.0, 1.0))
        };
        let out = if warm {
            let scale = (NOISE_FLOOR / self.deviation.max(NOISE_FLOOR)).min(1.0);
            self.recent.push(x * scale)
        } else {
            None
        };
        if self.intervals == 1 {
            self.log_baseline = log_mean;
        } else {
            self.deviation += weight * (learn.abs() - self.deviation);
            self.log_baseline += weight * learn;
        }
        out.filter(|r| r.is_finite())
    }
}

/// Per `(object, context)` or database: counters and what accumulated
/// since the last emitted sample.
#[derive(Debug, Default, Clone, Copy)]
struct Blocks {
    last: (u64, u64),
    pending: (u64, u64),
}

/// The improved mode's running state.
#[derive(Debug)]
pub struct Improved {
    clock: Clock,
    last_t: Option<f64>,
    poll: u64,
    queries: HashMap<String, Query>,
    waits: HashMap<String, (u64, Recent)>,
    io: HashMap<String, Blocks>,
    databases: HashMap<String, Blocks>,
    mix: HashMap<String, f64>,
    mix_total: f64,
    label: String,
}

impl Improved {
    /// Fresh state.
    pub fn new(origin: TimeOrigin) -> Self {
        Self {
            clock: Clock::new(origin),
            last_t: None,
            poll: 0,
            queries: HashMap::new(),
            waits: HashMap::new(),
            io: HashMap::new(),
            databases: HashMap::new(),
            mix: HashMap::new(),
            mix_total: 0.0,
            label: String::new(),
        }
    }

    /// Emits the residuals of one snapshot.
    pub fn ingest(&mut self, snap: &Snapshot, sink: &mut impl ResidualSink) {
        let t = self.clock.at(snap.t);
        // The decay over the time since the previous poll (none at the first).
        let elapsed = self.last_t.map_or(0.0, |last| (snap.t - last).max(0.0));
        self.last_t = Some(snap.t);
        self.poll += 1;
        let decay = (-elapsed * std::f64::consts::LN_2 / BASELINE_HALF_LIFE).exp();
        self.statements(snap, t, decay, sink);
        self.contention(snap, t, sink);
        self.cache(snap, t, sink);
    }

    fn statements(&mut self, snap: &Snapshot, t: f64, decay: f64, sink: &mut impl ResidualSink) {
        // This interval's calls per statement, for the workload mix.
        let mut interval: Vec<(&str, f64)> = Vec::with_capacity(snap.pgss.len());
        let mut rows: Vec<_> = snap
            .pgss
            .iter()
            .filter(|r| !r.own && !r.query_id.is_empty())
            .collect();
        rows.sort_by(|a, b| a.query_id.cmp(&b.query_id));
        for row in rows {
            let poll = self.poll;
            let q = match self.queries.get_mut(row.query_id.as_str()) {
                Some(q) => q,
                None => {
                    let fresh = Query {
                        last_calls: row.calls,
                        last_ms: row.total_exec_time_ms,
                        seen_at_poll: poll,
                        ..Query::default()
                    };
                    self.queries.insert(row.query_id.clone(), fresh);
                    continue;
                }
            };
            if q.seen_at_poll == poll {
                // A query id listed twice (another user or database runs
                // the same statement): the first row stands for it.
                continue;
            }
            q.seen_at_poll = poll;
            let (calls, ms) = (row.calls, row.total_exec_time_ms);
            if calls < q.last_calls || ms < q.last_ms {
                // Reset (pg_stat_statements_reset or an evicted entry):
                // start over from these counters.
                *q = Query {
                    last_calls: calls,
                    last_ms: ms,
                    seen_at_poll: poll,
                    ..Query::default()
                };
                continue;
            }
            let dc = calls - q.last_calls;
            let dt = ms - q.last_ms;
            q.last_calls = calls;
            q.last_ms = ms;
            if dc == 0 {
                continue;
            }
            let mean = dt / dc as f64;
            if let Some(r) = q.step(mean, dc, decay) {
                sink.residual(t, Class::PlanRegression, &row.query_id, r);
            }
            interval.push((&row.query_id, dc as f64));
        }
        let poll = self.poll;
        self.queries
            .retain(|_, q| poll - q.seen_at_poll <= u64::from(FORGET_AFTER_POLLS));
        self.workload_phase(&interval, t, decay, sink);
    }

    fn workload_phase(
        &mut self,
        interval: &[(&str, f64)],
        t: f64,
        decay: f64,
        sink: &mut impl ResidualSink,
    ) {
        let total: f64 = interval.iter().map(|(_, c)| c).sum();
        if total > 0.0 && self.mix_total >= MIX_WARMUP_CALLS {
            let jsd = self.divergence(interval, total);
            sink.residual(t, Class::WorkloadPhase, DIGEST_MIX_CHANNEL, jsd);
        }
        // Fold the interval into the reference mix.
        for v in self.mix.values_mut() {
            *v *= decay;
        }
        self.mix_total *= decay;
        for &(id, calls) in interval {
            match self.mix.get_mut(id) {
                Some(v) => *v += calls,
                None => {
                    self.mix.insert(id.to_owned(), calls);
                }
            }
            self.mix_total += calls;
        }
        self.mix.retain(|_, v| *v > 1e-6);
    }

    /// Jensen–Shannon divergence (base 2, in [0, 1]) between the interval's
    /// call shares and the reference mix's.
    fn divergence(&self, interval: &[(&str, f64)], total: f64) -> f64 {
        let mut acc = 0.0;
        let mut p_seen = 0.0;
        for &(id, calls) in interval {
            let p = calls / total;
            let q = self.mix.get(id).copied().unwrap_or(0.0) / self.mix_total;
            p_seen += q;
            let m = 0.5 * (p + q);
            acc += 0.5 * p * (p / m).log2();
            if q > 0.0 {
                acc += 0.5 * q * (q / m).log2();
            }
        }
        // Query ids of the reference mix absent from this interval: p = 0,
        // so each adds 0.5·q·log2(q / (q/2)) = 0.5·q.
        acc += 0.5 * (1.0 - p_seen).max(0.0);
        acc.clamp(0.0, 1.0)
    }

    fn contention(&mut self, snap: &Snapshot, t: f64, sink: &mut impl ResidualSink) {
        for (n, _) in self.waits.values_mut() {
            *n = 0;
        }
        for row in &snap.activity {
            let blocked = row.backend_type == "client backend"
                && row.state == "active"
                && BLOCKING_WAIT_TYPES.contains(&row.wait_event_type.as_str());
            if !blocked {
                continue;
            }
            match self.waits.get_mut(row.wait_event_type.as_str()) {
                Some((n, _)) => *n += 1,
                None => {
                    let state = (1, Recent::default());
                    self.waits.insert(row.wait_event_type.clone(), state);
                }
            }
        }
        let mut types: Vec<(&String, &mut (u64, Recent))> = self.waits.iter_mut().collect();
        types.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (kind, (n, recent)) in types {
            if let Some(level) = recent.push(*n as f64) {
                sink.residual(t, Class::Contention, kind, level);
            }
        }
    }

    fn cache(&mut self, snap: &Snapshot, t: f64, sink: &mut impl ResidualSink) {
        let mut io: Vec<(String, (u64, u64))> = Vec::new();
        for row in &snap.stat_io {
            let key = format!("{}::{}", row.object, row.context);
            match io.iter_mut().find(|(k, _)| *k == key) {
                Some((_, c)) => {
                    c.0 = c.0.wrapping_add(row.hits);
                    c.1 = c.1.wrapping_add(row.reads);
                }
                None => io.push((key, (row.hits, row.reads))),
            }
        }
        io.sort_unstable();
        for (key, counters) in &io {
            blocks(&mut self.io, key, *counters, t, sink);
        }
        if !snap.stat_io.is_empty() {
            return;
        }
        let mut rows: Vec<_> = snap.stat_database.iter().collect();
        rows.sort_by(|a, b| a.datname.cmp(&b.datname));
        for row in rows {
            self.label.clear();
            self.label.push_str("db::");
            self.label.push_str(&row.datname);
            let counters = (row.blks_hit, row.blks_read);
            blocks(&mut self.databases, &self.label, counters, t, sink);
        }
    }
}

/// One cache channel's step: accumulate the interval's hits and reads, emit
/// the miss ratio once enough blocks were accessed.
fn blocks(
    states: &mut HashMap<String, Blocks>,
    channel: &str,
    (hits, reads): (u64, u64),
    t: f64,
    sink: &mut impl ResidualSink,
) {
    let Some(state) = states.get_mut(channel) else {
        states.insert(
            channel.to_owned(),
            Blocks {
                last: (hits, reads),
                pending: (0, 0),
            },
        );
        return;
    };
    if hits < state.last.0 || reads < state.last.1 {
        // Statistics reset: start over.
        *state = Blocks {
            last: (hits, reads),
            pending: (0, 0),
        };
        return;
    }
    state.pending.0 += hits - state.last.0;
    state.pending.1 += reads - state.last.1;
    state.last = (hits, reads);
    let (h, r) = state.pending;
    if h + r >= MIN_BLOCKS {
        state.pending = (0, 0);
        sink.residual(t, Class::CacheIo, channel, r as f64 / (h + r) as f64);
    }
}

#[cfg(test)]
mod tests;
