//! Per-motif channel slots: dense storage, an id → slot map, a free list and an
//! event-time LRU list used for TTL eviction.
//!
//! Slots are addressed by `u32` indices. The LRU list is intrusive (`prev` /
//! `next` in the slot) and ordered by each channel's last sample time: samples
//! reach the engine in time order, so moving a channel to the tail when it gets a
//! sample keeps the list sorted, and the channels idle the longest are always at
//! the head. Every operation is O(1).

use crate::dsfb::Observer;
use crate::dwell::Phase;
use crate::sample::ChannelId;

/// "No slot" / "no neighbour".
pub const NONE: u32 = u32::MAX;

/// State of one (motif, channel).
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// DSFB observer state.
    pub observer: Observer,
    /// Time of the channel's last sample (its first sample's time before any step).
    pub last_t: f64,
    /// Dwell state machine.
    pub phase: Phase,
    /// Largest |value| since the episode opened (meaningful while one is open).
    pub peak: f64,
    /// Samples since the episode opened (meaningful while one is open).
    pub samples: u64,
    /// Time of the latest run of equal-time samples, and their largest |value|:
    /// an episode opening at `tie_t` starts its peak from `tie_peak`, so samples
    /// sharing the opening time count towards the peak whatever their order.
    pub tie_t: f64,
    /// See `tie_t`.
    pub tie_peak: f64,
    /// The channel this slot tracks.
    pub channel: ChannelId,
    pub(crate) prev: u32,
    pub(crate) next: u32,
}

impl Slot {
    fn fresh(channel: ChannelId, t: f64) -> Self {
        Self {
            observer: Observer::default(),
            last_t: t,
            phase: Phase::Stable,
            peak: 0.0,
            samples: 0,
            tie_t: f64::NAN,
            tie_peak: 0.0,
            channel,
            prev: NONE,
            next: NONE,
        }
    }
}

/// The slots of one motif.
#[derive(Debug, Clone, Default)]
pub struct ChannelTable {
    /// `slot_of[channel]`, or [`NONE`].
    pub(crate) slot_of: Vec<u32>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) free: Vec<u32>,
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) live: usize,
}

impl ChannelTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            head: NONE,
            tail: NONE,
            ..Self::default()
        }
    }

    /// Slot of `channel`, if tracked.
    #[inline]
    pub fn find(&self, channel: ChannelId) -> Option<u32> {
        match self.slot_of.get(channel as usize) {
            Some(&s) if s != NONE => Some(s),
            _ => None,
        }
    }

    /// Starts tracking `channel` (first sample at `t`); returns its slot.
    pub fn insert(&mut self, channel: ChannelId, t: f64) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Slot::fresh(channel, t);
                s
            }
            None => {
                self.slots.push(Slot::fresh(channel, t));
                (self.slots.len() - 1) as u32
            }
        };
        let c = channel as usize;
        if self.slot_of.len() <= c {
            self.slot_of.resize(c + 1, NONE);
        }
        self.slot_of[c] = slot;
        self.live += 1;
        self.link_tail(slot);
        slot
    }

    /// Stops tracking the channel in `slot`.
    pub fn remove(&mut self, slot: u32) {
        self.unlink(slot);
        let channel = self.slots[slot as usize].channel;
        self.slot_of[channel as usize] = NONE;
        self.free.push(slot);
        self.live -= 1;
    }

    /// Marks `slot` as the most recently active channel.
    #[inline]
    pub fn touch(&mut self, slot: u32) {
        if self.tail != slot {
            self.unlink(slot);
            self.link_tail(slot);
        }
    }

    /// The channel idle the longest, if any.
    #[inline]
    pub fn oldest(&self) -> Option<u32> {
        (self.head != NONE).then_some(self.head)
    }

    /// Mutable slot.
    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> &mut Slot {
        &mut self.slots[slot as usize]
    }

    /// Slot.
    #[inline]
    pub fn get(&self, slot: u32) -> &Slot {
        &self.slots[slot as usize]
    }

    /// Tracked channels.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Live slots in slot order (deterministic for a given input).
    pub fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.slots.len() as u32).filter(|&s| self.slot_of_is(s))
    }

    fn slot_of_is(&self, slot: u32) -> bool {
        let ch = self.slots[slot as usize].channel as usize;
        self.slot_of.get(ch) == Some(&slot)
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next) = {
            let s = &self.slots[slot as usize];
            (s.prev, s.next)
        };
        if prev == NONE {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NONE {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
    }

    fn link_tail(&mut self, slot: u32) {
        let old_tail = self.tail;
        {
            let s = &mut self.slots[slot as usize];
            s.prev = old_tail;
            s.next = NONE;
        }
        if old_tail == NONE {
            self.head = slot;
        } else {
            self.slots[old_tail as usize].next = slot;
        }
        self.tail = slot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_order_follows_touches_and_slots_are_reused() {
        let mut t = ChannelTable::new();
        let a = t.insert(10, 0.0);
        let b = t.insert(20, 1.0);
        let c = t.insert(30, 2.0);
        assert_eq!(t.oldest(), Some(a));
        t.touch(a);
        assert_eq!(t.oldest(), Some(b));
        t.remove(b);
        assert_eq!(t.oldest(), Some(c));
        assert_eq!(t.find(20), None);
        let d = t.insert(40, 3.0);
        assert_eq!(d, b, "freed slot reused");
        assert_eq!(t.live(), 3);
        assert_eq!(t.live_slots().collect::<Vec<_>>(), [0, 1, 2]);
        t.remove(c);
        t.remove(a);
        assert_eq!(t.oldest(), Some(d));
        t.remove(d);
        assert_eq!(t.oldest(), None);
        assert_eq!(t.live_slots().count(), 0);
    }
}
