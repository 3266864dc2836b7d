//! Drawing the panels with `plotters`, on any backend (SVG string, PNG file).
//!
//! One panel per class: the residual of each drawn channel (per-pixel min/max),
//! a grey band over all channels of the class when not every channel has its
//! own curve, the motifs' slew and drift levels, episodes shaded (overlapping
//! ones merged), each episode's peak marked. The legend sits in a column of its
//! own to the right, so it never covers data.

use super::decimate::{columns, Column, Grid, Series};
use super::intervals;
use super::legend::{draw_legend, LegendRow, LEGEND_WIDTH};
use super::model::{Collected, EpisodeRow, Panel};
use super::peaks::{peak_points, thin_peaks};
use super::time_axis;
use super::time_coord::TimeCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Episode band colour and opacity (tests find the bands by this style).
pub const BAND: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
/// Opacity of an episode band.
pub const BAND_ALPHA: f64 = 0.2;
/// Peak marker colour.
pub const PEAK: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const ALL_CHANNELS: RGBColor = RGBColor(0xc8, 0xc8, 0xc8);
const SLEW: RGBColor = RGBColor(0x44, 0x44, 0x44);
const DRIFT: RGBColor = RGBColor(0x99, 0x99, 0x99);
const CURVES: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x7f, 0x7f, 0x7f),
];
/// Font family registered in `font.rs`.
pub const FONT: &str = "sans-serif";

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TimeCoord, RangedCoordf64>>;
pub(super) type Error = String;

pub(super) fn err<E: std::fmt::Debug>(e: E) -> Error {
    format!("drawing failed: {e:?}")
}

/// Draws the panels of `c` selected by `which` (all when None) on `root`, one
/// below the other.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &Collected,
    which: Option<usize>,
) -> Result<(), Error> {
    root.fill(&WHITE).map_err(err)?;
    let Some(range) = c.range.map(widen) else {
        return message(root, "nothing to draw: no sample in the selection");
    };
    let panels = match which {
        Some(i) => &c.panels[i..=i],
        None => &c.panels[..],
    };
    if panels.is_empty() {
        return message(root, "nothing to draw: no motif selected");
    }
    let rows = root.split_evenly((panels.len(), 1));
    for (panel, area) in panels.iter().zip(&rows) {
        draw_panel(area, c, panel, range)?;
    }
    root.present().map_err(err)
}

/// A zero-length range (one sample) widened to one second.
fn widen((a, b): (f64, f64)) -> (f64, f64) {
    if b > a {
        (a, b)
    } else {
        (a - 0.5, b + 0.5)
    }
}

fn message<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, text: &str) -> Result<(), Error> {
    root.draw(&Text::new(text, (20, 20), (FONT, 16).into_font()))
        .map_err(err)?;
    root.present().map_err(err)
}

/// What one panel shows, computed before drawing.
struct PanelView<'a> {
    episodes: Vec<&'a EpisodeRow>,
    bands: Vec<(f64, f64)>,
    /// (label, level, colour): horizontal lines at ±level.
    levels: Vec<(String, f64, RGBColor)>,
    y: (f64, f64),
}

fn view<'a>(c: &'a Collected, panel: &Panel, (from, to): (f64, f64)) -> PanelView<'a> {
    let names: Vec<&str> = panel
        .motifs
        .iter()
        .map(|&m| c.grammar.motif(m).name.as_str())
        .collect();
    let episodes: Vec<&EpisodeRow> = c
        .episodes
        .iter()
        .filter(|e| names.contains(&e.motif.as_str()))
        .collect();
    let merged = intervals::merge(episodes.iter().map(|e| (e.t_start, e.t_end)).collect());
    let bands = intervals::clip(&merged, from, to);
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    if let Some(grid) = c.decimator.grid() {
        for (i, a, b) in c.decimator.series(panel.all_channels).buckets() {
            if (from..=to).contains(&grid.center(i)) {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
    }
    for e in &episodes {
        if e.peak.is_finite() && e.t_end >= from && e.t_start <= to {
            lo = lo.min(-e.peak.abs()).min(0.0);
            hi = hi.max(e.peak.abs()).max(0.0);
        }
    }
    if lo > hi {
        (lo, hi) = (-1.0, 1.0);
    }
    let extreme = lo.abs().max(hi.abs());
    let mut levels = Vec::new();
    for &m in &panel.motifs {
        let spec = c.grammar.motif(m);
        let suffix = if panel.motifs.len() > 1 {
            format!(" ({})", spec.name)
        } else {
            String::new()
        };
        let p = spec.params;
        for (what, level, colour) in [
            ("slew", p.slew_threshold, SLEW),
            ("drift", p.drift_threshold, DRIFT),
        ] {
            // A level far above the data would flatten the curves to a line:
            // such a level is named in the legend but not drawn.
            if level > 0.0 && level <= 3.0 * extreme {
                lo = lo.min(-level);
                hi = hi.max(level);
                levels.push((format!("{what} ±{}{suffix}", short(level)), level, colour));
            } else {
                levels.push((
                    format!("{what} ±{} off scale{suffix}", short(level)),
                    f64::NAN,
                    colour,
                ));
            }
        }
    }
    let pad = ((hi - lo) * 0.06).max(1e-9);
    PanelView {
        episodes,
        bands,
        levels,
        y: (lo - pad, hi + pad),
    }
}

/// A number for a legend: up to four significant digits.
fn short(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &Collected,
    panel: &Panel,
    (from, to): (f64, f64),
) -> Result<(), Error> {
    let v = view(c, panel, (from, to));
    let (w, _) = area.dim_in_pixel();
    let (plot, legend) = area.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
    let mut chart = panel_chart(&plot, c, panel, &v, (from, to))?;
    let pixels = chart.plotting_area().dim_in_pixel().0.max(1) as usize;
    let min_width = (to - from) / pixels as f64;
    chart
        .draw_series(v.bands.iter().map(|&(a, b)| {
            let b = b.max(a + min_width);
            Rectangle::new([(a, v.y.0), (b, v.y.1)], BAND.mix(BAND_ALPHA).filled())
        }))
        .map_err(err)?;
    let mut legend_rows = draw_curves(&mut chart, c, panel, (from, to), pixels)?;
    draw_levels(&mut chart, &v, (from, to), &mut legend_rows)?;
    let peaks = thin_peaks(
        peak_points(c, panel, &v.episodes, (from, to)),
        (from, to),
        pixels,
    );
    chart
        .draw_series(
            peaks
                .iter()
                .map(|&p| TriangleMarker::new(p, 5, PEAK.filled())),
        )
        .map_err(err)?;
    legend_rows.push(LegendRow::Fill(
        "episode (overlaps merged)".into(),
        BAND.mix(BAND_ALPHA * 2.0),
    ));
    legend_rows.push(LegendRow::Marker(if peaks.len() < v.episodes.len() {
        format!("peaks ({} of {} shown)", peaks.len(), v.episodes.len())
    } else {
        "episode peak".into()
    }));
    draw_legend(&legend, &legend_rows)
}

/// The panel's title, axes and grid.
fn panel_chart<'a, DB: DrawingBackend>(
    plot: &'a DrawingArea<DB, Shift>,
    c: &Collected,
    panel: &Panel,
    v: &PanelView<'_>,
    (from, to): (f64, f64),
) -> Result<Chart<'a, DB>, Error> {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let motifs: Vec<&str> = panel
        .motifs
        .iter()
        .map(|&m| c.grammar.motif(m).name.as_str())
        .collect();
    let title = format!(
        "{} · {} — {} episode{}, {} shaded band{}",
        panel.class,
        motifs.join(", "),
        v.episodes.len(),
        plural(v.episodes.len()),
        v.bands.len(),
        plural(v.bands.len()),
    );
    let w = plot.dim_in_pixel().0 + LEGEND_WIDTH;
    let (step, ticks) = time_axis::ticks(from, to, ((w as usize).saturating_sub(260) / 90).max(2));
    let mut chart = ChartBuilder::on(plot)
        .caption(title, (FONT, 15).into_font())
        .margin(6)
        .margin_right(14)
        .x_label_area_size(38)
        .y_label_area_size(58)
        .build_cartesian_2d(TimeCoord::new(from, to, ticks), v.y.0..v.y.1)
        .map_err(err)?;
    let x_label = |t: &f64| time_axis::label(*t, step);
    chart
        .configure_mesh()
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y: &f64| short(*y))
        .x_desc(format!("time (UTC), from {}", time_axis::datetime(from)))
        .y_desc(format!("{} residual", panel.class))
        .label_style((FONT, 12).into_font())
        .axis_desc_style((FONT, 12).into_font())
        .y_labels(9)
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The band of all channels (when not every channel has its own curve) and
/// the selected channels' curves; returns their legend rows.
fn draw_curves<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    c: &Collected,
    panel: &Panel,
    (from, to): (f64, f64),
    pixels: usize,
) -> Result<Vec<LegendRow>, Error> {
    let mut legend_rows = Vec::new();
    let Some(grid) = c.decimator.grid() else {
        return Ok(legend_rows);
    };
    let series = c.decimator.series(panel.all_channels);
    if panel.channels > panel.curves.len() as u64 {
        draw_envelope(chart, grid, series, (from, to), pixels)?;
        legend_rows.push(LegendRow::Fill(
            format!("all {} channels", panel.channels),
            ALL_CHANNELS.mix(1.0),
        ));
    }
    for (i, curve) in panel.curves.iter().enumerate() {
        let colour = CURVES[i % CURVES.len()];
        let cols = columns(grid, c.decimator.series(curve.series), from, to, pixels);
        for segment in polyline(&cols, from, to, pixels) {
            chart
                .draw_series(LineSeries::new(segment, colour.stroke_width(1)))
                .map_err(err)?;
        }
        legend_rows.push(LegendRow::Line(curve.channel.clone(), colour, false));
    }
    Ok(legend_rows)
}

/// The motifs' slew and drift levels, dashed, above and below zero.
fn draw_levels<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    v: &PanelView<'_>,
    (from, to): (f64, f64),
    legend_rows: &mut Vec<LegendRow>,
) -> Result<(), Error> {
    for (label, level, colour) in &v.levels {
        if level.is_finite() {
            for y in [*level, -*level] {
                let line =
                    DashedLineSeries::new([(from, y), (to, y)], 10, 6, colour.stroke_width(1));
                chart.draw_series(line).map_err(err)?;
            }
        }
        legend_rows.push(LegendRow::Line(label.clone(), *colour, true));
    }
    Ok(())
}

/// The grey band of all channels: per column, from the lowest to the highest
/// value, as one polygon.
fn draw_envelope<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    grid: Grid,
    series: &Series,
    (from, to): (f64, f64),
    pixels: usize,
) -> Result<(), Error> {
    let cols = columns(grid, series, from, to, pixels);
    let x = |c: &Column| from + (c.x as f64 + 0.5) * (to - from) / pixels as f64;
    for run in runs(&cols) {
        let mut points: Vec<(f64, f64)> = run.iter().map(|c| (x(c), c.max)).collect();
        points.extend(run.iter().rev().map(|c| (x(c), c.min)));
        chart
            .draw_series(std::iter::once(Polygon::new(points, ALL_CHANNELS.filled())))
            .map_err(err)?;
    }
    Ok(())
}

/// Splits columns where the data has a gap: more than eight columns, or more
/// than four times the usual spacing, without a sample.
fn runs(cols: &[Column]) -> Vec<&[Column]> {
    let mut gaps: Vec<usize> = cols.windows(2).map(|w| w[1].x - w[0].x).collect();
    gaps.sort_unstable();
    let usual = gaps.get(gaps.len() / 2).copied().unwrap_or(1);
    let limit = (4 * usual).max(8);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..cols.len() {
        if cols[i].x - cols[i - 1].x > limit {
            out.push(&cols[start..i]);
            start = i;
        }
    }
    if start < cols.len() {
        out.push(&cols[start..]);
    }
    out
}

/// The curve through per-pixel (min, max) columns: each column drawn as a
/// vertical stroke, alternately upwards and downwards so that consecutive
/// strokes join at their nearer ends.
fn polyline(cols: &[Column], from: f64, to: f64, pixels: usize) -> Vec<Vec<(f64, f64)>> {
    let x = |c: &Column| from + (c.x as f64 + 0.5) * (to - from) / pixels as f64;
    runs(cols)
        .into_iter()
        .map(|run| {
            let mut points = Vec::with_capacity(run.len() * 2);
            for (k, c) in run.iter().enumerate() {
                if c.min == c.max {
                    points.push((x(c), c.min));
                } else if k % 2 == 0 {
                    points.extend([(x(c), c.min), (x(c), c.max)]);
                } else {
                    points.extend([(x(c), c.max), (x(c), c.min)]);
                }
            }
            points
        })
        .collect()
}
