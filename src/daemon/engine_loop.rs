//! The engine thread: owns the pipeline, applies batches, writes episodes,
//! publishes metric snapshots, flushes on idle, reloads the grammar and drains
//! everything on shutdown.

use super::checkpointing::Checkpointer;
use super::episode_log::EpisodeLog;
use super::live::LiveFeed;
use super::metrics::MetricsFiller;
use super::sources::{Running, SourceReport};
use super::StartState;
use crate::grammar::GrammarCell;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use motifd_engine::ingest::Batch;
use motifd_engine::{
    ChannelNames, Episode, Grammar, IngestCounters, Pipeline, RejectReason, Sample,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the loop wakes up without input (publish, idle flush, signals).
const TICK: Duration = Duration::from_millis(100);
/// How often a snapshot is published.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// Signals the loop watches.
pub struct Control {
    /// SIGTERM / SIGINT seen.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP seen.
    pub reload: Arc<AtomicBool>,
    /// SIGUSR1 seen: write a checkpoint now.
    pub checkpoint_now: Arc<AtomicBool>,
    /// Reads and validates the grammar the configuration names now.
    pub load_grammar: Box<dyn Fn() -> Result<Grammar, crate::error::Failure>>,
}

/// What the loop did, for the shutdown log line.
pub struct Outcome {
    /// Idle flushes performed.
    pub idle_flushes: u64,
    /// Grammar reloads applied.
    pub reloads: u64,
}

/// Engine-thread state.
pub struct EngineLoop {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The grammar in force (shared with the sources).
    grammar_cell: Arc<GrammarCell>,
    /// Channel names (to print episodes).
    names: ChannelNames,
    /// Episode log, if any.
    log: Option<EpisodeLog>,
    /// Snapshot publishing.
    metrics: MetricsFiller,
    /// Flush everything staged after this long without a sample.
    idle_flush: Duration,
    /// Every grammar in force before the current one, by generation (to map
    /// batches parsed under it; reloads are rare, so this stays tiny).
    past_grammars: Vec<(u64, Arc<Grammar>)>,
    /// Checkpoint writer, if checkpoints are configured.
    checkpointer: Option<Checkpointer>,
    /// The running sources (for their counters, and to stop them).
    sources: Vec<Box<dyn Running>>,
    /// The live page's episode ring, if the page is served.
    live: Option<LiveFeed>,
    /// Origin of the monotonic time the pipeline's producers are seen at.
    clock: Instant,
}

/// When the loop last saw a sample, expired idle producers and published.
struct Timers {
    last_sample: Instant,
    last_expiry: Instant,
    last_publish: Instant,
}

/// Episode sink of the engine thread: appends to the episode log and keeps
/// the live page's ring.
struct LogSink<'a> {
    log: &'a mut Option<EpisodeLog>,
    live: &'a mut Option<LiveFeed>,
    grammar: &'a Grammar,
    names: &'a motifd_engine::intern::Interner,
}

impl motifd_engine::EpisodeSink for LogSink<'_> {
    fn episode(&mut self, e: &Episode) {
        if let Some(log) = self.log.as_mut() {
            log.append(e, self.grammar, self.names);
        }
        if let Some(live) = self.live.as_mut() {
            live.closed(e, self.names);
        }
    }

    fn opened(&mut self, motif: u16, channel: motifd_engine::ChannelId, t_start: f64) {
        if let Some(live) = self.live.as_mut() {
            live.opened(motif, channel, t_start, self.names);
        }
    }

    fn discarded(&mut self, motif: u16, channel: motifd_engine::ChannelId) {
        if let Some(live) = self.live.as_mut() {
            live.discarded(motif, channel);
        }
    }
}

impl EngineLoop {
    /// The loop over `state`, publishing through `metrics`.
    pub fn new(
        state: StartState,
        grammar_cell: Arc<GrammarCell>,
        metrics: MetricsFiller,
        idle_flush: Duration,
        sources: Vec<Box<dyn Running>>,
        live: Option<LiveFeed>,
    ) -> Self {
        Self {
            pipeline: state.pipeline,
            grammar_cell,
            names: state.names,
            log: state.log,
            metrics,
            idle_flush,
            past_grammars: Vec::new(),
            checkpointer: state.checkpointer,
            sources,
            live,
            clock: Instant::now(),
        }
    }

    /// Stops every source; returns the final counters and the episodes
    /// logged.
    pub fn stop_sources(self) -> (IngestCounters, u64) {
        for source in self.sources {
            log::debug!("stopping source {}", source.name());
            source.stop();
        }
        let logged = self.log.as_ref().map_or(0, |l| l.written);
        (self.pipeline.counters(), logged)
    }

    /// Publishes a snapshot with the sources' counters.
    fn publish(&mut self, grammar: &Grammar, channel_depth: usize) {
        let mut report = SourceReport::default();
        for source in &self.sources {
            source.report(&mut report);
        }
        self.metrics
            .publish(&self.pipeline, grammar, channel_depth, &report);
    }

    /// Runs until stopped or until every source has ended, then drains and
    /// finishes. Returns what it did.
    pub fn run(&mut self, rx: &Receiver<Batch>, control: &Control) -> Outcome {
        let (mut generation, mut grammar) = self.grammar_cell.load();
        let mut outcome = Outcome {
            idle_flushes: 0,
            reloads: 0,
        };
        let mut timers = Timers {
            last_sample: Instant::now(),
            last_expiry: Instant::now(),
            last_publish: Instant::now() - PUBLISH_EVERY,
        };
        let stopped_by_signal;
        loop {
            match rx.recv_timeout(TICK) {
                Ok(batch) => {
                    if !batch.samples.is_empty() {
                        timers.last_sample = Instant::now();
                    }
                    self.apply(batch, generation, &grammar);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // A stop signal makes every source end too, and their
                    // last sender may go before this loop sees the flag:
                    // the flag, not the disconnect, says why input ended.
                    stopped_by_signal = control.stop.load(Ordering::Acquire);
                    if stopped_by_signal {
                        log::info!("stop signal received: draining");
                    } else {
                        log::info!("all sources ended");
                    }
                    break;
                }
            }
            self.release_idle(&grammar, &mut timers, &mut outcome);
            if control.reload.swap(false, Ordering::AcqRel) {
                if let Some(next) = self.reload(control, &grammar) {
                    self.past_grammars.push((generation, Arc::clone(&grammar)));
                    grammar = next;
                    generation = self.grammar_cell.replace(Arc::clone(&grammar));
                    outcome.reloads += 1;
                }
            }
            if timers.last_publish.elapsed() >= PUBLISH_EVERY {
                self.publish(&grammar, rx.len());
                self.publish_live();
                if let Some(log) = &mut self.log {
                    log.sync_if_due();
                }
                timers.last_publish = Instant::now();
            }
            self.checkpoint_if_due(control);
            if control.stop.load(Ordering::Acquire) {
                log::info!("stop signal received: draining");
                stopped_by_signal = true;
                break;
            }
        }
        self.drain(rx, generation, &grammar, stopped_by_signal);
        outcome
    }

    /// After `idle_flush` without a sample, releases everything staged; every
    /// tick, stops waiting for producers silent that long.
    fn release_idle(&mut self, grammar: &Grammar, timers: &mut Timers, outcome: &mut Outcome) {
        // Samples held as far ahead of the stream wait for the stream, not
        // for the clock: an idle flush does not release them.
        let c = self.pipeline.counters();
        if c.staged > c.held_future && timers.last_sample.elapsed() >= self.idle_flush {
            self.with_sink(grammar, |p, sink| p.flush_staged(sink));
            outcome.idle_flushes += 1;
            log::debug!("idle flush: released {} staged samples", c.staged);
        }
        if timers.last_expiry.elapsed() >= TICK {
            // A connected producer silent for as long as an idle flush waits
            // stops holding the others back.
            let (now, idle) = (self.clock.elapsed(), self.idle_flush);
            self.with_sink(grammar, |p, sink| p.expire_idle_producers(now, idle, sink));
            timers.last_expiry = Instant::now();
        }
    }

    /// Writes a checkpoint when SIGUSR1 asked for one or the interval is up.
    fn checkpoint_if_due(&mut self, control: &Control) {
        let asked = control.checkpoint_now.swap(false, Ordering::AcqRel);
        if asked && self.checkpointer.is_none() {
            log::warn!("SIGUSR1: no checkpoint file is configured, nothing written");
        }
        if asked || self.checkpointer.as_ref().is_some_and(Checkpointer::due) {
            self.checkpoint(asked);
        }
    }

    /// The episode log's length after an fsync: what a checkpoint records.
    fn synced_log_len(&mut self) -> Option<u64> {
        self.log.as_mut().and_then(|log| {
            log.sync();
            log.byte_len()
        })
    }

    /// Hands a checkpoint to the writer thread (`requested`: by SIGUSR1).
    fn checkpoint(&mut self, requested: bool) {
        let log_len = self.synced_log_len();
        if let Some(checkpointer) = self.checkpointer.as_mut() {
            checkpointer.write_in_background(&self.pipeline, &self.names, log_len, requested);
        }
    }

    /// Writes a checkpoint before returning. Returns whether it was written.
    fn checkpoint_now(&mut self) -> bool {
        let log_len = self.synced_log_len();
        self.checkpointer
            .as_mut()
            .is_some_and(|c| c.write_now(&self.pipeline, &self.names, log_len))
    }

    /// Shutdown: take every batch still queued. On a stop signal with
    /// checkpoints configured, checkpoint everything staged and every open
    /// episode, to be continued by the next start. Otherwise (end of input,
    /// no checkpoints, or a checkpoint that could not be written) release
    /// everything staged and close open episodes by the end-of-stream rule;
    /// with checkpoints configured, the finished state is then checkpointed,
    /// so a restart does not replay an older one.
    fn drain(
        &mut self,
        rx: &Receiver<Batch>,
        generation: u64,
        grammar: &Arc<Grammar>,
        stopped_by_signal: bool,
    ) {
        // Sources stop within their poll interval; keep taking batches until the
        // channel has been empty for a moment so their last sends arrive too.
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_millis(300) {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(batch) => {
                    self.apply(batch, generation, grammar);
                    quiet_since = Instant::now();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let staged = self.pipeline.counters().staged;
        let open = open_episodes(&self.pipeline, grammar);
        if stopped_by_signal && self.checkpointer.is_some() {
            if self.checkpoint_now() {
                log::info!("shutdown: checkpoint written with {staged} staged samples and {open} open episodes; they continue at the next start");
                self.publish(grammar, 0);
                return;
            }
            log::error!(
                "shutdown: the checkpoint could not be written, closing everything instead"
            );
        }
        self.with_sink(grammar, |p, sink| p.flush_staged(sink));
        let open = open_episodes(&self.pipeline, grammar);
        self.with_sink(grammar, |p, sink| p.finish(sink));
        log::info!("shutdown: released {staged} staged samples, applied the end-of-stream rule to {open} open episodes");
        if self.checkpointer.is_some() {
            self.checkpoint_now();
        }
        self.publish(grammar, 0);
        self.publish_live();
        if let Some(log) = &mut self.log {
            log.sync();
        }
    }

    fn publish_live(&mut self) {
        if let Some(live) = &mut self.live {
            live.publish(self.pipeline.reorder().newest());
        }
    }

    /// Applies one producer's batch under its watermark
    /// (docs/semantics.md#per-producer-watermarks).
    fn apply(&mut self, batch: Batch, generation: u64, grammar: &Arc<Grammar>) {
        self.pipeline.add_rejections(&batch.rejected);
        let key = batch.producer;
        let producer = self.pipeline.producer(key, self.clock.elapsed());
        if batch.generation == generation {
            self.metrics
                .probe_batch(&batch.samples, self.pipeline.reorder().frontier());
            self.with_sink(grammar, |p, sink| {
                p.push_all_from(producer, &batch.samples, sink)
            });
        } else {
            // Parsed under an older grammar: map class ids by name.
            let older = self
                .past_grammars
                .iter()
                .find(|(g, _)| *g == batch.generation)
                .map(|(_, g)| Arc::clone(g));
            let remapped: Vec<Result<Sample, RejectReason>> = batch
                .samples
                .iter()
                .map(|s| {
                    let name = older
                        .as_ref()
                        .and_then(|g| g.classes().get(s.class as usize))
                        .map(String::as_bytes);
                    match name.and_then(|n| grammar.class_id(n)) {
                        Some(class) => Ok(Sample { class, ..*s }),
                        None => Err(RejectReason::UnknownClass),
                    }
                })
                .collect();
            self.with_sink(grammar, |p, sink| {
                for r in remapped {
                    match r {
                        Ok(s) => p.push_from(producer, s, sink),
                        Err(reason) => p.reject(reason),
                    }
                }
            });
        }
        if batch.ends_producer {
            self.with_sink(grammar, |p, sink| p.remove_producer(key, sink));
        }
        // The batch's samples are in the pipeline now: its pin on the name
        // table goes before the table is collected (a no-op unless every
        // source follows the table).
        drop(batch);
        self.names.collect(&self.pipeline);
        self.metrics
            .observe_releases(self.pipeline.reorder().frontier());
    }

    fn reload(&mut self, control: &Control, current: &Arc<Grammar>) -> Option<Arc<Grammar>> {
        match (control.load_grammar)() {
            Err(e) => {
                log::error!("SIGHUP: keeping the current grammar: {e}");
                None
            }
            Ok(next) if next == **current => {
                log::info!("SIGHUP: grammar unchanged");
                None
            }
            Ok(next) => {
                let next = Arc::new(next);
                let grammar = Arc::clone(&next);
                self.with_sink(current, |p, sink| p.replace_grammar(grammar, sink));
                if let Some(live) = &mut self.live {
                    live.set_grammar(&next);
                }
                log::info!(
                    "SIGHUP: grammar replaced ({} motifs); open episodes were closed by the end-of-stream rule and every channel starts afresh",
                    next.motifs().len()
                );
                Some(next)
            }
        }
    }

    /// Runs `f` with an episode sink that logs and counts each episode.
    fn with_sink(&mut self, grammar: &Grammar, f: impl FnOnce(&mut Pipeline, &mut LogSink<'_>)) {
        let names = self.names.lock();
        let mut sink = LogSink {
            log: &mut self.log,
            live: &mut self.live,
            grammar,
            names: &names,
        };
        f(&mut self.pipeline, &mut sink);
    }
}

/// Episodes open now, all motifs.
fn open_episodes(pipeline: &Pipeline, grammar: &Grammar) -> u64 {
    (0..grammar.motifs().len())
        .map(|m| pipeline.engine().stats(m as u16).open)
        .sum()
}
