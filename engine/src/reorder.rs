//! The reorder buffer: stages samples by event time and releases them in time
//! order (docs/semantics.md#reorder-buffer).
//!
//! Rules, with `newest` the largest `t` accepted so far and the *frontier* the
//! largest `t` already released:
//! - a sample with `t < frontier` can no longer be placed in order: it is dropped
//!   and counted (`dropped_out_of_window`);
//! - after every accepted sample, every staged sample with `t <= cutoff` is
//!   released, in `t` order, ties in arrival order. The cutoff is
//!   `newest − window` ([`ReorderBuffer::push`]) or one the caller derives from
//!   per-producer watermarks ([`ReorderBuffer::push_below`]);
//! - when more than `max_staged` samples are staged, the oldest is released at
//!   once and counted (`released_at_cap`).
//!
//! So the released stream is always sorted, and
//! `accepted = released + staged + dropped` at every moment. Staging uses a
//! radix heap (`radix_heap.rs`), a monotone priority queue, which fits because
//! nothing below the frontier is ever inserted.

use crate::checkpoint::codec::{malformed, Decoded, Known, Reader, Writer, SAMPLE_BYTES};
use crate::radix_heap::{key_of, t_of, Entry, RadixHeap};
use crate::sample::{ChannelId, Sample};
use motifd_histogram::{FixedHistogram, LATENESS_BOUNDS_SECONDS};
use std::fmt;

/// Default reorder window, seconds.
pub const DEFAULT_WINDOW: f64 = 10.0;

/// Default cap on staged samples: 2^24, about 400 MB of entries (24 bytes
/// each), well above the 10 million a 10 s window holds at 1 M samples/s.
pub const DEFAULT_MAX_STAGED: usize = 1 << 24;

/// A reorder setting out of range.
#[derive(Debug, Clone, PartialEq)]
pub enum InvalidSetting {
    /// The window is negative or not finite.
    Window(f64),
    /// The staged-sample cap is 0.
    MaxStaged,
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Window(w) => write!(f, "window must be a finite number of seconds >= 0, got {w}"),
            Self::MaxStaged => f.write_str("max_staged must be at least 1"),
        }
    }
}

impl std::error::Error for InvalidSetting {}

/// Counters of the reorder buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReorderCounters {
    /// Samples released in time order.
    pub flushed: u64,
    /// Samples dropped because they arrived below the frontier.
    pub dropped_out_of_window: u64,
    /// Of those, the ones no more than two windows older than `newest` at arrival:
    /// roughly what doubling the window would have saved.
    pub dropped_within_double_window: u64,
    /// Of the released samples, those released early because more than
    /// `max_staged` were staged.
    pub released_at_cap: u64,
    /// How far behind `newest` each sample arrived (0 for in-order samples).
    pub lateness: FixedHistogram,
}

/// Event-time reorder buffer.
#[derive(Debug, Clone)]
pub struct ReorderBuffer {
    /// Tolerance in seconds: finite and `>= 0`.
    window: f64,
    /// Most samples staged at once: `>= 1`.
    max_staged: usize,
    /// Largest `t` accepted, −∞ before the first sample. `newest >= frontier`
    /// once anything was released.
    newest: f64,
    /// Largest `t` released, −∞ before the first release. Every staged `t` is
    /// `>= frontier`, which is what keeps the heap's keys monotone.
    frontier: f64,
    /// The staged samples.
    heap: RadixHeap,
    counters: ReorderCounters,
}

impl ReorderBuffer {
    /// A buffer with `window` seconds of tolerance (0 = strictly in order) and
    /// the default cap on staged samples.
    ///
    /// # Errors
    /// If `window` is negative or not finite.
    pub fn new(window: f64) -> Result<Self, InvalidSetting> {
        Self::with_cap(window, DEFAULT_MAX_STAGED)
    }

    /// A buffer staging at most `max_staged` samples.
    ///
    /// # Errors
    /// If `window` is negative or not finite, or `max_staged` is 0.
    pub fn with_cap(window: f64, max_staged: usize) -> Result<Self, InvalidSetting> {
        if !(window >= 0.0 && window.is_finite()) {
            return Err(InvalidSetting::Window(window));
        }
        if max_staged == 0 {
            return Err(InvalidSetting::MaxStaged);
        }
        Ok(Self {
            window,
            max_staged,
            newest: f64::NEG_INFINITY,
            frontier: f64::NEG_INFINITY,
            heap: RadixHeap::new(),
            counters: ReorderCounters {
                flushed: 0,
                dropped_out_of_window: 0,
                dropped_within_double_window: 0,
                released_at_cap: 0,
                lateness: FixedHistogram::new(LATENESS_BOUNDS_SECONDS),
            },
        })
    }

    /// Stages `s` and releases, in order, everything now at or below
    /// `newest − window`. Returns `false` if `s` was dropped as too late.
    #[inline]
    pub fn push(&mut self, s: Sample, mut release: impl FnMut(&Sample)) -> bool {
        debug_assert!(s.is_valid());
        let t = s.t + 0.0;
        if !self.admit(t) {
            return false;
        }
        if t > self.newest {
            self.newest = t;
            let cutoff = key_of((self.newest - self.window) + 0.0);
            self.release_through(cutoff, &mut release);
        }
        let entry = Entry::of(&Sample { t, ..s });
        if t <= self.newest - self.window {
            // Everything staged is above the cutoff, so this sample is next.
            self.release_now(t, &entry, &mut release);
        } else {
            self.stage(entry, &mut release);
        }
        true
    }

    /// Like [`Self::push`], with the release cutoff given by the caller
    /// instead of `newest − window` (per-producer watermarks): everything
    /// staged at or below `cutoff` is released, then `s` is released at once
    /// if it is at or below it too, staged otherwise. Returns `false` if `s`
    /// was dropped as too late.
    #[inline]
    pub fn push_below(&mut self, s: Sample, cutoff: f64, mut release: impl FnMut(&Sample)) -> bool {
        debug_assert!(s.is_valid());
        let t = s.t + 0.0;
        if !self.admit(t) {
            return false;
        }
        self.newest = self.newest.max(t);
        self.release_to(cutoff, &mut release);
        let entry = Entry::of(&Sample { t, ..s });
        if t <= cutoff {
            self.release_now(t, &entry, &mut release);
        } else {
            self.stage(entry, &mut release);
        }
        true
    }

    /// Counts `t`'s lateness; drops it (and says so) if it is below the
    /// frontier.
    #[inline]
    fn admit(&mut self, t: f64) -> bool {
        let lateness = if t < self.newest {
            self.newest - t
        } else {
            0.0
        };
        self.counters.lateness.observe(lateness);
        if t < self.frontier {
            self.counters.dropped_out_of_window += 1;
            if lateness <= 2.0 * self.window {
                self.counters.dropped_within_double_window += 1;
            }
            return false;
        }
        true
    }

    /// Releases `entry`, whose time is `t`: the new frontier.
    #[inline]
    fn release_now(&mut self, t: f64, entry: &Entry, release: &mut impl FnMut(&Sample)) {
        self.frontier = t;
        self.counters.flushed += 1;
        release(&entry.sample());
    }

    #[inline]
    fn stage(&mut self, entry: Entry, release: &mut impl FnMut(&Sample)) {
        self.heap.push(entry);
        if self.heap.len() > self.max_staged {
            self.release_oldest(release);
        }
    }

    /// The cap is reached: the oldest staged sample goes now. Inlined, not
    /// `#[cold]`: an out-of-line function taking the release callback makes
    /// the callback's captures live in memory for the whole hot loop (twice
    /// the time per sample with window 0 in `benches/reorder.rs`).
    #[inline]
    fn release_oldest(&mut self, release: &mut impl FnMut(&Sample)) {
        if let Some(e) = self.heap.pop() {
            self.counters.released_at_cap += 1;
            self.release_now(t_of(e.key), &e, release);
        }
    }

    #[inline]
    fn release_through(&mut self, cutoff: u64, release: &mut impl FnMut(&Sample)) {
        while let Some(k) = self.heap.min_key() {
            if k > cutoff {
                break;
            }
            let e = self.heap.pop().expect("min_key saw an entry");
            self.release_now(t_of(e.key), &e, release);
        }
    }

    /// Releases, in order, everything staged at or below `cutoff` (a
    /// watermark that moved without a new sample).
    #[inline]
    pub fn release_to(&mut self, cutoff: f64, release: &mut impl FnMut(&Sample)) {
        if cutoff.is_nan() || cutoff == f64::NEG_INFINITY {
            return;
        }
        let key = if cutoff == f64::INFINITY {
            u64::MAX
        } else {
            key_of(cutoff + 0.0)
        };
        self.release_through(key, release);
    }

    /// Releases everything staged, in order (end of stream, idle flush).
    pub fn flush_all(&mut self, mut release: impl FnMut(&Sample)) {
        self.release_through(u64::MAX, &mut release);
    }

    /// Samples staged now.
    pub fn staged(&self) -> usize {
        self.heap.len()
    }

    /// The reorder window, seconds.
    pub fn window(&self) -> f64 {
        self.window
    }

    /// The cap on staged samples.
    pub fn max_staged(&self) -> usize {
        self.max_staged
    }

    /// Largest `t` accepted (−∞ before the first sample).
    pub fn newest(&self) -> f64 {
        self.newest
    }

    /// Largest `t` released (−∞ before the first release).
    pub fn frontier(&self) -> f64 {
        self.frontier
    }

    /// Counters.
    pub fn counters(&self) -> &ReorderCounters {
        &self.counters
    }

    /// Calls `f` with the channel of every staged sample.
    pub(crate) fn for_each_channel(&self, mut f: impl FnMut(ChannelId)) {
        for e in self.heap.entries() {
            f(e.channel);
        }
    }
}

/// Checkpoint part: the times and counters, then the staged samples in
/// release order. A radix heap releases equal keys in arrival order whatever
/// its internal layout, so pushing them back in that order gives a buffer that
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
        let staged = self.heap.in_order();
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
            rb.heap.push(Entry::of(&s));
        }
        Ok(rb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, value: f64) -> Sample {
        Sample::new(t, 0, 0, value)
    }

    fn buffer(window: f64) -> ReorderBuffer {
        ReorderBuffer::new(window).unwrap()
    }

    fn run(window: f64, ts: &[f64]) -> (Vec<f64>, ReorderBuffer) {
        let mut rb = buffer(window);
        let mut out = Vec::new();
        for (i, &t) in ts.iter().enumerate() {
            rb.push(s(t, i as f64), |x| out.push(x.t));
        }
        rb.flush_all(|x| out.push(x.t));
        (out, rb)
    }

    #[test]
    fn a_bad_window_or_cap_is_an_error_not_a_panic() {
        for w in [-1.0, f64::NAN, f64::INFINITY] {
            let err = ReorderBuffer::new(w).unwrap_err();
            assert!(err.to_string().starts_with("window must be"), "{err}");
        }
        assert_eq!(
            ReorderBuffer::with_cap(1.0, 0).unwrap_err(),
            InvalidSetting::MaxStaged
        );
    }

    #[test]
    fn jitter_inside_the_window_is_sorted() {
        let (out, rb) = run(5.0, &[0.0, 2.0, 1.0, 4.0, 3.0, 5.0, 7.0, 6.0]);
        assert_eq!(out, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(rb.counters().dropped_out_of_window, 0);
    }

    #[test]
    fn releases_exactly_what_is_a_window_behind_newest() {
        let mut rb = buffer(2.0);
        let mut out = Vec::new();
        for t in [1.0, 2.0, 3.0] {
            rb.push(s(t, 0.0), |x| out.push(x.t));
        }
        assert_eq!(out, [1.0], "3 − 2 = 1 releases t ≤ 1 only");
        assert_eq!(rb.staged(), 2);
        rb.push(s(10.0, 0.0), |x| out.push(x.t));
        assert_eq!(out, [1.0, 2.0, 3.0]);
        assert_eq!(rb.frontier(), 3.0);
    }

    #[test]
    fn samples_below_the_frontier_are_dropped_not_reordered() {
        // The reference keeps 2.5 (within a window of the frontier 3) and releases
        // it after 3; here it is dropped so the output stays sorted.
        let mut rb = buffer(1.0);
        let mut out = Vec::new();
        for t in [1.0, 2.0, 3.0, 4.0] {
            rb.push(s(t, 0.0), |x| out.push(x.t));
        }
        assert_eq!(rb.frontier(), 3.0);
        assert!(!rb.push(s(2.5, 0.0), |x| out.push(x.t)));
        assert!(
            rb.push(s(3.0, 0.0), |x| out.push(x.t)),
            "a tie with the frontier is fine"
        );
        rb.flush_all(|x| out.push(x.t));
        assert_eq!(out, [1.0, 2.0, 3.0, 3.0, 4.0]);
        let c = rb.counters();
        assert_eq!((c.flushed, c.dropped_out_of_window), (5, 1));
        assert_eq!(c.dropped_within_double_window, 1);
    }

    #[test]
    fn equal_times_release_in_arrival_order() {
        let mut rb = buffer(10.0);
        let mut out = Vec::new();
        let arrivals = [
            (5.0, 0.0),
            (3.0, 1.0),
            (5.0, 2.0),
            (3.0, 3.0),
            (4.0, 4.0),
            (5.0, 5.0),
        ];
        for (t, v) in arrivals {
            rb.push(s(t, v), |x| out.push(x.value));
        }
        rb.flush_all(|x| out.push(x.value));
        assert_eq!(out, [1.0, 3.0, 4.0, 0.0, 2.0, 5.0]);
    }

    #[test]
    fn at_the_cap_the_oldest_staged_sample_is_released_and_counted() {
        let mut rb = ReorderBuffer::with_cap(100.0, 3).unwrap();
        let mut out = Vec::new();
        for t in [5.0, 1.0, 3.0, 2.0, 4.0] {
            rb.push(s(t, 0.0), |x| out.push(x.t));
        }
        assert_eq!(out, [1.0, 2.0], "the fourth and fifth push each free one");
        assert_eq!(rb.staged(), 3);
        assert_eq!(rb.counters().released_at_cap, 2);
        assert!(
            !rb.push(s(1.5, 0.0), |x| out.push(x.t)),
            "below the frontier"
        );
        rb.flush_all(|x| out.push(x.t));
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(rb.counters().flushed, 5);
    }

    #[test]
    fn a_caller_cutoff_releases_like_newest_minus_window() {
        let ts = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 12.0];
        let (mut a, mut b) = (buffer(2.0), buffer(2.0));
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        let mut newest = f64::NEG_INFINITY;
        for (i, &t) in ts.iter().enumerate() {
            newest = f64::max(newest, t);
            let pa = a.push(s(t, i as f64), |x| out_a.push(x.value));
            let pb = b.push_below(s(t, i as f64), newest - 2.0, |x| out_b.push(x.value));
            assert_eq!(pa, pb, "sample {i}");
            assert_eq!(out_a, out_b, "sample {i}");
        }
        assert_eq!(a.counters(), b.counters());
        let mut later = Vec::new();
        b.release_to(f64::INFINITY, &mut |x: &Sample| later.push(x.t));
        assert_eq!(b.staged(), 0);
        assert!(later.windows(2).all(|w| w[0] <= w[1]));
    }

    /// The staged set as a plain list, released by a stable sort: the rules of
    /// the module doc, spelled out the slow way.
    fn model(window: f64, arrivals: &[(f64, f64)]) -> (Vec<(f64, f64)>, u64) {
        let (mut staged, mut out) = (Vec::<(f64, f64)>::new(), Vec::new());
        let (mut newest, mut frontier, mut dropped) = (f64::NEG_INFINITY, f64::NEG_INFINITY, 0);
        for &(t, v) in arrivals {
            if t < frontier {
                dropped += 1;
                continue;
            }
            newest = newest.max(t);
            staged.push((t, v));
            staged.sort_by(|a, b| a.0.total_cmp(&b.0));
            let n = staged.partition_point(|x| x.0 <= newest - window);
            for x in staged.drain(..n) {
                frontier = x.0;
                out.push(x);
            }
        }
        out.append(&mut staged);
        (out, dropped)
    }

    #[test]
    fn matches_a_stable_sort_on_jittered_arrivals() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        for round in 0..200 {
            let window = [0.0, 0.5, 3.0, 10.0][round % 4];
            let base = [0.0, -40.0, 1.7e9, 1e-3][round / 4 % 4];
            let mut arrivals = Vec::new();
            for i in 0..rng.gen_range(1..400) {
                // Coarse times make ties frequent; some arrivals are very late.
                let jitter = rng.gen_range(-6.0..6.0_f64);
                let t = base
                    + (i as f64 * 0.25 + jitter * f64::from(rng.gen_range(0..2))).round() / 4.0;
                arrivals.push((t + 0.0, i as f64));
            }
            let (expected, dropped) = model(window, &arrivals);
            let mut rb = buffer(window);
            let mut out = Vec::new();
            for &(t, v) in &arrivals {
                rb.push(s(t, v), |x| out.push((x.t, x.value)));
            }
            rb.flush_all(|x| out.push((x.t, x.value)));
            assert_eq!(out, expected, "round {round}");
            assert_eq!(rb.counters().dropped_out_of_window, dropped);
            assert_eq!(rb.staged(), 0);
        }
    }

    #[test]
    fn zero_window_is_strictly_in_order() {
        let (out, rb) = run(0.0, &[1.0, 2.0, 1.5, 2.0, 3.0]);
        assert_eq!(out, [1.0, 2.0, 2.0, 3.0]);
        assert_eq!(rb.counters().dropped_out_of_window, 1);
        assert_eq!(rb.staged(), 0);
    }
}
