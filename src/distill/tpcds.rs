//! TPC-DS traces (`query_id,t_seconds,latency_ms,est_rows,actual_rows`, optional
//! `wait_event,wait_seconds,cache_hit_ratio`): per row cardinality and plan
//! regression on `query_id`, contention on `wait_event`, cache on `tpcds`; one
//! workload-phase residual (channel `tpcds`) per 30 s bucket boundary.
//!
//! Needs the whole trace: the reference sorts the rows by `t_seconds` first,
//! and its phase residual for a bucket is stamped with the start of the
//! bucket before, so it sorts in among samples read long before.

use super::buffered::Held;
use super::ceb::row_count;
use super::formulas::{js_divergence, latency_residual, q_error, Window};
use super::names::Names;
use super::tabular::{Reject, Row, Tabular};
use super::time_order::sort_by_time;
use super::{DistillError, Out, ResidualClass};
use rustc_hash::FxHashMap;

const BASELINE_RUNS: usize = 16;
const BUCKET_SECONDS: f64 = 30.0;
const CACHE_TARGET: f64 = 0.95;
const CHANNEL: &str = "tpcds";

#[derive(Debug, Clone, Copy)]
struct Exec {
    t: f64,
    qid: u32,
    latency_ms: f64,
    est_rows: f64,
    actual_rows: f64,
    /// `None` for an empty wait event.
    wait_event: Option<u32>,
    wait_seconds: f64,
    cache_hit_ratio: f64,
}

#[derive(Default)]
pub(crate) struct Tpcds {
    rows: Vec<Exec>,
    names: Names,
}

impl Tabular for Tpcds {
    const COLUMNS: &'static [&'static str] = &[
        "query_id",
        "t_seconds",
        "latency_ms",
        "est_rows",
        "actual_rows",
        "wait_event",
        "wait_seconds",
        "cache_hit_ratio",
    ];
    const REQUIRED: usize = 5;

    fn row(&mut self, row: &Row<'_>) -> Result<(), Reject> {
        let t = row.finite(1)?;
        let latency_ms = row.finite(2)?;
        let est_rows = row_count(row, 3)?;
        let actual_rows = row_count(row, 4)?;
        let wait_event = row.text(5).unwrap_or("");
        let wait_seconds = row.f64_or_zero(6)?;
        let cache_hit_ratio = row.f64_or_zero(7)?;
        // NaN and −∞ fail the reference's `> 0` tests and emit nothing; +∞
        // would be emitted as an infinite residual.
        if !wait_event.is_empty() && wait_seconds == f64::INFINITY {
            return Err(Reject::non_finite("wait_seconds", wait_seconds));
        }
        if cache_hit_ratio == f64::INFINITY {
            return Err(Reject::non_finite("cache_hit_ratio", cache_hit_ratio));
        }
        let qid = self.names.id(row.str(0));
        let wait_event = (!wait_event.is_empty()).then(|| self.names.id(wait_event));
        self.rows.push(Exec {
            t,
            qid,
            latency_ms,
            est_rows,
            actual_rows,
            wait_event,
            wait_seconds,
            cache_hit_ratio,
        });
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        sort_by_time(&mut self.rows, |r| r.t);
        let mut held = Held::default();
        let mut windows: Vec<Window> = vec![Window::default(); self.names.len()];
        let mut histo: FxHashMap<u32, u64> = FxHashMap::default();
        let mut prev: FxHashMap<u32, u64> = FxHashMap::default();
        let mut bucket: i64 = 0;
        let tpcds = held.channels.id(CHANNEL);
        for r in &self.rows {
            let q = self.names.name(r.qid);
            held.push(
                r.t,
                ResidualClass::Cardinality,
                q,
                q_error(r.est_rows, r.actual_rows),
            );
            let baseline = windows[r.qid as usize].baseline(r.latency_ms);
            let plan = latency_residual(r.latency_ms, baseline);
            held.push(r.t, ResidualClass::PlanRegression, q, plan);
            windows[r.qid as usize].push(r.latency_ms, BASELINE_RUNS);
            if let Some(event) = r.wait_event {
                if r.wait_seconds > 0.0 {
                    let name = self.names.name(event);
                    held.push(r.t, ResidualClass::Contention, name, r.wait_seconds);
                }
            }
            if r.cache_hit_ratio > 0.0 {
                let drop = CACHE_TARGET - r.cache_hit_ratio;
                held.push_id(r.t, ResidualClass::CacheIo, tpcds, drop);
            }
            // Truncation toward zero: bucket 0 spans (−30 s, 30 s).
            let b = (r.t / BUCKET_SECONDS) as i64;
            if b != bucket {
                let d = jsd(&self.names, &prev, &histo);
                held.push_id(
                    bucket as f64 * BUCKET_SECONDS,
                    ResidualClass::WorkloadPhase,
                    tpcds,
                    d,
                );
                prev = std::mem::take(&mut histo);
                bucket = b;
            }
            *histo.entry(r.qid).or_insert(0) += 1;
        }
        held.flush(out)?;
        Ok(())
    }
}

/// JSD between two histograms keyed by interned names.
pub(crate) fn jsd(names: &Names, p: &FxHashMap<u32, u64>, q: &FxHashMap<u32, u64>) -> f64 {
    let mut p: Vec<(&str, u64)> = p.iter().map(|(&k, &n)| (names.name(k), n)).collect();
    let mut q: Vec<(&str, u64)> = q.iter().map(|(&k, &n)| (names.name(k), n)).collect();
    js_divergence(&mut p, &mut q)
}
