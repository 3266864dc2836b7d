//! Producer threads: stdin, files (optionally followed) and a TCP line listener.
//!
//! Each source parses its own lines and hands batches to the engine thread over
//! the bounded ingest channel — when the engine falls behind, `send` blocks and
//! the source stops reading (for TCP the kernel then throttles the producer), so
//! nothing accepted is dropped. A batch is sent after every read, so a slow
//! trickle of lines is not held back waiting for a batch to fill.

use super::config::LineFormat;
use crate::lines::{Line, LineSplitter, Next};
use crossbeam_channel::Sender;
use motifd_engine::ingest::{Batch, BatchWriter, Disconnected, DEFAULT_BATCH};
use motifd_engine::parse::is_csv_header;
use motifd_engine::{ChannelNames, Grammar, RecordFormat, RecordParser, RejectReason};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often blocked sources look at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// The grammar in force and its generation; replaced on SIGHUP.
#[derive(Debug)]
pub struct GrammarCell {
    current: Mutex<Arc<Grammar>>,
    generation: AtomicU64,
}

impl GrammarCell {
    /// A cell holding `grammar` as generation 0.
    pub fn new(grammar: Arc<Grammar>) -> Self {
        Self {
            current: Mutex::new(grammar),
            generation: AtomicU64::new(0),
        }
    }

    /// The grammar in force and its generation.
    pub fn load(&self) -> (u64, Arc<Grammar>) {
        let g = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (self.generation.load(Ordering::Acquire), Arc::clone(&g))
    }

    /// Current generation (one atomic load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Installs `grammar`; returns its generation.
    pub fn replace(&self, grammar: Arc<Grammar>) -> u64 {
        let mut g = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *g = grammar;
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }
}

/// What every source shares.
#[derive(Clone)]
pub struct SourceContext {
    /// Grammar in force.
    pub grammar: Arc<GrammarCell>,
    /// Channel-name table.
    pub names: ChannelNames,
    /// Hand-over to the engine thread.
    pub tx: Sender<Batch>,
    /// Set when the daemon shuts down.
    pub stop: Arc<AtomicBool>,
    /// Line format.
    pub format: LineFormat,
    /// Longest accepted line.
    pub max_line: usize,
}

/// Logs a source's rejected lines: the first few, then one summary at most every
/// ten seconds, so a flood of bad input cannot flood the log.
struct RejectLog {
    source: String,
    logged: u64,
    suppressed: u64,
    last_summary: Instant,
}

impl RejectLog {
    const FIRST: u64 = 10;
    const EVERY: Duration = Duration::from_secs(10);

    fn new(source: String) -> Self {
        Self {
            source,
            logged: 0,
            suppressed: 0,
            last_summary: Instant::now(),
        }
    }

    fn note(&mut self, line_no: u64, reason: RejectReason, text: &[u8]) {
        if self.logged < Self::FIRST {
            self.logged += 1;
            log::warn!(
                "{}:{line_no}: rejected ({reason}): {}",
                self.source,
                preview(text)
            );
            return;
        }
        self.suppressed += 1;
        if self.last_summary.elapsed() >= Self::EVERY {
            log::warn!(
                "{}: {} more lines rejected (see dsfb_samples_rejected_total)",
                self.source,
                self.suppressed
            );
            self.suppressed = 0;
            self.last_summary = Instant::now();
        }
    }
}

fn preview(text: &[u8]) -> String {
    const MAX: usize = 80;
    let s: String = String::from_utf8_lossy(&text[..text.len().min(MAX)])
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    if text.len() > MAX {
        s + "…"
    } else {
        s
    }
}

/// Parses the lines of one source into batches.
struct LineIngest {
    ctx: SourceContext,
    generation: u64,
    parser: RecordParser,
    writer: BatchWriter,
    splitter: LineSplitter,
    log: RejectLog,
}

impl LineIngest {
    fn new(ctx: SourceContext, source: String) -> Self {
        let (generation, grammar) = ctx.grammar.load();
        let mut writer = BatchWriter::new(ctx.tx.clone(), DEFAULT_BATCH);
        // A fresh writer has nothing queued, so this cannot fail.
        let _ = writer.set_generation(generation);
        Self {
            parser: RecordParser::new(grammar, &ctx.names),
            splitter: LineSplitter::new(ctx.max_line),
            log: RejectLog::new(source),
            writer,
            generation,
            ctx,
        }
    }

    /// Parses what `bytes` completes and sends it.
    fn feed(&mut self, bytes: &[u8]) -> Result<(), Disconnected> {
        if self.ctx.grammar.generation() != self.generation {
            let (generation, grammar) = self.ctx.grammar.load();
            self.writer.set_generation(generation)?;
            self.parser = RecordParser::new(grammar, &self.ctx.names);
            self.generation = generation;
        }
        let Self {
            ctx,
            parser,
            writer,
            splitter,
            log,
            ..
        } = self;
        let mut disconnected = false;
        splitter.feed(bytes, &mut |line_no, line| {
            if !ingest_line(ctx.format, parser, writer, log, line_no, line) {
                disconnected = true;
                return Next::Stop;
            }
            Next::Continue
        });
        if disconnected {
            return Err(Disconnected);
        }
        self.writer.flush()
    }

    /// End of input. A last line without its newline is parsed when
    /// `accept_partial` (a file), rejected as `malformed` otherwise (a producer
    /// that disconnected mid-line: the line is cut, its numbers cannot be trusted).
    fn finish(mut self, accept_partial: bool) {
        let Self {
            ctx,
            parser,
            writer,
            splitter,
            log,
            ..
        } = &mut self;
        if !accept_partial && splitter.has_partial_line() {
            writer.reject(RejectReason::Malformed);
            log::warn!(
                "{}: connection closed in the middle of a line; line rejected",
                log.source
            );
            splitter.finish(&mut |_, _| Next::Continue);
        } else {
            splitter.finish(&mut |line_no, line| {
                ingest_line(ctx.format, parser, writer, log, line_no, line);
                Next::Continue
            });
        }
        let _ = self.writer.flush();
    }
}

/// Returns false when the engine has gone away.
fn ingest_line(
    format: LineFormat,
    parser: &mut RecordParser,
    writer: &mut BatchWriter,
    log: &mut RejectLog,
    line_no: u64,
    line: Line<'_>,
) -> bool {
    let text = match line {
        Line::TooLong => {
            writer.reject(RejectReason::LineTooLong);
            log.note(line_no, RejectReason::LineTooLong, b"");
            return true;
        }
        Line::Text(text) => text,
    };
    if text.iter().all(u8::is_ascii_whitespace) || is_csv_header(text) {
        return true;
    }
    let parsed = match format {
        LineFormat::Auto => parser.auto(text),
        LineFormat::Csv => parser.parse(RecordFormat::Csv, text),
        LineFormat::Jsonl => parser.parse(RecordFormat::Jsonl, text),
    };
    match parsed {
        Ok(sample) => writer.push(sample).is_ok(),
        Err(reason) => {
            writer.reject(reason);
            log.note(line_no, reason, text);
            true
        }
    }
}

/// Reads `input` to its end (or, with `follow`, forever, polling for appended
/// data) on its own thread.
pub fn spawn_reader(
    name: String,
    mut input: Box<dyn Read + Send>,
    follow: bool,
    ctx: SourceContext,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(format!("motifd-src-{}", short(&name)))
        .spawn(move || {
            let stop = Arc::clone(&ctx.stop);
            let mut ingest = LineIngest::new(ctx, name.clone());
            let mut buf = vec![0u8; crate::lines::READ_CHUNK];
            log::info!(
                "source {name}: reading{}",
                if follow { " (following)" } else { "" }
            );
            while !stop.load(Ordering::Relaxed) {
                match input.read(&mut buf) {
                    Ok(0) if follow => thread::sleep(POLL),
                    Ok(0) => break,
                    Ok(n) => {
                        if ingest.feed(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::error!("source {name}: read error: {e}");
                        break;
                    }
                }
            }
            ingest.finish(true);
            log::info!("source {name}: ended");
        })
}

fn short(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.chars().take(8).collect()
}

/// The TCP line listener: accepts producers until stopped, one thread each.
pub struct TcpSource {
    /// The bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// The accept thread.
    pub thread: JoinHandle<()>,
    /// Connections closed at once because `max_producers` were connected.
    pub refused: Arc<AtomicU64>,
}

/// Binds `addr` and starts accepting producers.
pub fn spawn_tcp(
    addr: SocketAddr,
    max_producers: usize,
    ctx: SourceContext,
) -> io::Result<TcpSource> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let refused = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&refused);
    let thread = thread::Builder::new()
        .name("motifd-ingest".into())
        .spawn(move || accept_loop(&listener, max_producers, &ctx, &counter))?;
    Ok(TcpSource {
        local_addr,
        thread,
        refused,
    })
}

fn accept_loop(
    listener: &TcpListener,
    max_producers: usize,
    ctx: &SourceContext,
    refused: &AtomicU64,
) {
    let live = Arc::new(AtomicUsize::new(0));
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    let mut next_id = 0u64;
    let mut last_refusal_log: Option<Instant> = None;
    let mut accept_failures = 0u64;
    let mut last_failure_log: Option<Instant> = None;
    while !ctx.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                connections.retain(|h| !h.is_finished());
                if live.load(Ordering::Acquire) >= max_producers {
                    let total = refused.fetch_add(1, Ordering::Relaxed) + 1;
                    // A flood of connections must not flood the log: one line
                    // at most every ten seconds, with the running total.
                    if last_refusal_log.is_none_or(|t| t.elapsed() >= RejectLog::EVERY) {
                        log::warn!(
                            "ingest: refusing {peer}: {max_producers} producers connected already ({total} refused so far, see dsfb_ingest_producers_refused_total)"
                        );
                        last_refusal_log = Some(Instant::now());
                    }
                    drop(stream);
                    continue;
                }
                next_id += 1;
                live.fetch_add(1, Ordering::AcqRel);
                let (ctx, live) = (ctx.clone(), Arc::clone(&live));
                let spawned = thread::Builder::new()
                    .name(format!("motifd-tcp-{next_id}"))
                    .spawn(move || {
                        serve_producer(stream, peer, ctx);
                        live.fetch_sub(1, Ordering::AcqRel);
                    });
                match spawned {
                    Ok(h) => connections.push(h),
                    Err(e) => log::error!("ingest: cannot start a thread for {peer}: {e}"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL / 4),
            Err(e) => {
                // Out of files (EMFILE) fails every retry until a file frees:
                // one line at most every ten seconds, with the running count.
                accept_failures += 1;
                if last_failure_log.is_none_or(|t| t.elapsed() >= RejectLog::EVERY) {
                    log::warn!(
                        "ingest: accept failed: {e} ({accept_failures} failures so far; retrying every {POLL:?})"
                    );
                    last_failure_log = Some(Instant::now());
                }
                thread::sleep(POLL);
            }
        }
    }
    for h in connections {
        let _ = h.join();
    }
}

fn serve_producer(mut stream: TcpStream, peer: SocketAddr, ctx: SourceContext) {
    let stop = Arc::clone(&ctx.stop);
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    log::debug!("ingest: producer {peer} connected");
    let mut ingest = LineIngest::new(ctx, format!("tcp:{peer}"));
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if ingest.feed(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                log::debug!("ingest: {peer}: {e}");
                break;
            }
        }
    }
    // A line without its newline at the end of a connection was cut short.
    ingest.finish(false);
    log::debug!("ingest: producer {peer} disconnected");
}
