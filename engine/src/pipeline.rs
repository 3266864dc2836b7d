//! The engine thread's whole state: reorder buffer → motif engine, plus the
//! ingest counters that tie them together.
//!
//! Conservation law, true after every call:
//! `received = flushed + staged + dropped_out_of_window + rejected`.

use crate::grammar::Grammar;
use crate::motif::{EngineLimits, EpisodeSink, MotifEngine};
use crate::reject::{RejectCounts, RejectReason};
use crate::reorder::ReorderBuffer;
use crate::sample::Sample;
use std::sync::Arc;

/// Reorder buffer and motif engine, fed sample by sample.
pub struct Pipeline {
    pub(crate) reorder: ReorderBuffer,
    pub(crate) engine: MotifEngine,
    pub(crate) received: u64,
    pub(crate) rejected: RejectCounts,
}

/// The ingest-side counters of a [`Pipeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestCounters {
    /// Records offered: samples pushed plus records rejected.
    pub received: u64,
    /// Rejected records, by reason.
    pub rejected: RejectCounts,
    /// Samples staged in the reorder buffer now.
    pub staged: u64,
    /// Samples released to the motif engine.
    pub flushed: u64,
    /// Samples dropped below the frontier.
    pub dropped_out_of_window: u64,
}

impl Pipeline {
    /// A pipeline with a `window`-second reorder buffer.
    ///
    /// # Panics
    /// If `window` is negative or not finite.
    pub fn new(grammar: Arc<Grammar>, window: f64, limits: EngineLimits) -> Self {
        Self {
            reorder: ReorderBuffer::new(window),
            engine: MotifEngine::new(grammar, limits),
            received: 0,
            rejected: RejectCounts::default(),
        }
    }

    /// Offers one valid sample; episodes that close as a result go to `sink`.
    #[inline]
    pub fn push(&mut self, s: Sample, sink: &mut impl EpisodeSink) {
        self.received += 1;
        let engine = &mut self.engine;
        self.reorder.push(s, |x| engine.process(x, sink));
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

    /// Releases everything staged to the engine (idle flush). Later samples below
    /// the new frontier will be dropped.
    pub fn flush_staged(&mut self, sink: &mut impl EpisodeSink) {
        let engine = &mut self.engine;
        self.reorder.flush_all(|x| engine.process(x, sink));
    }

    /// End of stream: release everything staged, then close open episodes by the
    /// end-of-stream rule.
    pub fn finish(&mut self, sink: &mut impl EpisodeSink) {
        self.flush_staged(sink);
        self.engine.finish(sink);
    }

    /// Switches the engine to `grammar` (see [`MotifEngine::replace_grammar`]).
    /// Everything staged is released to the old grammar first, because staged
    /// samples carry the old grammar's class ids.
    pub fn replace_grammar(&mut self, grammar: Arc<Grammar>, sink: &mut impl EpisodeSink) {
        self.flush_staged(sink);
        self.engine.replace_grammar(grammar, sink);
    }

    /// Ingest counters.
    pub fn counters(&self) -> IngestCounters {
        let r = self.reorder.counters();
        IngestCounters {
            received: self.received,
            rejected: self.rejected,
            staged: self.reorder.staged() as u64,
            flushed: r.flushed,
            dropped_out_of_window: r.dropped_out_of_window,
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
}

impl IngestCounters {
    /// True when `received = flushed + staged + dropped + rejected`.
    pub fn conserved(&self) -> bool {
        self.received
            == self.flushed + self.staged + self.dropped_out_of_window + self.rejected.total()
    }
}
