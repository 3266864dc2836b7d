//! Parsing regular files on several threads, with the engine seeing exactly
//! the batches one parser would give.
//!
//! The files are cut into runs of whole lines ([`super::runs`]). Parser
//! threads (`motifd-parse-N`) take runs in order from a shared queue, each
//! run with its own channel for its batches and one for its end. The engine
//! thread reads the runs' channels in file order ([`RunReader`]) and prints
//! rejected lines with their line numbers in the file, which only it knows.
//! At most [`RUNS_AHEAD`] runs per parser are queued or parsed ahead of the
//! one being read, which bounds memory whatever the engine's pace.
//!
//! Channel ids are handed out in whatever order the parsers meet names;
//! nothing a replay writes depends on them (episodes carry names, and the
//! engine's slots are taken in sample order).

use super::inputs::Produced;
use super::runs::{self, Run, RUN_BYTES};
use crate::error::{Context, Failure};
use crate::grammar::GrammarCell;
use crate::line_ingest::{
    rejected_line, KeptReject, LineFormat, LineIngest, Options, RejectReport, Stopped,
};
use crate::lines::READ_CHUNK;
use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use motifd_engine::ingest::{Batch, BatchWriter, BufferPool};
use motifd_engine::{ChannelNames, Grammar, Sample};
use std::collections::VecDeque;
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Runs queued or parsed ahead of the one handed over, per parser thread.
const RUNS_AHEAD: usize = 2;

/// Samples per batch. Fewer, larger hand-overs than a stream's batches
/// ([`motifd_engine::ingest::DEFAULT_BATCH`]): a run is read at once, so no
/// sample waits for its batch to fill.
const RUN_BATCH: usize = 16 << 10;

/// Batches a run's channel holds: a run of [`RUN_BYTES`] has about 3 at
/// 40 bytes a line, so a parser ahead of the hand-over rarely waits.
const RUN_BATCHES: usize = 32;

/// Emptied batch buffers kept for the parsers.
const SPARE_BUFFERS: usize = 16;

/// How much lower than the engine thread the parser threads are scheduled
/// (a nice increment).
const PARSER_NICE: i32 = 5;

/// Most parser threads: past this the engine thread is the limit.
const MAX_PARSERS: usize = 4;

/// One input file as the parsers read it.
pub(crate) struct FileInput {
    pub(crate) name: String,
    pub(crate) format: LineFormat,
    pub(crate) file: File,
    pub(crate) len: u64,
}

/// The files and their runs, when parsing them on several threads can help:
/// `None` for one core, or for less than two runs in all.
pub(crate) fn plan(files: &[FileInput], max_line: usize) -> Result<Option<Vec<Run>>, Failure> {
    if parsers() < 2 || files.iter().map(|f| f.len).sum::<u64>() < 2 * RUN_BYTES {
        return Ok(None);
    }
    let mut runs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        runs::plan(&f.file, f.len, RUN_BYTES, max_line, i, &mut runs)
            .map_err(|e| Failure::new(format!("{}: {e}", f.name)))?;
    }
    Ok((runs.len() >= 2).then_some(runs))
}

fn parsers() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARSERS))
}

/// One run to parse, with where its batches and its end go.
struct Job {
    run: Run,
    batches: Sender<Batch>,
    done: Sender<RunEnd>,
}

/// How a run ended.
struct RunEnd {
    /// Its lines (the line numbers of the next run of the file follow on).
    lines: u64,
    /// Its rejected lines, numbered from its first line.
    kept: Vec<KeptReject>,
    /// The error that ends the replay, if any.
    failure: Option<Failure>,
}

/// What the parser threads share.
struct Shared {
    files: Vec<FileInput>,
    grammar: Arc<GrammarCell>,
    names: ChannelNames,
    options: Options,
    bytes_read: Arc<AtomicU64>,
    /// Batch buffers the engine side has emptied.
    pool: BufferPool,
}

/// The engine side: takes the runs' batches in file order, and prints the
/// first rejected lines with their line numbers in the file.
pub(crate) struct RunReader {
    shared: Arc<Shared>,
    runs: std::vec::IntoIter<Run>,
    jobs: Sender<Job>,
    /// Runs handed to the parsers, in order; the first is being read.
    queued: VecDeque<Queued>,
    /// Line numbers of the current file before the current run.
    line_base: u64,
    /// Rejected lines printed so far, and how many may be.
    printed: u64,
    show: u64,
    failure: Option<Failure>,
    parsers: Vec<JoinHandle<()>>,
}

/// A run handed to the parsers.
struct Queued {
    run: Run,
    batches: Receiver<Batch>,
    done: Receiver<RunEnd>,
    /// Its end, once the parser has sent it (batches may still be waiting).
    ended: Option<RunEnd>,
}

impl RunReader {
    /// Starts the parser threads over `runs` of `files`. `options` must not
    /// stop at a rejected line or pace the samples: both need the lines in
    /// order on one thread.
    pub(crate) fn start(
        files: Vec<FileInput>,
        runs: Vec<Run>,
        grammar: &Arc<Grammar>,
        names: &ChannelNames,
        options: Options,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<Self, Failure> {
        debug_assert!(!options.strict && options.speed.is_none());
        let show = match options.report {
            RejectReport::Print(n) => n,
            RejectReport::Log | RejectReport::Keep(_) => 0,
        };
        let shared = Arc::new(Shared {
            files,
            grammar: Arc::new(GrammarCell::new(Arc::clone(grammar))),
            names: names.clone(),
            options: Options {
                report: RejectReport::Keep(show),
                ..options
            },
            bytes_read,
            pool: BufferPool::new(SPARE_BUFFERS),
        });
        let (jobs, queue) = unbounded::<Job>();
        let parsers = (0..parsers())
            .map(|i| {
                let (shared, queue) = (Arc::clone(&shared), queue.clone());
                thread::Builder::new()
                    .name(format!("motifd-parse-{i}"))
                    .spawn(move || parse_runs(&shared, &queue))
                    .context("cannot start a parser thread")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut reader = Self {
            shared,
            runs: runs.into_iter(),
            jobs,
            queued: VecDeque::new(),
            line_base: 0,
            printed: 0,
            show,
            failure: None,
            parsers,
        };
        for _ in 0..reader.parsers.len() * RUNS_AHEAD {
            reader.queue_next();
        }
        Ok(reader)
    }

    /// Gives an emptied batch buffer back to the parsers.
    pub(crate) fn recycle(&self, samples: Vec<Sample>) {
        self.shared.pool.give(samples);
    }

    /// Hands the next run, if any, to the parsers.
    fn queue_next(&mut self) {
        let Some(run) = self.runs.next() else { return };
        let (batches, batches_rx) = bounded(RUN_BATCHES);
        let (done, done_rx) = bounded(1);
        // The parsers hold the queue's other end until `finish`.
        let _ = self.jobs.send(Job { run, batches, done });
        self.queued.push_back(Queued {
            run,
            batches: batches_rx,
            done: done_rx,
            ended: None,
        });
    }

    /// The current run has ended and its batches are taken: reports it and
    /// moves on to the next.
    fn close_run(&mut self) {
        let Some(Queued { run, ended, .. }) = self.queued.pop_front() else {
            return;
        };
        let end = ended.unwrap_or_else(RunEnd::lost);
        if run.first {
            self.line_base = 0;
        }
        let name = &self.shared.files[run.input].name;
        let room = self.show.saturating_sub(self.printed) as usize;
        for kept in end.kept.iter().take(room) {
            let line_no = self.line_base + kept.line_no;
            eprintln!(
                "{}",
                rejected_line(name, line_no, kept.reason, &kept.preview)
            );
            self.printed += 1;
        }
        self.line_base += end.lines;
        self.failure = end.failure;
        self.queue_next();
    }

    /// Waits for the parsers to stop.
    ///
    /// # Errors
    /// A run's input broke a rule that ends the replay or could not be read,
    /// or a parser thread panicked.
    pub(crate) fn finish(self) -> Result<Produced, Failure> {
        let Self {
            shared,
            jobs,
            queued,
            failure,
            parsers,
            ..
        } = self;
        // Parsers still at work stop at their next send once the channels
        // of their runs are gone.
        drop((jobs, queued));
        let parsers_started = parsers.len();
        for p in parsers {
            p.join()
                .map_err(|_| Failure::new("a parser thread panicked"))?;
        }
        match failure {
            Some(failure) => Err(failure),
            None => Ok(Produced {
                files: shared.files.len(),
                parsers: parsers_started,
            }),
        }
    }
}

impl Iterator for RunReader {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        while self.failure.is_none() {
            let current = self.queued.front_mut()?;
            if current.ended.is_some() {
                // Every batch of the run was sent before its end.
                match current.batches.try_recv() {
                    Ok(batch) => return Some(batch),
                    Err(_) => self.close_run(),
                }
                continue;
            }
            select! {
                recv(current.batches) -> batch => match batch {
                    Ok(batch) => return Some(batch),
                    // The parser has moved on: its end is waiting.
                    Err(_) => current.ended = current.done.recv().ok(),
                },
                recv(current.done) -> end => current.ended = end.ok(),
            }
            if current.ended.is_none() {
                // The parser went away without ending the run.
                self.close_run();
            }
        }
        None
    }
}

impl RunEnd {
    fn lost() -> Self {
        Self {
            lines: 0,
            kept: Vec::new(),
            failure: Some(Failure::new("a parser thread stopped")),
        }
    }
}

/// A parser thread: parses the runs it takes from `queue`, one after another,
/// with one name cache throughout.
fn parse_runs(shared: &Shared, queue: &Receiver<Job>) {
    // The engine thread alone must keep pace; the parsers, more threads
    // than there are cores beside it, make way for it. Refused or not, the
    // parse is the same.
    let _ = rustix::process::nice(PARSER_NICE);
    let mut ingest: Option<LineIngest> = None;
    let mut buf = vec![0u8; READ_CHUNK];
    for job in queue {
        let started = match ingest.as_mut() {
            Some(ingest) => ingest.redirect(job.batches).map(|()| ingest),
            None => {
                let mut writer = BatchWriter::new(job.batches, RUN_BATCH);
                writer.set_pool(shared.pool.clone());
                let cell = Arc::clone(&shared.grammar);
                Ok(ingest.insert(LineIngest::new(cell, &shared.names, writer, shared.options)))
            }
        };
        let Ok(ingest) = started else { return };
        let failure = match parse_run(shared, job.run, ingest, &mut buf) {
            Ok(()) => None,
            Err(Stopped::Disconnected) => return,
            Err(Stopped::Refused(failure)) => Some(failure),
        };
        let end = RunEnd {
            lines: ingest.lines(),
            kept: ingest.take_kept(),
            failure,
        };
        if job.done.send(end).is_err() {
            return;
        }
    }
}

/// Reads and parses the bytes of `run`.
fn parse_run(
    shared: &Shared,
    run: Run,
    ingest: &mut LineIngest,
    buf: &mut [u8],
) -> Result<(), Stopped> {
    let input = &shared.files[run.input];
    ingest.begin_run(input.name.clone(), input.format, run.first);
    let mut at = run.start;
    while at < run.end {
        let want = buf.len().min((run.end - at) as usize);
        let n = match runs::ReadAt::read_at(&input.file, &mut buf[..want], at) {
            // The file is shorter than when it was opened: it ends here.
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Stopped::Refused(Failure::new(format!(
                    "{}: {e}",
                    input.name
                ))))
            }
        };
        shared.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        ingest.feed(&buf[..n])?;
        at += n as u64;
    }
    ingest.end(true)
}
