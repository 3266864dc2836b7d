//! `motifd replay --tape FILE`: a tape's snapshots through a residual mode
//! into the replay's engine, exactly as the daemon's source fed its own.

use super::output::EngineOutput;
use super::residuals::{Distiller, Mode, TimeOrigin};
use super::tape::{self, Line, Verified};
use crate::error::Failure;
use crate::lines::{for_each_line, Line as Text, Next};
use motifd_engine::RejectReason;
use std::fs::File;
use std::path::Path;

/// What a tape replay read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Snapshots replayed.
    pub snapshots: u64,
    /// Segments (daemon runs) in the tape.
    pub segments: u64,
    /// Lines rejected.
    pub rejected: u64,
}

/// Options of a tape replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Also write the residuals here (CSV).
    pub residuals_out: Option<std::path::PathBuf>,
    /// Residual mode; None: the one each segment's header recorded.
    pub mode: Option<Mode>,
    /// Rejected lines shown on stderr (all are counted).
    pub show_rejects: u64,
    /// Exit at the first rejected line.
    pub strict: bool,
    /// Longest line accepted.
    pub max_line: usize,
    /// Only warnings on stderr.
    pub quiet: bool,
}

/// Replays `path` into `out`.
///
/// # Errors
/// The tape cannot be read, does not match its manifest, or (with
/// `strict`) has a bad line.
pub fn produce(path: &Path, opts: &Options, out: &mut EngineOutput) -> Result<Replayed, Failure> {
    let name = path.display().to_string();
    report_verification(path, &name, opts.quiet)?;
    let file = File::open(path).map_err(|e| Failure::new(format!("{name}: {e}")))?;
    let mut reader = TapeReader {
        name: &name,
        opts,
        done: Replayed::default(),
        distiller: None,
        failure: None,
        shown: 0,
        csv: match &opts.residuals_out {
            Some(p) => Some(CsvTee::create(p)?),
            None => None,
        },
    };
    for_each_line(file, opts.max_line, |line_no, line| {
        let parsed = match line {
            Text::TooLong { len } => Err((
                RejectReason::LineTooLong,
                format!("line too long ({len} bytes)"),
            )),
            Text::Text(bytes) => tape::parse_line(bytes).map_err(|e| (RejectReason::Malformed, e)),
        };
        reader.line(line_no, parsed, out)
    })
    .map_err(|e| Failure::new(format!("{name}: {e}")))?;
    if let Some(f) = reader.failure {
        return Err(f);
    }
    if let Some(tee) = reader.csv {
        tee.finish()?;
    }
    out.flush()
        .map_err(|_| Failure::new("the engine stopped before the tape ended"))?;
    Ok(reader.done)
}

/// Checks the tape against its manifest and says how it matched (replay has
/// no logger: stderr, as for its other messages).
fn report_verification(path: &Path, name: &str, quiet: bool) -> Result<(), Failure> {
    match tape::verify(path).map_err(Failure::new)? {
        Verified::Exact(m) if !quiet => {
            eprintln!("{name}: matches its manifest (sha256 {})", m.sha256);
        }
        Verified::Exact(_) => {}
        Verified::Appended(m, extra) => eprintln!(
            "{name}: warning: its first {} bytes match the manifest; {extra} bytes appended since are unverified",
            m.bytes
        ),
        Verified::Unverified => eprintln!(
            "{name}: warning: no manifest ({}): the daemon did not close it; replaying unverified",
            tape::manifest_path(path).display()
        ),
    }
    Ok(())
}

/// The state of one tape's replay between its lines.
struct TapeReader<'a> {
    name: &'a str,
    opts: &'a Options,
    done: Replayed,
    /// The residual mode of the current segment; None before its header.
    distiller: Option<Distiller>,
    /// Why the replay stopped, if it must fail.
    failure: Option<Failure>,
    /// Rejected lines shown so far.
    shown: u64,
    csv: Option<CsvTee>,
}

impl TapeReader<'_> {
    /// Handles line `line_no`, parsed or rejected with a reason and why.
    fn line(
        &mut self,
        line_no: u64,
        parsed: Result<Line, (RejectReason, String)>,
        out: &mut EngineOutput,
    ) -> Next {
        match parsed {
            Ok(Line::Blank) => Next::Continue,
            Ok(Line::Header(h)) => {
                let mode = self.opts.mode.unwrap_or(match h.residuals.as_str() {
                    "reference" => Mode::Reference,
                    _ => Mode::Improved,
                });
                self.distiller = Some(Distiller::new(mode, TimeOrigin::Unix));
                out.set_source(&h.source);
                self.done.segments += 1;
                Next::Continue
            }
            Ok(Line::Snapshot(snap)) => self.snapshot(line_no, &snap, out),
            Err((reason, why)) => self.reject(line_no, reason, &why, out),
        }
    }

    fn snapshot(
        &mut self,
        line_no: u64,
        snap: &super::snapshot::Snapshot,
        out: &mut EngineOutput,
    ) -> Next {
        let Some(d) = self.distiller.as_mut() else {
            self.failure = Some(Failure::new(format!(
                "{}:{line_no}: a snapshot before any header line: not a motifd tape",
                self.name
            )));
            return Next::Stop;
        };
        out.refresh_grammar();
        match self.csv.as_mut() {
            Some(csv) => d.ingest(
                snap,
                &mut Tee {
                    csv,
                    out: &mut *out,
                },
            ),
            None => d.ingest(snap, out),
        }
        self.done.snapshots += 1;
        if out.flush().is_err() {
            return Next::Stop;
        }
        Next::Continue
    }

    fn reject(
        &mut self,
        line_no: u64,
        reason: RejectReason,
        why: &str,
        out: &mut EngineOutput,
    ) -> Next {
        self.done.rejected += 1;
        out.reject(reason);
        let name = self.name;
        if self.opts.strict {
            self.failure = Some(Failure::new(format!(
                "{name}:{line_no}: rejected ({reason}) in --strict mode: {why}"
            )));
            return Next::Stop;
        }
        if self.shown < self.opts.show_rejects {
            self.shown += 1;
            eprintln!("{name}:{line_no}: rejected ({reason}): {why}");
        }
        Next::Continue
    }
}

/// The tape options of `motifd replay`'s arguments.
pub fn options(args: &crate::cli::ReplayArgs) -> Options {
    Options {
        mode: args.residuals,
        residuals_out: args.residuals_out.clone(),
        show_rejects: args.input.show_rejects,
        strict: args.input.strict,
        // One line holds a whole poll: thousands of statements on a busy
        // server.
        max_line: args.input.max_line.max(64 << 20),
        quiet: args.input.quiet,
    }
}

/// [`produce`] on the replay's parser thread, into `tx`.
///
/// # Errors
/// The thread cannot start; the thread's own result is the replay's.
pub(crate) fn spawn(
    path: std::path::PathBuf,
    opts: Options,
    grammar: &std::sync::Arc<motifd_engine::Grammar>,
    names: &motifd_engine::ChannelNames,
    tx: crossbeam_channel::Sender<motifd_engine::ingest::Batch>,
) -> Result<std::thread::JoinHandle<Result<crate::replay::Produced, Failure>>, Failure> {
    let grammar = std::sync::Arc::clone(grammar);
    let mut out = EngineOutput::new(
        tx,
        names,
        Box::new(move || (0, std::sync::Arc::clone(&grammar))),
    );
    std::thread::Builder::new()
        .name("motifd-parse".into())
        .spawn(move || {
            let done = produce(&path, &opts, &mut out)?;
            if !opts.quiet {
                eprintln!(
                    "tape: {} snapshots in {} segments replayed, {} lines rejected",
                    done.snapshots, done.segments, done.rejected
                );
            }
            Ok(crate::replay::Produced::one_thread(1))
        })
        .map_err(|e| Failure::new(format!("cannot start the tape thread: {e}")))
}

/// Residuals written as CSV, with the source's channel prefix.
struct CsvTee {
    path: std::path::PathBuf,
    out: std::io::BufWriter<File>,
    error: Option<std::io::Error>,
}

impl CsvTee {
    fn create(path: &Path) -> Result<Self, Failure> {
        use std::io::Write;
        let file =
            File::create(path).map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
        let mut out = std::io::BufWriter::new(file);
        let error = writeln!(out, "t,class,channel,value").err();
        Ok(Self {
            path: path.to_owned(),
            out,
            error,
        })
    }

    fn finish(mut self) -> Result<(), Failure> {
        use std::io::Write;
        let flushed = self.out.flush();
        match self.error.take().map_or(flushed, Err) {
            Ok(()) => Ok(()),
            Err(e) => Err(Failure::new(format!("{}: {e}", self.path.display()))),
        }
    }
}

/// Sends each residual both to the engine and to the CSV file.
struct Tee<'a> {
    csv: &'a mut CsvTee,
    out: &'a mut EngineOutput,
}

impl super::residuals::ResidualSink for Tee<'_> {
    fn residual(&mut self, t: f64, class: super::residuals::Class, channel: &str, value: f64) {
        use std::io::Write;
        if self.csv.error.is_none() {
            let mut b = ryu::Buffer::new();
            let t_text = b.format(t).to_owned();
            let name = format!("{}{channel}", self.out.prefix());
            // RFC 4180 quoting for a database or wait name with a comma or quote.
            let name = if name.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", name.replace('"', "\"\""))
            } else {
                name
            };
            let line = writeln!(
                self.csv.out,
                "{t_text},{},{name},{}",
                class.as_str(),
                b.format(value)
            );
            self.csv.error = line.err();
        }
        self.out.residual(t, class, channel, value);
    }
}
