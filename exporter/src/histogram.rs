//! Fixed-bound histograms as the renderer sees them: [`HistogramSnapshot`],
//! filled from a [`FixedHistogram`] (observe values directly) or by
//! [`from_hdr`] (convert an `hdrhistogram::Histogram<u64>`).
//!
//! The histogram types and every bucket bound live in `motifd-histogram`,
//! shared with the engine, so each series has one definition; they are
//! re-exported here under the paths the renderer has always used.

use hdrhistogram::Histogram;

pub use motifd_histogram::{
    FixedHistogram, HistogramSnapshot, EPISODE_DURATION_BOUNDS_SECONDS, EPISODE_PEAK_BOUNDS,
    INGEST_TO_FLUSH_BOUNDS_SECONDS, LATENESS_BOUNDS_SECONDS, POSTGRES_POLL_DURATION_BOUNDS_SECONDS,
    RENDER_DURATION_BOUNDS_SECONDS,
};

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
