//! Encoding and validated decoding of the pipeline's state: reorder buffer,
//! per-motif channel slots, trust tables, statistics and counters.
//!
//! Decoding checks every structural invariant the engine relies on (indices in
//! range, the LRU list a single chain over the live slots, counts that agree
//! with the slots, staged samples sorted and finite), so a damaged file that
//! still passes the checksum is refused rather than restored into a state that
//! could panic or drift later.

use super::codec::{malformed, CheckpointError, Reader, Writer};
use crate::channels::{ChannelTable, Slot, NONE};
use crate::dsfb::Observer;
use crate::dwell::Phase;
use crate::grammar::Grammar;
use crate::histogram::{FixedHistogram, DURATION_BOUNDS, LATENESS_BOUNDS, PEAK_BOUNDS};
use crate::motif::{EngineCounters, EngineLimits, MotifEngine, MotifStats};
use crate::pipeline::Pipeline;
use crate::reject::{RejectCounts, RejectReason};
use crate::reorder::{ReorderBuffer, ReorderCounters};
use crate::sample::Sample;
use crate::trust::{CompensatedSum, TrustTable, BLOCK};
use std::sync::Arc;

/// Bytes of one encoded slot (lower bound used to check counts).
const SLOT_BYTES: usize = 4 * 8 + 8 + 1 + 2 * 8 + 8 + 8 + 8 + 8 + 4 + 4 + 4;
/// Bytes of one encoded staged sample.
const STAGED_BYTES: usize = 8 + 8 + 4 + 2;

type Result<T> = std::result::Result<T, CheckpointError>;

/// Roughly the bytes [`put_pipeline`] and the name table will take (names
/// counted at 16 bytes each), so the buffer is allocated once.
pub(crate) fn encoded_size_hint(p: &Pipeline, names: usize) -> usize {
    let motifs: usize = p
        .engine
        .motifs
        .iter()
        .map(|m| {
            let slots = m.channels.slots.len();
            slots * (SLOT_BYTES + 8) + m.channels.slot_of.len() * 4 + slots / BLOCK * 12 + 512
        })
        .sum();
    4096 + names * 24 + p.reorder.staged() * STAGED_BYTES + motifs
}

pub(crate) fn put_pipeline(w: &mut Writer, p: &Pipeline) {
    w.u64(p.received);
    w.len(RejectReason::COUNT);
    for &n in &p.rejected.0 {
        w.u64(n);
    }
    put_reorder(w, &p.reorder);
    put_engine(w, &p.engine);
}

/// Decodes a pipeline for `grammar` whose samples name channels below
/// `channel_count`.
pub(crate) fn get_pipeline(
    r: &mut Reader<'_>,
    grammar: Arc<Grammar>,
    window: f64,
    limits: EngineLimits,
    channel_count: usize,
) -> Result<Pipeline> {
    let received = r.counter("received")?;
    if r.len("reject reasons", 8)? != RejectReason::COUNT {
        return Err(malformed("reject reasons: wrong number of reasons"));
    }
    let mut rejected = RejectCounts::default();
    for n in &mut rejected.0 {
        *n = r.counter("rejected")?;
    }
    let classes = grammar.classes().len();
    let reorder = get_reorder(r, window, classes, channel_count)?;
    let engine = get_engine(r, grammar, limits, channel_count)?;
    let pipeline = Pipeline {
        reorder,
        engine,
        received,
        rejected,
    };
    if !pipeline.counters().conserved() {
        return Err(malformed(
            "counters break conservation (received != flushed + staged + dropped + rejected)",
        ));
    }
    Ok(pipeline)
}

fn put_hist(w: &mut Writer, h: &FixedHistogram) {
    w.len(h.counts.len());
    for &c in h.counts.iter() {
        w.u64(c);
    }
    w.f64(h.sum);
    w.u64(h.count);
}

fn get_hist(r: &mut Reader<'_>, bounds: &'static [f64], what: &str) -> Result<FixedHistogram> {
    let mut h = FixedHistogram::new(bounds);
    if r.len(what, 8)? != h.counts.len() {
        return Err(malformed(format!("{what}: wrong number of buckets")));
    }
    for c in h.counts.iter_mut() {
        *c = r.counter(what)?;
    }
    h.sum = r.f64(what)?;
    h.count = r.counter(what)?;
    let total = h.counts.iter().try_fold(0u64, |a, &c| a.checked_add(c));
    if total != Some(h.count) {
        return Err(malformed(format!(
            "{what}: buckets do not add up to the count"
        )));
    }
    Ok(h)
}

fn put_reorder(w: &mut Writer, rb: &ReorderBuffer) {
    w.f64(rb.window());
    w.f64(rb.newest());
    w.f64(rb.frontier());
    let c = rb.counters();
    w.u64(c.flushed);
    w.u64(c.dropped_out_of_window);
    w.u64(c.dropped_within_double_window);
    put_hist(w, &c.lateness);
    let staged = rb.staged_in_order();
    w.len(staged.len());
    for s in &staged {
        w.f64(s.t);
        w.f64(s.value);
        w.u32(s.channel);
        w.u16(s.class);
    }
}

fn get_reorder(
    r: &mut Reader<'_>,
    window: f64,
    classes: usize,
    channel_count: usize,
) -> Result<ReorderBuffer> {
    let saved_window = r.f64("window")?;
    if saved_window.to_bits() != window.to_bits() {
        return Err(malformed("reorder window differs from the fingerprint's"));
    }
    let newest = r.f64("newest")?;
    let frontier = r.f64("frontier")?;
    let time_ok = |t: f64| t == f64::NEG_INFINITY || t.is_finite();
    if !time_ok(newest) || !time_ok(frontier) || frontier > newest {
        return Err(malformed(format!(
            "frontier {frontier} / newest {newest} are not ordered event times"
        )));
    }
    let counters = ReorderCounters {
        flushed: r.counter("flushed")?,
        dropped_out_of_window: r.counter("dropped")?,
        dropped_within_double_window: r.counter("dropped within two windows")?,
        lateness: get_hist(r, LATENESS_BOUNDS, "lateness histogram")?,
    };
    let n = r.len("staged samples", STAGED_BYTES)?;
    let mut staged = Vec::with_capacity(n);
    let mut previous = frontier;
    for _ in 0..n {
        let s = Sample {
            t: r.f64("staged t")?,
            value: r.f64("staged value")?,
            channel: r.u32("staged channel")?,
            class: r.u16("staged class")?,
        };
        let t_ok = s.t.is_finite() && s.t.to_bits() != (-0.0f64).to_bits();
        if !t_ok || !s.value.is_finite() || s.t < previous || s.t > newest {
            return Err(malformed(format!(
                "staged sample at t = {} (value {}) is out of order or not finite",
                s.t, s.value
            )));
        }
        if s.class as usize >= classes || s.channel as usize >= channel_count {
            return Err(malformed(format!(
                "staged sample names class {} / channel {} that do not exist",
                s.class, s.channel
            )));
        }
        previous = s.t;
        staged.push(s);
    }
    Ok(ReorderBuffer::restored(
        window, newest, frontier, counters, &staged,
    ))
}

fn put_engine(w: &mut Writer, e: &MotifEngine) {
    let c = e.counters;
    w.u64(c.processed);
    w.u64(c.channels_tracked);
    w.u64(c.channels_evicted);
    w.u64(c.refused_channel_cap);
    w.len(e.motifs.len());
    for m in &e.motifs {
        put_stats(w, &m.stats);
        put_channels(w, &m.channels);
        put_trust(w, &m.trust);
    }
}

fn get_engine(
    r: &mut Reader<'_>,
    grammar: Arc<Grammar>,
    limits: EngineLimits,
    channel_count: usize,
) -> Result<MotifEngine> {
    let counters = EngineCounters {
        processed: r.counter("processed")?,
        channels_tracked: r.counter("channels tracked")?,
        channels_evicted: r.counter("channels evicted")?,
        refused_channel_cap: r.counter("refused by the channel cap")?,
    };
    let mut engine = MotifEngine::new(grammar, limits);
    if r.len("motifs", 1)? != engine.motifs.len() {
        return Err(malformed("number of motifs differs from the grammar's"));
    }
    let mut tracked = 0u64;
    for (m, state) in engine.motifs.iter_mut().enumerate() {
        let what = |part: &str| format!("motif #{m} {part}");
        state.stats = get_stats(r, &what("statistics"))?;
        state.channels = get_channels(r, channel_count, &what("channels"))?;
        state.trust = get_trust(r, state.channels.slots.len(), &what("trust table"))?;
        let open = state
            .channels
            .live_slots()
            .filter(|&s| state.channels.get(s).phase.open_since().is_some())
            .count() as u64;
        if open != state.stats.open {
            return Err(malformed(format!(
                "{}: {} open episodes counted, {open} in the slots",
                what("statistics"),
                state.stats.open
            )));
        }
        tracked += state.channels.live as u64;
    }
    if tracked != counters.channels_tracked {
        return Err(malformed(format!(
            "{} channels counted as tracked, {tracked} in the slots",
            counters.channels_tracked
        )));
    }
    engine.counters = counters;
    Ok(engine)
}

fn put_stats(w: &mut Writer, s: &MotifStats) {
    w.u64(s.episodes);
    w.u64(s.open);
    w.f64(s.last_peak);
    w.f64(s.last_trust_sum);
    put_hist(w, &s.duration);
    put_hist(w, &s.peak);
}

fn get_stats(r: &mut Reader<'_>, what: &str) -> Result<MotifStats> {
    Ok(MotifStats {
        episodes: r.counter(what)?,
        open: r.counter(what)?,
        last_peak: r.f64(what)?,
        last_trust_sum: r.f64(what)?,
        duration: get_hist(r, DURATION_BOUNDS, what)?,
        peak: get_hist(r, PEAK_BOUNDS, what)?,
    })
}

fn put_channels(w: &mut Writer, t: &ChannelTable) {
    w.len(t.slot_of.len());
    for &s in &t.slot_of {
        w.u32(s);
    }
    w.len(t.slots.len());
    for s in &t.slots {
        let o = s.observer;
        for v in [o.phi, o.omega, o.alpha, o.ema, s.last_t] {
            w.f64(v);
        }
        let (tag, t_open, t_rec) = match s.phase {
            Phase::Stable => (0, 0.0, 0.0),
            Phase::InEpisode { t_open } => (1, t_open, 0.0),
            Phase::Recovering { t_open, t_rec } => (2, t_open, t_rec),
        };
        w.u8(tag);
        w.f64(t_open);
        w.f64(t_rec);
        w.f64(s.peak);
        w.u64(s.samples);
        w.f64(s.tie_t);
        w.f64(s.tie_peak);
        w.u32(s.channel);
        w.u32(s.prev);
        w.u32(s.next);
    }
    w.len(t.free.len());
    for &s in &t.free {
        w.u32(s);
    }
    w.u32(t.head);
    w.u32(t.tail);
}

fn get_slot(r: &mut Reader<'_>, what: &str) -> Result<Slot> {
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
    Ok(Slot {
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

fn get_channels(r: &mut Reader<'_>, channel_count: usize, what: &str) -> Result<ChannelTable> {
    let n_of = r.len(what, 4)?;
    let slot_of = (0..n_of).map(|_| r.u32(what)).collect::<Result<Vec<_>>>()?;
    let n = r.len(what, SLOT_BYTES)?;
    let slots = (0..n)
        .map(|_| get_slot(r, what))
        .collect::<Result<Vec<_>>>()?;
    let n_free = r.len(what, 4)?;
    let free = (0..n_free)
        .map(|_| r.u32(what))
        .collect::<Result<Vec<_>>>()?;
    let head = r.u32(what)?;
    let tail = r.u32(what)?;
    let bad = |why: String| Err(malformed(format!("{what}: {why}")));

    // Every slot is either live (named by `slot_of` of its own channel) or free.
    let mut live_flag = vec![false; n];
    for (channel, &s) in slot_of.iter().enumerate() {
        if s == NONE {
            continue;
        }
        if s as usize >= n || slots[s as usize].channel as usize != channel {
            return bad(format!(
                "channel {channel} points at slot {s}, which is not its own"
            ));
        }
        if live_flag[s as usize] {
            return bad(format!("slot {s} is claimed twice"));
        }
        live_flag[s as usize] = true;
    }
    let live = live_flag.iter().filter(|&&l| l).count();
    if slot_of.len() > channel_count {
        return bad(format!(
            "channel ids run past the {channel_count} known names"
        ));
    }
    let mut seen_free = vec![false; n];
    for &s in &free {
        if s as usize >= n || live_flag[s as usize] || seen_free[s as usize] {
            return bad(format!(
                "free slot {s} is out of range, live or listed twice"
            ));
        }
        seen_free[s as usize] = true;
    }
    if live + free.len() != n {
        return bad(format!(
            "{live} live + {} free slots do not account for {n} slots",
            free.len()
        ));
    }
    for (i, s) in slots.iter().enumerate() {
        if live_flag[i]
            && !(s.last_t.is_finite() && s.phase.open_since().is_none_or(f64::is_finite))
        {
            return bad(format!("slot {i} holds a non-finite time"));
        }
    }
    // The LRU list is one chain from head to tail through every live slot.
    let mut at = head;
    let mut prev = NONE;
    let mut visited = 0usize;
    while at != NONE {
        let i = at as usize;
        if i >= n || !live_flag[i] || slots[i].prev != prev || visited == live {
            return bad("the LRU list is broken".into());
        }
        visited += 1;
        prev = at;
        at = slots[i].next;
    }
    if visited != live || tail != prev {
        return bad("the LRU list does not link every live slot".into());
    }
    Ok(ChannelTable {
        slot_of,
        slots,
        free,
        head,
        tail,
        live,
    })
}

fn put_trust(w: &mut Writer, t: &TrustTable) {
    w.len(t.raw.len());
    for &v in &t.raw {
        w.f64(v);
    }
    w.f64(t.normaliser.sum);
    w.f64(t.normaliser.compensation);
    w.len(t.block_sums.len());
    for (&s, &u) in t.block_sums.iter().zip(&t.block_updates) {
        w.f64(s);
        w.u32(u);
    }
}

fn get_trust(r: &mut Reader<'_>, slots: usize, what: &str) -> Result<TrustTable> {
    let n = r.len(what, 8)?;
    if n != slots {
        return Err(malformed(format!("{what}: {n} weights for {slots} slots")));
    }
    let raw = (0..n).map(|_| r.f64(what)).collect::<Result<Vec<_>>>()?;
    let normaliser = CompensatedSum {
        sum: r.f64(what)?,
        compensation: r.f64(what)?,
    };
    let blocks = r.len(what, 12)?;
    if blocks != n.div_ceil(BLOCK) {
        return Err(malformed(format!(
            "{what}: {blocks} blocks for {n} weights"
        )));
    }
    let mut block_sums = Vec::with_capacity(blocks);
    let mut block_updates = Vec::with_capacity(blocks);
    for _ in 0..blocks {
        block_sums.push(r.f64(what)?);
        let u = r.u32(what)?;
        if u as usize >= BLOCK {
            return Err(malformed(format!("{what}: block update count {u}")));
        }
        block_updates.push(u);
    }
    Ok(TrustTable {
        raw,
        normaliser,
        block_sums,
        block_updates,
    })
}
