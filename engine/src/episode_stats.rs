//! Episode statistics of one motif: counts, the last peak and trust sum, and
//! the duration and peak histograms the exporter publishes.

use crate::checkpoint::codec::{Decoded, Reader, Writer};
use motifd_histogram::{FixedHistogram, EPISODE_DURATION_BOUNDS_SECONDS, EPISODE_PEAK_BOUNDS};

/// Episode statistics of one motif, kept for the exporter.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeStats {
    /// Episodes closed.
    pub episodes: u64,
    /// Episodes open now.
    pub open: u64,
    /// Peak of the last closed episode (NaN before the first).
    pub last_peak: f64,
    /// Trust sum at the last close (NaN before the first).
    pub last_trust_sum: f64,
    /// Durations of closed episodes, seconds.
    pub duration: FixedHistogram,
    /// Peaks of closed episodes.
    pub peak: FixedHistogram,
}

impl Default for EpisodeStats {
    fn default() -> Self {
        Self {
            episodes: 0,
            open: 0,
            last_peak: f64::NAN,
            last_trust_sum: f64::NAN,
            duration: FixedHistogram::new(EPISODE_DURATION_BOUNDS_SECONDS),
            peak: FixedHistogram::new(EPISODE_PEAK_BOUNDS),
        }
    }
}

/// Checkpoint part: counts, last figures and both histograms.
impl EpisodeStats {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.episodes);
        w.u64(self.open);
        w.f64(self.last_peak);
        w.f64(self.last_trust_sum);
        w.histogram(&self.duration);
        w.histogram(&self.peak);
    }

    pub(crate) fn decode(r: &mut Reader<'_>, what: &str) -> Decoded<Self> {
        Ok(Self {
            episodes: r.counter(what)?,
            open: r.counter(what)?,
            last_peak: r.f64(what)?,
            last_trust_sum: r.f64(what)?,
            duration: r.histogram(EPISODE_DURATION_BOUNDS_SECONDS, what)?,
            peak: r.histogram(EPISODE_PEAK_BOUNDS, what)?,
        })
    }
}
