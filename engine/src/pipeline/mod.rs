//! The engine thread's whole state: far-future guard → reorder buffer → motif
//! engine, plus the ingest counters that tie them together.
//!
//! Conservation law, true after every call:
//! `received = flushed + staged + dropped_out_of_window + rejected`, where
//! `staged` counts the samples the guard holds as well as those the reorder
//! buffer stages.

mod batch;

use crate::checkpoint::codec::{malformed, Decoded, Known, Reader, Writer};
use crate::future::{FutureGuard, Held, Verdict, DEFAULT_MAX_FUTURE_JUMP, HOLD};
use crate::grammar::Grammar;
use crate::motif::{EngineLimits, EpisodeSink, MotifEngine};
use crate::reject::{RejectCounts, RejectReason};
use crate::reorder::{ReorderBuffer, DEFAULT_MAX_STAGED, DEFAULT_WINDOW};
use crate::sample::{ChannelId, Sample};
use crate::watermark::{Producer, ProducerKey, Watermarks};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Every setting of a [`Pipeline`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PipelineConfig {
    /// Reorder window, seconds: finite, `>= 0`.
    pub window: f64,
    /// A sample more than this many seconds ahead of the newest one is held
    /// aside until the stream confirms it (docs/semantics.md): finite, `> 0`.
    pub max_future_jump: f64,
    /// Most samples the reorder buffer stages; beyond, the oldest is
    /// released early and counted: `>= 1`.
    pub max_staged: usize,
    /// Bounds on the motif engine's state.
    pub limits: EngineLimits,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            max_future_jump: DEFAULT_MAX_FUTURE_JUMP,
            max_staged: DEFAULT_MAX_STAGED,
            limits: EngineLimits::default(),
        }
    }
}

/// A pipeline setting out of range.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidConfig {
    /// The setting's name (as in the configuration file).
    pub key: &'static str,
    /// What it must satisfy, and what it was.
    pub rule: String,
}

impl fmt::Display for InvalidConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.rule)
    }
}

impl std::error::Error for InvalidConfig {}

impl PipelineConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// The first setting out of range.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |key, rule: String| Err(InvalidConfig { key, rule });
        if !(self.window >= 0.0 && self.window.is_finite()) {
            return bad(
                "window",
                format!(
                    "must be a finite number of seconds >= 0, got {}",
                    self.window
                ),
            );
        }
        if !(self.max_future_jump > 0.0 && self.max_future_jump.is_finite()) {
            return bad(
                "max_future_jump",
                format!(
                    "must be a finite number of seconds > 0, got {}",
                    self.max_future_jump
                ),
            );
        }
        if self.max_staged == 0 {
            return bad("max_staged", "must be at least 1".into());
        }
        if let Some(ttl) = self.limits.channel_ttl {
            if !(ttl > 0.0 && ttl.is_finite()) {
                return bad(
                    "channel_ttl",
                    format!("must be a finite number of seconds > 0, got {ttl}"),
                );
            }
        }
        Ok(())
    }
}

/// Guard, reorder buffer and motif engine, fed sample by sample.
pub struct Pipeline {
    /// The settings it was built with.
    config: PipelineConfig,
    /// Holds far-future samples (and the first of the stream) until decided.
    guard: FutureGuard,
    /// Stages admitted samples and releases them in time order.
    reorder: ReorderBuffer,
    /// Per-producer newest times; empty unless fed through [`Self::push_from`].
    /// Not checkpointed: producers are connections, new after a restart.
    watermarks: Watermarks,
    /// Receives the released samples.
    engine: MotifEngine,
    /// Records offered: samples pushed plus records rejected.
    received: u64,
    /// Rejected records by reason, `future_time` included.
    rejected: RejectCounts,
    /// Held samples the guard just decided; at most [`HOLD`], allocated once.
    decided: Vec<(Held, Verdict)>,
    /// Samples the reorder buffer released during a batch call and the engine
    /// has not stepped yet; empty between calls ([`batch`]). At most
    /// [`batch::RELEASED_BATCH`], allocated once.
    released: Vec<Sample>,
}

/// The ingest-side counters of a [`Pipeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestCounters {
    /// Records offered: samples pushed plus records rejected.
    pub received: u64,
    /// Rejected records, by reason.
    pub rejected: RejectCounts,
    /// Samples not yet released nor decided: staged in the reorder buffer or
    /// held by the far-future guard.
    pub staged: u64,
    /// Of `staged`, the samples held as far ahead of the stream (an idle
    /// flush does not release them).
    pub held_future: u64,
    /// Samples released to the motif engine.
    pub flushed: u64,
    /// Of `flushed`, those released early because the reorder buffer was full.
    pub released_at_cap: u64,
    /// Samples dropped below the frontier.
    pub dropped_out_of_window: u64,
    /// Jumps of the whole stream the far-future guard confirmed.
    pub time_jumps: u64,
}

impl Pipeline {
    /// A pipeline for `grammar` with `config`.
    ///
    /// # Errors
    /// A setting out of range (see [`PipelineConfig::validate`]).
    pub fn new(grammar: Arc<Grammar>, config: &PipelineConfig) -> Result<Self, InvalidConfig> {
        config.validate()?;
        let reorder = ReorderBuffer::with_cap(config.window, config.max_staged).map_err(|e| {
            InvalidConfig {
                key: "window",
                rule: e.to_string(),
            }
        })?;
        Ok(Self {
            config: *config,
            guard: FutureGuard::new(config.max_future_jump),
            reorder,
            watermarks: Watermarks::default(),
            engine: MotifEngine::new(grammar, config.limits),
            received: 0,
            rejected: RejectCounts::default(),
            decided: Vec::with_capacity(HOLD),
            released: Vec::with_capacity(batch::RELEASED_BATCH),
        })
    }

    /// The settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Offers one valid sample of a single stream; episodes that close as a
    /// result go to `sink`.
    #[inline]
    pub fn push(&mut self, s: Sample, sink: &mut impl EpisodeSink) {
        self.received += 1;
        if self.guard.is_far(s.t, self.reorder.newest()) {
            return self.hold(s, None, sink);
        }
        let engine = &mut self.engine;
        self.reorder.push(s, |x| engine.process(x, sink));
        if self.guard.holding() {
            self.after_in_range(sink);
        }
    }

    /// Registers producer `key` if it is new and records that it was seen at
    /// `now` (the caller's monotonic clock); call it for every batch, before
    /// [`Self::push_from`] for its samples.
    pub fn producer(&mut self, key: ProducerKey, now: Duration) -> Producer {
        self.watermarks.touch(key, now)
    }

    /// Offers one valid sample from producer `p`. The release cutoff is the
    /// slowest active producer's newest time minus the window
    /// (docs/semantics.md#per-producer-watermarks); with one producer this is
    /// exactly [`Self::push`].
    #[inline]
    pub fn push_from(&mut self, p: Producer, s: Sample, sink: &mut impl EpisodeSink) {
        self.received += 1;
        if self.guard.is_far(s.t, self.reorder.newest()) {
            let key = self.watermarks.key(p);
            return self.hold(s, Some(key), sink);
        }
        self.admit_from(p, s, sink);
        if self.guard.holding() {
            self.after_in_range(sink);
        }
    }

    /// Stops holding the frontier back for producers not seen for longer than
    /// `idle_after` at `now`, and releases what that makes due.
    pub fn expire_idle_producers(
        &mut self,
        now: Duration,
        idle_after: Duration,
        sink: &mut impl EpisodeSink,
    ) {
        self.watermarks.expire(now, idle_after);
        self.release_to_watermark(sink);
    }

    /// Forgets producer `key` (it disconnected) and releases what that makes
    /// due.
    pub fn remove_producer(&mut self, key: ProducerKey, sink: &mut impl EpisodeSink) {
        self.watermarks.remove(key);
        self.release_to_watermark(sink);
    }

    /// The producers' watermarks.
    pub fn watermarks(&self) -> &Watermarks {
        &self.watermarks
    }

    #[inline]
    fn admit_from(&mut self, p: Producer, s: Sample, sink: &mut impl EpisodeSink) {
        self.watermarks.advance(p, s.t);
        let cutoff = self.watermarks.cutoff(self.config.window);
        let engine = &mut self.engine;
        self.reorder
            .push_below(s, cutoff, |x| engine.process(x, sink));
    }

    fn release_to_watermark(&mut self, sink: &mut impl EpisodeSink) {
        let cutoff = self.watermarks.cutoff(self.config.window);
        let engine = &mut self.engine;
        self.reorder
            .release_to(cutoff, &mut |x: &Sample| engine.process(x, sink));
    }

    /// A sample far ahead of the stream (or among its first ones): held.
    #[cold]
    fn hold(&mut self, s: Sample, producer: Option<ProducerKey>, sink: &mut impl EpisodeSink) {
        let h = Held {
            sample: s,
            producer,
        };
        self.guard.hold(h, self.reorder.newest(), &mut self.decided);
        self.apply_decided(sink);
    }

    /// A sample in range was admitted while samples are held.
    #[cold]
    fn after_in_range(&mut self, sink: &mut impl EpisodeSink) {
        self.guard
            .in_range(self.reorder.newest(), self.config.window, &mut self.decided);
        self.apply_decided(sink);
    }

    /// Admits or rejects what the guard decided, in arrival order.
    fn apply_decided(&mut self, sink: &mut impl EpisodeSink) {
        for i in 0..self.decided.len() {
            let (h, verdict) = self.decided[i];
            match verdict {
                Verdict::Reject => self.rejected.add(RejectReason::FutureTime),
                Verdict::Admit => match h.producer.and_then(|k| self.watermarks.get(k)) {
                    Some(p) => self.admit_from(p, h.sample, sink),
                    // Pushed without a producer, or from one since removed:
                    // the other producers' cutoff still holds.
                    None if !self.watermarks.is_empty() => {
                        let cutoff = self.watermarks.cutoff(self.config.window);
                        let engine = &mut self.engine;
                        self.reorder
                            .push_below(h.sample, cutoff, |x| engine.process(x, sink));
                    }
                    None => {
                        let engine = &mut self.engine;
                        self.reorder.push(h.sample, |x| engine.process(x, sink));
                    }
                },
            }
        }
        self.decided.clear();
    }

    /// Counts a record rejected by a parser.
    pub fn reject(&mut self, reason: RejectReason) {
        self.received += 1;
        self.rejected.add(reason);
    }

    /// Counts a batch of rejections made elsewhere (a producer thread).
    pub fn add_rejections(&mut self, counts: &RejectCounts) {
        self.received += counts.total();
        self.rejected.merge(counts);
    }

    /// Releases everything staged to the engine (idle flush). The first
    /// samples of a stream, if still held, are judged first; far-ahead held
    /// samples stay held. Later samples below the new frontier will be
    /// dropped.
    pub fn flush_staged(&mut self, sink: &mut impl EpisodeSink) {
        self.guard.idle(&mut self.decided);
        self.apply_decided(sink);
        let engine = &mut self.engine;
        self.reorder.flush_all(|x| engine.process(x, sink));
    }

    /// End of stream: held samples are decided (far-ahead ones rejected),
    /// everything staged is released, then open episodes are closed by the
    /// end-of-stream rule.
    pub fn finish(&mut self, sink: &mut impl EpisodeSink) {
        self.end_of_stream(sink);
        self.engine.finish(sink);
    }

    fn end_of_stream(&mut self, sink: &mut impl EpisodeSink) {
        self.guard.end(&mut self.decided);
        self.apply_decided(sink);
        let engine = &mut self.engine;
        self.reorder.flush_all(|x| engine.process(x, sink));
    }

    /// Switches the engine to `grammar` (see [`MotifEngine::replace_grammar`]).
    /// The stream ends for the old grammar first — held samples decided,
    /// everything staged released — because those samples carry the old
    /// grammar's class ids.
    pub fn replace_grammar(&mut self, grammar: Arc<Grammar>, sink: &mut impl EpisodeSink) {
        self.end_of_stream(sink);
        self.engine.replace_grammar(grammar, sink);
    }

    /// Ingest counters.
    pub fn counters(&self) -> IngestCounters {
        let r = self.reorder.counters();
        IngestCounters {
            received: self.received,
            rejected: self.rejected,
            staged: (self.reorder.staged() + self.guard.held()) as u64,
            held_future: self.guard.held_future() as u64,
            flushed: r.flushed,
            released_at_cap: r.released_at_cap,
            dropped_out_of_window: r.dropped_out_of_window,
            time_jumps: self.guard.jumps(),
        }
    }

    /// The reorder buffer (for its counters, frontier and newest time).
    pub fn reorder(&self) -> &ReorderBuffer {
        &self.reorder
    }

    /// The motif engine (for its counters and per-motif statistics).
    pub fn engine(&self) -> &MotifEngine {
        &self.engine
    }

    /// Calls `f` with every channel the pipeline refers to: tracked by a
    /// motif, staged, or held. A channel name no call reaches can be freed.
    pub fn for_each_channel(&self, mut f: impl FnMut(ChannelId)) {
        self.reorder.for_each_channel(&mut f);
        self.guard.for_each_channel(&mut f);
        self.engine.for_each_channel(&mut f);
    }
}

impl IngestCounters {
    /// True when `received = flushed + staged + dropped + rejected`.
    pub fn conserved(&self) -> bool {
        self.received
            == self.flushed + self.staged + self.dropped_out_of_window + self.rejected.total()
    }
}

/// Checkpoint part: counters, reorder buffer, guard, engine.
impl Pipeline {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.received);
        w.len(RejectReason::COUNT);
        w.u64s(self.rejected.iter().map(|(_, n)| n));
        self.reorder.encode(w);
        self.guard.encode(w);
        self.engine.encode(w);
    }

    /// Decodes a pipeline for `grammar` and `config` and checks the
    /// conservation law.
    pub(crate) fn decode(
        r: &mut Reader<'_>,
        grammar: Arc<Grammar>,
        config: &PipelineConfig,
        known: Known<'_>,
    ) -> Decoded<Self> {
        let mut p = Self::new(grammar, config).map_err(|e| malformed(e.to_string()))?;
        p.received = r.counter("received")?;
        if r.len("reject reasons", 8)? != RejectReason::COUNT {
            return Err(malformed("reject reasons: wrong number of reasons"));
        }
        for reason in RejectReason::ALL {
            p.rejected.set(reason, r.counter("rejected")?);
        }
        p.reorder = ReorderBuffer::decode(r, config.window, config.max_staged, known)?;
        p.guard = FutureGuard::decode(r, config.max_future_jump, p.reorder.newest(), known)?;
        p.engine = MotifEngine::decode(r, p.engine.grammar().clone(), config.limits, known)?;
        let c = p.counters();
        if !c.conserved() {
            return Err(malformed(
                "counters break conservation (received != flushed + staged + dropped + rejected)",
            ));
        }
        if p.engine.counters().processed != c.flushed {
            return Err(malformed(
                "the engine processed another count than was released",
            ));
        }
        Ok(p)
    }

    /// About the bytes [`Self::encode`] writes.
    pub(crate) fn encoded_size(&self) -> usize {
        1024 + (self.reorder.staged() + self.guard.held()) * 32 + self.engine.encoded_size()
    }
}
