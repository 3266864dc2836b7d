//! `motifd replay`: files → parser thread → engine (this thread) → episodes.
//!
//! The parser runs on its own thread and hands batches over the same
//! `crossbeam-channel` hand-over the daemon uses, so parsing and the engine
//! overlap on two cores. Inputs are read in order as one stream, which keeps the
//! output deterministic: same input, same bytes.

use crate::cli::{OutputFormat, ReplayArgs};
use crate::error::{Context, Failure};
use crate::grammar::{self, GrammarCell};
use crate::line_ingest::{LineFormat, LineIngest, Options, RejectReport, Stopped};
use crate::lines::READ_CHUNK;
use crate::settings_rules as rules;
use crate::summary::Summary;
use crossbeam_channel::Sender;
use motifd_engine::episode::CSV_HEADER as EPISODE_CSV_HEADER;
use motifd_engine::ingest::{self, Batch, BatchWriter, DEFAULT_BATCH};
use motifd_engine::{
    ChannelNames, EngineLimits, Episode, Grammar, Pipeline, PipelineConfig, RecordFormat,
};
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// Batches in flight between the parser and the engine.
const CHANNEL_BATCHES: usize = 8;

/// Runs the replay; the exit code says how it went (0 ok, 1 check mismatch).
pub fn run(args: ReplayArgs) -> Result<ExitCode, Failure> {
    validate(&args)?;
    if let Some(n) = args.partitions {
        return crate::partitioned_replay::run(&args, n);
    }
    let grammar = Arc::new(grammar::load(args.grammar.as_deref())?);
    let names = ChannelNames::default();
    // The line path follows the name table, so names nothing refers to any
    // more are freed while the replay runs; the trace and tape readers do not.
    let lines_only = args.tape.is_none() && args.from.is_none();
    names.set_collection(lines_only);
    let started = Instant::now();
    let (tx, rx) = ingest::channel(CHANNEL_BATCHES);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let producer = spawn_producer(&args, &grammar, &names, tx, &bytes_read)?;
    let mut pipeline = Pipeline::new(Arc::clone(&grammar), &pipeline_config(&args))
        .map_err(|e| Failure::new(format!("--{} {}", e.key.replace('_', "-"), e.rule)))?;
    let mut out = Episodes {
        writer: EpisodeWriter::new(args.output_format, args.check.is_none()),
        per_motif: vec![0; grammar.motifs().len()],
    };
    let progress = progress_bar(&args).map(|bar| (bar, bytes_read));
    for batch in rx {
        pipeline.add_rejections(&batch.rejected);
        let held = names.lock();
        for &s in &batch.samples {
            pipeline.push(s, &mut |e: &Episode| out.write(e, &grammar, &held));
        }
        drop(held);
        // The batch's samples are in the pipeline now: its pin on the name
        // table can go before the table is collected.
        drop(batch);
        names.collect(&pipeline);
        out.writer.flush_if_large()?;
        if let Some((bar, read)) = &progress {
            bar.set_position(read.load(Ordering::Relaxed));
        }
    }
    if let Some((bar, _)) = &progress {
        bar.finish_and_clear();
    }
    let produced = producer
        .join()
        .map_err(|_| Failure::new("the parser thread panicked"))??;
    let held = names.lock();
    pipeline.finish(&mut |e: &Episode| out.write(e, &grammar, &held));
    drop(held);
    let output = out.writer.finish()?;
    if let Some(path) = &args.metrics_out {
        write_metrics(path, &pipeline, &grammar)?;
    }
    if !args.input.quiet {
        let summary = Summary {
            files: produced.files,
            counters: pipeline.counters(),
            engine: pipeline.engine().counters(),
            window: args.window,
            grammar: &grammar,
            episodes_per_motif: &out.per_motif,
            elapsed: started.elapsed(),
        };
        eprint!("{summary}");
    }
    check_output(&args, &output)
}

/// The episodes written so far, and their number per motif.
struct Episodes {
    writer: EpisodeWriter,
    per_motif: Vec<u64>,
}

impl Episodes {
    fn write(&mut self, e: &Episode, grammar: &Grammar, names: &motifd_engine::intern::Interner) {
        self.per_motif[e.motif as usize] += 1;
        self.writer.write(e, grammar, names);
    }
}

/// Starts the thread that reads the inputs (lines, a trace format or a tape)
/// and sends batches on `tx`.
fn spawn_producer(
    args: &ReplayArgs,
    grammar: &Arc<Grammar>,
    names: &ChannelNames,
    tx: Sender<Batch>,
    bytes_read: &Arc<AtomicU64>,
) -> Result<JoinHandle<Result<Produced, Failure>>, Failure> {
    if let Some(tape) = &args.tape {
        let opts = crate::postgres::tape_replay::options(args);
        return crate::postgres::tape_replay::spawn(tape.clone(), opts, grammar, names, tx);
    }
    let inputs = open_inputs(args)?;
    if let Some(from) = from_options(args) {
        return spawn_trace_reader(inputs, grammar, names, from, tx, bytes_read);
    }
    let options = Options {
        max_line: args.input.max_line,
        report: RejectReport::Print(args.input.show_rejects),
        strict: args.input.strict,
        header_first: true,
        speed: args.speed,
        max_ahead_of_clock: None,
    };
    spawn_parser(inputs, grammar, names, options, tx, Arc::clone(bytes_read))
}

/// With `--check GOLDEN`: 0 when the output equals it, 1 (and where it
/// differs) otherwise.
fn check_output(args: &ReplayArgs, output: &[u8]) -> Result<ExitCode, Failure> {
    let Some(golden) = &args.check else {
        return Ok(ExitCode::SUCCESS);
    };
    let expected =
        std::fs::read(golden).map_err(|e| Failure::new(format!("{}: {e}", golden.display())))?;
    match first_difference(&expected, output) {
        None => {
            if !args.input.quiet {
                let lines = output.iter().filter(|&&b| b == b'\n').count();
                eprintln!("check: {} matches ({lines} lines)", golden.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(diff) => {
            eprintln!("check: {} differs at {diff}", golden.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// The engine settings the flags give.
pub(crate) fn pipeline_config(args: &ReplayArgs) -> PipelineConfig {
    PipelineConfig {
        window: args.window,
        max_future_jump: args.max_future_jump,
        limits: EngineLimits {
            channel_ttl: args.channel_ttl,
            max_channels: args.max_channels,
        },
        ..PipelineConfig::default()
    }
}

/// Checks the flags with the rules `motifd run` applies to the same settings.
fn validate(args: &ReplayArgs) -> Result<(), Failure> {
    fn flag(name: &'static str) -> impl Fn(String) -> Failure {
        move |why| Failure::new(format!("--{name} {why}"))
    }
    rules::non_negative_seconds(args.window).map_err(flag("window"))?;
    rules::positive_seconds(args.max_future_jump).map_err(flag("max-future-jump"))?;
    if let Some(speed) = args.speed {
        if !(speed > 0.0 && speed.is_finite()) {
            return Err(Failure::new(format!(
                "--speed must be a finite factor > 0, got {speed}"
            )));
        }
    }
    if let Some(ttl) = args.channel_ttl {
        rules::positive_seconds(ttl).map_err(flag("channel-ttl"))?;
    }
    rules::at_least_one(args.max_channels).map_err(flag("max-channels"))?;
    rules::at_least_one(args.input.max_line).map_err(flag("max-line"))?;
    if args.inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(Failure::new("stdin (-) can be given only once"));
    }
    if args.from.is_none() && !args.columns.options().is_default() {
        return Err(Failure::new(
            "--time-col, --value-col, --channel-col and --pre-residualized need --from generic",
        ));
    }
    Ok(())
}

/// `--from FORMAT`: the trace adapter in place of the sample parser.
fn from_options(args: &ReplayArgs) -> Option<crate::distill::feed::FeedOptions> {
    args.from.map(|format| crate::distill::feed::FeedOptions {
        format,
        adapter: crate::distill::Options {
            max_record: args.input.max_line,
            generic: args.columns.options(),
        },
        strict: args.input.strict,
        show_rejects: args.input.show_rejects,
        speed: args.speed,
    })
}

/// The inputs as (name, byte-counting reader) for the trace adapters.
fn counted(inputs: Vec<Input>, count: &Arc<AtomicU64>) -> crate::distill::Inputs {
    inputs
        .into_iter()
        .map(|i| {
            let reader = CountingReader {
                inner: i.reader,
                count: Arc::clone(count),
            };
            (i.name, Box::new(reader) as Box<dyn Read + Send>)
        })
        .collect()
}

/// One input to read: its name for messages, its line format and its bytes.
pub(crate) struct Input {
    pub(crate) name: String,
    pub(crate) format: LineFormat,
    pub(crate) reader: Box<dyn Read + Send>,
}

fn open_inputs(args: &ReplayArgs) -> Result<Vec<Input>, Failure> {
    open_paths(&args.inputs, args.input_format)
}

/// Opens `inputs` (`-` = stdin) with their formats (`input_format`, else from
/// the extension); `motifd plot` and `motifd report` read through it too.
pub(crate) fn open_paths(
    inputs: &[String],
    input_format: Option<LineFormat>,
) -> Result<Vec<Input>, Failure> {
    inputs
        .iter()
        .map(|name| {
            let format = match input_format {
                Some(format) => format,
                None if name == "-" => LineFormat::Csv,
                None => match RecordFormat::from_path(name) {
                    RecordFormat::Csv => LineFormat::Csv,
                    RecordFormat::Jsonl => LineFormat::Jsonl,
                },
            };
            let reader: Box<dyn Read + Send> = if name == "-" {
                Box::new(io::stdin())
            } else {
                Box::new(File::open(name).map_err(|e| Failure::new(format!("{name}: {e}")))?)
            };
            let name = if name == "-" {
                "<stdin>".into()
            } else {
                name.clone()
            };
            Ok(Input {
                name,
                format,
                reader,
            })
        })
        .collect()
}

/// Starts the parser thread (`motifd-parse`): reads `inputs` in order as one
/// stream and hands the samples to `tx` in batches.
pub(crate) fn spawn_parser(
    inputs: Vec<Input>,
    grammar: &Arc<Grammar>,
    names: &ChannelNames,
    options: Options,
    tx: Sender<Batch>,
    bytes_read: Arc<AtomicU64>,
) -> Result<JoinHandle<Result<Produced, Failure>>, Failure> {
    let cell = Arc::new(GrammarCell::new(Arc::clone(grammar)));
    let ingest = LineIngest::new(cell, names, BatchWriter::new(tx, DEFAULT_BATCH), options);
    thread::Builder::new()
        .name("motifd-parse".into())
        .spawn(move || produce(inputs, ingest, &bytes_read))
        .context("cannot start the parser thread")
}

/// Starts the parser thread for `--from FORMAT`: the trace adapter turns the
/// inputs into residual samples.
fn spawn_trace_reader(
    inputs: Vec<Input>,
    grammar: &Arc<Grammar>,
    names: &ChannelNames,
    from: crate::distill::feed::FeedOptions,
    tx: Sender<Batch>,
    bytes_read: &Arc<AtomicU64>,
) -> Result<JoinHandle<Result<Produced, Failure>>, Failure> {
    let (grammar, names) = (Arc::clone(grammar), names.clone());
    let inputs = counted(inputs, bytes_read);
    thread::Builder::new()
        .name("motifd-parse".into())
        .spawn(move || {
            let writer = BatchWriter::new(tx, DEFAULT_BATCH);
            crate::distill::feed::produce(inputs, grammar, &names, &from, writer)
                .map(|files| Produced { files })
        })
        .context("cannot start the parser thread")
}

/// Counts the bytes read through it (for the progress bar).
struct CountingReader {
    inner: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub(crate) struct Produced {
    pub(crate) files: usize,
}

/// Reads every input, in order, as one stream through the shared line path
/// (the parser thread of replay, plot and report).
fn produce(
    inputs: Vec<Input>,
    mut ingest: LineIngest,
    bytes_read: &Arc<AtomicU64>,
) -> Result<Produced, Failure> {
    let files = inputs.len();
    let mut buf = vec![0u8; READ_CHUNK];
    for mut input in inputs {
        ingest.begin(input.name.clone(), input.format);
        loop {
            let n = match input.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::new(format!("{}: {e}", input.name))),
            };
            bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            ended_early(ingest.feed(&buf[..n]))?;
        }
        ended_early(ingest.end(true))?;
    }
    Ok(Produced { files })
}

fn ended_early(result: Result<(), Stopped>) -> Result<(), Failure> {
    match result {
        Ok(()) => Ok(()),
        Err(Stopped::Refused(failure)) => Err(failure),
        Err(Stopped::Disconnected) => {
            Err(Failure::new("the engine stopped before the input ended"))
        }
    }
}

/// A byte progress bar on stderr, only when stderr is a terminal and the inputs
/// are files (their total size is known).
fn progress_bar(args: &ReplayArgs) -> Option<indicatif::ProgressBar> {
    if args.input.quiet || !io::stderr().is_terminal() || args.inputs.iter().any(|i| i == "-") {
        return None;
    }
    let total: u64 = args
        .inputs
        .iter()
        .filter_map(|i| std::fs::metadata(i).ok())
        .map(|m| m.len())
        .sum();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .ok()?
        .progress_chars("=> "),
    );
    Some(bar)
}

/// Writes the final exposition of `pipeline` to `path` (atomically).
fn write_metrics(
    path: &std::path::Path,
    pipeline: &Pipeline,
    grammar: &Grammar,
) -> Result<(), Failure> {
    use motifd_exporter::{
        render_to_vec, ExporterStats, Liveness, RenderOptions, SnapshotHandle, SnapshotPublisher,
    };
    let handle = SnapshotHandle::default();
    let mut filler = crate::daemon::metrics::MetricsFiller::new(
        Some(SnapshotPublisher::new(handle.clone())),
        Liveness::new(std::time::Duration::from_secs(1)),
    );
    filler.publish(
        pipeline,
        grammar,
        0,
        &crate::daemon::sources::SourceReport::default(),
    );
    let format = if path.extension().is_some_and(|e| e == "om") {
        motifd_exporter::ExpositionFormat::OpenMetrics
    } else {
        motifd_exporter::ExpositionFormat::Classic
    };
    let options = RenderOptions {
        // A replay's exposition describes the data, not this process.
        process_metrics: false,
        ..RenderOptions::default()
    };
    let bytes = render_to_vec(&handle.load(), &ExporterStats::default(), &options, format);
    motifd_exporter::textfile::write_atomic(path, &bytes)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}

/// Formats episodes into a buffer, streamed to stdout or kept for `--check`.
struct EpisodeWriter {
    format: OutputFormat,
    buf: Vec<u8>,
    stream: Option<io::Stdout>,
}

impl EpisodeWriter {
    fn new(format: OutputFormat, to_stdout: bool) -> Self {
        let mut buf = Vec::with_capacity(1 << 16);
        if format == OutputFormat::Csv {
            buf.extend_from_slice(EPISODE_CSV_HEADER.as_bytes());
            buf.push(b'\n');
        }
        Self {
            format,
            buf,
            stream: to_stdout.then(io::stdout),
        }
    }

    fn write(&mut self, e: &Episode, grammar: &Grammar, names: &motifd_engine::intern::Interner) {
        match self.format {
            OutputFormat::Jsonl => e.write_json(grammar, names, &mut self.buf),
            OutputFormat::Csv => e.write_csv(grammar, names, &mut self.buf),
        }
    }

    fn flush_if_large(&mut self) -> Result<(), Failure> {
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        if let Some(out) = &self.stream {
            let mut out = out.lock();
            match out.write_all(&self.buf).and_then(|()| out.flush()) {
                Ok(()) => self.buf.clear(),
                // A closed pipe (`| head`) is the reader's choice, not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.buf.clear(),
                Err(e) => return Err(Failure::new(format!("writing episodes: {e}"))),
            }
        }
        Ok(())
    }

    /// Flushes and returns what was kept (everything when not streaming).
    fn finish(mut self) -> Result<Vec<u8>, Failure> {
        self.flush()?;
        Ok(self.buf)
    }
}

/// Describes the first line where `actual` departs from `expected`.
pub(crate) fn first_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    let mut e = expected.split_inclusive(|&b| b == b'\n');
    let mut a = actual.split_inclusive(|&b| b == b'\n');
    let mut n = 0;
    loop {
        n += 1;
        match (e.next(), a.next()) {
            (None, None) => return None,
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let show = |l: Option<&[u8]>| {
                    l.map_or("<end of output>".to_string(), |l| {
                        String::from_utf8_lossy(l).trim_end().to_string()
                    })
                };
                return Some(format!(
                    "line {n}:\n  expected: {}\n  actual:   {}",
                    show(x),
                    show(y)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference(b"a\nb\n", b"a\nb\n"), None);
        let d = first_difference(b"a\nb\n", b"a\nc\n").unwrap();
        assert!(
            d.starts_with("line 2:\n  expected: b\n  actual:   c"),
            "{d}"
        );
        let d = first_difference(b"a\n", b"a\nb\n").unwrap();
        assert!(d.contains("expected: <end of output>"), "{d}");
        assert!(
            first_difference(b"a\n", b"a").is_some(),
            "a missing newline differs"
        );
    }
}
