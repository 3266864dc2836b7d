//! The producer side of a replay: the inputs opened in order, and the
//! parser thread (`motifd-parse`) that reads them as one stream — through
//! the line path, or a trace adapter with `--from` — into batches; or, for
//! regular files, the parser threads of [`super::parallel`].

use super::parallel::{self, FileInput, RunReader};
use super::producer::Producer;
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
    /// A regular file's own handle and length, for reading it in parallel.
    pub(crate) file: Option<(File, u64)>,
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
            let (reader, file): (Box<dyn Read + Send>, _) = if name == "-" {
                (Box::new(io::stdin()), None)
            } else {
                let file = File::open(name).map_err(|e| Failure::new(format!("{name}: {e}")))?;
                let own = regular(&file);
                (Box::new(file), own)
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
                file,
            })
        })
        .collect()
}

/// A second handle on `file` and its length, when it is a regular file.
fn regular(file: &File) -> Option<(File, u64)> {
    let meta = file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    Some((file.try_clone().ok()?, meta.len()))
}

/// The inputs as files to read in parallel, when every one is a regular
/// file and `options` let lines be parsed apart; the inputs back otherwise.
fn regular_files(inputs: Vec<Input>, options: &Options) -> Result<Vec<FileInput>, Vec<Input>> {
    let apart = !options.strict && options.speed.is_none();
    if !apart || inputs.iter().any(|i| i.file.is_none()) {
        return Err(inputs);
    }
    Ok(inputs
        .into_iter()
        .filter_map(|i| {
            let (file, len) = i.file?;
            Some(FileInput {
                name: i.name,
                format: i.format,
                file,
                len,
            })
        })
        .collect())
}

impl From<FileInput> for Input {
    /// Back to one reader: positioned reads never moved the file's cursor.
    fn from(f: FileInput) -> Self {
        Self {
            name: f.name,
            format: f.format,
            reader: Box::new(f.file),
            file: None,
        }
    }
}

/// Starts parsing `inputs` in order as one stream: regular files on
/// several threads when that can help ([`parallel`]), anything else on
/// the parser thread (`motifd-parse`).
pub(crate) fn spawn_parser(
    inputs: Vec<Input>,
    grammar: &Arc<Grammar>,
    names: &ChannelNames,
    options: Options,
    bytes_read: Arc<AtomicU64>,
) -> Result<Producer, Failure> {
    let inputs = match regular_files(inputs, &options) {
        Ok(files) => match parallel::plan(&files, options.max_line)? {
            Some(runs) => {
                let reader = RunReader::start(files, runs, grammar, names, options, bytes_read);
                return Ok(Producer::Runs(reader?));
            }
            None => files.into_iter().map(Input::from).collect(),
        },
        Err(inputs) => inputs,
    };
    let cell = Arc::new(GrammarCell::new(Arc::clone(grammar)));
    Producer::on_thread(|tx| {
        let ingest = LineIngest::new(cell, names, BatchWriter::new(tx, DEFAULT_BATCH), options);
        thread::Builder::new()
            .name("motifd-parse".into())
            .spawn(move || produce(inputs, ingest, &bytes_read))
            .context("cannot start the parser thread")
    })
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
                .map(Produced::one_thread)
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

/// What parsing the inputs came to.
pub(crate) struct Produced {
    pub(crate) files: usize,
    /// Threads that parsed them.
    pub(crate) parsers: usize,
}

impl Produced {
    pub(crate) fn one_thread(files: usize) -> Self {
        Self { files, parsers: 1 }
    }
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
    Ok(Produced::one_thread(files))
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
