//! The engine's checkpoint part.

use super::{EngineCounters, EngineLimits, MotifEngine};
use crate::channels::ChannelTable;
use crate::checkpoint::codec::{malformed, Decoded, Known, Reader, Writer};
use crate::episode_stats::EpisodeStats;
use crate::grammar::Grammar;
use crate::trust::TrustTable;
use std::sync::Arc;

/// Checkpoint part: the counters, then per motif its statistics, channel
/// table and trust table.
impl MotifEngine {
    pub(crate) fn encode(&self, w: &mut Writer) {
        let c = self.counters;
        w.u64s([
            c.processed,
            c.channels_tracked,
            c.channels_evicted,
            c.refused_channel_cap,
        ]);
        w.len(self.motifs.len());
        for m in &self.motifs {
            m.stats.encode(w);
            m.channels.encode(w);
            m.trust.encode(w);
        }
    }

    /// Decodes an engine for `grammar` and `limits`, checking that the motifs
    /// match the grammar's and that the open and tracked counts agree with the
    /// slots.
    pub(crate) fn decode(
        r: &mut Reader<'_>,
        grammar: Arc<Grammar>,
        limits: EngineLimits,
        known: Known<'_>,
    ) -> Decoded<Self> {
        let counters = EngineCounters {
            processed: r.counter("processed")?,
            channels_tracked: r.counter("channels tracked")?,
            channels_evicted: r.counter("channels evicted")?,
            refused_channel_cap: r.counter("refused by the channel cap")?,
        };
        let mut engine = MotifEngine::new(grammar, limits);
        if r.len("motifs", 1)? != engine.motifs.len() {
            return Err(malformed("number of motifs differs from the grammar's"));
        }
        let mut tracked = 0u64;
        for (m, state) in engine.motifs.iter_mut().enumerate() {
            let what = |part: &str| format!("motif #{m} {part}");
            state.stats = EpisodeStats::decode(r, &what("statistics"))?;
            state.channels = ChannelTable::decode(r, known, &what("channels"))?;
            state.trust = TrustTable::decode(r, state.channels.capacity(), &what("trust table"))?;
            let open = state
                .channels
                .live_slots()
                .filter(|&s| state.channels.get(s).phase.open_since().is_some())
                .count() as u64;
            if open != state.stats.open {
                return Err(malformed(format!(
                    "{}: {} open episodes counted, {open} in the slots",
                    what("statistics"),
                    state.stats.open
                )));
            }
            tracked += state.channels.live() as u64;
        }
        if tracked != counters.channels_tracked {
            return Err(malformed(format!(
                "{} channels counted as tracked, {tracked} in the slots",
                counters.channels_tracked
            )));
        }
        engine.counters = counters;
        Ok(engine)
    }

    /// About the bytes [`Self::encode`] writes.
    pub(crate) fn encoded_size(&self) -> usize {
        let motifs: usize = self
            .motifs
            .iter()
            .map(|m| 512 + m.channels.encoded_size() + m.trust.encoded_size())
            .sum();
        64 + motifs
    }
}
