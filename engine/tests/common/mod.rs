//! A plain, slow model of one (motif, channel) written straight from docs/semantics.md#per-channel-step,
//! shared by the integration tests. It shares no code with the engine, so the
//! tests can use it to compute expected values (which sample opened an episode,
//! every channel's EMA at a close) independently.
#![allow(dead_code)]

/// One (motif, channel) of the model.
#[derive(Debug, Clone)]
pub struct ModelChannel {
    phi: f64,
    omega: f64,
    alpha: f64,
    /// EMA of |residual| after the last sample.
    pub ema: f64,
    /// Time of the last sample.
    pub last_t: f64,
    /// `(t_open, index of the opening sample)` while an episode is open.
    pub open: Option<(f64, usize)>,
    /// Start of the current recovery, if recovering.
    pub t_rec: Option<f64>,
    /// Samples seen.
    pub seen: usize,
}

/// What one model step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelStep {
    /// Nothing closed.
    None,
    /// An episode `[t_open, t]` closed at this sample; `open_index` is the
    /// channel-local index of its opening sample.
    Closed { t_open: f64, open_index: usize },
}

impl ModelChannel {
    /// A channel whose first sample comes at `t`.
    pub fn new(t: f64) -> Self {
        Self {
            phi: 0.0,
            omega: 0.0,
            alpha: 0.0,
            ema: 0.0,
            last_t: t,
            open: None,
            t_rec: None,
            seen: 0,
        }
    }

    /// Applies sample `(t, v)` with the motif's parameters.
    pub fn step(
        &mut self,
        t: f64,
        v: f64,
        rho: f64,
        drift: f64,
        slew: f64,
        min_dwell: f64,
    ) -> ModelStep {
        let dt = (t - self.last_t).clamp(1e-6, 1.0);
        let phi_pred = self.phi + self.omega * dt;
        let omega_pred = self.omega + self.alpha * dt;
        let r = v - phi_pred;
        self.ema = rho * self.ema + (1.0 - rho) * r.abs();
        self.phi = phi_pred + 0.5 * r;
        self.omega = omega_pred + 0.1 * r;
        self.alpha += 0.01 * r;
        self.last_t = t;
        let index = self.seen;
        self.seen += 1;
        let outside = v.abs() >= slew || self.ema.abs() >= drift;
        match (self.open, self.t_rec) {
            (None, _) => {
                if outside {
                    self.open = Some((t, index));
                }
                ModelStep::None
            }
            (Some(_), None) => {
                if !outside {
                    self.t_rec = Some(t);
                }
                ModelStep::None
            }
            (Some((t_open, open_index)), Some(t_rec)) => {
                if outside {
                    self.t_rec = None;
                    ModelStep::None
                } else if t - t_rec >= min_dwell {
                    self.open = None;
                    self.t_rec = None;
                    ModelStep::Closed { t_open, open_index }
                } else {
                    ModelStep::None
                }
            }
        }
    }
}
