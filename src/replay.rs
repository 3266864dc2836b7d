//! `motifd replay`: files → parser thread → engine (this thread) → episodes.
//!
//! The parser runs on its own thread and hands batches over the same
//! `crossbeam-channel` hand-over the daemon uses, so parsing and the engine
//! overlap on two cores. Inputs are read in order as one stream, which keeps the
//! output deterministic: same input, same bytes.

use crate::cli::{InputFormat, OutputFormat, ReplayArgs};
use crate::error::Failure;
use crate::lines::{for_each_line, Line, Next};
use crate::summary::Summary;
use motifd_engine::episode::CSV_HEADER as EPISODE_CSV_HEADER;
use motifd_engine::ingest::{self, BatchWriter, DEFAULT_BATCH};
use motifd_engine::parse::is_csv_header;
use motifd_engine::{
    ChannelNames, EngineLimits, Episode, Grammar, Pipeline, PipelineConfig, RecordFormat,
    RecordParser, RejectReason,
};
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// Batches in flight between the parser and the engine.
const CHANNEL_BATCHES: usize = 8;
/// Input bytes after which the parser sends its batch, full or not.
const BATCH_BYTES: usize = 1 << 20;

/// Runs the replay; the exit code says how it went (0 ok, 1 check mismatch).
pub fn run(args: ReplayArgs) -> Result<ExitCode, Failure> {
    let config = validate(&args)?;
    let grammar = Arc::new(load_grammar(args.grammar.as_deref())?);
    let inputs = open_inputs(&args)?;
    // The parser follows the name table (`follow_names`), so names nothing
    // refers to any more can be freed while the replay runs.
    let names = ChannelNames::default();
    names.set_collection(true);
    let started = Instant::now();

    let (tx, rx) = ingest::channel(CHANNEL_BATCHES);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let progress = progress_bar(&args);
    let producer = {
        let grammar = Arc::clone(&grammar);
        let names = names.clone();
        let opts = ProducerOptions {
            max_line: args.max_line,
            strict: args.strict,
            show_rejects: args.show_rejects,
            speed: args.speed,
            bytes_read: Arc::clone(&bytes_read),
        };
        thread::Builder::new()
            .name("motifd-parse".into())
            .spawn(move || {
                produce(
                    inputs,
                    grammar,
                    &names,
                    &opts,
                    BatchWriter::new(tx, DEFAULT_BATCH),
                )
            })
            .map_err(|e| Failure::new(format!("cannot start the parser thread: {e}")))?
    };

    let mut pipeline =
        Pipeline::new(Arc::clone(&grammar), &config).map_err(|e| Failure::new(e.to_string()))?;
    let mut out = EpisodeWriter::new(args.output_format, args.check.is_none());
    let mut episodes_per_motif = vec![0u64; grammar.motifs().len()];
    for batch in rx {
        pipeline.add_rejections(&batch.rejected);
        let table = names.lock();
        let mut sink = |e: &Episode| {
            episodes_per_motif[e.motif as usize] += 1;
            out.write(e, &grammar, &table);
        };
        for &s in &batch.samples {
            pipeline.push(s, &mut sink);
        }
        drop(table);
        // The batch's samples are in the pipeline now: its pin can go.
        drop(batch);
        names.collect(&pipeline);
        out.flush_if_large()?;
        if let Some(bar) = &progress {
            bar.set_position(bytes_read.load(Ordering::Relaxed));
        }
    }
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let produced = producer
        .join()
        .map_err(|_| Failure::new("the parser thread panicked"))??;
    {
        let names = names.lock();
        pipeline.finish(&mut |e: &Episode| {
            episodes_per_motif[e.motif as usize] += 1;
            out.write(e, &grammar, &names);
        });
    }
    let output = out.finish()?;
    let elapsed = started.elapsed();
    if let Some(path) = &args.metrics_out {
        write_metrics(path, &pipeline, &grammar)?;
    }

    if !args.quiet {
        let summary = Summary {
            files: produced.files,
            counters: pipeline.counters(),
            engine: pipeline.engine().counters(),
            window: args.window,
            grammar: &grammar,
            episodes_per_motif: &episodes_per_motif,
            elapsed,
        };
        eprint!("{summary}");
    }
    match args.check {
        None => Ok(ExitCode::SUCCESS),
        Some(golden) => {
            let expected = std::fs::read(&golden)
                .map_err(|e| Failure::new(format!("{}: {e}", golden.display())))?;
            match first_difference(&expected, &output) {
                None => {
                    if !args.quiet {
                        eprintln!(
                            "check: {} matches ({} lines)",
                            golden.display(),
                            output.iter().filter(|&&b| b == b'\n').count()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(diff) => {
                    eprintln!("check: {} differs at {diff}", golden.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn validate(args: &ReplayArgs) -> Result<PipelineConfig, Failure> {
    let config = PipelineConfig {
        window: args.window,
        max_future_jump: args.max_future_jump,
        limits: EngineLimits {
            channel_ttl: args.channel_ttl,
            max_channels: args.max_channels,
        },
        ..PipelineConfig::default()
    };
    if let Err(e) = config.validate() {
        return Err(Failure::new(format!(
            "--{} {}",
            e.key.replace('_', "-"),
            e.rule
        )));
    }
    if let Some(speed) = args.speed {
        if !(speed > 0.0 && speed.is_finite()) {
            return Err(Failure::new(format!(
                "--speed must be a finite factor > 0, got {speed}"
            )));
        }
    }
    if args.max_line == 0 {
        return Err(Failure::new("--max-line must be at least 1"));
    }
    if args.inputs.iter().filter(|i| *i == "-").count() > 1 {
        return Err(Failure::new("stdin (-) can be given only once"));
    }
    Ok(config)
}

/// Reads and validates a grammar file (or returns the default grammar).
pub fn load_grammar(path: Option<&std::path::Path>) -> Result<Grammar, Failure> {
    let Some(path) = path else {
        return Ok(Grammar::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    Grammar::from_toml(&text).map_err(|e| Failure::new(format!("{}: {e}", path.display())))
}

struct Input {
    name: String,
    format: RecordFormat,
    reader: Box<dyn Read + Send>,
}

fn open_inputs(args: &ReplayArgs) -> Result<Vec<Input>, Failure> {
    args.inputs
        .iter()
        .map(|name| {
            let format = match args.input_format {
                Some(InputFormat::Csv) => RecordFormat::Csv,
                Some(InputFormat::Jsonl) => RecordFormat::Jsonl,
                None if name == "-" => RecordFormat::Csv,
                None => RecordFormat::from_path(name),
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

struct ProducerOptions {
    max_line: usize,
    strict: bool,
    show_rejects: u64,
    speed: Option<f64>,
    /// Bytes read so far (for the progress bar).
    bytes_read: Arc<AtomicU64>,
}

/// Paces samples by event time: sample `t` is handed over no earlier than
/// `(t − t_first) / speed` seconds after the first one.
struct Pacer {
    speed: f64,
    origin: Option<(f64, Instant)>,
    newest: f64,
}

impl Pacer {
    /// How long to wait before handing over a sample at `t`.
    fn wait(&mut self, t: f64) -> Option<std::time::Duration> {
        let (t0, start) = *self.origin.get_or_insert((t, Instant::now()));
        self.newest = self.newest.max(t);
        let due = (self.newest - t0) / self.speed;
        let elapsed = start.elapsed().as_secs_f64();
        (due > elapsed).then(|| std::time::Duration::from_secs_f64(due - elapsed))
    }
}

struct Produced {
    files: usize,
}

fn produce(
    inputs: Vec<Input>,
    grammar: Arc<Grammar>,
    names: &ChannelNames,
    opts: &ProducerOptions,
    mut writer: BatchWriter,
) -> Result<Produced, Failure> {
    let mut parser = RecordParser::new(grammar, names);
    let mut pacer = opts.speed.map(|speed| Pacer {
        speed,
        origin: None,
        newest: f64::NEG_INFINITY,
    });
    let mut shown = 0u64;
    let mut batch_bytes = 0usize;
    let files = inputs.len();
    for input in inputs {
        let mut failure: Option<Failure> = None;
        let mut header_pending = input.format == RecordFormat::Csv;
        let name = input.name;
        let mut report = |line_no: u64, reason: RejectReason, text: &[u8]| {
            if shown < opts.show_rejects {
                shown += 1;
                eprintln!("{name}:{line_no}: rejected ({reason}): {}", preview(text));
            }
        };
        let counted = CountingReader {
            inner: input.reader,
            count: Arc::clone(&opts.bytes_read),
        };
        for_each_line(counted, opts.max_line, |line_no, line| {
            // A batch also goes once it stands for BATCH_BYTES of input, so
            // the channel names it brought in reach the engine (and can be
            // freed) before many more pile up.
            if writer.follow_names(&mut parser).is_err()
                || (batch_bytes >= BATCH_BYTES && writer.flush().is_err())
            {
                return Next::Stop;
            }
            if batch_bytes >= BATCH_BYTES {
                batch_bytes = 0;
            }
            if let Line::Text(text) = &line {
                batch_bytes += text.len();
            }
            let outcome = match line {
                Line::TooLong => Err((RejectReason::LineTooLong, &b""[..])),
                Line::Text(text) => {
                    if text.iter().all(|b| b.is_ascii_whitespace()) {
                        return Next::Continue;
                    }
                    if header_pending {
                        header_pending = false;
                        if is_csv_header(text) {
                            return Next::Continue;
                        }
                        failure = Some(Failure::new(format!(
                            "{name}:{line_no}: a CSV input must start with the header `{}` \
                             (use --input-format jsonl for JSON lines)",
                            motifd_engine::parse::CSV_HEADER
                        )));
                        return Next::Stop;
                    }
                    parser.parse(input.format, text).map_err(|r| (r, text))
                }
            };
            match outcome {
                Ok(sample) => {
                    if let Some(wait) = pacer.as_mut().and_then(|p| p.wait(sample.t)) {
                        // Hand over what is due before sleeping, so pacing is
                        // visible downstream at once.
                        if writer.flush().is_err() {
                            return Next::Stop;
                        }
                        thread::sleep(wait);
                    }
                    if writer.push(sample).is_err() {
                        return Next::Stop;
                    }
                }
                Err((reason, text)) => {
                    writer.reject(reason);
                    if opts.strict {
                        failure = Some(Failure::new(format!(
                            "{name}:{line_no}: rejected ({reason}) in --strict mode: {}",
                            preview(text)
                        )));
                        return Next::Stop;
                    }
                    report(line_no, reason, text);
                }
            }
            Next::Continue
        })
        .map_err(|e| Failure::new(format!("{name}: {e}")))?;
        if let Some(f) = failure {
            return Err(f);
        }
    }
    writer
        .flush()
        .map_err(|_| Failure::new("the engine stopped before the input ended"))?;
    Ok(Produced { files })
}

/// Counts the bytes read through it.
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

/// A byte progress bar on stderr, only when stderr is a terminal and the inputs
/// are files (their total size is known).
fn progress_bar(args: &ReplayArgs) -> Option<indicatif::ProgressBar> {
    if args.quiet || !io::stderr().is_terminal() || args.inputs.iter().any(|i| i == "-") {
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
    filler.publish(pipeline, grammar, 0);
    let format = if path.extension().is_some_and(|e| e == "om") {
        motifd_exporter::Format::OpenMetrics
    } else {
        motifd_exporter::Format::Classic
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

/// A printable excerpt of a rejected line.
fn preview(text: &[u8]) -> String {
    const MAX: usize = 120;
    let s = String::from_utf8_lossy(&text[..text.len().min(MAX)]);
    let mut s: String = s
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    if text.len() > MAX {
        s.push('…');
    }
    s
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
fn first_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
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
