//! Cross-channel trust normalisation of one motif (DESIGN §4.3).
//!
//! Each tracked channel `k` of a motif has a raw trust weight
//! `raw_k = 1 / (sigma0 + ema_k)` and a normalised weight `w_k = raw_k / S`.
//! The normaliser `S = Σ_k raw_k` is maintained incrementally — every sample
//! replaces its channel's old raw weight by the new one, with Neumaier-compensated
//! additions — so a sample costs O(1) whatever the number of channels.
//!
//! At an episode close the raw weights are summed afresh (O(channels), once per
//! close) and `trust_sum = Σ_k w_k = (Σ_k raw_k) / S` is reported: it is 1 exactly
//! when the running normaliser agrees with the live weights, and it leaves
//! [0.99, 1.01] only if the bookkeeping is broken (a weight lost, double counted
//! or poisoned). `S` is then re-anchored to the fresh sum so rounding cannot
//! accumulate over a long run.

/// A Neumaier-compensated running sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    /// Adds `x`.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The compensated total.
    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }

    /// Sum of a slice, compensated.
    pub fn of(values: &[f64]) -> f64 {
        let mut s = Self::default();
        for &v in values {
            s.add(v);
        }
        s.value()
    }
}

/// Raw trust weights of one motif's channel slots plus the running normaliser.
#[derive(Debug, Clone, Default)]
pub struct TrustTable {
    /// `raw[slot]`; `0.0` for a free slot, so sums may run over the whole table.
    raw: Vec<f64>,
    normaliser: CompensatedSum,
}

/// The trust figures reported on a closed episode.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrustAtClose {
    /// Σ of all normalised weights of the motif's channels.
    pub sum: f64,
    /// The closing channel's own normalised weight.
    pub weight: f64,
}

/// Raw weight of a channel whose smoothed residual is `ema`. A non-finite result
/// (an overflowing residual) counts as zero trust rather than poisoning the sum.
#[inline]
pub fn raw_weight(sigma0: f64, ema: f64) -> f64 {
    let w = 1.0 / (sigma0 + ema);
    if w.is_finite() {
        w
    } else {
        0.0
    }
}

impl TrustTable {
    /// Makes room for `slot` (new slots hold no weight).
    pub fn ensure(&mut self, slot: usize) {
        if self.raw.len() <= slot {
            self.raw.resize(slot + 1, 0.0);
        }
    }

    /// Replaces the raw weight of `slot`.
    #[inline]
    pub fn set(&mut self, slot: usize, raw: f64) {
        let old = std::mem::replace(&mut self.raw[slot], raw);
        self.normaliser.add(raw);
        self.normaliser.add(-old);
    }

    /// Figures at a close of `slot`'s episode; re-anchors the normaliser.
    pub fn at_close(&mut self, slot: usize) -> TrustAtClose {
        let s = self.normaliser.value();
        let fresh = CompensatedSum::of(&self.raw);
        let figures = TrustAtClose {
            sum: fresh / s,
            weight: self.raw[slot] / s,
        };
        self.normaliser = CompensatedSum::default();
        self.normaliser.add(fresh);
        figures
    }

    /// The running normaliser `S`.
    pub fn normaliser(&self) -> f64 {
        self.normaliser.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_normaliser_tracks_the_live_weights() {
        let mut t = TrustTable::default();
        for slot in 0..100 {
            t.ensure(slot);
            t.set(slot, raw_weight(0.05, slot as f64 * 0.01));
        }
        for round in 0..1000 {
            let slot = (round * 37) % 100;
            t.set(slot, raw_weight(0.05, (round % 13) as f64 * 0.1));
        }
        let fresh = CompensatedSum::of(&t.raw);
        assert!((t.normaliser() - fresh).abs() <= 1e-12 * fresh);
        let at = t.at_close(3);
        assert!((at.sum - 1.0).abs() < 1e-12, "{}", at.sum);
        assert_eq!(at.weight, t.raw[3] / fresh);
    }

    #[test]
    fn a_lost_weight_shows_in_the_trust_sum() {
        let mut t = TrustTable::default();
        t.ensure(1);
        t.set(0, 10.0);
        t.set(1, 10.0);
        t.raw[1] = 0.0; // weight removed behind the normaliser's back
        assert_eq!(t.at_close(0).sum, 0.5);
    }

    #[test]
    fn overflowing_ema_gives_zero_trust() {
        assert_eq!(raw_weight(0.05, f64::INFINITY), 0.0);
        assert_eq!(raw_weight(0.05, f64::NAN), 0.0);
    }
}
