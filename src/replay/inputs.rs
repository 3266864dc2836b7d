//! The producer side of a replay: the inputs opened in order, and the
//! parser thread (`motifd-parse`) that reads them as one stream — through
//! the line path, or a trace adapter with `--from` — into batches.

use crate::cli::ReplayArgs;
use crate::error::{Context, Failure};
use crate::grammar::GrammarCell;
use crate::line_ingest::{LineFormat, LineIngest, Options, Stopped};
use crate::lines::READ_CHUNK;
use crossbeam_channel::Sender;
use motifd_engine::ingest::{Batch, BatchWriter, DEFAULT_BATCH};
use motifd_engine::{ChannelNames, Grammar, RecordFormat};
use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
/// `--from FORMAT`: the trace adapter in place of the sample parser.
pub(super) fn from_options(args: &ReplayArgs) -> Option<crate::distill::feed::FeedOptions> {
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

pub(super) fn open_inputs(args: &ReplayArgs) -> Result<Vec<Input>, Failure> {
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
pub(super) fn spawn_trace_reader(
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
