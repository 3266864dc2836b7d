//! `motifd distill --from FORMAT FILE...`: residual samples on stdout.

use super::output::{csv_loses, write_residual, SampleFormat, CSV_HEADER};
use super::{
    DistillError, Distiller, GenericOptions, Options, Rejected, Residual, ResidualClass, Sink,
    Stats, Stop, TraceFormat,
};
use crate::error::Failure;
use crate::summary::breakdown;
use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Column choices of `--from generic` (refused with other formats).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GenericColumns {
    /// generic: the time column (default: the first header containing "t",
    /// else the first column whose first value is a number).
    #[arg(long, value_name = "NAME")]
    pub time_col: Option<String>,
    /// generic: the value column (default: detected from the header).
    #[arg(long, value_name = "NAME")]
    pub value_col: Option<String>,
    /// generic: the channel column (default: one named channel, qclass, group
    /// or series; else every row is on channel "generic").
    #[arg(long, value_name = "NAME")]
    pub channel_col: Option<String>,
    /// generic: the values are residuals already; emit them as they are.
    #[arg(long)]
    pub pre_residualized: bool,
}

impl GenericColumns {
    /// As adapter options.
    pub fn options(&self) -> GenericOptions {
        GenericOptions {
            time_col: self.time_col.clone(),
            value_col: self.value_col.clone(),
            channel_col: self.channel_col.clone(),
            pre_residualized: self.pre_residualized,
        }
    }
}

/// `motifd distill`.
#[derive(Debug, clap::Args)]
pub struct DistillArgs {
    /// Trace format.
    #[arg(long, value_name = "FORMAT")]
    pub from: TraceFormat,
    /// Trace files, read in order as one trace (`-` = stdin).
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<String>,
    /// Sample format on stdout.
    #[arg(long, default_value = "csv", value_name = "FORMAT")]
    pub output_format: SampleFormat,
    #[command(flatten)]
    pub columns: GenericColumns,
    #[command(flatten)]
    pub input: crate::cli::InputReport,
}

/// Opens the inputs (`-` = stdin, at most once) with their display names.
pub(crate) fn open_inputs(inputs: &[String]) -> Result<super::Inputs, Failure> {
    if inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(Failure::new("stdin (-) can be given only once"));
    }
    inputs
        .iter()
        .map(|name| {
            if name == "-" {
                return Ok((
                    "<stdin>".to_string(),
                    Box::new(io::stdin()) as Box<dyn Read + Send>,
                ));
            }
            let file = File::open(name).map_err(|e| Failure::new(format!("{name}: {e}")))?;
            Ok((
                name.clone(),
                Box::new(io::BufReader::with_capacity(1 << 16, file)) as Box<dyn Read + Send>,
            ))
        })
        .collect()
}

/// Runs `motifd distill`.
pub fn run(args: DistillArgs) -> Result<ExitCode, Failure> {
    let options = Options {
        max_record: args.input.max_line,
        generic: args.columns.options(),
    };
    let mut distiller = Distiller::new(args.from, &options).map_err(Failure::new)?;
    let inputs = open_inputs(&args.inputs)?;
    let started = Instant::now();
    let mut sink = TextSink::new(&args);
    let files = inputs.len();
    for (name, reader) in inputs {
        let result = distiller.read(&name, reader, &mut sink);
        if let Some(code) = sink.settle(result)? {
            return Ok(code);
        }
    }
    let stats = match distiller.finish(&mut sink) {
        Ok(stats) => stats,
        Err(e) => {
            sink.settle(Err(e))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    sink.flush()?;
    if !args.input.quiet {
        eprint!("{}", summary(args.from, files, &stats, started.elapsed()));
    }
    if sink.csv_lossy > 0 {
        eprintln!(
            "distill: warning: {} residuals are on channels with line breaks or surrounding \
             blanks, which motifd's CSV reader cannot read back as they are; \
             use --output-format jsonl",
            sink.csv_lossy
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes residuals to stdout and rejects to stderr.
struct TextSink {
    format: SampleFormat,
    buf: Vec<u8>,
    stdout: io::Stdout,
    show_rejects: u64,
    shown: u64,
    strict: bool,
    /// The reject that stopped a `--strict` run.
    strict_failure: Option<String>,
    /// stdout was closed by its reader (`| head`).
    closed: bool,
    csv_lossy: u64,
}

impl TextSink {
    fn new(args: &DistillArgs) -> Self {
        let mut buf = Vec::with_capacity(1 << 17);
        if args.output_format == SampleFormat::Csv {
            buf.extend_from_slice(CSV_HEADER.as_bytes());
        }
        Self {
            format: args.output_format,
            buf,
            stdout: io::stdout(),
            show_rejects: args.input.show_rejects,
            shown: 0,
            strict: args.input.strict,
            strict_failure: None,
            closed: false,
            csv_lossy: 0,
        }
    }

    fn flush(&mut self) -> Result<(), Failure> {
        if self.closed {
            self.buf.clear();
            return Ok(());
        }
        let mut out = self.stdout.lock();
        match out.write_all(&self.buf).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.closed = true,
            Err(e) => return Err(Failure::new(format!("writing samples: {e}"))),
        }
        self.buf.clear();
        Ok(())
    }

    /// After a read or the finish: `Some(exit code)` when the run must end now.
    fn settle(&mut self, result: Result<(), DistillError>) -> Result<Option<ExitCode>, Failure> {
        match result {
            Ok(()) => Ok(None),
            Err(DistillError::Stopped) => {
                self.flush()?;
                match self.strict_failure.take() {
                    Some(message) => Err(Failure::new(message)),
                    // The reader closed stdout: nothing more is wanted.
                    None => Ok(Some(ExitCode::SUCCESS)),
                }
            }
            Err(e) => {
                self.flush()?;
                Err(Failure::new(e.to_string()))
            }
        }
    }
}

impl Sink for TextSink {
    fn residual(&mut self, r: Residual<'_>) -> Result<(), Stop> {
        if self.format == SampleFormat::Csv && csv_loses(r.channel) {
            self.csv_lossy += 1;
        }
        write_residual(self.format, &r, &mut self.buf);
        if self.buf.len() >= 1 << 17 {
            // A write error other than a closed pipe surfaces at the last flush.
            let _ = self.flush();
            if self.closed {
                return Err(Stop);
            }
        }
        Ok(())
    }

    fn reject(&mut self, r: Rejected<'_>) -> Result<(), Stop> {
        if self.strict {
            self.strict_failure = Some(format!("{r} (--strict)"));
            return Err(Stop);
        }
        if self.shown < self.show_rejects {
            self.shown += 1;
            eprintln!("{r}");
        }
        Ok(())
    }
}

fn summary(format: TraceFormat, files: usize, stats: &Stats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let mut s = format!(
        "distill: {} rows from {files} file{} ({format}) in {secs:.3} s ({:.2} M rows/s): {} residuals\n",
        stats.rows,
        if files == 1 { "" } else { "s" },
        if secs > 0.0 { stats.rows as f64 / secs / 1e6 } else { 0.0 },
        stats.total_residuals(),
    );
    let per_class = ResidualClass::ALL
        .iter()
        .map(|c| c.name())
        .zip(stats.residuals);
    s.push_str(&format!(
        "  rejected:  {}\n  residuals: {}\n",
        breakdown(stats.rejected.iter()),
        breakdown(per_class)
    ));
    s
}
