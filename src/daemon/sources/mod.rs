//! Where the daemon's samples come from.
//!
//! A [`Source`] is an input the configuration names; started, it runs on its
//! own thread(s) and hands batches of samples to the engine thread over the
//! bounded ingest channel — when the engine falls behind, `send` blocks and
//! the source stops reading (for TCP the kernel then throttles the producer),
//! so nothing accepted is dropped. Every source stops within its poll
//! interval once the shared stop flag is set.
//!
//! Adding a kind of source is one file implementing [`Source`] and
//! [`Running`], plus one line in [`configured`].

pub mod demo;
mod file;
mod kafka;
mod tcp;

use super::config::{Config, LineFormat};
use crate::error::Failure;
use crate::grammar::GrammarCell;
use crate::line_ingest::{LineIngest, Options, RejectReport};
use crossbeam_channel::Sender;
use motifd_engine::ingest::{Batch, BatchWriter, DEFAULT_BATCH};
use motifd_engine::ChannelNames;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often a source blocked on input looks at the stop flag.
pub const POLL: Duration = Duration::from_millis(100);

/// An input of the daemon, configured but not started.
pub trait Source {
    /// Starts reading on the source's own thread(s).
    ///
    /// # Errors
    /// The source cannot start (a port that cannot be bound, a thread that
    /// cannot be spawned); the daemon then does not start either.
    fn start(self: Box<Self>, ctx: SourceContext) -> Result<Box<dyn Running>, Failure>;

    /// Every batch it will send is pinned to the name-table epoch its channel
    /// ids come from (`BatchWriter::follow_names`, as [`LineIngest`] does).
    /// Only when all sources do may the daemon free the names nothing refers
    /// to any more (docs/architecture.md#who-owns-what).
    fn follows_names(&self) -> bool {
        false
    }
}

/// A started source.
pub trait Running {
    /// For logs.
    fn name(&self) -> &str;

    /// The address it listens on, for sources that listen.
    fn listening_on(&self) -> Option<SocketAddr> {
        None
    }

    /// Adds what the source counts to the published metrics.
    fn report(&self, _report: &mut SourceReport) {}

    /// Called after the stop flag is set: waits for the source's threads,
    /// except those blocked where nothing can wake them (stdin), which end
    /// with the process.
    fn stop(self: Box<Self>);
}

/// What sources add to each published snapshot.
#[derive(Default, Clone)]
pub struct SourceReport {
    /// TCP producers refused at `max_producers` (None: no TCP listener).
    pub producers_refused: Option<u64>,
    /// TCP producers closed after `ingest_idle_timeout` of silence.
    pub producers_idle_closed: Option<u64>,
    /// Figures of sources that run engines of their own (Kafka partitions).
    pub parts: Vec<Arc<dyn SnapshotPart>>,
}

/// Adds what a source's own engines did to a snapshot (after the engine
/// thread's figures are in).
pub trait SnapshotPart: Send + Sync {
    /// Adds to or sets fields of `snap`.
    fn fill(&self, snap: &mut motifd_exporter::Snapshot);
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
    /// Line format of line sources.
    pub format: LineFormat,
    /// Longest accepted line.
    pub max_line: usize,
    /// Samples further ahead of the wall clock are rejected (`future_time`).
    pub max_ahead_of_clock: Option<f64>,
    /// The episode log, for sources that close episodes themselves (Kafka).
    pub episodes: Option<super::episode_log::Appender>,
}

impl SourceContext {
    /// Line ingestion for one producer, named `name` in messages.
    pub fn line_ingest(&self, name: impl Into<String>) -> LineIngest {
        let options = Options {
            max_line: self.max_line,
            report: RejectReport::Log,
            strict: false,
            header_first: false,
            speed: None,
            max_ahead_of_clock: self.max_ahead_of_clock,
        };
        let mut writer = BatchWriter::new(self.tx.clone(), DEFAULT_BATCH);
        writer.set_producer(producer_key());
        let mut ingest = LineIngest::new(Arc::clone(&self.grammar), &self.names, writer, options);
        ingest.begin(name, self.format);
        ingest
    }

    /// True once the daemon is stopping.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A key no other producer of this process has: each connection, file and
/// generator is its own producer, with its own watermark
/// (docs/semantics.md#per-producer-watermarks).
pub fn producer_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The sources `config` names, in start order; `producers` is the TCP
/// producer cap that fits the open-file limit.
///
/// # Errors
/// An input file that cannot be opened.
pub fn configured(config: &Config, producers: usize) -> Result<Vec<Box<dyn Source>>, Failure> {
    let mut sources: Vec<Box<dyn Source>> = Vec::new();
    for input in &config.inputs {
        sources.push(Box::new(file::FileSource::open(input, config.follow)?));
    }
    if let Some(addr) = config.ingest_listen {
        sources.push(Box::new(tcp::TcpSource::new(addr, producers, config)));
    }
    sources.extend(kafka::configured(config)?);
    Ok(sources)
}

/// Starts every source, with channel names collected when every one of them
/// allows it ([`Source::follows_names`]).
///
/// # Errors
/// The first source that cannot start.
pub fn start_all(
    sources: Vec<Box<dyn Source>>,
    ctx: &SourceContext,
) -> Result<Vec<Box<dyn Running>>, Failure> {
    ctx.names
        .set_collection(sources.iter().all(|s| s.follows_names()));
    sources.into_iter().map(|s| s.start(ctx.clone())).collect()
}

/// The first 8 characters of a path's file name, for thread names.
fn short(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.chars().take(8).collect()
}
