//! Lines of text → residual samples in batches: the one path every line
//! source takes, in `motifd replay` and in the daemon (files, stdin, TCP
//! producers).
//!
//! Bytes are fed as they are read; the splitter hands out complete lines
//! (bounded in length), each is parsed under the grammar in force and queued
//! on the [`BatchWriter`], and a batch goes to the engine after every read, so
//! a slow trickle of lines is not held back waiting for a batch to fill.
//!
//! One rule for headers everywhere: a line that is the CSV header
//! (`t,class,channel,value`) is skipped wherever it appears, and blank lines
//! are skipped. [`Options::header_first`] adds, for recorded CSV files, that
//! the first line must be the header, so a file in another format is refused
//! at once instead of producing a rejected line per record.

use crate::error::Failure;
use crate::grammar::GrammarCell;
use crate::lines::{Line, LineSplitter, Next};
use crate::log_throttle::{Say, Throttle};
use motifd_engine::ingest::{Batch, BatchWriter, Disconnected};
use motifd_engine::parse::{is_csv_header, CSV_HEADER};
use motifd_engine::{ChannelNames, RecordFormat, RecordParser, RejectReason, Sample};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How lines of a source are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LineFormat {
    /// Decide per line: `{` starts a JSON object, anything else is CSV.
    Auto,
    /// `t,class,channel,value` (a header line, if present, is skipped).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// How rejected lines are reported (every one is counted regardless).
#[derive(Debug, Clone, Copy)]
pub enum RejectReport {
    /// To the log: the first 10 of a source one by one, then a summary at
    /// most every 10 s (the daemon).
    Log,
    /// To stderr: the first `n` over the whole run, then nothing (replay,
    /// whose summary gives the counts).
    Print(u64),
    /// Kept for the caller ([`LineIngest::take_kept`]): the first `n` since
    /// the last take. A parser of one run of a file's lines does not know
    /// which line of the file its run starts at; the caller does.
    Keep(u64),
}

/// A rejected line kept by [`RejectReport::Keep`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptReject {
    /// Its line number, counted from the first line of the run.
    pub line_no: u64,
    /// Why it was rejected.
    pub reason: RejectReason,
    /// The line as [`preview`] shows it.
    pub preview: String,
}

/// Per-run settings of a [`LineIngest`].
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Longest accepted line, bytes.
    pub max_line: usize,
    /// How rejected lines are reported.
    pub report: RejectReport,
    /// Stop at the first rejected line.
    pub strict: bool,
    /// A CSV source must start with the header line.
    pub header_first: bool,
    /// Pace samples by event time: this many event seconds per wall-clock
    /// second.
    pub speed: Option<f64>,
    /// Reject, as `future_time`, a sample more than this many seconds ahead
    /// of the wall clock (the daemon; a recording replayed has no clock).
    pub max_ahead_of_clock: Option<f64>,
}

/// Why ingestion stopped early.
#[derive(Debug)]
pub enum Stopped {
    /// The engine has gone away.
    Disconnected,
    /// The input broke a rule that ends the run (`--strict`, a CSV file
    /// without its header).
    Refused(Failure),
}

impl From<Disconnected> for Stopped {
    fn from(_: Disconnected) -> Self {
        Self::Disconnected
    }
}

/// Parses the lines of one source after another into batches.
pub struct LineIngest {
    grammar: Arc<GrammarCell>,
    names: ChannelNames,
    generation: u64,
    parser: RecordParser,
    writer: BatchWriter,
    splitter: LineSplitter,
    options: Options,
    source: Source,
    notes: RejectNotes,
    pacer: Option<Pacer>,
    /// Latest acceptable `t`, from the wall clock when the current chunk
    /// was fed (+∞ without `max_ahead_of_clock`).
    clock_limit: f64,
}

/// The source being read now.
struct Source {
    name: String,
    format: LineFormat,
    /// No non-blank line seen yet (for `header_first`).
    at_start: bool,
}

impl LineIngest {
    /// Ingestion into `writer`, parsing under `grammar` (followed across
    /// reloads) and interning channel names in `names`.
    pub fn new(
        grammar: Arc<GrammarCell>,
        names: &ChannelNames,
        mut writer: BatchWriter,
        options: Options,
    ) -> Self {
        let (generation, current) = grammar.load();
        // A fresh writer has nothing queued, so this cannot fail.
        let _ = writer.set_generation(generation);
        Self {
            parser: RecordParser::new(current, names),
            names: names.clone(),
            grammar,
            generation,
            writer,
            splitter: LineSplitter::new(options.max_line),
            notes: RejectNotes::new(options.report),
            pacer: options.speed.map(Pacer::new),
            clock_limit: f64::INFINITY,
            options,
            source: Source {
                name: String::new(),
                format: LineFormat::Auto,
                at_start: true,
            },
        }
    }

    /// Starts reading the next source, named `name` in messages.
    pub fn begin(&mut self, name: impl Into<String>, format: LineFormat) {
        self.begin_run(name, format, true);
    }

    /// Starts reading a run of whole lines of source `name`; line numbers
    /// count from its first line. Only a run that starts the source is
    /// checked for the header ([`Options::header_first`]).
    pub fn begin_run(&mut self, name: impl Into<String>, format: LineFormat, starts: bool) {
        self.splitter = LineSplitter::new(self.options.max_line);
        self.notes.begin();
        self.source = Source {
            name: name.into(),
            format,
            at_start: starts,
        };
    }

    /// Lines of the current source (or run) read so far.
    pub fn lines(&self) -> u64 {
        self.splitter.lines()
    }

    /// Sends what is queued, then the following batches on `tx`.
    ///
    /// # Errors
    /// The engine side of the old channel has gone away.
    pub fn redirect(&mut self, tx: crossbeam_channel::Sender<Batch>) -> Result<(), Stopped> {
        Ok(self.writer.redirect(tx)?)
    }

    /// The rejected lines kept since the last call ([`RejectReport::Keep`]).
    pub fn take_kept(&mut self) -> Vec<KeptReject> {
        std::mem::take(&mut self.notes.kept)
    }

    /// Parses the lines `bytes` completes and sends what is queued.
    ///
    /// # Errors
    /// The engine has gone away, or the input broke a rule that ends the run.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Stopped> {
        self.follow_grammar()?;
        self.read_clock();
        let mut stopped = None;
        let mut splitter = std::mem::replace(&mut self.splitter, LineSplitter::new(0));
        splitter.feed(bytes, &mut |line_no, line| match self.line(line_no, line) {
            Ok(()) => Next::Continue,
            Err(why) => {
                stopped = Some(why);
                Next::Stop
            }
        });
        self.splitter = splitter;
        match stopped {
            Some(why) => Err(why),
            None => Ok(self.writer.flush()?),
        }
    }

    /// End of the current source. A last line without its newline is parsed
    /// when `whole` (a file ends where it ends), rejected as `malformed`
    /// otherwise (a producer that disconnected mid-line: the line is cut,
    /// its numbers cannot be trusted).
    ///
    /// # Errors
    /// As [`LineIngest::feed`].
    pub fn end(&mut self, whole: bool) -> Result<(), Stopped> {
        let mut splitter = std::mem::replace(&mut self.splitter, LineSplitter::new(0));
        let mut result = Ok(());
        if !whole && splitter.has_partial_line() {
            self.writer.reject(RejectReason::Malformed);
            log::warn!(
                "{}: connection closed in the middle of a line; line rejected",
                self.source.name
            );
            splitter.finish(&mut |_, _| Next::Continue);
        } else {
            splitter.finish(&mut |line_no, line| {
                result = self.line(line_no, line);
                Next::Continue
            });
        }
        self.splitter = splitter;
        result?;
        Ok(self.writer.flush()?)
    }

    /// Sends what is queued.
    ///
    /// # Errors
    /// The engine has gone away.
    pub fn flush(&mut self) -> Result<(), Stopped> {
        Ok(self.writer.flush()?)
    }

    /// The wall-clock bound on event times for the chunk being fed: read
    /// once per chunk, not per sample.
    fn read_clock(&mut self) {
        if let Some(ahead) = self.options.max_ahead_of_clock {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.clock_limit = now + ahead;
        }
    }

    /// Picks up a grammar replaced since the last read (SIGHUP), and the
    /// channel-name table's epoch (names freed since are not handed out).
    fn follow_grammar(&mut self) -> Result<(), Stopped> {
        self.writer.follow_names(&mut self.parser)?;
        if self.grammar.generation() != self.generation {
            let (generation, grammar) = self.grammar.load();
            self.writer.set_generation(generation)?;
            self.parser = RecordParser::new(grammar, &self.names);
            self.generation = generation;
        }
        Ok(())
    }

    /// One line: skipped, parsed and queued, or rejected and counted.
    fn line(&mut self, line_no: u64, line: Line<'_>) -> Result<(), Stopped> {
        let text = match line {
            Line::TooLong { len } => {
                let why = format!(
                    "{len} bytes, longer than max_line {}",
                    self.options.max_line
                );
                return self.reject(line_no, RejectReason::LineTooLong, why.as_bytes());
            }
            Line::Text(text) => text,
        };
        if self.source.at_start {
            if is_blank(text) {
                return Ok(());
            }
            self.source.at_start = false;
            if self.must_start_with_header() {
                if is_csv_header(text) {
                    return Ok(());
                }
                return Err(Stopped::Refused(Failure::new(format!(
                    "{}:{line_no}: a CSV input must start with the header `{CSV_HEADER}` \
                     (use --input-format jsonl for JSON lines)",
                    self.source.name
                ))));
            }
        }
        let parsed = match self.source.format {
            LineFormat::Auto => self.parser.auto(text),
            LineFormat::Csv => self.parser.parse(RecordFormat::Csv, text),
            LineFormat::Jsonl => self.parser.parse(RecordFormat::Jsonl, text),
        };
        match parsed {
            Ok(sample) if sample.t > self.clock_limit => {
                self.reject(line_no, RejectReason::FutureTime, text)
            }
            Ok(sample) => self.push(sample),
            // Neither a blank line nor the header parses as a record, so
            // they are told apart only here, off the path of every record.
            Err(_) if is_blank(text) || is_csv_header(text) => Ok(()),
            Err(reason) => self.reject(line_no, reason, text),
        }
    }

    fn must_start_with_header(&self) -> bool {
        self.options.header_first && self.source.format == LineFormat::Csv
    }

    fn push(&mut self, sample: Sample) -> Result<(), Stopped> {
        if let Some(wait) = self.pacer.as_mut().and_then(|p| p.wait(sample.t)) {
            // Hand over what is due before sleeping, so pacing is visible
            // downstream at once.
            self.writer.flush()?;
            std::thread::sleep(wait);
        }
        Ok(self.writer.push(sample)?)
    }

    fn reject(&mut self, line_no: u64, reason: RejectReason, text: &[u8]) -> Result<(), Stopped> {
        self.writer.reject(reason);
        if self.options.strict {
            return Err(Stopped::Refused(Failure::new(format!(
                "{}:{line_no}: rejected ({reason}) in --strict mode: {}",
                self.source.name,
                preview(text)
            ))));
        }
        self.notes.note(&self.source.name, line_no, reason, text);
        Ok(())
    }
}

fn is_blank(text: &[u8]) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

/// Reports rejected lines as [`RejectReport`] says.
struct RejectNotes {
    report: RejectReport,
    /// Lines printed over the whole run (`Print`).
    printed: u64,
    /// Of the current source (`Log`).
    throttle: Throttle,
    /// Since the last take (`Keep`).
    kept: Vec<KeptReject>,
}

impl RejectNotes {
    const FIRST: u64 = 10;
    const EVERY: Duration = Duration::from_secs(10);

    fn new(report: RejectReport) -> Self {
        Self {
            report,
            printed: 0,
            throttle: Throttle::new(Self::FIRST, Self::EVERY),
            kept: Vec::new(),
        }
    }

    fn begin(&mut self) {
        self.throttle = Throttle::new(Self::FIRST, Self::EVERY);
    }

    fn note(&mut self, source: &str, line_no: u64, reason: RejectReason, text: &[u8]) {
        match self.report {
            RejectReport::Print(limit) => {
                if self.printed < limit {
                    self.printed += 1;
                    eprintln!("{}", rejected_line(source, line_no, reason, &preview(text)));
                }
            }
            RejectReport::Keep(limit) => {
                if (self.kept.len() as u64) < limit {
                    self.kept.push(KeptReject {
                        line_no,
                        reason,
                        preview: preview(text),
                    });
                }
            }
            RejectReport::Log => match self.throttle.occurred() {
                Say::This => {
                    log::warn!("{source}:{line_no}: rejected ({reason}): {}", preview(text));
                }
                Say::Summary { since, .. } => log::warn!(
                    "{source}: {since} more lines rejected (see dsfb_samples_rejected_total)"
                ),
                Say::Nothing => {}
            },
        }
    }
}

/// How `motifd replay` reports a rejected line on stderr.
pub fn rejected_line(source: &str, line_no: u64, reason: RejectReason, preview: &str) -> String {
    format!("{source}:{line_no}: rejected ({reason}): {preview}")
}

/// A printable excerpt of a line: at most 120 characters, control characters
/// shown as `·`, so a rejected line cannot garble a terminal or a log.
pub fn preview(text: &[u8]) -> String {
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

/// Paces samples by event time: sample `t` is handed over no earlier than
/// `(t − t_first) / speed` seconds after the first one.
pub(crate) struct Pacer {
    speed: f64,
    origin: Option<(f64, Instant)>,
    newest: f64,
}

impl Pacer {
    /// A pacer at `speed` event seconds per wall-clock second.
    pub(crate) fn new(speed: f64) -> Self {
        Self {
            speed,
            origin: None,
            newest: f64::NEG_INFINITY,
        }
    }

    /// How long to wait before handing over a sample at `t`.
    pub(crate) fn wait(&mut self, t: f64) -> Option<Duration> {
        let (t0, start) = *self.origin.get_or_insert((t, Instant::now()));
        self.newest = self.newest.max(t);
        let due = (self.newest - t0) / self.speed;
        let elapsed = start.elapsed().as_secs_f64();
        (due > elapsed).then(|| Duration::from_secs_f64(due - elapsed))
    }
}
