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
//! `accepted = released + staged + dropped` at every moment. Samples are
//! staged in `staging.rs`: those that arrive in order in a queue, the others
//! in a radix heap (`radix_heap.rs`), a monotone priority queue, which fits
//! because nothing below the frontier is ever inserted.

use crate::radix_heap::{key_of, t_of, Entry};
use crate::sample::{ChannelId, Sample};
use crate::staging::Staging;
use motifd_histogram::{FixedHistogram, LATENESS_BOUNDS_SECONDS};
use std::fmt;

mod checkpoint;

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
    staged: Staging,
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
            staged: Staging::default(),
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
        self.staged.push(entry);
        if self.staged.len() > self.max_staged {
            self.release_oldest(release);
        }
    }

    /// The cap is reached: the oldest staged sample goes now. Inlined, not
    /// `#[cold]`: an out-of-line function taking the release callback makes
    /// the callback's captures live in memory for the whole hot loop (twice
    /// the time per sample with window 0 in `benches/reorder.rs`).
    #[inline]
    fn release_oldest(&mut self, release: &mut impl FnMut(&Sample)) {
        if let Some(e) = self.staged.pop() {
            self.counters.released_at_cap += 1;
            self.release_now(t_of(e.key), &e, release);
        }
    }

    #[inline]
    fn release_through(&mut self, cutoff: u64, release: &mut impl FnMut(&Sample)) {
        while let Some(e) = self.staged.pop_at_most(cutoff) {
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
        self.staged.release_room();
    }

    /// Samples staged now.
    pub fn staged(&self) -> usize {
        self.staged.len()
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
        for e in self.staged.entries() {
            f(e.channel);
        }
    }
}

#[cfg(test)]
mod tests;
