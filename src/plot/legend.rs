//! The legend column beside each panel: one row per curve, band and marker.

use super::draw::{err, Error, FONT, PEAK};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width of the legend column, pixels.
pub(super) const LEGEND_WIDTH: u32 = 210;

/// One legend entry.
pub(super) enum LegendRow {
    /// A line (dashed or not) in a colour.
    Line(String, RGBColor, bool),
    /// A filled swatch.
    Fill(String, RGBAColor),
    /// The peak marker.
    Marker(String),
}

pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[LegendRow],
) -> Result<(), Error> {
    let font = (FONT, 12).into_font().color(&BLACK);
    let (x0, mut y) = (8, 34);
    for row in rows {
        let label = match row {
            LegendRow::Line(label, colour, dashed) => {
                let style = colour.stroke_width(2);
                if *dashed {
                    for k in 0..3 {
                        area.draw(&PathElement::new(
                            [(x0 + k * 8, y), (x0 + k * 8 + 5, y)],
                            style,
                        ))
                        .map_err(err)?;
                    }
                } else {
                    area.draw(&PathElement::new([(x0, y), (x0 + 21, y)], style))
                        .map_err(err)?;
                }
                label
            }
            LegendRow::Fill(label, colour) => {
                area.draw(&Rectangle::new(
                    [(x0, y - 6), (x0 + 21, y + 6)],
                    colour.filled(),
                ))
                .map_err(err)?;
                label
            }
            LegendRow::Marker(label) => {
                area.draw(&TriangleMarker::new((x0 + 10, y), 5, PEAK.filled()))
                    .map_err(err)?;
                label
            }
        };
        area.draw(&Text::new(
            ellipsis(label, 28),
            (x0 + 28, y - 7),
            font.clone(),
        ))
        .map_err(err)?;
        y += 18;
    }
    Ok(())
}

/// At most `max` characters of `s`, with an ellipsis when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}
