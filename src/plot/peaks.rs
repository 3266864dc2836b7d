//! Where episode peaks are marked: at the extreme of the drawn curve inside
//! each episode, thinned so that markers never bury the curves.

use super::decimate::{Grid, Series};
use super::model::{Collected, EpisodeRow, Panel};

/// Where each episode's peak is drawn: the extreme of its channel's curve (or
/// of the class band when the channel has no curve) inside the episode, at the
/// value the record gives. Episodes outside the range are left out.
pub(super) fn peak_points(
    c: &Collected,
    panel: &Panel,
    episodes: &[&EpisodeRow],
    (from, to): (f64, f64),
) -> Vec<(f64, f64)> {
    let Some(grid) = c.decimator.grid() else {
        return Vec::new();
    };
    episodes
        .iter()
        .filter(|e| e.peak.is_finite() && e.t_end >= from && e.t_start <= to)
        .map(|e| {
            let series = panel
                .curves
                .iter()
                .find(|k| k.channel == e.channel)
                .map_or(panel.all_channels, |k| k.series);
            let found = extreme_in(grid, c.decimator.series(series), e.t_start, e.t_end);
            let (t, sign) = found.unwrap_or(((e.t_start + e.t_end) / 2.0, 1.0));
            (t.clamp(from, to), sign * e.peak.abs())
        })
        .collect()
}

/// Most peak markers per panel: beyond that they only hide the curves.
const MAX_PEAKS: usize = 120;

/// Keeps, per group of four pixel columns, the peak of largest magnitude, then
/// the [`MAX_PEAKS`] largest of those, so thousands of episodes do not bury
/// the curves under markers.
pub(super) fn thin_peaks(
    mut peaks: Vec<(f64, f64)>,
    (from, to): (f64, f64),
    pixels: usize,
) -> Vec<(f64, f64)> {
    let column = |t: f64| ((t - from) / (to - from) * pixels as f64 / 4.0) as i64;
    peaks.sort_by(|a, b| {
        column(a.0)
            .cmp(&column(b.0))
            .then(b.1.abs().total_cmp(&a.1.abs()))
    });
    peaks.dedup_by_key(|p| column(p.0));
    if peaks.len() > MAX_PEAKS {
        peaks.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        peaks.truncate(MAX_PEAKS);
    }
    peaks
}

/// The middle of the bucket holding the largest |value| in `[a, b]`, and that
/// value's sign.
fn extreme_in(grid: Grid, series: &Series, a: f64, b: f64) -> Option<(f64, f64)> {
    let half = grid.width / 2.0;
    series
        .buckets()
        .filter(|&(i, _, _)| {
            let t = grid.center(i);
            t + half >= a && t - half <= b
        })
        .map(|(i, lo, hi)| {
            if hi >= -lo {
                (grid.center(i), hi, 1.0)
            } else {
                (grid.center(i), -lo, -1.0)
            }
        })
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(t, _, sign)| (t.clamp(a, b), sign))
}
