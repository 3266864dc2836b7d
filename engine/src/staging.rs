//! Where the reorder buffer stages samples: a run of the samples that arrived
//! in time order, and a radix heap for the rest.
//!
//! Most samples arrive in order or nearly so. A sample whose key is at least
//! the largest key appended to the run so far is appended to it, so the run is
//! sorted, in arrival order among equal keys, and costs a queue append and a
//! pop. Only a sample that arrived after a later one goes to the radix heap,
//! whose entries move down its levels several times before they are released
//! (docs/performance.md#the-reorder-buffer).
//!
//! Release takes the smaller of the two minimums, the run's on a tie. That
//! keeps arrival order among equal keys: a heap entry of key `k` arrived when
//! the run's largest key was already above `k`, and that largest key never
//! decreases, so every run entry of key `k` arrived before it.

use crate::radix_heap::{Entry, RadixHeap};
use std::collections::VecDeque;

/// Entries of room the run keeps after a flush, so a burst does not pin its
/// memory for good.
const RUN_KEEP_CAPACITY: usize = 4096;

/// Samples staged by the reorder buffer, released smallest key first and in
/// arrival order among equal keys.
///
/// Invariants: `run` is sorted by key and every key in it is at most
/// `run_last`; every key in either part is at least the last key released;
/// `heap_min` is the heap's smallest key, `u64::MAX` when it is empty.
#[derive(Debug, Clone)]
pub(crate) struct Staging {
    /// Samples that arrived in key order, oldest first.
    run: VecDeque<Entry>,
    /// The largest key ever appended to `run` (0 before the first).
    run_last: u64,
    /// Samples that arrived after one with a larger key.
    heap: RadixHeap,
    /// The heap's smallest key, kept here so that choosing between the two
    /// parts does not search the heap's buckets at every release.
    heap_min: u64,
}

impl Default for Staging {
    fn default() -> Self {
        Self {
            run: VecDeque::new(),
            run_last: 0,
            heap: RadixHeap::new(),
            heap_min: u64::MAX,
        }
    }
}

impl Staging {
    /// Stages `e`; its key must be at least the last key released.
    #[inline(always)]
    pub(crate) fn push(&mut self, e: Entry) {
        if e.key >= self.run_last {
            self.run_last = e.key;
            self.run.push_back(e);
        } else {
            self.heap_min = self.heap_min.min(e.key);
            self.heap.push(e);
        }
    }

    /// Removes and returns the first entry in release order if its key is at
    /// most `cutoff`.
    #[inline(always)]
    pub(crate) fn pop_at_most(&mut self, cutoff: u64) -> Option<Entry> {
        match self.run.front() {
            Some(r) if r.key <= self.heap_min => {
                if r.key > cutoff {
                    return None;
                }
                self.run.pop_front()
            }
            _ => {
                if self.heap_min > cutoff {
                    return None;
                }
                let e = self.heap.pop();
                self.heap_min = self.heap.min_key().unwrap_or(u64::MAX);
                e
            }
        }
    }

    /// Gives back the run's room beyond [`RUN_KEEP_CAPACITY`] entries when
    /// nothing is staged (after a flush; not on the release path, where even
    /// the test costs instructions per sample).
    #[inline(never)]
    pub(crate) fn release_room(&mut self) {
        if self.run.is_empty() {
            self.run.shrink_to(RUN_KEEP_CAPACITY);
        }
    }

    /// Removes and returns the first entry in release order.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.pop_at_most(u64::MAX)
    }

    /// Entries staged.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.run.len() + self.heap.len()
    }

    /// Every staged entry, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.run.iter().chain(self.heap.entries())
    }

    /// The staged entries in release order, without releasing them.
    pub(crate) fn in_order(&self) -> Vec<Entry> {
        let mut staged = self.clone();
        std::iter::from_fn(|| staged.pop()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: u64, arrival: u32) -> Entry {
        Entry {
            key,
            value: 0.0,
            channel: arrival,
            class: 0,
        }
    }

    /// Releases equal keys in arrival order across both parts, and
    /// everything smallest key first, like a stable sort of the arrivals.
    #[test]
    fn releases_like_a_stable_sort_of_the_arrivals() {
        let keys = [5u64, 7, 5, 9, 7, 6, 9, 5, 12, 10, 10, 11, 12, 8];
        let mut staging = Staging::default();
        for (arrival, &key) in keys.iter().enumerate() {
            staging.push(entry(key, arrival as u32));
        }
        assert!(staging.run.len() > 1 && staging.heap.len() > 1);
        let mut expected: Vec<(u64, u32)> = keys
            .iter()
            .enumerate()
            .map(|(arrival, &key)| (key, arrival as u32))
            .collect();
        expected.sort_by_key(|&(key, _)| key);
        assert_eq!(staging.pop_at_most(4).map(|e| e.key), None);
        let got: Vec<(u64, u32)> = std::iter::from_fn(|| staging.pop())
            .map(|e| (e.key, e.channel))
            .collect();
        assert_eq!(got, expected);
        assert_eq!(staging.len(), 0);
    }

    /// A burst's room is given back once it has drained.
    #[test]
    fn a_drained_burst_gives_its_room_back() {
        let mut staging = Staging::default();
        let burst = 100 * RUN_KEEP_CAPACITY;
        for key in 0..burst as u64 {
            staging.push(entry(key, 0));
        }
        assert!(staging.run.capacity() >= burst);
        for _ in 0..burst - 1 {
            staging.pop();
        }
        staging.release_room();
        assert!(
            staging.run.capacity() >= burst,
            "room kept while entries remain"
        );
        staging.pop();
        staging.release_room();
        assert_eq!(staging.len(), 0);
        assert!(
            staging.run.capacity() <= RUN_KEEP_CAPACITY,
            "{}",
            staging.run.capacity()
        );
    }
}
