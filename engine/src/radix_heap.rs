//! A radix heap: the monotone priority queue the reorder buffer stages samples
//! in (Ahuja, Mehlhorn, Orlin & Tarjan, "Faster algorithms for the shortest
//! path problem", JACM 1990), with byte-sized digits and FIFO order among
//! equal keys.
//!
//! Keys are sample times mapped to `u64` in an order-preserving way
//! ([`key_of`]). A key equal to the last extracted key sits in the `equal`
//! run; any other key sits in bucket `(level, digit)`, where `level` is the
//! highest byte in which it differs from the last extracted key and `digit` is
//! its own value of that byte. Insertion is O(1); an entry only ever moves to a
//! lower level, so it moves at most 8 times over its life (in practice 3 or 4:
//! a 10 s window of Unix-second times spans about 2^25 keys), where one-bit
//! digits would move it about once per bit of that span. Every bucket keeps its
//! entries in arrival order (pushes append, and a bucket is only redistributed
//! while every bucket below it is empty), which is what makes equal times
//! release in arrival order.

use crate::sample::{ChannelId, ClassId, Sample};

/// Bytes of a key: levels of the radix heap.
const LEVELS: usize = 8;
/// Values of one byte: buckets per level.
const DIGITS: usize = 256;
/// A redistributed bucket keeps at most this much spare capacity (entries), so a
/// burst does not pin its memory in one of the 2,048 buckets for good.
const KEEP_CAPACITY: usize = 4096;

/// Maps a finite `t` (never `-0.0`) to a `u64` with the same order.
#[inline]
pub(crate) fn key_of(t: f64) -> u64 {
    let bits = t.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// Inverse of [`key_of`].
#[inline]
pub(crate) fn t_of(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

/// A staged sample; `t` is kept as its key (24 bytes per entry).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub(crate) key: u64,
    pub(crate) value: f64,
    pub(crate) channel: ChannelId,
    pub(crate) class: ClassId,
}

impl Entry {
    /// The entry of sample `s`.
    #[inline]
    pub(crate) fn of(s: &Sample) -> Self {
        Self {
            key: key_of(s.t),
            value: s.value,
            channel: s.channel,
            class: s.class,
        }
    }

    /// The sample it stands for.
    #[inline]
    pub(crate) fn sample(&self) -> Sample {
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
pub(crate) struct RadixHeap {
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
    /// Entries stored: `equal[head..]` plus every bucket.
    len: usize,
}

impl Default for RadixHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl RadixHeap {
    pub(crate) fn new() -> Self {
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

    // Always inlined: the reorder buffer's hot loop pushes and pops once per
    // sample, and out of line the call alone costs about a tenth of it.
    #[inline(always)]
    pub(crate) fn push(&mut self, e: Entry) {
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
    pub(crate) fn min_key(&self) -> Option<u64> {
        if self.head < self.equal.len() {
            Some(self.last)
        } else {
            self.lowest_bucket().map(|i| self.mins[i])
        }
    }

    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Entry> {
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

    /// Entries stored.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every stored entry, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.equal[self.head..]
            .iter()
            .chain(self.buckets.iter().flatten())
    }

    /// The stored entries in extraction order, without extracting them.
    #[cfg(test)]
    pub(crate) fn in_order(&self) -> Vec<Entry> {
        let mut heap = self.clone();
        std::iter::from_fn(|| heap.pop()).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn pops_in_key_order_with_ties_in_arrival_order() {
        let mut heap = RadixHeap::new();
        let keys = [9u64, 3, 9, 1 << 40, 3, 7, 1 << 40, 8];
        for (i, &key) in keys.iter().enumerate() {
            heap.push(Entry {
                key,
                value: i as f64,
                channel: 0,
                class: 0,
            });
        }
        assert_eq!(heap.len(), keys.len());
        assert_eq!(heap.entries().count(), keys.len());
        let ordered: Vec<f64> = heap.in_order().iter().map(|e| e.value).collect();
        assert_eq!(ordered, [1.0, 4.0, 5.0, 7.0, 0.0, 2.0, 3.0, 6.0]);
        let popped: Vec<f64> = std::iter::from_fn(|| heap.pop()).map(|e| e.value).collect();
        assert_eq!(popped, ordered);
        assert_eq!(heap.len(), 0);
        assert_eq!(heap.min_key(), None);
    }
}
