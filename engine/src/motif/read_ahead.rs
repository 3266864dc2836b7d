//! Stepping a slice of samples with the state of the next ones read first,
//! so that once the engine's state has outgrown the caches their misses
//! overlap (docs/performance.md#engine-state-beyond-the-caches-reading-ahead).

use super::{EpisodeSink, MotifEngine, MotifState};
use crate::sample::Sample;

/// Tracked (motif, channel) states from which [`MotifEngine::process_all`]
/// reads ahead: 2 MB of slots, twice a core's L2 cache here. Below, the
/// state stays cached and reading ahead only costs instructions.
pub const READ_AHEAD_ABOVE: u64 = 16_384;

/// How many samples [`MotifEngine::process_all`] reads ahead. Measured
/// (`cargo bench --bench engine_step`, 100,000 channels): 4 → 11.2, 8 → 12.7,
/// 16 → 14.3, 32 → 15.6, 64 → 15.3 M samples/s.
pub const READ_AHEAD: usize = 32;

impl MotifEngine {
    /// Processes `samples` in order, exactly as [`Self::process`] one by one
    /// would. Once the state has outgrown the caches ([`Self::reads_ahead`])
    /// it reads ahead: before stepping a group of [`READ_AHEAD`] samples it
    /// reads a word of each cache line of state they will touch.
    /// The reads do not depend on one another, so with many channels (state
    /// beyond the caches) their misses overlap instead of following one
    /// another.
    pub fn process_all(&mut self, samples: &[Sample], sink: &mut impl EpisodeSink) {
        if !self.reads_ahead() {
            for s in samples {
                self.process(s, sink);
            }
            return;
        }
        for group in samples.chunks(READ_AHEAD) {
            let mut loaded = 0u64;
            for s in group {
                for motif in self.motifs_of(s) {
                    if let Some(slot) = motif.channels.find(s.channel) {
                        loaded ^= motif.channels.load_lines(slot);
                        loaded ^= motif.trust.load_weight(slot as usize);
                    }
                }
            }
            // Keeps the reads: their value is never used.
            std::hint::black_box(loaded);
            for s in group {
                self.process(s, sink);
            }
        }
    }

    /// True when [`Self::process_all`] reads ahead: the state has outgrown the
    /// caches ([`READ_AHEAD_ABOVE`]).
    #[inline]
    pub fn reads_ahead(&self) -> bool {
        self.counters.channels_tracked >= READ_AHEAD_ABOVE
    }

    /// The states of the motifs watching `s`'s class.
    #[inline]
    fn motifs_of(&self, s: &Sample) -> impl Iterator<Item = &MotifState> {
        let (start, end) = self
            .class_ranges
            .get(s.class as usize)
            .copied()
            .unwrap_or((0, 0));
        self.class_motifs[start as usize..end as usize]
            .iter()
            .map(|&m| &self.motifs[m as usize])
    }
}
