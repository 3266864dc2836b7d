//! One partition's whole state: its own channel names, line ingest, reorder
//! buffer and motif engine. The Kafka source keeps one per assigned
//! partition and `motifd replay --partitions` one per partition of the file,
//! with the same code, so a replay gives what the group gives.
//!
//! Nothing is shared between partitions — not even channel ids — so a
//! partition's checkpoint holds exactly its own names and moves to another
//! instance as it is, and trust is normalised within the partition.
//! Bytes go through [`LineIngest`], the one path from lines to samples;
//! its batches land on a channel this engine drains right after each feed,
//! on the same thread.

use crate::episode_id;
use crate::grammar::GrammarCell;
use crate::line_ingest::{LineFormat, LineIngest, Options, RejectReport};
use crossbeam_channel::Receiver;
use motifd_engine::checkpoint::{self, CheckpointError, Fingerprint, Meta, Restored};
use motifd_engine::ingest::{Batch, BatchWriter};
use motifd_engine::intern::Interner;
use motifd_engine::{
    ChannelNames, Episode, EpisodeSink, Grammar, Pipeline, PipelineConfig, RejectReason,
};
use std::sync::Arc;
use std::time::Instant;

/// Samples per batch between a partition's ingest and its pipeline: small,
/// since a batch is handed over after every message.
const BATCH: usize = 1024;

/// Receives the episodes a partition closes, each as its record.
pub trait RecordSink {
    /// `line` is `e`'s JSON record with partition and id (newline included).
    fn record(&mut self, e: &Episode, line: &[u8], id: u64, motif: &str, channel: &str);
}

/// How a partition's engine is configured.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Reorder window, far-future guard, staged cap, channel TTL and cap.
    pub pipeline: PipelineConfig,
    /// Line format of the payloads.
    pub format: LineFormat,
    /// Longest accepted line.
    pub max_line: usize,
    /// How rejected lines are reported.
    pub report: RejectReport,
}

/// One partition's engine.
pub struct PartitionEngine {
    partition: u32,
    pipeline: Pipeline,
    names: ChannelNames,
    ingest: LineIngest,
    rx: Receiver<Batch>,
    cell: Arc<GrammarCell>,
    grammar: Arc<Grammar>,
    generation: u64,
    record: Vec<u8>,
    config: PipelineConfig,
    last_input: Instant,
    /// Changed since the last checkpoint.
    dirty: bool,
}

impl PartitionEngine {
    /// A partition starting empty, under the grammar in `cell`.
    pub fn fresh(cell: &Arc<GrammarCell>, partition: u32, settings: &Settings) -> Self {
        let (_, grammar) = cell.load();
        // Settings are validated before any partition is assigned.
        let pipeline = Pipeline::new(grammar, &settings.pipeline)
            .unwrap_or_else(|e| unreachable!("validated pipeline settings: {e}"));
        Self::with(cell, partition, settings, pipeline, ChannelNames::default())
    }

    /// A partition continuing from checkpoint `bytes`, which must have been
    /// written under the same grammar, window and limits.
    ///
    /// # Errors
    /// The checkpoint is damaged or was written under another configuration.
    pub fn restore(
        cell: &Arc<GrammarCell>,
        partition: u32,
        settings: &Settings,
        bytes: &[u8],
    ) -> Result<(Self, Meta), CheckpointError> {
        let (_, grammar) = cell.load();
        let Restored {
            pipeline,
            names,
            meta,
            ..
        } = checkpoint::decode(bytes, grammar, &settings.pipeline)?;
        let names = ChannelNames::new(names);
        Ok((Self::with(cell, partition, settings, pipeline, names), meta))
    }

    fn with(
        cell: &Arc<GrammarCell>,
        partition: u32,
        settings: &Settings,
        pipeline: Pipeline,
        names: ChannelNames,
    ) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        let options = Options {
            max_line: settings.max_line,
            report: settings.report,
            strict: false,
            header_first: false,
            speed: None,
            max_ahead_of_clock: None,
        };
        let writer = BatchWriter::new(tx, BATCH);
        let mut ingest = LineIngest::new(Arc::clone(cell), &names, writer, options);
        ingest.begin(format!("partition {partition}"), settings.format);
        let (generation, grammar) = cell.load();
        Self {
            partition,
            pipeline,
            names,
            ingest,
            rx,
            cell: Arc::clone(cell),
            grammar,
            generation,
            record: Vec::with_capacity(512),
            config: settings.pipeline,
            last_input: Instant::now(),
            dirty: false,
        }
    }

    /// The partition number.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The pipeline (for counters).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Whether anything changed since [`PartitionEngine::mark_clean`].
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// Marks the state as written.
    pub fn mark_clean(&mut self) {
        self.dirty = false;
    }

    /// Feeds whole lines (a message's payload; a last line without its
    /// newline ends where the payload ends) and applies them.
    pub fn feed(&mut self, bytes: &[u8], sink: &mut impl RecordSink) {
        self.last_input = Instant::now();
        self.dirty = true;
        // Neither can stop: no strict mode, no header rule, and the receiver
        // lives as long as the ingest.
        let _ = self.ingest.feed(bytes);
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            let _ = self.ingest.feed(b"\n");
        }
        while let Ok(batch) = self.rx.try_recv() {
            self.apply(batch, sink);
        }
    }

    /// True when samples are staged and nothing arrived for `idle`.
    pub fn idle_for(&self, idle: std::time::Duration) -> bool {
        self.pipeline.counters().staged > 0 && self.last_input.elapsed() >= idle
    }

    /// Releases everything staged (idle flush).
    pub fn flush_staged(&mut self, sink: &mut impl RecordSink) {
        self.dirty = true;
        let grammar = Arc::clone(&self.grammar);
        let names = self.names.lock();
        let mut out = Out::new(&grammar, &names, self.partition, &mut self.record, sink);
        self.pipeline.flush_staged(&mut out);
    }

    /// The partition's checkpoint (the engine's codec: pipeline and names).
    pub fn checkpoint(&self, meta: &Meta) -> Vec<u8> {
        let fingerprint = self.fingerprint();
        checkpoint::encode(&self.pipeline, &self.names.lock(), &fingerprint, meta)
    }

    fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.grammar, &self.config)
    }

    /// Episodes open now, all motifs.
    pub fn open_episodes(&self) -> u64 {
        (0..self.grammar.motifs().len())
            .map(|m| self.pipeline.engine().stats(m as u16).open)
            .sum()
    }

    fn apply(&mut self, batch: Batch, sink: &mut impl RecordSink) {
        self.pipeline.add_rejections(&batch.rejected);
        if batch.generation != self.generation && !self.follow_grammar(batch.generation, sink) {
            // Parsed under a grammar already replaced again: the class ids
            // cannot be trusted.
            for _ in &batch.samples {
                self.pipeline.reject(RejectReason::UnknownClass);
            }
            return;
        }
        let grammar = Arc::clone(&self.grammar);
        let names = self.names.lock();
        let mut out = Out::new(&grammar, &names, self.partition, &mut self.record, sink);
        self.pipeline.push_all(&batch.samples, &mut out);
    }

    /// Moves the pipeline to the grammar of `generation` (SIGHUP), if that is
    /// the one in force.
    fn follow_grammar(&mut self, generation: u64, sink: &mut impl RecordSink) -> bool {
        let (now, grammar) = self.cell.load();
        if now != generation {
            return false;
        }
        let old = std::mem::replace(&mut self.grammar, Arc::clone(&grammar));
        let names = self.names.lock();
        let mut out = Out::new(&old, &names, self.partition, &mut self.record, sink);
        self.pipeline.replace_grammar(grammar, &mut out);
        self.generation = now;
        true
    }
}

/// Formats each closed episode and hands it to the [`RecordSink`].
struct Out<'a, S> {
    grammar: &'a Grammar,
    names: &'a Interner,
    partition: u32,
    line: &'a mut Vec<u8>,
    sink: &'a mut S,
}

impl<'a, S: RecordSink> Out<'a, S> {
    fn new(
        grammar: &'a Grammar,
        names: &'a Interner,
        partition: u32,
        line: &'a mut Vec<u8>,
        sink: &'a mut S,
    ) -> Self {
        Self {
            grammar,
            names,
            partition,
            line,
            sink,
        }
    }
}

impl<S: RecordSink> EpisodeSink for Out<'_, S> {
    fn episode(&mut self, e: &Episode) {
        self.line.clear();
        let id = episode_id::write_json(e, self.grammar, self.names, self.partition, self.line);
        let motif = &self.grammar.motif(e.motif).name;
        self.sink
            .record(e, self.line, id, motif, self.names.name(e.channel));
    }
}
