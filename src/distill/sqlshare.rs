//! SQLShare with runtimes (`user_id,runtime_seconds,submitted_at,query_text`):
//! plan regression per (user, query skeleton) on channel
//! `user_id#<first 64 bytes of the skeleton>`, and per user a workload-phase
//! residual per one-day bucket.
//!
//! Needs the whole trace: rows are sorted by `submitted_at` and times are
//! relative to the earliest.

use super::buffered::Held;
use super::formulas::{latency_residual, Window};
use super::mixes::Mixes;
use super::names::Names;
use super::skeleton::{prefix, skeleton_into};
use super::tabular::{Reject, Row, Tabular};
use super::time_order::sort_from_first;
use super::{DistillError, Out, ResidualClass};
use rustc_hash::FxHashMap;

const BASELINE_RUNS: usize = 32;
const BUCKET_SECONDS: f64 = 86_400.0;
/// Bytes of the skeleton in the channel name.
const LABEL_BYTES: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Query {
    submitted_at: f64,
    user: u32,
    skeleton: u32,
    runtime: f64,
}

#[derive(Default)]
pub(crate) struct Sqlshare {
    rows: Vec<Query>,
    names: Names,
    scratch: String,
}

impl Tabular for Sqlshare {
    const COLUMNS: &'static [&'static str] =
        &["user_id", "runtime_seconds", "submitted_at", "query_text"];
    const REQUIRED: usize = 4;

    fn row(&mut self, row: &Row<'_>) -> Result<(), Reject> {
        // The reference takes NaN and infinities as they come and emits
        // non-finite residuals from them (or trips a debug assertion).
        let runtime = row.finite(1)?;
        let submitted_at = row.finite(2)?;
        let user = self.names.id(row.str(0));
        skeleton_into(row.str(3), &mut self.scratch);
        let skeleton = self.names.id(&self.scratch);
        self.rows.push(Query {
            submitted_at,
            user,
            skeleton,
            runtime,
        });
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        let t0 = sort_from_first(&mut self.rows, |r| r.submitted_at);
        let rank = self.names.ranks();
        let mut held = Held::default();
        // (user, skeleton) → (channel id, window of runtimes)
        let mut plans: FxHashMap<(u32, u32), (u32, Window)> = FxHashMap::default();
        let mut mixes = Mixes::new(BUCKET_SECONDS);
        let mut label = String::new();
        for r in &self.rows {
            let t = r.submitted_at - t0;
            let names = &self.names;
            let (channel, window) = plans.entry((r.user, r.skeleton)).or_insert_with(|| {
                label.clear();
                label.push_str(names.name(r.user));
                label.push('#');
                label.push_str(prefix(names.name(r.skeleton), LABEL_BYTES));
                (held.channels.id(&label), Window::default())
            });
            let baseline = window.baseline(r.runtime);
            let plan = latency_residual(r.runtime, baseline);
            held.push_id(t, ResidualClass::PlanRegression, *channel, plan);
            window.push(r.runtime, BASELINE_RUNS);

            mixes.count(t, r.user, r.skeleton, names, &rank, &mut held);
        }
        held.flush(out)?;
        Ok(())
    }
}
