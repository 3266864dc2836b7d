//! The x coordinate of a panel: event time, linear, with ticks chosen by
//! [`super::time_axis::ticks`] (round clock steps rather than plotters' round
//! decimal numbers, which fall on no minute).

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use std::ops::Range;

/// Linear time coordinate over `[from, to]` with fixed ticks.
pub struct TimeCoord {
    from: f64,
    to: f64,
    ticks: Vec<f64>,
}

impl TimeCoord {
    /// `from < to`; `ticks` inside the range.
    pub fn new(from: f64, to: f64, ticks: Vec<f64>) -> Self {
        Self { from, to, ticks }
    }
}

impl Ranged for TimeCoord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value - self.from) / (self.to - self.from);
        let pixels = f64::from(limit.1 - limit.0);
        // Saturating cast: a value far outside the range lands off the edge.
        limit.0 + (fraction * pixels + 1e-3).floor() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            return Vec::new();
        }
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.from..self.to
    }
}
