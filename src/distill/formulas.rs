//! The reference's residual formulas (dsfb-database 0.1.1 `src/residual/`),
//! written so that every float operation happens in the same order: the
//! results must be equal to the last bit.

use std::collections::VecDeque;

/// Plan-regression residual: `(latency − baseline) / max(|baseline|, 1e-9)`.
pub(crate) fn latency_residual(latency: f64, baseline: f64) -> f64 {
    let denom = baseline.abs().max(1e-9);
    (latency - baseline) / denom
}

/// Cardinality residual: `log10(max(actual, 1) / max(estimated, 1))`.
/// `f64::max` ignores NaN, so a NaN count counts as 1 row, as in the reference.
pub(crate) fn q_error(estimated: f64, actual: f64) -> f64 {
    let est = estimated.max(1.0);
    let act = actual.max(1.0);
    (act / est).log10()
}

/// The last `cap` values of a series, for a rolling-mean baseline. A key
/// seen once (every Snowset query id) holds its value inline: no allocation.
#[derive(Debug, Default, Clone)]
pub(crate) enum Window {
    #[default]
    Empty,
    One(f64),
    Many(VecDeque<f64>),
}

impl Window {
    /// The mean of the window, or `own` when it is empty (the reference's
    /// first sample of a key is its own baseline, so its residual is 0).
    pub(crate) fn baseline(&self, own: f64) -> f64 {
        // Summed front to back on every call, as the reference does (a
        // running sum would round differently), through the same `Sum`.
        match self {
            Self::Empty => own,
            Self::One(v) => std::iter::once(*v).sum::<f64>() / 1.0,
            Self::Many(values) => values.iter().sum::<f64>() / values.len() as f64,
        }
    }

    /// Appends `v`, dropping the oldest beyond `cap`.
    pub(crate) fn push(&mut self, v: f64, cap: usize) {
        match self {
            Self::Empty if cap >= 1 => *self = Self::One(v),
            Self::Empty => {}
            Self::One(first) => {
                let mut values = VecDeque::with_capacity(cap.min(8) + 1);
                values.push_back(*first);
                values.push_back(v);
                if values.len() > cap {
                    values.pop_front();
                }
                *self = Self::Many(values);
            }
            Self::Many(values) => {
                values.push_back(v);
                if values.len() > cap {
                    values.pop_front();
                }
            }
        }
    }
}

/// Mean of the first `n` values (the frozen baselines of the
/// pg_stat_statements, OpenTelemetry and generic adapters).
pub(crate) fn frozen_baseline(values: impl Iterator<Item = f64>, n: usize) -> f64 {
    values.take(n).sum::<f64>() / n as f64
}

/// Jensen–Shannon divergence (base 2, clamped to [0, 1]) between two
/// histograms given as `(key, count)` lists with distinct keys, in any order.
/// Terms are added in byte order of the keys, as the reference adds them.
pub(crate) fn js_divergence(p: &mut [(&str, u64)], q: &mut [(&str, u64)]) -> f64 {
    let sp = p.iter().map(|e| e.1).sum::<u64>() as f64;
    let sq = q.iter().map(|e| e.1).sum::<u64>() as f64;
    if sp == 0.0 || sq == 0.0 {
        return 0.0;
    }
    p.sort_unstable_by(|a, b| a.0.cmp(b.0));
    q.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let (mut i, mut j) = (0, 0);
    let mut acc = 0.0;
    while i < p.len() || j < q.len() {
        let (cp, cq) = match (p.get(i), q.get(j)) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                i += 1;
                j += 1;
                (a.1, b.1)
            }
            (Some(a), Some(b)) if a.0 < b.0 => {
                i += 1;
                (a.1, 0)
            }
            (Some(a), None) => {
                i += 1;
                (a.1, 0)
            }
            (_, Some(b)) => {
                j += 1;
                (0, b.1)
            }
            (None, None) => unreachable!("loop condition"),
        };
        let pi = cp as f64 / sp;
        let qi = cq as f64 / sq;
        let mi = 0.5 * (pi + qi);
        if pi > 0.0 {
            acc += 0.5 * pi * (pi / mi).log2();
        }
        if qi > 0.0 {
            acc += 0.5 * qi * (qi / mi).log2();
        }
    }
    acc.clamp(0.0, 1.0)
}

/// Shannon entropy (natural log) of the shares `deltas[i] / total`, summed in
/// the order given.
pub(crate) fn entropy(deltas: &mut [f64], total: u64) -> f64 {
    for s in deltas.iter_mut() {
        *s /= total as f64;
    }
    deltas
        .iter()
        .filter(|s| **s > 0.0)
        .map(|s| -s * s.ln())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_divergence_bounds_and_symmetry_of_support() {
        assert_eq!(js_divergence(&mut [("a", 3)], &mut []), 0.0);
        assert_eq!(
            js_divergence(&mut [("a", 3), ("b", 7)], &mut [("b", 7), ("a", 3)]),
            0.0
        );
        let d = js_divergence(&mut [("a", 10)], &mut [("b", 10)]);
        assert!((d - 1.0).abs() < 1e-12, "{d}");
    }

    #[test]
    fn window_mean_and_cap() {
        let mut w = Window::default();
        assert_eq!(w.baseline(7.0), 7.0);
        w.push(-0.0, 2);
        assert_eq!(w.baseline(7.0).to_bits(), (-0.0f64).to_bits());
        for v in [1.0, 2.0, 3.0] {
            w.push(v, 2);
        }
        assert_eq!(w.baseline(0.0), 2.5);
        let mut one = Window::default();
        one.push(5.0, 1);
        one.push(6.0, 1);
        assert_eq!(one.baseline(0.0), 6.0);
    }
}
