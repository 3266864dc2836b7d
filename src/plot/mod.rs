//! `motifd plot`: residual curves with their episodes shaded, as SVG or PNG.
//!
//! The input is read once ([`collect`]): samples are decimated per pixel
//! ([`decimate`]) and go through the same pipeline as `motifd replay`, whose
//! episodes are drawn unless an episodes file is given. [`draw`] turns that into
//! one panel per class with `plotters`.

pub mod args;
pub mod collect;
pub mod decimate;
pub mod draw;
pub mod episodes_file;
pub mod font;
pub mod intervals;
mod legend;
pub mod model;
mod peaks;
pub mod time_axis;
pub mod time_coord;

use crate::error::Failure;
use args::{PictureFormat, PlotArgs};
use model::Collected;
use plotters::prelude::{BitMapBackend, IntoDrawingArea, SVGBackend};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Picture size: `width` × (`panel_height` × panels), at least one panel high.
pub fn size(c: &Collected, width: u32, panel_height: u32) -> (u32, u32) {
    (width, panel_height * c.panels.len().max(1) as u32)
}

/// Renders `c` as an SVG document.
pub fn svg(c: &Collected, width: u32, panel_height: u32) -> Result<String, Failure> {
    render_svg(c, None, size(c, width, panel_height))
}

/// Renders panel `i` of `c` alone as an SVG document.
pub fn svg_panel(c: &Collected, i: usize, width: u32, height: u32) -> Result<String, Failure> {
    render_svg(c, Some(i), (width, height))
}

fn render_svg(c: &Collected, which: Option<usize>, size: (u32, u32)) -> Result<String, Failure> {
    font::register();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw::draw(&root, c, which).map_err(Failure::new)?;
    }
    Ok(out)
}

/// Renders `c` as a PNG file at `path`.
pub fn png(c: &Collected, width: u32, panel_height: u32, path: &Path) -> Result<(), Failure> {
    font::register();
    let root = BitMapBackend::new(path, size(c, width, panel_height)).into_drawing_area();
    draw::draw(&root, c, None).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}

/// Runs `motifd plot`.
pub fn run(args: &PlotArgs) -> Result<ExitCode, Failure> {
    if !(100..=20_000).contains(&args.width) || !(100..=5_000).contains(&args.panel_height) {
        return Err(Failure::new(
            "--width must be in 100..=20000 and --panel-height in 100..=5000 pixels",
        ));
    }
    let format = args.format.unwrap_or_else(|| match &args.output {
        Some(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) => {
            PictureFormat::Png
        }
        _ => PictureFormat::Svg,
    });
    let collected = collect::collect(&args.input, &args.selection)?;
    match (format, &args.output) {
        (PictureFormat::Png, None) => Err(Failure::new("PNG output needs --output FILE")),
        (PictureFormat::Png, Some(path)) => {
            png(&collected, args.width, args.panel_height, path)?;
            Ok(ExitCode::SUCCESS)
        }
        (PictureFormat::Svg, output) => {
            let text = svg(&collected, args.width, args.panel_height)?;
            match output {
                Some(path) => write_file(path, text.as_bytes())?,
                None => std::io::stdout()
                    .write_all(text.as_bytes())
                    .map_err(|e| Failure::new(format!("writing the picture: {e}")))?,
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `bytes` to `path` (temp file, then rename, so a reader never sees half
/// a picture).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    motifd_exporter::textfile::write_atomic(path, bytes)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}
