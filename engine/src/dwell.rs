//! Envelope classification and the dwell state machine of one (motif, channel).
//!
//! ```text
//!            Drift|Boundary                    Stable
//!  Stable ─────────────────▶ InEpisode ─────────────────▶ Recovering
//!    ▲                          ▲   Drift|Boundary            │
//!    │                          └─────────────────────────────┤
//!    └──── Stable and t − t_rec ≥ min_dwell: CLOSE [t_open, t] ┘
//! ```
//! Anything not drawn leaves the state unchanged.

/// Where one sample sits relative to the motif's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// Inside both thresholds.
    Stable,
    /// Smoothed |residual| at or above the drift threshold.
    Drift,
    /// Instantaneous |residual| at or above the slew threshold.
    Boundary,
}

/// Classifies a sample: the slew test wins over the drift test.
#[inline]
pub fn classify(value: f64, ema: f64, drift_threshold: f64, slew_threshold: f64) -> Envelope {
    if value.abs() >= slew_threshold {
        Envelope::Boundary
    } else if ema.abs() >= drift_threshold {
        Envelope::Drift
    } else {
        Envelope::Stable
    }
}

/// Dwell state. `t_open` is the time of the sample that opened the episode;
/// `t_rec` the time of the first `Stable` sample of the current recovery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// No episode open.
    Stable,
    /// An episode is open and the residual is outside its envelope.
    InEpisode {
        /// Opening time.
        t_open: f64,
    },
    /// An episode is open and the residual has been back inside since `t_rec`.
    Recovering {
        /// Opening time.
        t_open: f64,
        /// Start of the recovery.
        t_rec: f64,
    },
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Nothing to report.
    Unchanged,
    /// An episode opened at this sample.
    Opened,
    /// The episode `[t_open, t]` closed at this sample.
    Closed {
        /// Opening time of the closed episode.
        t_open: f64,
    },
}

impl Phase {
    /// Applies one classified sample at time `t`.
    #[inline]
    pub fn advance(&mut self, env: Envelope, t: f64, min_dwell: f64) -> Step {
        match (*self, env) {
            (Phase::Stable, Envelope::Stable) => Step::Unchanged,
            (Phase::Stable, _) => {
                *self = Phase::InEpisode { t_open: t };
                Step::Opened
            }
            (Phase::InEpisode { t_open }, Envelope::Stable) => {
                *self = Phase::Recovering { t_open, t_rec: t };
                Step::Unchanged
            }
            (Phase::InEpisode { .. }, _) => Step::Unchanged,
            (Phase::Recovering { t_open, t_rec }, Envelope::Stable) => {
                if t - t_rec >= min_dwell {
                    *self = Phase::Stable;
                    Step::Closed { t_open }
                } else {
                    Step::Unchanged
                }
            }
            (Phase::Recovering { t_open, .. }, _) => {
                *self = Phase::InEpisode { t_open };
                Step::Unchanged
            }
        }
    }

    /// Opening time of the open episode, if any.
    #[inline]
    pub fn open_since(&self) -> Option<f64> {
        match *self {
            Phase::Stable => None,
            Phase::InEpisode { t_open } | Phase::Recovering { t_open, .. } => Some(t_open),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Envelope::*;

    #[test]
    fn slew_wins_over_drift() {
        assert_eq!(classify(0.5, 0.0, 0.2, 0.5), Boundary);
        assert_eq!(classify(-0.5, 9.0, 0.2, 0.5), Boundary);
        assert_eq!(classify(0.1, 0.2, 0.2, 0.5), Drift);
        assert_eq!(classify(0.1, 0.19, 0.2, 0.5), Stable);
    }

    #[test]
    fn closes_only_after_the_dwell() {
        let mut p = Phase::Stable;
        assert_eq!(p.advance(Drift, 1.0, 2.0), Step::Opened);
        assert_eq!(p.advance(Stable, 2.0, 2.0), Step::Unchanged);
        assert_eq!(p.advance(Stable, 3.5, 2.0), Step::Unchanged);
        assert_eq!(p.advance(Boundary, 3.6, 2.0), Step::Unchanged);
        assert_eq!(p, Phase::InEpisode { t_open: 1.0 });
        assert_eq!(p.advance(Stable, 4.0, 2.0), Step::Unchanged);
        assert_eq!(p.advance(Stable, 6.0, 2.0), Step::Closed { t_open: 1.0 });
        assert_eq!(p, Phase::Stable);
        assert_eq!(p.open_since(), None);
    }
}
