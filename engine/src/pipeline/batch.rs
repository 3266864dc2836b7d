//! Feeding a pipeline a batch of samples at a time.
//!
//! Once the engine's state has outgrown the caches
//! ([`MotifEngine::reads_ahead`]), what the reorder buffer releases during the call is collected and stepped
//! through [`MotifEngine::process_all`], which reads the state of the samples
//! ahead so that their cache misses overlap. Releases, episodes and their
//! order, and every counter are those of pushing the samples one by one; only
//! when, within the call, the engine steps a released sample differs. Nothing
//! reads the engine in between: the reorder buffer and the far-future guard
//! decide without it, and the call returns with nothing collected.

use super::Pipeline;
use crate::motif::{EpisodeSink, MotifEngine};
use crate::sample::Sample;
use crate::watermark::Producer;

/// Most released samples collected before the engine steps them.
pub(super) const RELEASED_BATCH: usize = 256;

impl Pipeline {
    /// Offers `samples` of a single stream, in order: [`Self::push`] for each.
    pub fn push_all(&mut self, samples: &[Sample], sink: &mut impl EpisodeSink) {
        if !self.engine.reads_ahead() {
            for &s in samples {
                self.push(s, sink);
            }
            return;
        }
        for &s in samples {
            if self.guard.holding() || self.guard.is_far(s.t, self.reorder.newest()) {
                // The guard's rare paths release on their own: step what was
                // collected first, so the engine sees release order.
                self.step_released(sink);
                self.push(s, sink);
                continue;
            }
            self.received += 1;
            let (engine, released) = (&mut self.engine, &mut self.released);
            self.reorder.push(s, |x| collect(engine, released, x, sink));
        }
        self.step_released(sink);
    }

    /// Offers `samples` from producer `p`, in order: [`Self::push_from`] for
    /// each.
    pub fn push_all_from(&mut self, p: Producer, samples: &[Sample], sink: &mut impl EpisodeSink) {
        if !self.engine.reads_ahead() {
            for &s in samples {
                self.push_from(p, s, sink);
            }
            return;
        }
        for &s in samples {
            if self.guard.holding() || self.guard.is_far(s.t, self.reorder.newest()) {
                self.step_released(sink);
                self.push_from(p, s, sink);
                continue;
            }
            self.received += 1;
            self.watermarks.advance(p, s.t);
            let cutoff = self.watermarks.cutoff(self.config.window);
            let (engine, released) = (&mut self.engine, &mut self.released);
            self.reorder
                .push_below(s, cutoff, |x| collect(engine, released, x, sink));
        }
        self.step_released(sink);
    }

    /// Steps the collected samples and forgets them.
    fn step_released(&mut self, sink: &mut impl EpisodeSink) {
        if !self.released.is_empty() {
            self.engine.process_all(&self.released, sink);
            self.released.clear();
        }
    }
}

/// Collects one released sample; a full collection is stepped at once, so it
/// never grows past [`RELEASED_BATCH`] whatever one push releases.
#[inline]
fn collect(
    engine: &mut MotifEngine,
    released: &mut Vec<Sample>,
    x: &Sample,
    sink: &mut impl EpisodeSink,
) {
    released.push(*x);
    if released.len() == RELEASED_BATCH {
        engine.process_all(released, sink);
        released.clear();
    }
}
