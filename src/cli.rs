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
    /// Turn database traces (the formats of dsfb-database 0.1.1) into residual
    /// samples on stdout.
    Distill(crate::distill::command::DistillArgs),
    /// Run the daemon: sources → reorder buffer → motif engine → episode log,
    /// /metrics and textfile.
    Run(Box<crate::daemon::config::RunFlags>),
    /// Write the seeded fixture streams (and nothing else) into a directory.
    GenerateFixtures(GenerateArgs),
    /// Check a checkpoint file and print what it holds.
    Checkpoint(CheckpointArgs),
    /// Draw residuals with their episodes shaded (SVG or PNG).
    Plot(crate::plot::args::PlotArgs),
    /// Write one self-contained HTML report: pictures, episodes, counters, grammar.
    Report(crate::report::ReportArgs),
    /// Send residual files to a Kafka topic, keyed and partitioned as
    /// `replay --partitions` assumes (docs/kafka.md).
    #[cfg(feature = "kafka")]
    Produce(ProduceArgs),
}

/// `motifd produce`.
#[cfg(feature = "kafka")]
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    /// Residual files, sent in order (`-` = stdin).
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<String>,
    /// Bootstrap brokers.
    #[arg(long, value_name = "HOST:PORT,...")]
    pub kafka_brokers: String,
    /// The topic (it must exist).
    #[arg(long, value_name = "TOPIC")]
    pub kafka_topic: String,
    /// A librdkafka producer property, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub kafka_property: Vec<String>,
    /// Lines per message (1: librdkafka places each message by its key).
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub lines_per_message: usize,
    /// Send at most this many lines per second (default: as fast as possible).
    #[arg(long, value_name = "LINES")]
    pub rate: Option<f64>,
    /// Motif grammar whose classes the lines use; default: the five motifs.
    #[arg(long, value_name = "FILE")]
    pub grammar: Option<PathBuf>,
    /// Input format (as `motifd replay`); default: from the file extension.
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<crate::line_ingest::LineFormat>,
    #[command(flatten)]
    pub input: InputReport,
}

/// How rejected input is handled and reported, and whether a summary is
/// printed: the same for `replay`, `produce` and `distill`.
#[derive(Debug, clap::Args)]
pub struct InputReport {
    /// Longest accepted input line (for `distill`: CSV record, query text or
    /// JSON element), bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_line: usize,
    /// Print at most this many rejected lines (all are counted and left out).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub show_rejects: u64,
    /// Exit non-zero at the first rejected line (default: report, count, go on).
    #[arg(long)]
    pub strict: bool,
    /// No summary on stderr (and, for `replay`, no progress bar).
    #[arg(long, short)]
    pub quiet: bool,
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
    #[arg(required_unless_present = "tape", value_name = "FILE")]
    pub inputs: Vec<String>,
    /// Replay a PostgreSQL source's tape (raw snapshots) instead of residual files.
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    pub tape: Option<PathBuf>,
    /// Residual formulas for --tape [default: the mode the tape was recorded with].
    #[arg(long, value_name = "MODE", requires = "tape")]
    pub residuals: Option<crate::postgres::residuals::Mode>,
    /// With --tape: also write the residual samples derived from it to this
    /// file (CSV `t,class,channel,value`, channels as the daemon names them).
    #[arg(long, value_name = "FILE", requires = "tape")]
    pub residuals_out: Option<PathBuf>,
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
    /// else csv; stdin: csv). `auto` decides per line, as the daemon does.
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<crate::line_ingest::LineFormat>,
    /// The inputs are a database trace in this format, turned into residuals
    /// on the way in (as `motifd distill` does).
    #[arg(long, value_name = "FORMAT", conflicts_with = "input_format")]
    pub from: Option<crate::distill::TraceFormat>,
    #[command(flatten)]
    pub columns: crate::distill::command::GenericColumns,
    /// Episode output format.
    #[arg(long, default_value = "jsonl", value_name = "FORMAT")]
    pub output_format: OutputFormat,
    /// Compare the episodes with this file instead of printing them; exit 1 and
    /// show the first differing line on any difference.
    #[arg(long, value_name = "GOLDEN")]
    pub check: Option<PathBuf>,
    /// Evict a channel after this many event-time seconds without samples
    /// (default: never).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub channel_ttl: Option<f64>,
    /// Most (motif, channel) states tracked at once.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_channels: usize,
    #[command(flatten)]
    pub input: InputReport,
    /// Pace the replay by event time at this many event seconds per wall-clock
    /// second (default: as fast as possible).
    #[arg(long, value_name = "FACTOR")]
    pub speed: Option<f64>,
    /// Write the final metrics exposition here (OpenMetrics if the name ends in
    /// `.om`, else the classic text format).
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// Split the input into N partitions as `motifd produce` does, one engine
    /// per partition, and print what a consumer group gives (docs/kafka.md).
    #[arg(long, value_name = "N")]
    pub partitions: Option<u32>,
}

/// `motifd generate-fixtures`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Directory to write the streams into (created if missing).
    #[arg(long, default_value = "fixtures", value_name = "DIR")]
    pub out: PathBuf,
}
