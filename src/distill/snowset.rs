//! Snowset (`queryId,warehouseId,createdTime,execTime`, optional
//! `persistentReadBytesCache,persistentReadBytesS3`; other columns ignored):
//! plan regression per `warehouseId/queryId`, cache hit-ratio drop per
//! warehouse, and per warehouse a workload-phase residual per 5-minute bucket.
//!
//! Needs the whole trace: rows are sorted by `createdTime` and times are
//! relative to the earliest.

use super::buffered::Held;
use super::formulas::{latency_residual, Window};
use super::mixes::Mixes;
use super::names::Names;
use super::tabular::{Reject, Row, Tabular};
use super::time_order::sort_from_first;
use super::{DistillError, Out, ResidualClass};
use chrono::format::{parse, Item, Parsed, StrftimeItems};
use chrono::DateTime;
use motifd_engine::RejectReason;
use rustc_hash::FxHashMap;

const BASELINE_RUNS: usize = 64;
const BUCKET_SECONDS: f64 = 300.0;

#[derive(Debug, Clone, Copy)]
struct Query {
    created_us: f64,
    qid: u32,
    warehouse: u32,
    exec_us: f64,
    bytes_cache: f64,
    bytes_s3: f64,
}

pub(crate) struct Snowset {
    rows: Vec<Query>,
    names: Names,
    created_format: Vec<Item<'static>>,
}

impl Default for Snowset {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            names: Names::default(),
            created_format: StrftimeItems::new(CREATED_FORMAT).collect(),
        }
    }
}

/// The first `createdTime` spelling, `2018-03-02 14:44:02.768000+00:00`.
const CREATED_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f%:z";

/// `createdTime` as Unix microseconds: [`CREATED_FORMAT`] or RFC 3339, as
/// the reference reads it (`DateTime::parse_from_str`, then
/// `parse_from_rfc3339`). The format is taken apart once, not per row:
/// `parse_from_str` is exactly `parse` over these items, then `to_datetime`.
fn created_us(items: &[Item<'static>], text: &str) -> Option<f64> {
    let mut parsed = Parsed::new();
    let first = parse(&mut parsed, text, items.iter()).and_then(|()| parsed.to_datetime());
    let datetime = first.or_else(|_| DateTime::parse_from_rfc3339(text)).ok()?;
    Some(datetime.timestamp_micros() as f64)
}

impl Tabular for Snowset {
    const COLUMNS: &'static [&'static str] = &[
        "queryId",
        "warehouseId",
        "createdTime",
        "execTime",
        "persistentReadBytesCache",
        "persistentReadBytesS3",
    ];
    const REQUIRED: usize = 4;

    fn row(&mut self, row: &Row<'_>) -> Result<(), Reject> {
        let exec = row.f64(3)?;
        let bytes_cache = row.f64_or_zero(4)?;
        let bytes_s3 = row.f64_or_zero(5)?;
        let Some(created_us) = created_us(&self.created_format, row.str(2)) else {
            let text = row.str(2);
            let (reason, what) = match text {
                "" => (RejectReason::MissingField, "is empty".to_string()),
                t => (
                    RejectReason::Malformed,
                    format!("is not a timestamp: {t:?}"),
                ),
            };
            return Err(Reject::new(reason, format!("createdTime {what}")));
        };
        // The reference skips a non-finite execTime itself; non-finite byte
        // counts make its cache ratio NaN (and trip its debug assertion).
        if !exec.is_finite() {
            return Err(Reject::non_finite("execTime", exec));
        }
        for (v, name) in [(bytes_cache, 4), (bytes_s3, 5)] {
            if !v.is_finite() {
                return Err(Reject::non_finite(row.name(name), v));
            }
        }
        let qid = self.names.id(row.str(0));
        let warehouse = self.names.id(row.str(1));
        self.rows.push(Query {
            created_us,
            qid,
            warehouse,
            exec_us: exec,
            bytes_cache,
            bytes_s3,
        });
        Ok(())
    }

    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        let t0 = sort_from_first(&mut self.rows, |r| r.created_us);
        let mut held = Held::default();
        self.plan_and_cache(t0, &mut held);
        self.phase(t0, &mut held);
        held.flush(out)?;
        Ok(())
    }
}

impl Snowset {
    fn plan_and_cache(&self, t0: f64, held: &mut Held) {
        // (warehouse, query) → (channel id, window of execTime in µs)
        let mut plans: FxHashMap<(u32, u32), (u32, Window)> = FxHashMap::default();
        let mut caches: Vec<Window> = vec![Window::default(); self.names.len()];
        let mut label = String::new();
        for r in &self.rows {
            let t = (r.created_us - t0) / 1e6;
            let (channel, window) = plans.entry((r.warehouse, r.qid)).or_insert_with(|| {
                label.clear();
                label.push_str(self.names.name(r.warehouse));
                label.push('/');
                label.push_str(self.names.name(r.qid));
                (held.channels.id(&label), Window::default())
            });
            let baseline = window.baseline(r.exec_us);
            let plan = latency_residual(r.exec_us / 1e3, baseline / 1e3);
            held.push_id(t, ResidualClass::PlanRegression, *channel, plan);
            window.push(r.exec_us, BASELINE_RUNS);

            let total = r.bytes_cache + r.bytes_s3;
            if total <= 0.0 {
                continue;
            }
            let ratio = r.bytes_cache / total;
            let cache = &mut caches[r.warehouse as usize];
            let expected = cache.baseline(ratio);
            let warehouse = self.names.name(r.warehouse);
            held.push(t, ResidualClass::CacheIo, warehouse, expected - ratio);
            cache.push(ratio, BASELINE_RUNS);
        }
    }

    /// Per bucket boundary, per warehouse present in both buckets: the JSD of
    /// its query-id mix. Warehouses in byte order (the reference iterates a
    /// `HashMap`, so its order among them varies from run to run).
    fn phase(&self, t0: f64, held: &mut Held) {
        let mut mixes = Mixes::new(BUCKET_SECONDS);
        let rank = self.names.ranks();
        for r in &self.rows {
            let t = (r.created_us - t0) / 1e6;
            mixes.count(t, r.warehouse, r.qid, &self.names, &rank, held);
        }
    }
}
