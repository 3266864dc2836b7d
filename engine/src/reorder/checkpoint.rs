//! The reorder buffer's checkpoint part.

use super::ReorderBuffer;
use crate::checkpoint::codec::{malformed, Decoded, Known, Reader, Writer, SAMPLE_BYTES};
use crate::radix_heap::Entry;
use motifd_histogram::LATENESS_BOUNDS_SECONDS;

/// Checkpoint part: the times and counters, then the staged samples in
/// release order. Staging releases equal keys in arrival order whatever its
/// internal layout, so pushing them back in that order gives a buffer that
/// behaves exactly like the original from then on.
impl ReorderBuffer {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.f64(self.newest);
        w.f64(self.frontier);
        let c = &self.counters;
        w.u64s([
            c.flushed,
            c.dropped_out_of_window,
            c.dropped_within_double_window,
            c.released_at_cap,
        ]);
        w.histogram(&c.lateness);
        let staged = self.staged.in_order();
        w.len(staged.len());
        for e in &staged {
            w.sample(&e.sample());
        }
    }

    /// Decodes a buffer configured with `window` and `max_staged`, checking
    /// that its times are ordered and its staged samples sorted, finite,
    /// between the frontier and `newest`, and of known classes and channels.
    pub(crate) fn decode(
        r: &mut Reader<'_>,
        window: f64,
        max_staged: usize,
        known: Known<'_>,
    ) -> Decoded<Self> {
        let mut rb = Self::with_cap(window, max_staged).map_err(|e| malformed(e.to_string()))?;
        rb.newest = r.event_time("newest")?;
        rb.frontier = r.event_time("frontier")?;
        if rb.frontier > rb.newest {
            return Err(malformed(format!(
                "frontier {} is above newest {}",
                rb.frontier, rb.newest
            )));
        }
        let c = &mut rb.counters;
        c.flushed = r.counter("flushed")?;
        c.dropped_out_of_window = r.counter("dropped")?;
        c.dropped_within_double_window = r.counter("dropped within two windows")?;
        c.released_at_cap = r.counter("released at the cap")?;
        c.lateness = r.histogram(LATENESS_BOUNDS_SECONDS, "lateness histogram")?;
        if c.released_at_cap > c.flushed {
            return Err(malformed("more samples released at the cap than released"));
        }
        let n = r.len("staged samples", SAMPLE_BYTES)?;
        let mut previous = rb.frontier;
        for _ in 0..n {
            let s = r.sample("staged sample")?;
            if s.t < previous || s.t > rb.newest {
                return Err(malformed(format!(
                    "staged sample at t = {} is out of order (after {previous}, newest {})",
                    s.t, rb.newest
                )));
            }
            known.sample(&s, "staged sample")?;
            previous = s.t;
            rb.staged.push(Entry::of(&s));
        }
        Ok(rb)
    }
}
