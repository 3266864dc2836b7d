//! Per-motif channel slots: dense storage, an id → slot map, a free list and an
//! event-time LRU list used for TTL eviction.
//!
//! Slots are addressed by `u32` indices. The LRU list is intrusive (`prev` /
//! `next` in the slot) and ordered by each channel's last sample time: samples
//! reach the engine in time order, so moving a channel to the tail when it gets a
//! sample keeps the list sorted, and the channels idle the longest are always at
//! the head. Every operation is O(1).

use crate::checkpoint::codec::{malformed, Decoded, Known, Reader, Writer};
use crate::dsfb::Observer;
use crate::dwell::Phase;
use crate::sample::ChannelId;

/// "No slot" / "no neighbour".
pub const NONE: u32 = u32::MAX;

/// State of one (motif, channel).
///
/// Two cache lines, aligned, so that a slot never straddles a third: the
/// first holds the observer and times every sample updates (with the channel
/// and one LRU link), the second the dwell phase, the episode's figures and
/// the other LRU link.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub struct Slot {
    /// DSFB observer state.
    pub observer: Observer,
    /// Time of the channel's last sample (its first sample's time before any step).
    pub last_t: f64,
    /// Time of the latest run of equal-time samples, and their largest |value|:
    /// an episode opening at `tie_t` starts its peak from `tie_peak`, so samples
    /// sharing the opening time count towards the peak whatever their order.
    pub tie_t: f64,
    /// See `tie_t`.
    pub tie_peak: f64,
    /// The channel this slot tracks.
    pub channel: ChannelId,
    /// Neighbour towards the head (idle longer) of the LRU list, or [`NONE`].
    prev: u32,
    /// Dwell state machine.
    pub phase: Phase,
    /// Largest |value| since the episode opened (meaningful while one is open).
    pub peak: f64,
    /// Samples since the episode opened (meaningful while one is open).
    pub samples: u64,
    /// Neighbour towards the tail (active more recently), or [`NONE`].
    next: u32,
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
///
/// Invariants (checked when a checkpoint is decoded): every slot is either
/// *live* — `slot_of[slots[s].channel] == s` — or listed once in `free`; the
/// LRU list runs from `head` to `tail` through every live slot exactly once,
/// ordered by `last_t` (oldest first) because samples arrive in time order;
/// `live` counts the live slots.
#[derive(Debug, Clone, Default)]
pub struct ChannelTable {
    /// `slot_of[channel]`: the slot tracking that channel, or [`NONE`]. Indexed
    /// by channel id, so it is as long as the largest id ever tracked.
    slot_of: Vec<u32>,
    /// Slot storage; freed slots stay in place (listed in `free`) and are reused.
    slots: Vec<Slot>,
    /// Slots not tracking a channel, reused last-freed first.
    free: Vec<u32>,
    /// The slot idle the longest, or [`NONE`] when nothing is tracked.
    head: u32,
    /// The slot that got the latest sample, or [`NONE`].
    tail: u32,
    /// Live slots: `slots.len() − free.len()`.
    live: usize,
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

    /// Reads a word from each cache line of `slot`. The value means nothing:
    /// the read brings the slot into the cache
    /// ([`crate::MotifEngine::process_all`]).
    #[inline]
    pub fn load_lines(&self, slot: u32) -> u64 {
        let st = &self.slots[slot as usize];
        st.observer.phi.to_bits() ^ st.peak.to_bits()
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

    /// Slots allocated, live or free: the size a trust table must cover.
    pub fn capacity(&self) -> usize {
        self.slots.len()
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

/// Checkpoint part: the id → slot map, every slot (free ones too, so slot
/// numbers and trust-table indices survive), the free list and the LRU ends.
impl ChannelTable {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.len(self.slot_of.len());
        for &s in &self.slot_of {
            w.u32(s);
        }
        w.len(self.slots.len());
        for s in &self.slots {
            s.encode(w);
        }
        w.len(self.free.len());
        for &s in &self.free {
            w.u32(s);
        }
        w.u32(self.head);
        w.u32(self.tail);
    }

    /// Decodes a table and checks every invariant of [`ChannelTable`]; live
    /// slots must name channels that `known` has names for and hold finite
    /// times.
    pub(crate) fn decode(r: &mut Reader<'_>, known: Known<'_>, what: &str) -> Decoded<Self> {
        let n_of = r.len(what, 4)?;
        let slot_of = (0..n_of)
            .map(|_| r.u32(what))
            .collect::<Decoded<Vec<_>>>()?;
        let n = r.len(what, Slot::BYTES)?;
        let slots = (0..n)
            .map(|_| Slot::decode(r, what))
            .collect::<Decoded<Vec<_>>>()?;
        let n_free = r.len(what, 4)?;
        let free = (0..n_free)
            .map(|_| r.u32(what))
            .collect::<Decoded<Vec<_>>>()?;
        let mut table = Self {
            slot_of,
            slots,
            free,
            head: r.u32(what)?,
            tail: r.u32(what)?,
            live: 0,
        };
        let bad = |why: String| malformed(format!("{what}: {why}"));
        let live = table.check_slots(known, what).map_err(bad)?;
        table.live = live.iter().filter(|&&l| l).count();
        table.check_lru(&live).map_err(bad)?;
        Ok(table)
    }

    /// Checks that every slot is live or free, exactly once, and that live
    /// slots are well-formed; returns which slots are live.
    fn check_slots(&self, known: Known<'_>, what: &str) -> Result<Vec<bool>, String> {
        let n = self.slots.len();
        let mut live = vec![false; n];
        for (channel, &s) in self.slot_of.iter().enumerate() {
            if s == NONE {
                continue;
            }
            if s as usize >= n || self.slots[s as usize].channel as usize != channel {
                return Err(format!(
                    "channel {channel} points at slot {s}, which is not its own"
                ));
            }
            if live[s as usize] {
                return Err(format!("slot {s} is claimed twice"));
            }
            live[s as usize] = true;
            known
                .channel(channel as ChannelId, what)
                .map_err(|e| e.to_string())?;
        }
        let mut seen_free = vec![false; n];
        for &s in &self.free {
            if s as usize >= n || live[s as usize] || seen_free[s as usize] {
                return Err(format!(
                    "free slot {s} is out of range, live or listed twice"
                ));
            }
            seen_free[s as usize] = true;
        }
        let live_count = live.iter().filter(|&&l| l).count();
        if live_count + self.free.len() != n {
            return Err(format!(
                "{live_count} live + {} free slots do not account for {n} slots",
                self.free.len()
            ));
        }
        for (i, s) in self.slots.iter().enumerate() {
            if live[i] && !(s.last_t.is_finite() && s.phase.open_since().is_none_or(f64::is_finite))
            {
                return Err(format!("slot {i} holds a non-finite time"));
            }
        }
        Ok(live)
    }

    /// Checks that the LRU list is one chain from head to tail through every
    /// live slot.
    fn check_lru(&self, live: &[bool]) -> Result<(), String> {
        let (mut at, mut prev, mut visited) = (self.head, NONE, 0usize);
        while at != NONE {
            let i = at as usize;
            if i >= live.len() || !live[i] || self.slots[i].prev != prev || visited == self.live {
                return Err("the LRU list is broken".into());
            }
            visited += 1;
            prev = at;
            at = self.slots[i].next;
        }
        if visited != self.live || self.tail != prev {
            return Err("the LRU list does not link every live slot".into());
        }
        Ok(())
    }
}

impl ChannelTable {
    /// About the bytes [`Self::encode`] writes.
    pub(crate) fn encoded_size(&self) -> usize {
        16 + self.slot_of.len() * 4 + self.slots.len() * (Slot::BYTES + 4) + 16
    }
}

impl Slot {
    /// Bytes of one encoded slot.
    const BYTES: usize = 5 * 8 + 1 + 2 * 8 + 8 + 8 + 8 + 8 + 4 + 4 + 4;

    fn encode(&self, w: &mut Writer) {
        let o = self.observer;
        for v in [o.phi, o.omega, o.alpha, o.ema, self.last_t] {
            w.f64(v);
        }
        let (tag, t_open, t_rec) = match self.phase {
            Phase::Stable => (0, 0.0, 0.0),
            Phase::InEpisode { t_open } => (1, t_open, 0.0),
            Phase::Recovering { t_open, t_rec } => (2, t_open, t_rec),
        };
        w.u8(tag);
        w.f64(t_open);
        w.f64(t_rec);
        w.f64(self.peak);
        w.u64(self.samples);
        w.f64(self.tie_t);
        w.f64(self.tie_peak);
        w.u32(self.channel);
        w.u32(self.prev);
        w.u32(self.next);
    }

    fn decode(r: &mut Reader<'_>, what: &str) -> Decoded<Self> {
        let observer = Observer {
            phi: r.f64(what)?,
            omega: r.f64(what)?,
            alpha: r.f64(what)?,
            ema: r.f64(what)?,
        };
        let last_t = r.f64(what)?;
        let tag = r.u8(what)?;
        let t_open = r.f64(what)?;
        let t_rec = r.f64(what)?;
        let phase = match tag {
            0 => Phase::Stable,
            1 => Phase::InEpisode { t_open },
            2 => Phase::Recovering { t_open, t_rec },
            other => return Err(malformed(format!("{what}: unknown phase {other}"))),
        };
        Ok(Self {
            observer,
            last_t,
            phase,
            peak: r.f64(what)?,
            samples: r.counter(what)?,
            tie_t: r.f64(what)?,
            tie_peak: r.f64(what)?,
            channel: r.u32(what)?,
            prev: r.u32(what)?,
            next: r.u32(what)?,
        })
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
