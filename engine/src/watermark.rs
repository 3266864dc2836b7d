//! Per-producer watermarks (docs/semantics.md#per-producer-watermarks).
//!
//! With one frontier for everything, a producer that runs a little behind the
//! others in event time — a slow link, a delayed shipper — has its in-order
//! samples dropped as late. Fed through [`crate::Pipeline::push_from`], the
//! pipeline instead releases up to
//!
//! ```text
//! cutoff = min over active producers of (their newest t) − window
//! ```
//!
//! A producer is *active* from its first sample until it has not been seen for
//! longer than the caller's idle limit ([`Watermarks::expire`]); an idle or
//! removed producer stops holding the frontier back. The cutoff never
//! decreases: a producer that comes back behind it has its late samples
//! dropped, as any late sample is. With no active producer the cutoff stays
//! where it was (an idle flush releases the rest).
//!
//! The engine has no clock: the caller passes its own monotonic time
//! ([`Duration`] since any origin) when it sees a producer.
//!
//! Cost: updating a producer's newest time is O(1). The minimum is kept with
//! a lower bound of the second smallest newest time; only when the slowest
//! producer passes that bound, or a producer starts, stops or goes idle, are
//! the producers scanned. With producers taking turns that is about once per
//! round of them, so O(1) amortised per sample; producers leapfrogging each
//! other on every sample would cost a scan each time (bounded by the number
//! of producers the caller admits).

use rustc_hash::FxHashMap;
use std::time::Duration;

/// The caller's name for a producer (a connection number, a file index).
pub type ProducerKey = u64;

/// A registered producer, as [`Watermarks::touch`] returned it. Valid until
/// the producer is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer(u32);

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The caller's key; meaningless while `used` is false.
    key: ProducerKey,
    /// Largest `t` seen from it, −∞ before its first sample.
    newest: f64,
    /// Caller time when it was last seen.
    last_seen: Duration,
    /// Holds the frontier back: it has sent a sample and is not idle.
    active: bool,
    /// The slot belongs to a registered producer.
    used: bool,
}

/// Newest times and activity of the producers feeding one pipeline.
///
/// Invariants: `index` maps exactly the keys of the used slots to them;
/// `free` lists the unused ones; `min` is the smallest `newest` over active
/// slots (+∞ when there is none) and `argmin` one slot holding it; `second`
/// is at most the second smallest `newest` over active slots (+∞ with fewer
/// than two); `cutoff` never decreases.
#[derive(Debug, Clone)]
pub struct Watermarks {
    slots: Vec<Slot>,
    index: FxHashMap<ProducerKey, u32>,
    free: Vec<u32>,
    min: f64,
    argmin: u32,
    second: f64,
    /// The largest cutoff handed out, −∞ before the first.
    cutoff: f64,
}

impl Default for Watermarks {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            index: FxHashMap::default(),
            free: Vec::new(),
            min: f64::INFINITY,
            argmin: 0,
            second: f64::INFINITY,
            cutoff: f64::NEG_INFINITY,
        }
    }
}

impl Watermarks {
    /// Registers `key` if it is new, and records that it was seen at `now`
    /// (an idle producer that sends again holds the frontier back again).
    pub fn touch(&mut self, key: ProducerKey, now: Duration) -> Producer {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let slot = Slot {
                    key,
                    newest: f64::NEG_INFINITY,
                    last_seen: now,
                    active: false,
                    used: true,
                };
                let i = match self.free.pop() {
                    Some(i) => {
                        self.slots[i as usize] = slot;
                        i
                    }
                    None => {
                        self.slots.push(slot);
                        (self.slots.len() - 1) as u32
                    }
                };
                self.index.insert(key, i);
                i
            }
        };
        let s = &mut self.slots[i as usize];
        s.last_seen = now;
        if !s.active && s.newest > f64::NEG_INFINITY {
            s.active = true;
            self.rescan();
        }
        Producer(i)
    }

    /// The producer registered as `key`, if any.
    pub fn get(&self, key: ProducerKey) -> Option<Producer> {
        self.index.get(&key).map(|&i| Producer(i))
    }

    /// The key of `p`.
    pub fn key(&self, p: Producer) -> ProducerKey {
        self.slots[p.0 as usize].key
    }

    /// Records a sample at `t` from `p`.
    #[inline]
    pub fn advance(&mut self, p: Producer, t: f64) {
        let s = &mut self.slots[p.0 as usize];
        if t <= s.newest {
            return;
        }
        s.newest = t;
        if !s.active {
            s.active = true;
            self.rescan();
        } else if p.0 == self.argmin {
            if t > self.second {
                self.rescan();
            } else {
                self.min = t;
            }
        }
    }

    /// Stops holding the frontier back for producers last seen more than
    /// `idle_after` before `now`.
    pub fn expire(&mut self, now: Duration, idle_after: Duration) {
        let mut changed = false;
        for s in &mut self.slots {
            if s.used && s.active && now.saturating_sub(s.last_seen) > idle_after {
                s.active = false;
                changed = true;
            }
        }
        if changed {
            self.rescan();
        }
    }

    /// Forgets `key` (a producer that disconnected).
    pub fn remove(&mut self, key: ProducerKey) {
        if let Some(i) = self.index.remove(&key) {
            self.slots[i as usize] = Slot {
                key: 0,
                newest: f64::NEG_INFINITY,
                last_seen: Duration::ZERO,
                active: false,
                used: false,
            };
            self.free.push(i);
            self.rescan();
        }
    }

    /// The release cutoff for `window`: the smallest newest time of the
    /// active producers minus the window, never lower than a cutoff returned
    /// before; −∞ until a producer has sent a sample.
    #[inline]
    pub fn cutoff(&mut self, window: f64) -> f64 {
        if self.min < f64::INFINITY {
            let c = self.min - window;
            if c > self.cutoff {
                self.cutoff = c;
            }
        }
        self.cutoff
    }

    /// Producers registered.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No producer is registered.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Producers holding the frontier back now.
    pub fn active(&self) -> usize {
        self.slots.iter().filter(|s| s.used && s.active).count()
    }

    /// The smallest newest time over active producers (+∞ with none).
    pub fn slowest(&self) -> f64 {
        self.min
    }

    /// Recomputes `min`, `argmin` and `second` exactly.
    fn rescan(&mut self) {
        let (mut min, mut argmin, mut second) = (f64::INFINITY, 0u32, f64::INFINITY);
        for (i, s) in self.slots.iter().enumerate() {
            if !(s.used && s.active) {
                continue;
            }
            if s.newest < min {
                second = min;
                min = s.newest;
                argmin = i as u32;
            } else if s.newest < second {
                second = s.newest;
            }
        }
        (self.min, self.argmin, self.second) = (min, argmin, second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// The minimum the slow way.
    fn slowest(w: &Watermarks) -> f64 {
        w.slots
            .iter()
            .filter(|s| s.used && s.active)
            .map(|s| s.newest)
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn the_cutoff_follows_the_slowest_active_producer() {
        let mut w = Watermarks::default();
        let a = w.touch(1, S);
        let b = w.touch(2, S);
        assert_eq!(w.cutoff(10.0), f64::NEG_INFINITY, "no sample yet");
        w.advance(a, 100.0);
        assert_eq!(w.cutoff(10.0), 90.0, "b has sent nothing: it holds nothing");
        w.advance(b, 95.0);
        assert_eq!(w.cutoff(10.0), 90.0, "never lower than before");
        w.advance(b, 120.0);
        assert_eq!(w.cutoff(10.0), 90.0, "a is the slowest now");
        w.advance(a, 130.0);
        assert_eq!(w.cutoff(10.0), 110.0);
        // b goes quiet: after the idle limit it stops holding a back.
        w.touch(1, 10 * S);
        w.advance(a, 200.0);
        assert_eq!(w.cutoff(10.0), 110.0);
        w.expire(10 * S, 5 * S);
        assert_eq!(w.cutoff(10.0), 190.0);
        // b comes back behind: it holds the cutoff where it is.
        w.touch(2, 11 * S);
        w.advance(a, 300.0);
        assert_eq!(w.cutoff(10.0), 190.0);
        w.remove(2);
        assert_eq!(w.cutoff(10.0), 290.0);
        assert_eq!((w.len(), w.active()), (1, 1));
        assert_eq!(w.key(a), 1);
    }

    #[test]
    fn the_minimum_is_exact_under_any_interleaving() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
        let mut w = Watermarks::default();
        let mut t = [0.0f64; 6];
        for step in 0..20_000u64 {
            let k = rng.gen_range(0..6usize);
            let now = Duration::from_millis(step);
            match rng.gen_range(0..100) {
                0 => w.remove(k as u64),
                1 => w.expire(now, Duration::from_millis(rng.gen_range(0..50))),
                _ => {
                    let p = w.touch(k as u64, now);
                    t[k] += rng.gen_range(0.0..3.0);
                    w.advance(p, t[k]);
                }
            }
            assert_eq!(w.slowest(), slowest(&w), "step {step}");
        }
    }
}
