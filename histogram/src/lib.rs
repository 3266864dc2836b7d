//! Fixed-bound histograms (`le` semantics, an implicit `+Inf` bucket) and the
//! bucket bounds of every histogram motifd exports.
//!
//! One owner for both sides: the engine observes episode durations, peaks and
//! sample lateness into [`FixedHistogram`]s, the exporter observes its render
//! times into one and renders [`HistogramSnapshot`]s, and both take their
//! bounds from the constants here, so a series never has two definitions.
//! A bound must never change once released: every `le` spelling is its own
//! Prometheus series.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Bounds (seconds of event time) of `<ns>_episode_duration_seconds`: from one
/// tick at 100 Hz up to an hour.
pub const EPISODE_DURATION_BOUNDS_SECONDS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Bounds (dimensionless residual magnitude) of `<ns>_episode_peak`.
pub const EPISODE_PEAK_BOUNDS: &[f64] = &[0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// Bounds (seconds of event time) of `<ns>_streaming_lateness_seconds`: how
/// far behind the newest event time a sample arrived. Chosen to bracket
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

/// Every bound list above.
pub const ALL_BOUNDS: [&[f64]; 6] = [
    EPISODE_DURATION_BOUNDS_SECONDS,
    EPISODE_PEAK_BOUNDS,
    LATENESS_BOUNDS_SECONDS,
    INGEST_TO_FLUSH_BOUNDS_SECONDS,
    RENDER_DURATION_BOUNDS_SECONDS,
    POSTGRES_POLL_DURATION_BOUNDS_SECONDS,
];

/// Largest magnitude an observation may have to be added to `_sum`. Larger
/// ones (and NaN and infinities) count in the `+Inf` bucket and in `_count`
/// only: 2^64 observations of at most 1e280 add up to less than 1.9e299, so
/// `_sum` can never overflow to `+Inf` and stay there for the rest of the
/// process, as one residual near `f64::MAX` would otherwise make it.
pub const SUM_LIMIT: f64 = 1e280;

/// A histogram that records observations directly: non-cumulative bucket
/// counts, converted to the cumulative form on snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedHistogram {
    /// Finite, strictly increasing upper bounds.
    bounds: &'static [f64],
    /// `counts[i]` counts observations in `(bounds[i-1], bounds[i]]`;
    /// `counts[bounds.len()]` those above every bound (and NaN).
    counts: Box<[u64]>,
    /// Σ of the observations no larger in magnitude than [`SUM_LIMIT`].
    sum: f64,
    /// Σ `counts`, kept so that reading it is O(1).
    count: u64,
}

impl FixedHistogram {
    /// An empty histogram over `bounds` (strictly increasing, finite).
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1].into_boxed_slice(),
            sum: 0.0,
            count: 0,
        }
    }

    /// A histogram with these non-cumulative bucket counts (one per bound,
    /// then the `+Inf` bucket) and sum, as [`Self::per_bucket`] and
    /// [`Self::sum`] gave them (a checkpoint being restored).
    ///
    /// # Errors
    /// A message if the counts do not fit `bounds`, their total overflows, or
    /// the sum is not finite.
    pub fn from_parts(bounds: &'static [f64], counts: Vec<u64>, sum: f64) -> Result<Self, String> {
        if counts.len() != bounds.len() + 1 {
            return Err(format!(
                "{} buckets for {} bounds",
                counts.len(),
                bounds.len()
            ));
        }
        let count = counts
            .iter()
            .try_fold(0u64, |a, &c| a.checked_add(c))
            .ok_or("the bucket counts overflow")?;
        if !sum.is_finite() {
            return Err(format!("sum {sum} is not finite"));
        }
        Ok(Self {
            bounds,
            counts: counts.into_boxed_slice(),
            sum,
            count,
        })
    }

    /// Records one observation. Most observations of the engine's histograms
    /// fall in the first buckets (lateness 0 for in-order samples), so a
    /// linear scan finds the bucket sooner than a binary search.
    #[inline]
    pub fn observe(&mut self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.count += 1;
        if v.abs() <= SUM_LIMIT {
            self.sum += v;
        }
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Non-cumulative counts, one per bound and then the `+Inf` bucket.
    pub fn per_bucket(&self) -> &[u64] {
        &self.counts
    }

    /// Cumulative counts per bound, then the `+Inf` total.
    pub fn cumulative(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().scan(0u64, |acc, &c| {
            *acc += c;
            Some(*acc)
        })
    }

    /// Sum of the observations counted in it (see [`SUM_LIMIT`]).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes the cumulative form into `out`, reusing its allocation.
    pub fn snapshot_into(&self, out: &mut HistogramSnapshot) {
        out.reset(self.bounds);
        for (slot, c) in out.cumulative.iter_mut().zip(self.cumulative()) {
            *slot = c;
        }
        out.count = self.count;
        out.sum = self.sum;
    }

    /// The cumulative form as a new value.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut out = HistogramSnapshot::empty(self.bounds);
        self.snapshot_into(&mut out);
        out
    }
}

/// A histogram ready to render: finite upper bounds, cumulative counts per
/// bound, and the total count and sum.
///
/// Invariants the renderer relies on (and [`FixedHistogram`] guarantees):
/// `cumulative.len() == bounds.len()`, `bounds` strictly increasing and
/// finite, `cumulative` non-decreasing and each entry `<= count`. The `+Inf`
/// bucket is not stored: it is always `count`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Finite upper bounds (`le`), strictly increasing. One of the `*_BOUNDS*`
    /// constants of this crate.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_finite_and_strictly_increasing() {
        for bounds in ALL_BOUNDS {
            assert!(bounds.iter().all(|b| b.is_finite()));
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        }
    }

    #[test]
    fn buckets_are_le_and_cumulative() {
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
        assert_eq!(h.cumulative().last(), Some(values.len() as u64));
        let finite_sum: f64 = values.iter().filter(|v| !v.is_nan()).sum();
        assert_eq!(s.sum, finite_sum);
    }

    #[test]
    fn a_huge_observation_cannot_make_the_sum_infinite() {
        let mut h = FixedHistogram::new(EPISODE_PEAK_BOUNDS);
        for v in [1.0, f64::MAX, 1.7e308, f64::INFINITY, 2.0] {
            h.observe(v);
        }
        assert_eq!(h.sum(), 3.0);
        assert_eq!(h.count(), 5);
        assert_eq!(h.per_bucket()[EPISODE_PEAK_BOUNDS.len()], 3);
        // The largest observation still summed, 2^64 times, stays finite.
        assert!((SUM_LIMIT * 2f64.powi(64)).is_finite());
    }

    #[test]
    fn parts_round_trip_and_bad_parts_are_refused() {
        let mut h = FixedHistogram::new(LATENESS_BOUNDS_SECONDS);
        for v in [0.0, 0.3, 7.0, 100.0] {
            h.observe(v);
        }
        let back =
            FixedHistogram::from_parts(h.bounds(), h.per_bucket().to_vec(), h.sum()).unwrap();
        assert_eq!(back, h);
        let bounds = LATENESS_BOUNDS_SECONDS;
        assert!(FixedHistogram::from_parts(bounds, vec![0; 3], 0.0).is_err());
        let mut overflow = vec![0; bounds.len() + 1];
        overflow[0] = u64::MAX;
        overflow[1] = 1;
        assert!(FixedHistogram::from_parts(bounds, overflow, 0.0).is_err());
        let zeros = vec![0; bounds.len() + 1];
        assert!(FixedHistogram::from_parts(bounds, zeros, f64::INFINITY).is_err());
    }
}
