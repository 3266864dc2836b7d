//! Command-line arguments of `motifd plot` and `motifd report`.

use crate::line_ingest::LineFormat;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Where the samples (and optionally the episodes) come from. Shared by plot and
/// report; a new kind of source (a trace adapter) is a new field here and a
/// new arm in `collect::open_source`.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Residual files, read one after the other as one stream (`-` = stdin);
    /// any format replay reads.
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<String>,
    /// Input format; default: from the file extension (.jsonl/.json/.ndjson =
    /// jsonl, else csv; stdin: csv).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<LineFormat>,
    /// Episodes to draw, JSON lines (the daemon's episode log or replay's
    /// output); default: run the engine over the input.
    #[arg(long, value_name = "FILE")]
    pub episodes: Option<PathBuf>,
    /// Reorder window in seconds (as replay).
    #[arg(long, default_value_t = motifd_engine::reorder::DEFAULT_WINDOW, value_name = "SECONDS")]
    pub window: f64,
    /// Motif grammar (TOML); default: the five dsfb-database motifs.
    #[arg(long, value_name = "FILE")]
    pub grammar: Option<PathBuf>,
    /// Longest accepted input line, bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_line: usize,
}

/// What to draw.
#[derive(Debug, Clone, Args)]
pub struct SelectionArgs {
    /// Only this channel (repeatable).
    #[arg(long = "channel", value_name = "NAME")]
    pub channels: Vec<String>,
    /// Only this motif's class, levels and episodes (repeatable).
    #[arg(long = "motif", value_name = "NAME")]
    pub motifs: Vec<String>,
    /// Start of the time range: Unix seconds or RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// End of the time range: Unix seconds or RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Channels drawn as their own curve per panel (the others show in the grey
    /// band of all channels).
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub max_curves: usize,
}

/// Picture format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PictureFormat {
    /// Scalable vector graphics.
    Svg,
    /// Portable network graphics.
    Png,
}

/// `motifd plot`.
#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Output file; default: stdout (SVG only).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Picture format; default: from the output's extension (.png = png), else svg.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<PictureFormat>,
    /// Picture width, pixels.
    #[arg(long, default_value_t = 1200, value_name = "PX")]
    pub width: u32,
    /// Height of each panel, pixels.
    #[arg(long, default_value_t = 300, value_name = "PX")]
    pub panel_height: u32,
}
