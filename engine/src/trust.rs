//! Cross-channel trust normalisation of one motif (docs/semantics.md#trust-sum).
//!
//! Each tracked channel `k` of a motif has a raw trust weight
//! `raw_k = 1 / (sigma0 + ema_k)` and a normalised weight `w_k = raw_k / S`.
//! The normaliser `S = Σ_k raw_k` is maintained incrementally — every sample
//! replaces its channel's old raw weight by the new one, with Neumaier-compensated
//! additions — so a sample costs O(1) whatever the number of channels.
//!
//! At an episode close the raw weights are summed afresh and
//! `trust_sum = Σ_k w_k = (Σ_k raw_k) / S` is reported: it is 1 exactly when the
//! running normaliser agrees with the live weights, and it leaves [0.99, 1.01]
//! only if the bookkeeping is broken (a weight lost, double counted or
//! poisoned). `S` is then re-anchored to the fresh sum so rounding cannot
//! accumulate over a long run.
//!
//! The fresh sum is kept per block of [`BLOCK`] slots, independently of `S`:
//! each block has its own compensated running sum, updated with the same
//! replacement as `S`, and re-summed exactly from the raw weights after every
//! [`BLOCK`] updates to it (amortised O(1) per sample). A close adds the block
//! sums — O(channels / 64) instead of O(channels), which is what keeps frequent
//! closes over many channels cheap. A plain running sum carries the rounding of
//! the largest values it held since its last re-sum, which swamps what is left
//! when a weight that dominated it collapses by many orders of magnitude (a huge
//! residual). So every binary order of magnitude a block sum loses in one update
//! counts as [`BINADE_CHARGE`] updates towards its next re-sum, and a sum that
//! reaches zero is re-summed at once: between two re-sums a block sum never falls
//! below 2^-8 of what it held since the last one.

/// Slots per cached block sum.
pub const BLOCK: usize = 64;

/// Updates a block sum is charged per binary order of magnitude it loses.
pub const BINADE_CHARGE: u32 = 8;

use crate::checkpoint::codec::{malformed, Decoded, Reader, Writer};

/// A Neumaier-compensated running sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CompensatedSum {
    /// The plain running sum.
    sum: f64,
    /// What rounding took off `sum` so far; the total is `sum + compensation`.
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
///
/// Invariants: `raw.len()` covers every slot of the motif's channel table;
/// `block_sums` and `block_updates` have one entry per [`BLOCK`] of `raw`
/// (rounded up), and every `block_updates` entry is below [`BLOCK`].
#[derive(Debug, Clone, Default)]
pub struct TrustTable {
    /// `raw[slot]`; `0.0` for a free slot, so sums may run over the whole table.
    raw: Vec<f64>,
    /// The running `S = Σ raw`, re-anchored to the block sums at every close.
    normaliser: CompensatedSum,
    /// `block_sums[b]`: running Σ of `raw[b*BLOCK .. (b+1)*BLOCK]`. Plain
    /// additions suffice: the block is re-summed exactly after at most `BLOCK`
    /// updates and before it loses 8 binary orders of magnitude, so at most
    /// that many roundings, each relative to at most 2^8 times the sum,
    /// accumulate.
    block_sums: Vec<f64>,
    /// Updates to block `b` since it was last re-summed from `raw`, each
    /// binary order of magnitude lost counting [`BINADE_CHARGE`] more.
    block_updates: Vec<u32>,
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

/// Binary orders of magnitude a block sum lost from `before` to `after`; enough
/// to force a re-sum if it reached zero or below, which for a sum of
/// non-negative weights only rounding can do.
///
/// Whether a sum grew is about as likely as not from one sample to the next,
/// so this is written as selects rather than branches (docs/performance.md,
/// "Trust bookkeeping without branches").
#[inline]
fn binades_lost(before: f64, after: f64) -> u32 {
    // Read only when both are positive and finite: the exponent field
    // orders them.
    let exponents = (before.to_bits() >> 52).wrapping_sub(after.to_bits() >> 52) as u32;
    let vanished = after <= 0.0 || after.is_nan();
    let lost = if vanished { BLOCK as u32 } else { exponents };
    if after >= before {
        0
    } else {
        lost
    }
}

impl TrustTable {
    /// Reads `slot`'s raw weight (0 beyond the table). The value means
    /// nothing: the read brings the weight into the cache
    /// ([`crate::MotifEngine::process_all`]).
    #[inline]
    pub fn load_weight(&self, slot: usize) -> u64 {
        self.raw.get(slot).map_or(0, |w| w.to_bits())
    }

    /// Makes room for `slot` (new slots hold no weight).
    pub fn ensure(&mut self, slot: usize) {
        if self.raw.len() <= slot {
            self.raw.resize(slot + 1, 0.0);
            let blocks = self.raw.len().div_ceil(BLOCK);
            self.block_sums.resize(blocks, 0.0);
            self.block_updates.resize(blocks, 0);
        }
    }

    /// Replaces the raw weight of `slot`.
    #[inline]
    pub fn set(&mut self, slot: usize, raw: f64) {
        let old = std::mem::replace(&mut self.raw[slot], raw);
        self.normaliser.add(raw);
        self.normaliser.add(-old);
        let block = slot / BLOCK;
        let before = self.block_sums[block];
        let after = before + (raw - old);
        self.block_updates[block] += 1 + BINADE_CHARGE * binades_lost(before, after);
        if self.block_updates[block] as usize >= BLOCK {
            self.block_updates[block] = 0;
            let end = ((block + 1) * BLOCK).min(self.raw.len());
            self.block_sums[block] = CompensatedSum::of(&self.raw[block * BLOCK..end]);
        } else {
            self.block_sums[block] = after;
        }
    }

    /// Σ of all raw weights, from the block sums.
    fn fresh_sum(&self) -> f64 {
        CompensatedSum::of(&self.block_sums)
    }

    /// Figures at a close of `slot`'s episode; re-anchors the normaliser.
    pub fn at_close(&mut self, slot: usize) -> TrustAtClose {
        let s = self.normaliser.value();
        let fresh = self.fresh_sum();
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

/// Checkpoint part: the raw weights, the normaliser and the block sums with
/// their update counts, all bit for bit.
impl TrustTable {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.len(self.raw.len());
        for &v in &self.raw {
            w.f64(v);
        }
        w.f64(self.normaliser.sum);
        w.f64(self.normaliser.compensation);
        w.len(self.block_sums.len());
        for (&s, &u) in self.block_sums.iter().zip(&self.block_updates) {
            w.f64(s);
            w.u32(u);
        }
    }

    /// Decodes the table of a motif with `slots` channel slots.
    pub(crate) fn decode(r: &mut Reader<'_>, slots: usize, what: &str) -> Decoded<Self> {
        let n = r.len(what, 8)?;
        if n != slots {
            return Err(malformed(format!("{what}: {n} weights for {slots} slots")));
        }
        let raw = (0..n).map(|_| r.f64(what)).collect::<Decoded<Vec<_>>>()?;
        let normaliser = CompensatedSum {
            sum: r.f64(what)?,
            compensation: r.f64(what)?,
        };
        let blocks = r.len(what, 12)?;
        if blocks != n.div_ceil(BLOCK) {
            return Err(malformed(format!(
                "{what}: {blocks} blocks for {n} weights"
            )));
        }
        let mut block_sums = Vec::with_capacity(blocks);
        let mut block_updates = Vec::with_capacity(blocks);
        for _ in 0..blocks {
            block_sums.push(r.f64(what)?);
            let u = r.u32(what)?;
            if u as usize >= BLOCK {
                return Err(malformed(format!("{what}: block update count {u}")));
            }
            block_updates.push(u);
        }
        Ok(Self {
            raw,
            normaliser,
            block_sums,
            block_updates,
        })
    }

    /// About the bytes [`Self::encode`] writes.
    pub(crate) fn encoded_size(&self) -> usize {
        32 + self.raw.len() * 8 + self.block_sums.len() * 12
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
        let s = t.normaliser();
        let at = t.at_close(3);
        assert!((at.sum - 1.0).abs() < 1e-12, "{}", at.sum);
        assert_eq!(at.weight, t.raw[3] / s);
        // Only touched blocks are re-summed, and the cached total stays exact.
        t.set(70, 5.0);
        let expected = CompensatedSum::of(&t.raw);
        assert!((t.fresh_sum() - expected).abs() <= 1e-12 * expected);
    }

    #[test]
    fn a_lost_weight_shows_in_the_trust_sum() {
        let mut t = TrustTable::default();
        t.ensure(1);
        t.set(0, 10.0);
        t.set(1, 10.0);
        t.normaliser.add(10.0); // a weight counted twice
        assert_eq!(t.at_close(0).sum, 20.0 / 30.0);
    }

    #[test]
    fn block_sums_follow_a_weight_collapsing_by_orders_of_magnitude() {
        for factor in [1.5, 1e3, 1e30] {
            let mut t = TrustTable::default();
            t.ensure(0);
            let mut w = 20.0;
            while w > 1e-300 {
                t.set(0, w);
                let fresh = t.fresh_sum();
                assert!(
                    (fresh - w).abs() <= 1e-12 * w,
                    "factor {factor}: block sum {fresh} for a weight of {w}"
                );
                w /= factor;
            }
        }
    }

    /// The branching form `binades_lost` replaced, kept as its definition.
    fn binades_lost_by_branches(before: f64, after: f64) -> u32 {
        if after >= before {
            0
        } else if after <= 0.0 || after.is_nan() {
            BLOCK as u32
        } else {
            ((before.to_bits() >> 52) - (after.to_bits() >> 52)) as u32
        }
    }

    #[test]
    fn binades_lost_without_branches_agrees_with_its_definition() {
        let special = [
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 2.0,
            5e-324,
            1e-300,
            0.5,
            1.0,
            1.5,
            2.0,
            3.0,
            20.0,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -1.0,
            -f64::INFINITY,
        ];
        let mut values: Vec<f64> = special.to_vec();
        // Weights and sums of every size, by their bits.
        let mut bits = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            values.push(f64::from_bits(bits >> 1));
        }
        for &before in &values {
            for &after in &values {
                assert_eq!(
                    binades_lost(before, after),
                    binades_lost_by_branches(before, after),
                    "{before:e} -> {after:e}"
                );
            }
        }
    }

    #[test]
    fn overflowing_ema_gives_zero_trust() {
        assert_eq!(raw_weight(0.05, f64::INFINITY), 0.0);
        assert_eq!(raw_weight(0.05, f64::NAN), 0.0);
    }
}
