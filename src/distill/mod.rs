//! Trace adapters: recorded database traces in the formats dsfb-database 0.1.1
//! reads, turned into residual samples with that crate's formulas, bit for bit
//! (docs/sources.md, "Trace formats", lists every format, formula and quirk).
//!
//! The API streams: a [`Distiller`] is fed one input after another
//! ([`Distiller::read`]) and hands every residual and every rejected row to a
//! [`Sink`] as soon as the format allows. Most formats cannot hand anything out
//! before the end of the input — their residuals depend on a sort of all rows
//! or on trace-wide values — and emit at [`Distiller::finish`]; only
//! `sqlshare-text` emits while it reads ([`TraceFormat::streams`]).

mod buffered;
mod ceb;
pub mod command;
mod csv_rows;
pub(crate) mod feed;
mod formulas;
mod generic;
mod job;
mod json_array;
mod mixes;
mod names;
mod otel;
mod out;
mod output;
mod pgss;
mod skeleton;
mod snowset;
mod sqlshare;
mod sqlshare_text;
mod tabular;
mod time_order;
mod tpcds;

use motifd_engine::{RejectCounts, RejectReason};
use std::fmt;
use std::io::{self, Read};

pub use generic::GenericOptions;
use out::Out;

/// A trace format (`--from`): one per dataset adapter of dsfb-database 0.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// `pg_stat_statements` snapshots: `snapshot_t,query_id,calls,total_exec_time_ms`.
    #[value(name = "pg-stat-statements", alias = "pgss")]
    PgStatStatements,
    /// Cardinality Estimation Benchmark: `query_id,subplan_id,true_rows,est_rows`.
    Ceb,
    /// Join Order Benchmark runs: `query_id,iteration,est_rows,actual_rows,latency_ms[,plan_hash]`.
    Job,
    /// TPC-DS traces: `query_id,t_seconds,latency_ms,est_rows,actual_rows[,wait_event,wait_seconds,cache_hit_ratio]`.
    Tpcds,
    /// Snowset (`queryId,warehouseId,createdTime,execTime[,persistentReadBytesCache,persistentReadBytesS3]`).
    Snowset,
    /// SQLShare with runtimes: `user_id,runtime_seconds,submitted_at,query_text`.
    Sqlshare,
    /// SQLShare `queries.txt`: query texts between lines of 40 underscores.
    #[value(name = "sqlshare-text")]
    SqlshareText,
    /// OpenTelemetry database spans, flattened: a JSON array of
    /// `{t_start_ns, t_end_ns, statement_hash[, db_system]}`.
    Otel,
    /// Any CSV with a time and a value column (and optionally a channel column).
    Generic,
}

impl TraceFormat {
    /// Every format.
    pub const ALL: [TraceFormat; 9] = [
        Self::PgStatStatements,
        Self::Ceb,
        Self::Job,
        Self::Tpcds,
        Self::Snowset,
        Self::Sqlshare,
        Self::SqlshareText,
        Self::Otel,
        Self::Generic,
    ];

    /// The `--from` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::PgStatStatements => "pg-stat-statements",
            Self::Ceb => "ceb",
            Self::Job => "job",
            Self::Tpcds => "tpcds",
            Self::Snowset => "snowset",
            Self::Sqlshare => "sqlshare",
            Self::SqlshareText => "sqlshare-text",
            Self::Otel => "otel",
            Self::Generic => "generic",
        }
    }

    /// True if residuals come out while the input is read; false if the format
    /// needs the whole trace first (docs/sources.md says why, per format).
    pub fn streams(self) -> bool {
        self == Self::SqlshareText
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The five residual classes, named as motifd's default grammar names them
/// (the reference's `ResidualClass::name()` spells them the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResidualClass {
    /// Latency against a baseline; plan-hash changes.
    PlanRegression,
    /// log10 of actual over estimated rows.
    Cardinality,
    /// Waits.
    Contention,
    /// Cache hit-ratio drops.
    CacheIo,
    /// Shifts in the query mix.
    WorkloadPhase,
}

impl ResidualClass {
    /// Every class, in the reference's order.
    pub const ALL: [ResidualClass; 5] = [
        Self::PlanRegression,
        Self::Cardinality,
        Self::Contention,
        Self::CacheIo,
        Self::WorkloadPhase,
    ];

    /// The class name on the wire (`class` field).
    pub fn name(self) -> &'static str {
        match self {
            Self::PlanRegression => "plan_regression",
            Self::Cardinality => "cardinality",
            Self::Contention => "contention",
            Self::CacheIo => "cache_io",
            Self::WorkloadPhase => "workload_phase",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One residual sample as an adapter hands it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residual<'a> {
    /// Time (seconds; relative or synthetic for most formats, see docs/sources.md).
    pub t: f64,
    /// Residual class.
    pub class: ResidualClass,
    /// Channel (may be empty; motifd then files it under `_anonymous_`).
    pub channel: &'a str,
    /// The residual.
    pub value: f64,
}

/// A row (or other unit of input) an adapter refused.
#[derive(Debug, Clone, Copy)]
pub struct Rejected<'a> {
    /// The input it came from (file name, `<stdin>`, or the format name for a
    /// residual refused after the whole trace was read).
    pub input: &'a str,
    /// Line the row starts on, where there is one.
    pub line: Option<u64>,
    /// Why, as counted.
    pub reason: RejectReason,
    /// What exactly was wrong.
    pub detail: &'a str,
}

impl fmt::Display for Rejected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: rejected ({}): ", self.input, self.reason)?,
            None => write!(f, "{}: rejected ({}): ", self.input, self.reason)?,
        }
        f.write_str(self.detail)
    }
}

/// The consumer of a distiller wants nothing more (output closed, `--strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop;

/// Where residuals and rejects go.
pub trait Sink {
    /// One residual, in the order of the reference's stream.
    fn residual(&mut self, r: Residual<'_>) -> Result<(), Stop>;
    /// One rejected row; it is already counted.
    fn reject(&mut self, r: Rejected<'_>) -> Result<(), Stop>;
}

/// Why distilling stopped before the end.
#[derive(Debug)]
pub enum DistillError {
    /// Reading an input failed.
    Io {
        /// The input.
        input: String,
        /// The error.
        error: io::Error,
    },
    /// The input as a whole is not of the format (no header, a missing column,
    /// not a JSON array, too few rows for the format to say anything).
    Invalid {
        /// The input (or the format, for trace-wide conditions).
        input: String,
        /// What is wrong.
        message: String,
    },
    /// The sink asked to stop.
    Stopped,
}

impl fmt::Display for DistillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { input, error } => write!(f, "{input}: {error}"),
            Self::Invalid { input, message } => write!(f, "{input}: {message}"),
            Self::Stopped => f.write_str("stopped"),
        }
    }
}

impl From<Stop> for DistillError {
    fn from(_: Stop) -> Self {
        Self::Stopped
    }
}

/// Named inputs, read in order as one trace.
pub type Inputs = Vec<(String, Box<dyn Read + Send>)>;

/// Options of the adapters.
#[derive(Debug, Clone)]
pub struct Options {
    /// Longest accepted row (CSV record, query text, JSON array element), bytes.
    pub max_record: usize,
    /// Column choices of the `generic` format (refused with any other).
    pub generic: GenericOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_record: 1 << 20,
            generic: GenericOptions::default(),
        }
    }
}

/// What a distiller read and produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Rows read (accepted or rejected; headers not counted).
    pub rows: u64,
    /// Rejected rows (and refused residuals) by reason.
    pub rejected: RejectCounts,
    /// Residuals handed out, by class ([`ResidualClass::ALL`] order).
    pub residuals: [u64; 5],
}

impl Stats {
    /// Residuals handed out, all classes.
    pub fn total_residuals(&self) -> u64 {
        self.residuals.iter().sum()
    }
}

/// What every format implements: read one input, and finish the trace.
trait Adapter {
    fn read(&mut self, input: &mut dyn Read, out: &mut Out<'_>) -> Result<(), DistillError>;
    fn finish(&mut self, out: &mut Out<'_>) -> Result<(), DistillError>;
}

/// Turns one trace (any number of inputs, read in order as one) into residuals.
pub struct Distiller {
    format: TraceFormat,
    adapter: Box<dyn Adapter + Send>,
    max_record: usize,
    stats: Stats,
}

impl Distiller {
    /// A distiller for `format`; refuses options the format does not take.
    pub fn new(format: TraceFormat, options: &Options) -> Result<Self, String> {
        if format != TraceFormat::Generic && !options.generic.is_default() {
            return Err(format!(
                "--time-col, --value-col, --channel-col and --pre-residualized apply to \
                 --from generic only, not --from {format}"
            ));
        }
        if options.max_record == 0 {
            return Err("the maximum record size must be at least 1 byte".into());
        }
        let adapter: Box<dyn Adapter + Send> = match format {
            TraceFormat::PgStatStatements => Box::<tabular::Csv<pgss::Pgss>>::default(),
            TraceFormat::Ceb => Box::<tabular::Csv<ceb::Ceb>>::default(),
            TraceFormat::Job => Box::<tabular::Csv<job::Job>>::default(),
            TraceFormat::Tpcds => Box::<tabular::Csv<tpcds::Tpcds>>::default(),
            TraceFormat::Snowset => Box::<tabular::Csv<snowset::Snowset>>::default(),
            TraceFormat::Sqlshare => Box::<tabular::Csv<sqlshare::Sqlshare>>::default(),
            TraceFormat::SqlshareText => Box::<sqlshare_text::SqlshareText>::default(),
            TraceFormat::Otel => Box::<otel::Otel>::default(),
            TraceFormat::Generic => Box::new(generic::Generic::new(options.generic.clone())),
        };
        Ok(Self {
            format,
            adapter,
            max_record: options.max_record,
            stats: Stats::default(),
        })
    }

    /// The format.
    pub fn format(&self) -> TraceFormat {
        self.format
    }

    /// Reads one input to its end, as the continuation of the inputs before it.
    pub fn read(
        &mut self,
        input_name: &str,
        mut reader: impl Read,
        sink: &mut dyn Sink,
    ) -> Result<(), DistillError> {
        let mut out = Out::new(sink, input_name, &mut self.stats, self.max_record);
        self.adapter.read(&mut reader, &mut out)
    }

    /// Ends the trace: hands out what the format held back, and the counts.
    pub fn finish(mut self, sink: &mut dyn Sink) -> Result<Stats, DistillError> {
        let name = self.format.name();
        let mut out = Out::new(sink, name, &mut self.stats, self.max_record);
        self.adapter.finish(&mut out)?;
        Ok(self.stats)
    }
}

/// Distills `inputs` (name, reader) in order and collects everything: for
/// tests, tools, and callers that want a `Vec`.
pub fn distill_all<R: Read>(
    format: TraceFormat,
    options: &Options,
    inputs: impl IntoIterator<Item = (String, R)>,
) -> Result<Collected, DistillError> {
    let mut distiller =
        Distiller::new(format, options).map_err(|message| DistillError::Invalid {
            input: format.name().into(),
            message,
        })?;
    let mut collected = Collected::default();
    for (name, reader) in inputs {
        distiller.read(&name, reader, &mut collected)?;
    }
    collected.stats = distiller.finish(&mut collected)?;
    Ok(collected)
}

/// Residuals and rejects collected by [`distill_all`].
#[derive(Debug, Default)]
pub struct Collected {
    /// `(t, class, channel, value)` in output order.
    pub residuals: Vec<(f64, ResidualClass, String, f64)>,
    /// `(input, line, reason, detail)` in the order they were found.
    pub rejects: Vec<(String, Option<u64>, RejectReason, String)>,
    /// The counts.
    pub stats: Stats,
}

impl Sink for Collected {
    fn residual(&mut self, r: Residual<'_>) -> Result<(), Stop> {
        self.residuals
            .push((r.t, r.class, r.channel.to_string(), r.value));
        Ok(())
    }

    fn reject(&mut self, r: Rejected<'_>) -> Result<(), Stop> {
        self.rejects
            .push((r.input.to_string(), r.line, r.reason, r.detail.to_string()));
        Ok(())
    }
}
