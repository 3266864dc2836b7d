//! Command-line interface.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Streaming episode detection over residual samples, with a Prometheus exporter.
#[derive(Debug, Parser)]
#[command(name = "motifd", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay recorded residual files through the engine and print the episodes.
    Replay(ReplayArgs),
    /// Run the daemon: sources → reorder buffer → motif engine → episode log,
    /// /metrics and textfile.
    Run(crate::daemon::config::RunFlags),
    /// Write the seeded fixture streams (and nothing else) into a directory.
    GenerateFixtures(GenerateArgs),
    /// Check a checkpoint file and print what it holds.
    Checkpoint(CheckpointArgs),
}

/// `motifd checkpoint`.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The checkpoint file (`checkpoint` in the daemon's configuration).
    #[arg(value_name = "FILE")]
    pub path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Input record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// `t,class,channel,value` with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Episode output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header line.
    Csv,
}

/// `motifd replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Input files, replayed one after the other as one stream (`-` = stdin).
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<String>,
    /// Reorder window in seconds (0 = strictly in order).
    #[arg(long, default_value_t = motifd_engine::reorder::DEFAULT_WINDOW, value_name = "SECONDS", allow_negative_numbers = true)]
    pub window: f64,
    /// A sample more than this many seconds ahead of the newest one is held
    /// until the stream confirms the jump, else rejected (`future_time`).
    #[arg(long, default_value_t = motifd_engine::future::DEFAULT_MAX_FUTURE_JUMP, value_name = "SECONDS", allow_negative_numbers = true)]
    pub max_future_jump: f64,
    /// Motif grammar (TOML); default: the five dsfb-database motifs.
    #[arg(long, value_name = "FILE")]
    pub grammar: Option<PathBuf>,
    /// Input format; default: from the file extension (.jsonl/.json/.ndjson = jsonl,
    /// else csv; stdin: csv).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,
    /// Episode output format.
    #[arg(long, default_value = "jsonl", value_name = "FORMAT")]
    pub output_format: OutputFormat,
    /// Compare the episodes with this file instead of printing them; exit 1 and
    /// show the first differing line on any difference.
    #[arg(long, value_name = "GOLDEN")]
    pub check: Option<PathBuf>,
    /// Exit non-zero at the first rejected line (default: report, count, go on).
    #[arg(long)]
    pub strict: bool,
    /// Evict a channel after this many event-time seconds without samples
    /// (default: never).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub channel_ttl: Option<f64>,
    /// Most (motif, channel) states tracked at once.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_channels: usize,
    /// Longest accepted input line, bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_line: usize,
    /// Print at most this many rejected lines (all are counted).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub show_rejects: u64,
    /// Pace the replay by event time at this many event seconds per wall-clock
    /// second (default: as fast as possible).
    #[arg(long, value_name = "FACTOR")]
    pub speed: Option<f64>,
    /// Write the final metrics exposition here (OpenMetrics if the name ends in
    /// `.om`, else the classic text format).
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// No summary (and no progress bar) on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `motifd generate-fixtures`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Directory to write the streams into (created if missing).
    #[arg(long, default_value = "fixtures", value_name = "DIR")]
    pub out: PathBuf,
}
