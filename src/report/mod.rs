//! `motifd report`: one self-contained HTML file — the per-class pictures of
//! `motifd plot` as inline SVG, a sortable table of the episodes, the run's
//! counters and the grammar. No external script, font or stylesheet: it opens
//! offline.

pub mod html;

use crate::error::Failure;
use crate::plot::args::{InputArgs, SelectionArgs};
use crate::plot::{collect, svg_panel, write_file};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `motifd report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// The HTML file to write.
    #[arg(long, short, value_name = "FILE", default_value = "motifd-report.html")]
    pub output: PathBuf,
    /// Width of the pictures, pixels.
    #[arg(long, default_value_t = 1200, value_name = "PX")]
    pub width: u32,
    /// Height of each class's picture, pixels.
    #[arg(long, default_value_t = 300, value_name = "PX")]
    pub panel_height: u32,
}

/// Runs `motifd report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode, Failure> {
    if !(100..=20_000).contains(&args.width) || !(100..=5_000).contains(&args.panel_height) {
        return Err(Failure::new(
            "--width must be in 100..=20000 and --panel-height in 100..=5000 pixels",
        ));
    }
    let collected = collect::collect(&args.input, &args.selection)?;
    let pictures = (0..collected.panels.len())
        .map(|i| svg_panel(&collected, i, args.width, args.panel_height))
        .collect::<Result<Vec<_>, _>>()?;
    let grammar_text = match &args.input.grammar {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let page = html::render(&html::Page {
        collected: &collected,
        pictures: &pictures,
        grammar_text: grammar_text.as_deref(),
    });
    write_file(&args.output, page.as_bytes())?;
    eprintln!(
        "report: {} ({} KiB, {} episodes, {} records)",
        args.output.display(),
        page.len() / 1024,
        collected.episodes.len(),
        collected.counters.received
    );
    Ok(ExitCode::SUCCESS)
}
