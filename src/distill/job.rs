//! JOB runs (`query_id,iteration,est_rows,actual_rows,latency_ms[,plan_hash]`):
//! per row a cardinality and a plan-regression residual on channel `query_id`,
//! and a plan-change impulse on `query_id#plan_change` when the plan hash moves.
//!
//! Needs the whole trace: rows are sorted by (iteration, query id), stable, and
//! the time of a row is its position in that order.

use super::buffered::Held;
use super::ceb::row_count;
use super::formulas::{latency_residual, q_error, Window};
use super::names::Names;
use super::tabular::Reject;
use super::tabular::{Row, Tabular};
use super::{DistillError, Out, ResidualClass};

/// Latencies in a query's rolling baseline.
const BASELINE_RUNS: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Run {
    iteration: u64,
    qid: u32,
    est_rows: f64,
    actual_rows: f64,
    latency_ms: f64,
    /// `None` for an empty plan hash.
    plan_hash: Option<u32>,
}

#[derive(Default)]
pub(crate) struct Job {
    rows: Vec<Run>,
    names: Names,
}

impl Tabular for Job {
    const COLUMNS: &'static [&'static str] = &[
        "query_id",
        "iteration",
        "est_rows",
        "actual_rows",
        "latency_ms",
        "plan_hash",
    ];
    const REQUIRED: usize = 5;

    fn row(&mut self, row: &Row<'_>) -> Result<(), Reject> {
        let iteration = row.u64(1)?;
        let est_rows = row_count(row, 2)?;
        let actual_rows = row_count(row, 3)?;
        let latency_ms = row.finite(4)?;
        let qid = self.names.id(row.str(0));
        let plan_hash = match row.text(5).unwrap_or("") {
            "" => None,
            h => Some(self.names.id(h)),
        };
        self.rows.push(Run {
            iteration,
            qid,
            est_rows,
            actual_rows,
            latency_ms,
            plan_hash,
        });
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        let rank = self.names.ranks();
        self.rows
            .sort_by_key(|r| (r.iteration, rank[r.qid as usize]));
        let mut held = Held::default();
        let mut windows: Vec<Window> = vec![Window::default(); self.names.len()];
        let mut last_hash: Vec<Option<u32>> = vec![None; self.names.len()];
        let mut change = String::new();
        let mut t: f64 = 0.0;
        for r in &self.rows {
            let q = r.qid as usize;
            let channel = held.channels.id(self.names.name(r.qid));
            let card = q_error(r.est_rows, r.actual_rows);
            held.push_id(t, ResidualClass::Cardinality, channel, card);
            let baseline = windows[q].baseline(r.latency_ms);
            let plan = latency_residual(r.latency_ms, baseline);
            held.push_id(t, ResidualClass::PlanRegression, channel, plan);
            windows[q].push(r.latency_ms, BASELINE_RUNS);
            if let Some(hash) = r.plan_hash {
                if last_hash[q].is_some_and(|prev| prev != hash) {
                    change.clear();
                    change.push_str(self.names.name(r.qid));
                    change.push_str("#plan_change");
                    held.push(t, ResidualClass::PlanRegression, &change, 1.0);
                }
                last_hash[q] = Some(hash);
            }
            t += 1.0;
        }
        held.flush(out)?;
        Ok(())
    }
}
