//! The engine thread's side of the live page: a ring of the last closed
//! episodes and the set of open ones, published with the metric snapshot.
//!
//! Work happens per episode (an opening, a close, a discard: O(log open)), never
//! per sample; a view is built only at a publish after something changed, and
//! holds at most `capacity` rows of each kind.

use motifd_engine::intern::Interner;
use motifd_engine::{ChannelId, Episode, Grammar, MotifId};
use motifd_exporter::live::{clip_name, ClosedEpisode, LiveEpisodes, LiveHandle, OpenEpisode};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Open episodes ordered by opening time (bit pattern of a finite `t >= 0`, or
/// any finite `t` mapped to an order-preserving key), then by arrival.
type OpenKey = (u64, u64);

/// The live episode ring.
pub struct LiveFeed {
    handle: LiveHandle,
    capacity: usize,
    motifs: Vec<String>,
    closed: VecDeque<ClosedEpisode>,
    closed_total: u64,
    open: BTreeMap<OpenKey, OpenEpisode>,
    open_keys: HashMap<(MotifId, ChannelId), OpenKey>,
    arrivals: u64,
    changed: bool,
    published_now: f64,
}

/// Order-preserving `u64` image of a finite float.
fn order_key(t: f64) -> u64 {
    let bits = t.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

impl LiveFeed {
    /// A feed keeping `capacity` rows of each kind, publishing into `handle`.
    pub fn new(handle: LiveHandle, capacity: usize, grammar: &Grammar) -> Self {
        Self {
            handle,
            capacity,
            motifs: grammar.motifs().iter().map(|m| m.name.clone()).collect(),
            closed: VecDeque::with_capacity(capacity),
            closed_total: 0,
            open: BTreeMap::new(),
            open_keys: HashMap::new(),
            arrivals: 0,
            changed: true,
            published_now: f64::NAN,
        }
    }

    /// A grammar reload: the engine has closed or discarded everything open.
    pub fn set_grammar(&mut self, grammar: &Grammar) {
        self.motifs = grammar.motifs().iter().map(|m| m.name.clone()).collect();
        self.open.clear();
        self.open_keys.clear();
        // Closed episodes name their motif by its index in the old grammar:
        // the view starts afresh, as the engine does.
        self.closed.clear();
        self.changed = true;
    }

    /// An episode opened.
    pub fn opened(&mut self, motif: MotifId, channel: ChannelId, t_start: f64, names: &Interner) {
        self.arrivals += 1;
        let key = (order_key(t_start), self.arrivals);
        if let Some(old) = self.open_keys.insert((motif, channel), key) {
            self.open.remove(&old);
        }
        self.open.insert(
            key,
            OpenEpisode {
                motif,
                channel: clip_name(names.name(channel)),
                t_start,
            },
        );
        self.changed = true;
    }

    /// An open episode ended unreported.
    pub fn discarded(&mut self, motif: MotifId, channel: ChannelId) {
        if let Some(key) = self.open_keys.remove(&(motif, channel)) {
            self.open.remove(&key);
            self.changed = true;
        }
    }

    /// An episode closed.
    pub fn closed(&mut self, e: &Episode, names: &Interner) {
        let channel = match self.open_keys.remove(&(e.motif, e.channel)) {
            Some(key) => self.open.remove(&key).map(|o| o.channel),
            None => None,
        }
        .unwrap_or_else(|| clip_name(names.name(e.channel)));
        if self.closed.len() == self.capacity {
            self.closed.pop_front();
        }
        if self.capacity > 0 {
            self.closed.push_back(ClosedEpisode {
                motif: e.motif,
                channel,
                t_start: e.t_start,
                t_end: e.t_end,
                peak: e.peak,
                samples: e.samples,
                closed_by: e.closed_by.as_str(),
            });
        }
        self.closed_total += 1;
        self.changed = true;
    }

    /// Publishes a new view if anything changed since the last one (`now`:
    /// the newest event time seen).
    pub fn publish(&mut self, now: f64) {
        let now_changed = now.to_bits() != self.published_now.to_bits();
        if !self.changed && !now_changed {
            return;
        }
        let view = LiveEpisodes {
            motifs: self.motifs.clone(),
            closed: self.closed.iter().cloned().collect(),
            closed_total: self.closed_total,
            open: self.open.values().take(self.capacity).cloned().collect(),
            open_total: self.open.len() as u64,
            now,
            capacity: self.capacity,
        };
        self.handle.publish(Arc::new(view));
        self.changed = false;
        self.published_now = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use motifd_engine::{ChannelNames, ClosedBy};

    fn episode(motif: MotifId, channel: ChannelId, t: f64) -> Episode {
        Episode {
            motif,
            channel,
            t_start: t,
            t_end: t + 1.0,
            peak: 1.0,
            ema_at_boundary: 0.0,
            trust_sum: 1.0,
            trust_weight: 1.0,
            samples: 2,
            closed_by: ClosedBy::Dwell,
        }
    }

    #[test]
    fn ring_keeps_the_last_closed_and_orders_the_open() {
        let names = ChannelNames::default();
        let (a, b, c) = {
            let mut local = names.local();
            (local.intern("a"), local.intern("b"), local.intern("c"))
        };
        let names = names.lock();
        let handle = LiveHandle::default();
        let mut feed = LiveFeed::new(handle.clone(), 2, &Grammar::default());
        feed.opened(0, b, 20.0, &names);
        feed.opened(1, a, -5.0, &names);
        feed.opened(2, c, 10.0, &names);
        feed.discarded(2, c);
        for (i, ch) in [a, b, c].into_iter().enumerate() {
            feed.closed(&episode(3, ch, i as f64), &names);
        }
        feed.publish(30.0);
        let v = handle.load().unwrap();
        assert_eq!(v.closed_total, 3);
        let closed: Vec<&str> = v.closed.iter().map(|e| &*e.channel).collect();
        assert_eq!(closed, ["b", "c"], "the last two, oldest first");
        let open: Vec<(u16, &str)> = v.open.iter().map(|e| (e.motif, &*e.channel)).collect();
        assert_eq!(open, [(1, "a"), (0, "b")], "longest open first");
        assert_eq!(v.open_total, 2);
        feed.closed(&episode(0, b, 20.0), &names);
        feed.publish(30.0);
        assert_eq!(handle.load().unwrap().open_total, 1);
    }
}
