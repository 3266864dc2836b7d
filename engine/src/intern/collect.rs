//! Collection of the channel names nothing refers to any more: epochs, the
//! pins that keep ids in flight alive, and the rounds that free names (see
//! the documentation of [`crate::intern`]).

use super::{Interner, ANONYMOUS};
use crate::sample::ChannelId;
use std::sync::{Arc, Weak};

/// Names held beyond twice the referenced ones before a collection starts.
pub(super) const SLACK_NAMES: usize = 4096;
/// Name bytes held beyond twice the referenced ones before a collection starts.
const SLACK_BYTES: usize = 4 << 20;

/// An epoch of the name table; its strong count is the number of caches and
/// batches that may hold ids issued under it.
#[derive(Debug, Default)]
pub(super) struct Epoch;

/// Pins the epoch of the name table that a batch's ids were issued under:
/// no id a pinned epoch could have handed out is freed.
#[derive(Debug, Clone)]
pub struct NamesPin(pub(super) Arc<Epoch>);

impl NamesPin {
    /// Both pin the same epoch.
    pub fn same(&self, other: &NamesPin) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Bookkeeping of collection.
#[derive(Debug)]
pub(super) struct Collector {
    /// Collection is on.
    enabled: bool,
    /// The current epoch's pin.
    pin: Arc<Epoch>,
    /// Candidates of the round in progress (empty: no round).
    retiring: Vec<ChannelId>,
    /// The epoch the candidates were found in; the round ends when nothing
    /// pins it.
    retiring_epoch: Weak<Epoch>,
    /// Bit per id: a candidate not looked up since.
    candidate: Vec<u64>,
    /// Scratch bit per id: referenced by the pipeline.
    marks: Vec<u64>,
    /// A round starts when more names than this are held…
    next_names: usize,
    /// …or more name bytes than this.
    next_bytes: usize,
    /// Names freed so far.
    freed: u64,
}

impl Collector {
    /// `id` was looked up: in flight, so not to be freed this round.
    pub(super) fn looked_up(&mut self, id: ChannelId) {
        if !self.retiring.is_empty() {
            set_bit(&mut self.candidate, id, false);
        }
    }

    /// Names freed so far.
    pub(super) fn freed(&self) -> u64 {
        self.freed
    }

    /// A pin on the current epoch.
    pub(super) fn pin(&self) -> NamesPin {
        NamesPin(Arc::clone(&self.pin))
    }

    pub(super) fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
}

impl Default for Collector {
    fn default() -> Self {
        Self {
            enabled: false,
            pin: Arc::new(Epoch),
            retiring: Vec::new(),
            retiring_epoch: Weak::new(),
            candidate: Vec::new(),
            marks: Vec::new(),
            next_names: SLACK_NAMES,
            next_bytes: SLACK_BYTES,
            freed: 0,
        }
    }
}

pub(super) fn bit(bits: &[u64], id: ChannelId) -> bool {
    bits.get(id as usize / 64)
        .is_some_and(|w| w & (1 << (id % 64)) != 0)
}

pub(super) fn set_bit(bits: &mut Vec<u64>, id: ChannelId, on: bool) {
    let w = id as usize / 64;
    if bits.len() <= w {
        bits.resize(w + 1, 0);
    }
    if on {
        bits[w] |= 1 << (id % 64);
    } else {
        bits[w] &= !(1 << (id % 64));
    }
}

impl Interner {
    /// Marks, in the scratch bit set, every id `visit` reports.
    fn mark(&mut self, visit: impl FnOnce(&mut dyn FnMut(ChannelId))) {
        let marks = &mut self.collector.marks;
        marks.clear();
        marks.resize(self.names.len().div_ceil(64), 0);
        visit(&mut |id| {
            if let Some(w) = marks.get_mut(id as usize / 64) {
                *w |= 1 << (id % 64);
            }
        });
        set_bit(marks, ANONYMOUS, true);
    }

    /// One step of collection (see the module documentation); `visit` reports
    /// every id the pipeline refers to. Returns whether the epoch changed.
    pub(super) fn collect(&mut self, visit: impl FnOnce(&mut dyn FnMut(ChannelId))) -> bool {
        if !self.collector.enabled {
            return false;
        }
        if !self.collector.retiring.is_empty() {
            if self.collector.retiring_epoch.strong_count() == 0 {
                self.finish_round(visit);
            }
            return false;
        }
        let c = &self.collector;
        if self.ids.len() <= c.next_names && self.bytes <= c.next_bytes {
            return false;
        }
        self.mark(visit);
        let c = &mut self.collector;
        for (id, name) in self.names.iter().enumerate() {
            let id = id as ChannelId;
            if name.is_some() && !bit(&c.marks, id) {
                c.retiring.push(id);
                set_bit(&mut c.candidate, id, true);
            }
        }
        if c.retiring.is_empty() {
            self.set_thresholds();
            return false;
        }
        c.retiring_epoch = Arc::downgrade(&c.pin);
        c.pin = Arc::new(Epoch);
        self.epoch += 1;
        true
    }

    /// Frees the candidates nothing looked up and the pipeline still does not
    /// refer to.
    fn finish_round(&mut self, visit: impl FnOnce(&mut dyn FnMut(ChannelId))) {
        self.mark(visit);
        let retiring = std::mem::take(&mut self.collector.retiring);
        for &id in &retiring {
            let c = &mut self.collector;
            if bit(&c.candidate, id) && !bit(&c.marks, id) {
                if let Some(name) = self.names[id as usize].take() {
                    self.ids.remove(name.0.as_bytes());
                    self.bytes -= name.0.len();
                    self.free.push(id);
                    c.freed += 1;
                }
            }
            set_bit(&mut self.collector.candidate, id, false);
        }
        self.collector.retiring = retiring;
        self.collector.retiring.clear();
        self.set_thresholds();
    }

    pub(super) fn set_thresholds(&mut self) {
        let c = &mut self.collector;
        c.next_names = 2 * self.ids.len() + SLACK_NAMES;
        c.next_bytes = 2 * self.bytes + SLACK_BYTES;
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChannelNames;
    use super::*;
    use crate::sample::ANONYMOUS_NAME;
    use std::sync::atomic::Ordering;

    /// Collects with `referenced` as the pipeline's channels.
    fn collect(names: &ChannelNames, referenced: &[ChannelId]) -> bool {
        let mut t = names.lock();
        let changed = t.collect(|f| referenced.iter().for_each(|&id| f(id)));
        if changed {
            names.0.epoch.store(t.epoch, Ordering::Release);
        }
        changed
    }

    #[test]
    fn unreferenced_names_are_freed_once_no_epoch_pin_is_left() {
        let names = ChannelNames::default();
        names.set_collection(true);
        let mut p = names.local();
        let ids: Vec<ChannelId> = (0..SLACK_NAMES as u32 + 10)
            .map(|i| p.intern(&format!("c{i}")))
            .collect();
        let (kept, in_flight) = (ids[3], ids[4]);
        assert!(collect(&names, &[kept]), "a round starts");
        assert!(p.is_stale());
        // The producer still holds the old epoch: nothing may be freed.
        assert!(!collect(&names, &[kept]));
        assert_eq!(names.lock().freed(), 0);
        let old = p.pin().clone();
        p.refresh();
        assert!(!p.is_stale() && !p.pin().same(&old));
        // A batch parsed before the refresh still pins the old epoch.
        collect(&names, &[kept]);
        assert_eq!(names.lock().freed(), 0);
        // Looked up again under the new epoch: no longer a candidate.
        assert_eq!(p.intern("c4"), in_flight);
        drop(old);
        collect(&names, &[kept]);
        let t = names.lock();
        assert_eq!(t.freed(), ids.len() as u64 - 2);
        assert_eq!(
            t.len(),
            3,
            "_anonymous_, the referenced and the looked-up name"
        );
        assert_eq!((t.name(kept), t.name(in_flight)), ("c3", "c4"));
        assert_eq!(t.name(ids[0]), "?");
        drop(t);
        let again = p.intern("c0");
        assert!(ids.contains(&again), "freed ids are reused");
        assert_eq!(names.name_bytes(), ANONYMOUS_NAME.len() + 3 * 2);
    }

    #[test]
    fn without_collection_nothing_is_freed() {
        let names = ChannelNames::default();
        let mut p = names.local();
        for i in 0..2 * SLACK_NAMES {
            p.intern(&format!("c{i}"));
        }
        assert!(!collect(&names, &[]));
        assert!(!p.is_stale());
        assert_eq!(names.lock().len(), 2 * SLACK_NAMES + 1);
    }
}
