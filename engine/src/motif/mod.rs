//! The online motif engine: consumes time-ordered samples one at a time and
//! emits episodes as they close (docs/semantics.md#per-channel-step).
//!
//! Per motif and channel it runs the DSFB observer ([`crate::dsfb`]) and the dwell
//! state machine ([`crate::dwell`]); per motif it keeps the trust normaliser
//! ([`crate::trust`]). Per sample the work is O(1): one slot lookup by dense
//! channel id per motif watching the sample's class, no allocation once the
//! channel is tracked, no string handling.

use crate::channels::ChannelTable;
use crate::dwell::{classify, Phase, Step};
use crate::episode::{ClosedBy, Episode};
pub use crate::episode_stats::EpisodeStats;
use crate::grammar::{Grammar, MotifId, MotifParams};
use crate::sample::{ChannelId, Sample};
use crate::trust::{raw_weight, TrustTable};
use std::sync::Arc;

mod checkpoint;
mod read_ahead;

pub use read_ahead::{READ_AHEAD, READ_AHEAD_ABOVE};

/// Receives closed episodes (and, if it wants, openings and discards).
pub trait EpisodeSink {
    /// Called once per closed episode, in close order.
    fn episode(&mut self, episode: &Episode);

    /// Called when motif `motif` opens an episode on `channel` at `t_start`.
    /// It later closes ([`EpisodeSink::episode`]) or is discarded
    /// ([`EpisodeSink::discarded`]). Default: nothing.
    #[inline]
    fn opened(&mut self, motif: MotifId, channel: ChannelId, t_start: f64) {
        let _ = (motif, channel, t_start);
    }

    /// Called when an open episode ends without being reported: the
    /// end-of-stream rule found it shorter than the motif's dwell time.
    /// Default: nothing.
    #[inline]
    fn discarded(&mut self, motif: MotifId, channel: ChannelId) {
        let _ = (motif, channel);
    }
}

impl<F: FnMut(&Episode)> EpisodeSink for F {
    fn episode(&mut self, episode: &Episode) {
        self(episode)
    }
}

/// Bounds on the engine's state (docs/semantics.md#bounded-state).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineLimits {
    /// Evict a (motif, channel) after this many event-time seconds without a
    /// sample, closing its episode by the end-of-stream rule. `None`: never.
    pub channel_ttl: Option<f64>,
    /// Most (motif, channel) states tracked at once; a sample that would start
    /// tracking one more is refused and counted.
    pub max_channels: usize,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            channel_ttl: None,
            max_channels: 1_000_000,
        }
    }
}

/// Engine-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Samples processed (each counted once, whatever the number of motifs).
    pub processed: u64,
    /// (motif, channel) states tracked now.
    pub channels_tracked: u64,
    /// (motif, channel) states evicted by the TTL so far.
    pub channels_evicted: u64,
    /// Samples refused by a motif because the channel cap was reached.
    pub refused_channel_cap: u64,
}

/// Everything one motif keeps.
///
/// Invariants: `trust` covers every slot of `channels` (a free slot weighs
/// 0); `stats.open` is the number of live slots whose phase has an episode
/// open.
struct MotifState {
    /// The motif's parameters, copied from the grammar.
    params: MotifParams,
    /// Per-channel observer and dwell state.
    channels: ChannelTable,
    /// Raw trust weights by slot and the motif's normaliser.
    trust: TrustTable,
    /// Closed and open episodes, for the exporter.
    stats: EpisodeStats,
}

/// The online engine. Feed it time-ordered samples ([`MotifEngine::process`]),
/// then call [`MotifEngine::finish`] at end of stream.
///
/// Invariant: `counters.channels_tracked` is the sum of the live slots of every
/// motif, and never exceeds `limits.max_channels`.
pub struct MotifEngine {
    /// The grammar the motifs come from.
    grammar: Arc<Grammar>,
    /// One state per motif, in grammar order.
    motifs: Vec<MotifState>,
    limits: EngineLimits,
    counters: EngineCounters,
    /// `class_motifs[class_ranges[c].0 .. class_ranges[c].1]`: motifs of class `c`
    /// (a flat copy of the grammar's table, so the hot path touches no `Arc`).
    class_ranges: Vec<(u32, u32)>,
    class_motifs: Vec<MotifId>,
}

impl MotifEngine {
    /// An engine for `grammar` with `limits`.
    pub fn new(grammar: Arc<Grammar>, limits: EngineLimits) -> Self {
        let motifs = grammar
            .motifs()
            .iter()
            .map(|m| MotifState {
                params: m.params,
                channels: ChannelTable::new(),
                trust: TrustTable::default(),
                stats: EpisodeStats::default(),
            })
            .collect();
        let mut class_ranges = Vec::new();
        let mut class_motifs = Vec::new();
        for c in 0..grammar.classes().len() {
            let start = class_motifs.len() as u32;
            class_motifs.extend_from_slice(grammar.motifs_of(c as crate::ClassId));
            class_ranges.push((start, class_motifs.len() as u32));
        }
        Self {
            class_ranges,
            class_motifs,
            grammar,
            motifs,
            limits,
            counters: EngineCounters::default(),
        }
    }

    /// The grammar.
    pub fn grammar(&self) -> &Arc<Grammar> {
        &self.grammar
    }

    /// Engine-wide counters.
    pub fn counters(&self) -> EngineCounters {
        self.counters
    }

    /// Episodes open now, as (motif, channel, opening time): for a reader that
    /// starts watching an engine restored from a checkpoint. O(channels).
    pub fn open_episodes(&self) -> Vec<(MotifId, ChannelId, f64)> {
        let mut out = Vec::new();
        for (m, motif) in self.motifs.iter().enumerate() {
            for slot in motif.channels.live_slots() {
                let st = motif.channels.get(slot);
                if let Some(t) = st.phase.open_since() {
                    out.push((m as MotifId, st.channel, t));
                }
            }
        }
        out
    }

    /// Statistics of one motif.
    pub fn stats(&self, motif: MotifId) -> &EpisodeStats {
        &self.motifs[motif as usize].stats
    }

    /// The limits.
    pub fn limits(&self) -> &EngineLimits {
        &self.limits
    }

    /// Calls `f` with the channel of every tracked (motif, channel).
    pub fn for_each_channel(&self, mut f: impl FnMut(ChannelId)) {
        for m in &self.motifs {
            for slot in m.channels.live_slots() {
                f(m.channels.get(slot).channel);
            }
        }
    }

    /// Processes one sample. Samples must come in non-decreasing `t` (the reorder
    /// buffer guarantees it); the sample's class must be one of the grammar's.
    #[inline]
    pub fn process(&mut self, s: &Sample, sink: &mut impl EpisodeSink) {
        self.counters.processed += 1;
        let (start, end) = self
            .class_ranges
            .get(s.class as usize)
            .copied()
            .unwrap_or((0, 0));
        for i in start..end {
            let m = self.class_motifs[i as usize];
            self.step_motif(m, s, sink);
        }
    }

    #[inline]
    fn step_motif(&mut self, m: MotifId, s: &Sample, sink: &mut impl EpisodeSink) {
        if let Some(ttl) = self.limits.channel_ttl {
            self.evict_idle(m, s.t - ttl, sink);
        }
        let motif = &mut self.motifs[m as usize];
        let slot = match motif.channels.find(s.channel) {
            Some(slot) => slot,
            None => {
                if self.counters.channels_tracked >= self.limits.max_channels as u64 {
                    self.counters.refused_channel_cap += 1;
                    return;
                }
                self.counters.channels_tracked += 1;
                let slot = motif.channels.insert(s.channel, s.t);
                motif.trust.ensure(slot as usize);
                slot
            }
        };
        if self.limits.channel_ttl.is_some() {
            motif.channels.touch(slot);
        }
        let p = motif.params;
        let st = motif.channels.get_mut(slot);
        let ema = st.observer.step(s.value, s.t - st.last_t, p.rho);
        st.last_t = s.t;
        let magnitude = s.value.abs();
        if s.t == st.tie_t {
            st.tie_peak = st.tie_peak.max(magnitude);
        } else {
            st.tie_t = s.t;
            st.tie_peak = magnitude;
        }
        let env = classify(s.value, ema, p.drift_threshold, p.slew_threshold);
        let step = st.phase.advance(env, s.t, p.min_dwell_seconds);
        match step {
            Step::Opened => {
                st.peak = st.tie_peak;
                st.samples = 1;
                motif.stats.open += 1;
                sink.opened(m, s.channel, s.t);
            }
            Step::Unchanged if st.phase == Phase::Stable => {}
            Step::Unchanged | Step::Closed { .. } => {
                st.peak = st.peak.max(magnitude);
                st.samples += 1;
            }
        }
        motif.trust.set(slot as usize, raw_weight(p.sigma0, ema));
        if let Step::Closed { t_open } = step {
            motif.stats.open -= 1;
            Self::close(motif, m, slot, t_open, s.t, ClosedBy::Dwell, sink);
        }
    }

    /// Emits the episode of `slot` as `[t_open, t_end]` with the slot's current
    /// figures. The caller has already left the episode's phase.
    fn close(
        motif: &mut MotifState,
        m: MotifId,
        slot: u32,
        t_open: f64,
        t_end: f64,
        closed_by: ClosedBy,
        sink: &mut impl EpisodeSink,
    ) {
        let trust = motif.trust.at_close(slot as usize);
        let st = motif.channels.get(slot);
        let episode = Episode {
            motif: m,
            channel: st.channel,
            t_start: t_open,
            t_end,
            peak: st.peak,
            ema_at_boundary: st.observer.ema,
            trust_sum: trust.sum,
            trust_weight: trust.weight,
            samples: st.samples,
            closed_by,
        };
        let stats = &mut motif.stats;
        stats.episodes += 1;
        stats.last_peak = episode.peak;
        stats.last_trust_sum = episode.trust_sum;
        stats.duration.observe(episode.duration());
        stats.peak.observe(episode.peak);
        sink.episode(&episode);
    }

    /// End-of-stream rule for one slot: an open episode at least a dwell long is
    /// closed at the channel's last sample; a shorter one is discarded.
    fn end_episode(
        motif: &mut MotifState,
        m: MotifId,
        slot: u32,
        closed_by: ClosedBy,
        sink: &mut impl EpisodeSink,
    ) {
        let st = motif.channels.get_mut(slot);
        let Some(t_open) = st.phase.open_since() else {
            return;
        };
        st.phase = Phase::Stable;
        let last_t = st.last_t;
        motif.stats.open -= 1;
        if last_t - t_open >= motif.params.min_dwell_seconds {
            Self::close(motif, m, slot, t_open, last_t, closed_by, sink);
        } else {
            sink.discarded(m, motif.channels.get(slot).channel);
        }
    }

    /// Evicts motif `m`'s channels whose last sample is older than `before`.
    fn evict_idle(&mut self, m: MotifId, before: f64, sink: &mut impl EpisodeSink) {
        let motif = &mut self.motifs[m as usize];
        while let Some(slot) = motif.channels.oldest() {
            if motif.channels.get(slot).last_t >= before {
                break;
            }
            Self::end_episode(motif, m, slot, ClosedBy::Evicted, sink);
            motif.trust.set(slot as usize, 0.0);
            motif.channels.remove(slot);
            self.counters.channels_tracked -= 1;
            self.counters.channels_evicted += 1;
        }
    }

    /// Evicts, in every motif, the channels idle for longer than the TTL at event
    /// time `now`. `process` already does this for the motifs a sample touches;
    /// this reaches motifs that receive no samples at all.
    pub fn evict_all_idle(&mut self, now: f64, sink: &mut impl EpisodeSink) {
        if let Some(ttl) = self.limits.channel_ttl {
            for m in 0..self.motifs.len() {
                self.evict_idle(m as MotifId, now - ttl, sink);
            }
        }
    }

    /// Switches to `grammar`: every open episode is first closed by the
    /// end-of-stream rule (as at shutdown), then all channels start afresh under
    /// the new motifs. Statistics of motifs whose name survives carry over;
    /// counters continue.
    pub fn replace_grammar(&mut self, grammar: Arc<Grammar>, sink: &mut impl EpisodeSink) {
        self.finish(sink);
        let mut old: Vec<(String, EpisodeStats)> = self
            .grammar
            .motifs()
            .iter()
            .zip(self.motifs.drain(..))
            .map(|(spec, state)| (spec.name.clone(), state.stats))
            .collect();
        let counters = self.counters;
        *self = MotifEngine::new(grammar, self.limits);
        self.counters = counters;
        for (spec, state) in self.grammar.motifs().iter().zip(&mut self.motifs) {
            if let Some(i) = old.iter().position(|(name, _)| *name == spec.name) {
                state.stats = old.swap_remove(i).1;
            }
        }
    }

    /// Applies the end-of-stream rule to every open episode (grammar order, then
    /// slot order) and forgets all channel state.
    pub fn finish(&mut self, sink: &mut impl EpisodeSink) {
        for (m, motif) in self.motifs.iter_mut().enumerate() {
            let slots: Vec<u32> = motif.channels.live_slots().collect();
            for slot in slots {
                Self::end_episode(motif, m as MotifId, slot, ClosedBy::EndOfStream, sink);
            }
            self.counters.channels_tracked -= motif.channels.live() as u64;
            motif.channels = ChannelTable::new();
            motif.trust = TrustTable::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::MotifSpec;

    #[test]
    fn replacing_the_grammar_closes_open_episodes_and_keeps_surviving_stats() {
        let grammar = Arc::new(Grammar::default());
        let mut engine = MotifEngine::new(Arc::clone(&grammar), EngineLimits::default());
        let class = grammar.class_id(b"contention").unwrap();
        let closed = std::cell::RefCell::new(Vec::new());
        let mut sink = |e: &Episode| closed.borrow_mut().push(*e);
        for i in 0..100 {
            let v = if (5..10).contains(&i) || i >= 95 {
                2.0
            } else {
                0.0
            };
            engine.process(&Sample::new(i as f64, class, 1, v), &mut sink);
        }
        let closed = || closed.borrow().clone();
        assert_eq!(closed().len(), 1, "one dwell close before the switch");
        let mut specs = vec![grammar.motifs()[2].clone()];
        specs.push(MotifSpec {
            name: "extra".into(),
            ..grammar.motifs()[0].clone()
        });
        engine.replace_grammar(Arc::new(Grammar::new(specs).unwrap()), &mut sink);
        assert_eq!(closed().len(), 2, "the open episode closed at the switch");
        assert_eq!(closed()[1].closed_by, ClosedBy::EndOfStream);
        assert_eq!(
            engine.stats(0).episodes,
            2,
            "contention_ramp stats carried over"
        );
        assert_eq!(engine.stats(1).episodes, 0);
        assert_eq!(engine.counters().channels_tracked, 0);
        assert_eq!(engine.counters().processed, 100);
    }
}
