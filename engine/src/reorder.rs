//! The reorder buffer: stages samples by event time and releases them in time
//! order (DESIGN §4.4, docs/semantics.md).
//!
//! Rules, with `newest` the largest `t` accepted so far and the *frontier* the
//! largest `t` already released:
//! - a sample with `t < frontier` can no longer be placed in order: it is dropped
//!   and counted (`dropped_out_of_window`);
//! - after every accepted sample, every staged sample with
//!   `t <= newest − window` is released, in `t` order, ties in arrival order.
//!
//! So the released stream is always sorted, and
//! `accepted = released + staged + dropped` at every moment.
//!
//! Staging uses a *radix heap* (Ahuja, Mehlhorn, Orlin & Tarjan, "Faster
//! algorithms for the shortest path problem", JACM 1990) with byte-sized digits:
//! a monotone priority queue, which fits because nothing below the frontier is
//! ever inserted. Keys are the sample times mapped to `u64` in an
//! order-preserving way. A key equal to the last extracted key sits in the
//! `equal` run; any other key sits in bucket `(level, digit)`, where `level` is
//! the highest byte in which it differs from the last extracted key and `digit`
//! is its own value of that byte. Insertion is O(1); an entry only ever moves to
//! a lower level, so it moves at most 8 times over its life (in practice 3 or 4:
//! a 10 s window of Unix-second times spans about 2^25 keys), where one-bit
//! digits would move it about once per bit of that span. Every bucket keeps its
//! entries in arrival order (pushes append, and a bucket is only redistributed
//! while every bucket below it is empty), which is what makes equal times
//! release in arrival order.

use crate::histogram::{FixedHistogram, LATENESS_BOUNDS};
use crate::sample::{ChannelId, ClassId, Sample};

/// Default reorder window, seconds.
pub const DEFAULT_WINDOW: f64 = 10.0;

/// Bytes of a key: levels of the radix heap.
const LEVELS: usize = 8;
/// Values of one byte: buckets per level.
const DIGITS: usize = 256;
/// A redistributed bucket keeps at most this much spare capacity (entries), so a
/// burst does not pin its memory in one of the 2,048 buckets for good.
const KEEP_CAPACITY: usize = 4096;

/// Maps a finite `t` (never `-0.0`) to a `u64` with the same order.
#[inline]
fn key_of(t: f64) -> u64 {
    let bits = t.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Inverse of [`key_of`].
#[inline]
fn t_of(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

/// A staged sample; `t` is kept as its key (24 bytes per entry).
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    value: f64,
    channel: ChannelId,
    class: ClassId,
}

impl Entry {
    #[inline]
    fn sample(&self) -> Sample {
        Sample {
            t: t_of(self.key),
            value: self.value,
            class: self.class,
            channel: self.channel,
        }
    }
}

/// Monotone priority queue on `u64` keys, FIFO among equal keys.
#[derive(Debug, Clone)]
struct RadixHeap {
    /// The last extracted key. Invariant: every stored key is `>= last`.
    last: u64,
    /// Entries whose key equals `last`, consumed front to back from `head`.
    equal: Vec<Entry>,
    head: usize,
    /// `buckets[level * DIGITS + digit]`.
    buckets: Box<[Vec<Entry>]>,
    /// `mins[i]`: smallest key in `buckets[i]` (valid while it is non-empty).
    mins: Box<[u64]>,
    /// Bit `digit` of `occupied[level]` set ⇔ that bucket is non-empty.
    occupied: [[u64; DIGITS / 64]; LEVELS],
    /// Bit `level` set ⇔ some bucket of that level is non-empty.
    levels: u8,
    len: usize,
}

impl RadixHeap {
    fn new() -> Self {
        Self {
            last: 0,
            equal: Vec::new(),
            head: 0,
            buckets: (0..LEVELS * DIGITS).map(|_| Vec::new()).collect(),
            mins: vec![0; LEVELS * DIGITS].into_boxed_slice(),
            occupied: [[0; DIGITS / 64]; LEVELS],
            levels: 0,
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, e: Entry) {
        debug_assert!(e.key >= self.last, "radix heap keys must be monotone");
        self.len += 1;
        let diff = e.key ^ self.last;
        if diff == 0 {
            self.equal.push(e);
            return;
        }
        let level = (63 - diff.leading_zeros()) as usize / 8;
        let digit = (e.key >> (8 * level)) as usize & (DIGITS - 1);
        let i = level * DIGITS + digit;
        let word = &mut self.occupied[level][digit / 64];
        if *word & (1 << (digit % 64)) == 0 {
            *word |= 1 << (digit % 64);
            self.levels |= 1 << level;
            self.mins[i] = e.key;
        } else if e.key < self.mins[i] {
            self.mins[i] = e.key;
        }
        self.buckets[i].push(e);
    }

    /// Index of the lowest non-empty bucket, whose entries are all smaller than
    /// those of every other bucket.
    #[inline]
    fn lowest_bucket(&self) -> Option<usize> {
        if self.levels == 0 {
            return None;
        }
        let level = self.levels.trailing_zeros() as usize;
        let words = &self.occupied[level];
        let w = words
            .iter()
            .position(|&w| w != 0)
            .expect("level bit set without a bucket");
        Some(level * DIGITS + w * 64 + words[w].trailing_zeros() as usize)
    }

    #[inline]
    fn min_key(&self) -> Option<u64> {
        if self.head < self.equal.len() {
            Some(self.last)
        } else {
            self.lowest_bucket().map(|i| self.mins[i])
        }
    }

    #[inline]
    fn pop(&mut self) -> Option<Entry> {
        if self.head == self.equal.len() {
            let i = self.lowest_bucket()?;
            if self.buckets[i].len() == 1 {
                // A lone entry (the common case in the lowest levels) is the
                // minimum itself: take it without a round trip through `equal`.
                let e = self.buckets[i].pop().expect("bucket of one");
                self.vacate(i);
                self.last = e.key;
                self.len -= 1;
                return Some(e);
            }
            self.redistribute(i);
        }
        let e = self.equal[self.head];
        self.head += 1;
        if self.head == self.equal.len() {
            self.equal.clear();
            self.head = 0;
        }
        self.len -= 1;
        Some(e)
    }

    /// Marks bucket `i` empty.
    #[inline]
    fn vacate(&mut self, i: usize) {
        let (level, digit) = (i / DIGITS, i % DIGITS);
        self.occupied[level][digit / 64] &= !(1 << (digit % 64));
        if self.occupied[level].iter().all(|&w| w == 0) {
            self.levels &= !(1 << level);
        }
    }

    /// Makes the minimum of bucket `i`, the lowest non-empty one, the new `last`
    /// and spreads that bucket over `equal` and the lower levels. Every one of
    /// those is empty, so each receives entries in the order they had, which
    /// keeps arrival order within equal keys. Entries elsewhere keep their
    /// bucket: the new `last` agrees with the old one on every byte above the
    /// bucket's level, and on its digit.
    fn redistribute(&mut self, i: usize) {
        self.last = self.mins[i];
        self.vacate(i);
        let mut moving = std::mem::take(&mut self.buckets[i]);
        self.len -= moving.len();
        for e in moving.drain(..) {
            self.push(e);
        }
        moving.shrink_to(KEEP_CAPACITY);
        self.buckets[i] = moving;
    }
}

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
    /// How far behind `newest` each sample arrived (0 for in-order samples).
    pub lateness: FixedHistogram,
}

/// Event-time reorder buffer.
#[derive(Debug, Clone)]
pub struct ReorderBuffer {
    window: f64,
    newest: f64,
    frontier: f64,
    heap: RadixHeap,
    counters: ReorderCounters,
}

/// Checkpoint support: the staged samples in release order, and a buffer
/// rebuilt from them. A radix heap releases equal keys in arrival order
/// whatever its internal layout, so pushing the staged samples back in release
/// order gives a buffer that behaves exactly like the original from then on.
impl ReorderBuffer {
    pub(crate) fn staged_in_order(&self) -> Vec<Sample> {
        let mut heap = self.heap.clone();
        std::iter::from_fn(|| heap.pop().map(|e| e.sample())).collect()
    }

    /// Rebuilds a buffer. The caller has validated `staged` (finite, sorted,
    /// at or above `frontier`).
    pub(crate) fn restored(
        window: f64,
        newest: f64,
        frontier: f64,
        counters: ReorderCounters,
        staged: &[Sample],
    ) -> Self {
        let mut rb = Self::new(window);
        rb.newest = newest;
        rb.frontier = frontier;
        rb.counters = counters;
        for s in staged {
            rb.heap.push(Entry {
                key: key_of(s.t),
                value: s.value,
                channel: s.channel,
                class: s.class,
            });
        }
        rb
    }
}

impl ReorderBuffer {
    /// A buffer with `window` seconds of tolerance (0 = strictly in order).
    ///
    /// # Panics
    /// If `window` is negative or not finite (validate configuration first).
    pub fn new(window: f64) -> Self {
        assert!(
            window >= 0.0 && window.is_finite(),
            "reorder window must be finite and >= 0"
        );
        Self {
            window,
            newest: f64::NEG_INFINITY,
            frontier: f64::NEG_INFINITY,
            heap: RadixHeap::new(),
            counters: ReorderCounters {
                flushed: 0,
                dropped_out_of_window: 0,
                dropped_within_double_window: 0,
                lateness: FixedHistogram::new(LATENESS_BOUNDS),
            },
        }
    }

    /// Stages `s` and releases, in order, everything now at or below
    /// `newest − window`. Returns `false` if `s` was dropped as too late.
    #[inline]
    pub fn push(&mut self, s: Sample, mut release: impl FnMut(&Sample)) -> bool {
        debug_assert!(s.is_valid());
        let t = s.t + 0.0;
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
        if t > self.newest {
            self.newest = t;
            let cutoff = key_of((self.newest - self.window) + 0.0);
            self.release_through(cutoff, &mut release);
        }
        let entry = Entry {
            key: key_of(t),
            value: s.value,
            channel: s.channel,
            class: s.class,
        };
        if t <= self.newest - self.window {
            // Everything staged is above the cutoff, so this sample is next.
            self.frontier = t;
            self.counters.flushed += 1;
            release(&entry.sample());
        } else {
            self.heap.push(entry);
        }
        true
    }

    #[inline]
    fn release_through(&mut self, cutoff: u64, release: &mut impl FnMut(&Sample)) {
        while let Some(k) = self.heap.min_key() {
            if k > cutoff {
                break;
            }
            let e = self.heap.pop().expect("min_key saw an entry");
            self.frontier = t_of(e.key);
            self.counters.flushed += 1;
            release(&e.sample());
        }
    }

    /// Releases everything staged, in order (end of stream, idle flush).
    pub fn flush_all(&mut self, mut release: impl FnMut(&Sample)) {
        self.release_through(u64::MAX, &mut release);
    }

    /// Samples staged now.
    pub fn staged(&self) -> usize {
        self.heap.len
    }

    /// The reorder window, seconds.
    pub fn window(&self) -> f64 {
        self.window
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: f64, value: f64) -> Sample {
        Sample::new(t, 0, 0, value)
    }

    fn run(window: f64, ts: &[f64]) -> (Vec<f64>, ReorderBuffer) {
        let mut rb = ReorderBuffer::new(window);
        let mut out = Vec::new();
        for (i, &t) in ts.iter().enumerate() {
            rb.push(s(t, i as f64), |x| out.push(x.t));
        }
        rb.flush_all(|x| out.push(x.t));
        (out, rb)
    }

    #[test]
    fn keys_preserve_order_and_round_trip() {
        let ts = [
            f64::MIN,
            -1e9,
            -1.5,
            -1e-300,
            0.0,
            1e-300,
            2.5,
            1.7e9,
            f64::MAX,
        ];
        for w in ts.windows(2) {
            assert!(key_of(w[0]) < key_of(w[1]));
        }
        for t in ts {
            assert_eq!(t_of(key_of(t)), t);
        }
        assert_eq!(key_of(-0.0 + 0.0), key_of(0.0));
    }

    #[test]
    fn jitter_inside_the_window_is_sorted() {
        let (out, rb) = run(5.0, &[0.0, 2.0, 1.0, 4.0, 3.0, 5.0, 7.0, 6.0]);
        assert_eq!(out, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(rb.counters().dropped_out_of_window, 0);
    }

    #[test]
    fn releases_exactly_what_is_a_window_behind_newest() {
        let mut rb = ReorderBuffer::new(2.0);
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
        let mut rb = ReorderBuffer::new(1.0);
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
        let mut rb = ReorderBuffer::new(10.0);
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
            let mut rb = ReorderBuffer::new(window);
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
