//! Fixed-bound histograms as the renderer sees them, plus two ways to fill one:
//! [`FixedHistogram`] (observe values directly) and [`from_hdr`] (convert an
//! `hdrhistogram::Histogram<u64>`).
//!
//! Bucket bounds are fixed, documented constants: every `le` spelling is a
//! separate series in Prometheus, so a bound must never change once released.

use hdrhistogram::Histogram;

/// Bounds (seconds of event time) of `<ns>_episode_duration_seconds`:
/// from one tick at 100 Hz up to an hour.
pub const EPISODE_DURATION_BOUNDS_SECONDS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Bounds (dimensionless residual magnitude) of `<ns>_episode_peak`.
pub const EPISODE_PEAK_BOUNDS: &[f64] = &[0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// Bounds (seconds of event time) of `<ns>_streaming_lateness_seconds`:
/// how far behind the newest event time a sample arrived. Chosen to bracket
/// typical reorder windows so an operator can read off the window that would
/// have admitted a given fraction of samples.
pub const LATENESS_BOUNDS_SECONDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Bounds (seconds of wall time) of `<ns>_ingest_to_flush_latency_seconds`:
/// from the moment a sample was accepted until the reorder buffer released it.
pub const INGEST_TO_FLUSH_BOUNDS_SECONDS: &[f64] = &[
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// Bounds (seconds of wall time) of `<ns>_scrape_render_duration_seconds`.
pub const RENDER_DURATION_BOUNDS_SECONDS: &[f64] = &[
    0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05,
];

/// Bounds (seconds of wall time) of `<ns>_postgres_poll_duration_seconds`:
/// one poll of a PostgreSQL source, all its statements.
pub const POSTGRES_POLL_DURATION_BOUNDS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram ready to render: finite upper bounds, cumulative counts per
/// bound, and the total count and sum.
///
/// Invariants the renderer relies on (and [`FixedHistogram`] / [`from_hdr`]
/// guarantee): `cumulative.len() == bounds.len()`, `bounds` strictly
/// increasing and finite, `cumulative` non-decreasing and each entry
/// `<= count`. The `+Inf` bucket is not stored: it is always `count`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Finite upper bounds (`le`), strictly increasing. One of the `*_BOUNDS*`
    /// constants of this module.
    pub bounds: &'static [f64],
    /// `cumulative[i]` = number of observations `<= bounds[i]`.
    pub cumulative: Vec<u64>,
    /// Total number of observations (the `+Inf` bucket and `_count`).
    pub count: u64,
    /// Sum of all observations (`_sum`), in the family's unit.
    pub sum: f64,
}

impl HistogramSnapshot {
    /// An empty histogram (all counts zero) over `bounds`.
    pub fn empty(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            cumulative: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    /// Resets to empty over `bounds`, keeping the allocation.
    pub fn reset(&mut self, bounds: &'static [f64]) {
        self.bounds = bounds;
        self.cumulative.clear();
        self.cumulative.resize(bounds.len(), 0);
        self.count = 0;
        self.sum = 0.0;
    }
}

/// A fixed-bound histogram that records observations directly
/// (non-cumulative bucket counts; converted on snapshot).
#[derive(Debug, Clone)]
pub struct FixedHistogram {
    bounds: &'static [f64],
    /// `per_bucket[i]` counts observations in `(bounds[i-1], bounds[i]]`;
    /// the extra last slot counts those above every bound (and NaN).
    per_bucket: Vec<u64>,
    sum: f64,
}

impl FixedHistogram {
    /// An empty histogram over `bounds` (strictly increasing, finite).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            per_bucket: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Records one observation. NaN goes to the `+Inf` bucket only and is not
    /// added to the sum, so one bad value cannot poison `_sum` forever.
    pub fn observe(&mut self, value: f64) {
        let idx = self.bounds.partition_point(|b| *b < value);
        let idx = if value.is_nan() {
            self.bounds.len()
        } else {
            idx
        };
        self.per_bucket[idx] += 1;
        if !value.is_nan() {
            self.sum += value;
        }
    }

    /// Writes the cumulative form into `out`, reusing its allocation.
    pub fn snapshot_into(&self, out: &mut HistogramSnapshot) {
        out.reset(self.bounds);
        let mut running = 0u64;
        for (slot, n) in out.cumulative.iter_mut().zip(&self.per_bucket) {
            running += n;
            *slot = running;
        }
        out.count = running + self.per_bucket[self.bounds.len()];
        out.sum = self.sum;
    }

    /// The cumulative form as a new value.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut out = HistogramSnapshot::empty(self.bounds);
        self.snapshot_into(&mut out);
        out
    }
}

/// The unit of the integer values recorded in an `hdrhistogram::Histogram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdrUnit {
    /// Values are nanoseconds.
    Nanoseconds,
    /// Values are microseconds.
    Microseconds,
}

impl HdrUnit {
    fn seconds_per_unit(self) -> f64 {
        match self {
            HdrUnit::Nanoseconds => 1e-9,
            HdrUnit::Microseconds => 1e-6,
        }
    }
}

/// Converts an hdrhistogram of durations recorded in `unit` into fixed-bound
/// cumulative buckets in **seconds** over `bounds`, written into `out`.
///
/// Each recorded value is placed by `hdr.highest_equivalent(value)`, so a
/// value lands in bucket `le=b` only when every value it may stand for is
/// `<= b`; an observation is never reported as faster than it was. `_sum` is
/// the sum of those same representative values, so it is accurate to
/// hdrhistogram's configured precision (e.g. 0.1 % with 3 significant digits).
pub fn from_hdr(
    hdr: &Histogram<u64>,
    unit: HdrUnit,
    bounds: &'static [f64],
    out: &mut HistogramSnapshot,
) {
    out.reset(bounds);
    let scale = unit.seconds_per_unit();
    let mut per_bucket = vec![0u64; bounds.len() + 1];
    let mut sum = 0.0;
    for step in hdr.iter_recorded() {
        let seconds = hdr.highest_equivalent(step.value_iterated_to()) as f64 * scale;
        let idx = bounds.partition_point(|b| *b < seconds);
        per_bucket[idx] += step.count_at_value();
        sum += seconds * step.count_at_value() as f64;
    }
    let mut running = 0u64;
    for (slot, n) in out.cumulative.iter_mut().zip(&per_bucket) {
        running += n;
        *slot = running;
    }
    out.count = running + per_bucket[bounds.len()];
    out.sum = sum;
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_BOUNDS: [&[f64]; 5] = [
        EPISODE_DURATION_BOUNDS_SECONDS,
        EPISODE_PEAK_BOUNDS,
        LATENESS_BOUNDS_SECONDS,
        INGEST_TO_FLUSH_BOUNDS_SECONDS,
        RENDER_DURATION_BOUNDS_SECONDS,
    ];

    #[test]
    fn bounds_are_finite_and_strictly_increasing() {
        for bounds in ALL_BOUNDS {
            assert!(bounds.iter().all(|b| b.is_finite()));
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        }
    }

    #[test]
    fn fixed_histogram_counts_cumulatively_with_le_semantics() {
        let mut h = FixedHistogram::new(EPISODE_PEAK_BOUNDS);
        let values = [0.1, 0.5, 0.6, 3.0, 1000.0, f64::NAN];
        for v in values {
            h.observe(v);
        }
        let s = h.snapshot();
        for (bound, cum) in s.bounds.iter().zip(&s.cumulative) {
            let expected = values.iter().filter(|v| **v <= *bound).count() as u64;
            assert_eq!(*cum, expected, "le={bound}");
        }
        assert_eq!(s.count, values.len() as u64);
        let finite_sum: f64 = values.iter().filter(|v| !v.is_nan()).sum();
        assert_eq!(s.sum, finite_sum);
    }

    #[test]
    fn hdr_conversion_matches_direct_bucketing() {
        let mut hdr = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let micros = [3u64, 10, 11, 50, 999, 1000, 1001, 250_000, 40_000_000];
        for v in micros {
            hdr.record(v).unwrap();
        }
        let mut s = HistogramSnapshot::empty(INGEST_TO_FLUSH_BOUNDS_SECONDS);
        from_hdr(
            &hdr,
            HdrUnit::Microseconds,
            INGEST_TO_FLUSH_BOUNDS_SECONDS,
            &mut s,
        );
        assert_eq!(s.count, micros.len() as u64);
        for (bound, cum) in s.bounds.iter().zip(&s.cumulative) {
            // Compare against the representative value hdrhistogram keeps.
            let expected = micros
                .iter()
                .filter(|v| hdr.highest_equivalent(**v) as f64 * 1e-6 <= *bound)
                .count() as u64;
            assert_eq!(*cum, expected, "le={bound}");
        }
        let exact: f64 = micros.iter().map(|v| *v as f64 * 1e-6).sum();
        assert!((s.sum - exact).abs() / exact < 1e-3, "{} vs {exact}", s.sum);
    }

    #[test]
    fn hdr_nanoseconds_scale() {
        let mut hdr = Histogram::<u64>::new(3).unwrap();
        hdr.record(2_000_000).unwrap(); // 2 ms
        let mut s = HistogramSnapshot::empty(INGEST_TO_FLUSH_BOUNDS_SECONDS);
        from_hdr(
            &hdr,
            HdrUnit::Nanoseconds,
            INGEST_TO_FLUSH_BOUNDS_SECONDS,
            &mut s,
        );
        let first_holding = s.bounds.iter().position(|b| *b >= 0.002).unwrap();
        assert_eq!(s.cumulative[first_holding - 1], 0);
        assert_eq!(s.cumulative[first_holding], 1);
    }
}
