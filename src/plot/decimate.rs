//! Per-pixel min/max decimation in bounded memory.
//!
//! A picture 1,200 pixels wide cannot show more than 1,200 columns, and what a
//! column must show of the samples under it is their lowest and highest value:
//! drawn as a vertical stroke per column, that is exactly what the full curve
//! would have covered. So every series keeps a fixed number of time buckets
//! holding (min, max), whatever the number of samples.
//!
//! The time range is not known in advance when reading a stream once. All series
//! share one [`Grid`]; a sample outside it doubles the bucket width (merging
//! bucket pairs) until it fits, towards the side it fell on. That happens
//! O(log(range / initial width)) times in a whole run, so the work per sample is
//! O(1) amortised, and the grid always spans at most four times the data, which
//! leaves at least `BUCKETS / 4` buckets under the data for the pixels to draw.

/// Buckets per series: four per pixel of a 2,048-pixel-wide plot in the worst
/// case of a grid four times wider than the data.
pub const BUCKETS: usize = 8192;

/// Width of the first grid's buckets, seconds (it grows as data arrives).
const FIRST_WIDTH: f64 = 1e-3;

/// Bucket geometry shared by every series: bucket `i` covers
/// `[t0 + i·width, t0 + (i + 1)·width)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Start of bucket 0, seconds.
    pub t0: f64,
    /// Bucket width, seconds.
    pub width: f64,
    /// When true the grid never grows: samples outside it are ignored.
    pub fixed: bool,
}

impl Grid {
    /// End of the last bucket.
    pub fn end(&self) -> f64 {
        self.t0 + self.width * BUCKETS as f64
    }

    /// Middle of bucket `i`.
    pub fn center(&self, i: usize) -> f64 {
        self.t0 + self.width * (i as f64 + 0.5)
    }

    fn index(&self, t: f64) -> usize {
        (((t - self.t0) / self.width) as usize).min(BUCKETS - 1)
    }
}

/// (min, max) per bucket of one series; an empty bucket holds (+∞, −∞).
#[derive(Debug, Clone)]
pub struct Series {
    min: Vec<f64>,
    max: Vec<f64>,
}

impl Series {
    fn new() -> Self {
        Self {
            min: vec![f64::INFINITY; BUCKETS],
            max: vec![f64::NEG_INFINITY; BUCKETS],
        }
    }

    #[inline]
    fn observe(&mut self, i: usize, v: f64) {
        if v < self.min[i] {
            self.min[i] = v;
        }
        if v > self.max[i] {
            self.max[i] = v;
        }
    }

    /// Merges bucket pairs into the half `[offset, offset + BUCKETS/2)`, the
    /// other half left empty.
    fn coarsen(&mut self, offset: usize) {
        halve(&mut self.min, offset, f64::INFINITY, f64::min);
        halve(&mut self.max, offset, f64::NEG_INFINITY, f64::max);
    }

    /// Non-empty buckets as (index, min, max).
    pub fn buckets(&self) -> impl Iterator<Item = (usize, f64, f64)> + '_ {
        self.min
            .iter()
            .zip(&self.max)
            .enumerate()
            .filter(|(_, (lo, hi))| lo <= hi)
            .map(|(i, (&lo, &hi))| (i, lo, hi))
    }
}

/// Folds pairs of `v` with `merge` into `v[offset..offset + len/2]` (in place:
/// reading pair `i` never overwrites a pair not yet read, in the order chosen),
/// and fills the rest with `empty`.
fn halve(v: &mut [f64], offset: usize, empty: f64, merge: fn(f64, f64) -> f64) {
    let half = v.len() / 2;
    if offset == 0 {
        for i in 0..half {
            v[i] = merge(v[2 * i], v[2 * i + 1]);
        }
        v[half..].fill(empty);
    } else {
        for i in (0..half).rev() {
            v[half + i] = merge(v[2 * i], v[2 * i + 1]);
        }
        v[..half].fill(empty);
    }
}

/// A set of decimated series on one shared grid.
#[derive(Debug, Clone)]
pub struct Decimator {
    grid: Option<Grid>,
    series: Vec<Series>,
    /// Earliest and latest time observed (inside the grid when it is fixed).
    span: Option<(f64, f64)>,
}

impl Decimator {
    /// A decimator whose grid grows with the data.
    pub fn growing() -> Self {
        Self {
            grid: None,
            series: Vec::new(),
            span: None,
        }
    }

    /// A decimator over the fixed range `[from, to)`; other samples are ignored.
    pub fn fixed(from: f64, to: f64) -> Self {
        Self {
            grid: Some(Grid {
                t0: from,
                width: (to - from) / BUCKETS as f64,
                fixed: true,
            }),
            series: Vec::new(),
            span: None,
        }
    }

    /// Adds a series and returns its index.
    pub fn add_series(&mut self) -> usize {
        self.series.push(Series::new());
        self.series.len() - 1
    }

    /// Records `(t, v)` in series `s`. `t` and `v` must be finite.
    #[inline]
    pub fn observe(&mut self, s: usize, t: f64, v: f64) {
        let grid = match self.grid {
            Some(g) if t >= g.t0 && t < g.end() => g,
            Some(g) if g.fixed => return,
            _ => self.grow_to(t),
        };
        self.series[s].observe(grid.index(t), v);
        self.span = Some(match self.span {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
    }

    /// Doubles the bucket width until `t` is inside the grid.
    fn grow_to(&mut self, t: f64) -> Grid {
        let mut grid = self.grid.unwrap_or(Grid {
            t0: t,
            width: FIRST_WIDTH,
            fixed: false,
        });
        while t < grid.t0 || t >= grid.end() {
            let span = grid.end() - grid.t0;
            let offset = if t < grid.t0 {
                // Old buckets become the right half; the new half extends left.
                grid.t0 -= span;
                BUCKETS / 2
            } else {
                0
            };
            grid.width *= 2.0;
            for s in &mut self.series {
                s.coarsen(offset);
            }
        }
        self.grid = Some(grid);
        grid
    }

    /// The grid (None before the first sample of a growing decimator).
    pub fn grid(&self) -> Option<Grid> {
        self.grid
    }

    /// Earliest and latest time observed.
    pub fn span(&self) -> Option<(f64, f64)> {
        self.span
    }

    /// Series `s`.
    pub fn series(&self, s: usize) -> &Series {
        &self.series[s]
    }

    /// Bytes held by the buckets (for the memory bound in the docs).
    pub fn bytes(&self) -> usize {
        self.series.len() * BUCKETS * 2 * std::mem::size_of::<f64>()
    }
}

/// One pixel column of a series: its lowest and highest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Column {
    /// Column index, 0 at `from`.
    pub x: usize,
    /// Lowest value under the column.
    pub min: f64,
    /// Highest value under the column.
    pub max: f64,
}

/// Folds series `s` into `pixels` columns over `[from, to]`: each bucket goes to
/// the column holding its middle. Columns with no bucket are left out.
pub fn columns(grid: Grid, series: &Series, from: f64, to: f64, pixels: usize) -> Vec<Column> {
    let mut out: Vec<Column> = Vec::with_capacity(pixels);
    let scale = pixels as f64 / (to - from);
    for (i, lo, hi) in series.buckets() {
        let t = grid.center(i);
        if t < from || t > to {
            continue;
        }
        let x = (((t - from) * scale) as usize).min(pixels - 1);
        match out.last_mut() {
            Some(c) if c.x == x => {
                c.min = c.min.min(lo);
                c.max = c.max.max(hi);
            }
            _ => out.push(Column {
                x,
                min: lo,
                max: hi,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_keeps_every_extreme() {
        let mut d = Decimator::growing();
        let s = d.add_series();
        // Out of order on purpose: the grid must grow both ways.
        let mut expected_min = f64::INFINITY;
        let mut expected_max = f64::NEG_INFINITY;
        for i in 0..100_000u64 {
            let t = 1_700_000_000.0 + ((i * 7919) % 100_000) as f64 * 0.01;
            let v = ((i * 31) % 1000) as f64 - 500.0;
            expected_min = expected_min.min(v);
            expected_max = expected_max.max(v);
            d.observe(s, t, v);
        }
        let grid = d.grid().unwrap();
        let (a, b) = d.span().unwrap();
        assert!(grid.t0 <= a && grid.end() > b);
        assert!(
            grid.end() - grid.t0 <= 4.0 * (b - a) + 4.0 * FIRST_WIDTH * BUCKETS as f64,
            "grid {grid:?} too wide for span {a}..{b}"
        );
        let lo = d
            .series(s)
            .buckets()
            .map(|x| x.1)
            .fold(f64::INFINITY, f64::min);
        let hi = d
            .series(s)
            .buckets()
            .map(|x| x.2)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((lo, hi), (expected_min, expected_max));
    }

    #[test]
    fn columns_hold_the_extremes_of_their_samples() {
        let mut d = Decimator::fixed(0.0, 100.0);
        let s = d.add_series();
        for i in 0..10_000 {
            let t = i as f64 * 0.01;
            d.observe(s, t, (t * 10.0).sin() * t);
        }
        d.observe(s, 150.0, 1e9); // outside a fixed range: ignored
        let grid = d.grid().unwrap();
        let cols = columns(grid, d.series(s), 0.0, 100.0, 100);
        assert_eq!(cols.len(), 100);
        // A bucket goes to the column holding its middle, so a column holds the
        // samples of [x, x + 1) give or take one bucket width at each end.
        let extremes = |a: f64, b: f64| {
            (0..10_000)
                .map(|i| i as f64 * 0.01)
                .filter(|t| (a..b).contains(t))
                .map(|t| (t * 10.0).sin() * t)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                })
        };
        let w = grid.width;
        for c in &cols {
            let x = c.x as f64;
            let (outer_lo, outer_hi) = extremes(x - w, x + 1.0 + w);
            let (inner_lo, inner_hi) = extremes(x + w, x + 1.0 - w);
            assert!(outer_lo <= c.min && c.min <= inner_lo, "{c:?}");
            assert!(inner_hi <= c.max && c.max <= outer_hi, "{c:?}");
        }
    }
}
