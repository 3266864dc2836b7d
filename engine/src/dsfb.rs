//! The per-channel DSFB drift/slew observer (Drift-Slew Fusion Bootstrap).
//!
//! This is the single-channel specialisation of `dsfb::DsfbObserver` 0.1.2 as
//! dsfb-database 0.1.1 drives it (one observer per motif and channel). With one
//! channel the trust weight `raw / Σ raw` is exactly `1.0` (and the observer's
//! all-zero fallback is `1 / 1 = 1.0` too), so the aggregate residual is the
//! residual itself. Every other operation is performed in the reference's order,
//! so the results are bit-identical (docs/semantics.md#per-channel-step).

/// Correction gain of the level `phi`.
pub const K_PHI: f64 = 0.5;
/// Correction gain of the drift `omega`.
pub const K_OMEGA: f64 = 0.1;
/// Correction gain of the slew `alpha`.
pub const K_ALPHA: f64 = 0.01;
/// Smallest step used by the predictor, in seconds (also the first sample's step).
pub const DT_MIN: f64 = 1e-6;
/// Largest step used by the predictor, in seconds: residuals are already deltas
/// from a baseline, so sparse samples must not let the prediction run away.
pub const DT_MAX: f64 = 1.0;

/// Observer state of one (motif, channel); all zero at the channel's first sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observer {
    /// Level estimate.
    pub phi: f64,
    /// Drift (first derivative) estimate.
    pub omega: f64,
    /// Slew (second derivative) estimate.
    pub alpha: f64,
    /// EMA of |residual against the prediction|.
    pub ema: f64,
}

impl Observer {
    /// Advances the observer by one sample `v` taken `elapsed` seconds after the
    /// previous one, and returns the new EMA.
    #[inline]
    pub fn step(&mut self, v: f64, elapsed: f64, rho: f64) -> f64 {
        let dt = elapsed.clamp(DT_MIN, DT_MAX);
        let phi_pred = self.phi + self.omega * dt;
        let omega_pred = self.omega + self.alpha * dt;
        let r = v - phi_pred;
        self.ema = rho * self.ema + (1.0 - rho) * r.abs();
        self.phi = phi_pred + K_PHI * r;
        self.omega = omega_pred + K_OMEGA * r;
        self.alpha += K_ALPHA * r;
        self.ema
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_residual_is_tracked_and_ema_decays() {
        let mut o = Observer::default();
        let mut ema = 0.0;
        for _ in 0..200 {
            ema = o.step(1.0, 1.0, 0.9);
        }
        assert!((o.phi - 1.0).abs() < 1e-3, "phi converges to the level");
        assert!(ema < 0.05, "ema decays once the level is tracked: {ema}");
    }

    #[test]
    fn first_step_uses_the_minimum_dt() {
        let mut o = Observer::default();
        let ema = o.step(2.0, 0.0, 0.9);
        // r = 2 - 0; ema = 0.1 * 2
        assert_eq!(ema, (1.0 - 0.9) * 2.0);
        assert_eq!(o.phi, 1.0);
    }
}
