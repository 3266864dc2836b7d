//! Fixed-bound histograms for values the engine itself observes (episode
//! durations and peaks, sample lateness). Bounds are `'static` so that every
//! snapshot of the same histogram has the same series.

// The bounds equal the exporter's documented `*_BOUNDS*` constants (the daemon
// copies these histograms into its snapshot as they are; a test there checks
// that the two lists agree). A bound must never change once released: every
// `le` spelling is its own Prometheus series.

/// Upper bounds (seconds of event time) of the episode-duration histogram.
pub const DURATION_BOUNDS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];
/// Upper bounds (residual units) of the episode-peak histogram.
pub const PEAK_BOUNDS: &[f64] = &[0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0];
/// Upper bounds (seconds of event time) of the arrival-lateness histogram.
pub const LATENESS_BOUNDS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A histogram with fixed upper bounds (`le` semantics) and an implicit `+Inf`.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedHistogram {
    pub(crate) bounds: &'static [f64],
    /// Non-cumulative counts; `counts[bounds.len()]` is the `+Inf` overflow.
    pub(crate) counts: Box<[u64]>,
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl FixedHistogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1].into_boxed_slice(),
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one observation. NaN counts in `+Inf` and is left out of the sum.
    #[inline]
    pub fn observe(&mut self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.count += 1;
        if !v.is_nan() {
            self.sum += v;
        }
    }

    /// The upper bounds, without `+Inf`.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Cumulative counts per bound, then the `+Inf` total.
    pub fn cumulative(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts.iter().scan(0u64, |acc, &c| {
            *acc += c;
            Some(*acc)
        })
    }

    /// Sum of all finite observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_le_and_cumulative() {
        let mut h = FixedHistogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0, f64::NAN] {
            h.observe(v);
        }
        assert_eq!(h.cumulative().collect::<Vec<_>>(), [2, 3, 5]);
        assert_eq!(h.count(), 5);
        assert_eq!(h.sum(), 6.0);
    }
}
