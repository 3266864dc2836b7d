//! Samples far ahead of the stream, held aside so that one bad timestamp
//! cannot move the frontier (docs/semantics.md#far-future-samples).
//!
//! A sample more than `max_future_jump` seconds ahead of `newest` never reaches
//! the reorder buffer on its own. It is *held*, and the stream decides:
//! - if the in-range stream carries on — `newest` advances by more than one
//!   window since the hold began — every held sample is rejected
//!   (`future_time`);
//! - if [`CONFIRM`] arrivals in a row are held, the stream has jumped: the held
//!   samples no more than `max_future_jump` above their median are admitted in
//!   arrival order, the others rejected;
//! - at most [`HOLD`] samples are held; beyond that the oldest is rejected;
//! - at end of stream (and at a grammar switch) whatever is held is rejected.
//!
//! The first [`CONFIRM`] samples of a stream have no `newest` to be judged
//! against, so they are held as a group and judged against their own median
//! (the lower one) once there are [`CONFIRM`] of them, or at the first idle
//! flush or end of stream: those at most `max_future_jump` above it are
//! admitted in arrival order, the others rejected.
//!
//! The guard decides; the pipeline admits and counts. Holding costs no
//! allocation: the held samples live in a vector allocated once.

use crate::checkpoint::codec::{malformed, Decoded, Known, Reader, Writer, SAMPLE_BYTES};
use crate::sample::Sample;
use crate::watermark::ProducerKey;

/// Default `max_future_jump`, seconds: an hour. It catches a timestamp a day
/// ahead, milliseconds written for seconds (×1000 on a Unix time) and any
/// overflow-sized value, while a stream that pauses for longer than an hour
/// only waits [`CONFIRM`] samples when it resumes.
pub const DEFAULT_MAX_FUTURE_JUMP: f64 = 3600.0;

/// Far-ahead arrivals in a row that confirm a jump of the whole stream, and
/// the size of the group the first samples of a stream are judged in.
pub const CONFIRM: usize = 8;

/// Most samples held at once.
pub const HOLD: usize = 2 * CONFIRM;

/// A held sample and the producer it came from (`None`: pushed without one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Held {
    pub sample: Sample,
    pub producer: Option<ProducerKey>,
}

/// What to do with a held sample once the stream decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Goes to the reorder buffer.
    Admit,
    /// Counted as rejected (`future_time`).
    Reject,
}

/// The far-future guard of one pipeline.
///
/// Invariants: `held.len() <= HOLD` (and `< CONFIRM` while `starting`);
/// `streak <= held.len()`; while `starting` nothing has reached the reorder
/// buffer; otherwise every held sample was more than `max_jump` above
/// `newest` when it arrived, and `anchor` is `newest` when the first of them
/// arrived.
#[derive(Debug, Clone)]
pub(crate) struct FutureGuard {
    /// `max_future_jump`: finite and `> 0`.
    max_jump: f64,
    /// Held samples, in arrival order. Allocated once, [`HOLD`] long.
    held: Vec<Held>,
    /// `newest` of the reorder buffer when the current hold began.
    anchor: f64,
    /// Held arrivals since the last sample that was not far ahead.
    streak: usize,
    /// No sample has been admitted yet: the first of the stream are held as
    /// a group.
    starting: bool,
    /// Jumps confirmed so far.
    jumps: u64,
}

impl FutureGuard {
    /// A guard holding samples more than `max_jump` seconds ahead.
    pub fn new(max_jump: f64) -> Self {
        Self {
            max_jump,
            held: Vec::with_capacity(HOLD),
            anchor: f64::NEG_INFINITY,
            streak: 0,
            starting: true,
            jumps: 0,
        }
    }

    /// Whether a sample at `t` must be held, the buffer's newest time being
    /// `newest` (−∞ before the first sample, so the first samples always are).
    #[inline]
    pub fn is_far(&self, t: f64, newest: f64) -> bool {
        t > newest + self.max_jump
    }

    /// Something is held.
    #[inline]
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Samples held, the first of the stream included.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Samples held as far ahead of the stream (not the first of the stream).
    pub fn held_future(&self) -> usize {
        if self.starting {
            0
        } else {
            self.held.len()
        }
    }

    /// Jumps confirmed so far.
    pub fn jumps(&self) -> u64 {
        self.jumps
    }

    /// Takes a far sample (`is_far` said so) that arrived when the buffer's
    /// newest time was `newest`. Samples the hold had to let go (the oldest,
    /// beyond [`HOLD`]) or that the stream decided are appended to `out`.
    pub fn hold(&mut self, h: Held, newest: f64, out: &mut Vec<(Held, Verdict)>) {
        if self.starting {
            self.held.push(h);
            if self.held.len() == CONFIRM {
                self.decide(out);
            }
            return;
        }
        if self.held.is_empty() {
            self.anchor = newest;
            self.streak = 0;
        }
        if self.held.len() == HOLD {
            out.push((self.held.remove(0), Verdict::Reject));
            self.streak = self.streak.min(self.held.len());
        }
        self.held.push(h);
        self.streak += 1;
        if self.streak >= CONFIRM {
            self.jumps += 1;
            self.decide(out);
        }
    }

    /// A sample that was not far ahead was admitted, after which the buffer's
    /// newest time is `newest`, its window `window`: the streak ends, and if
    /// the stream has moved on by more than a window since the hold began,
    /// everything held is rejected.
    #[inline]
    pub fn in_range(&mut self, newest: f64, window: f64, out: &mut Vec<(Held, Verdict)>) {
        self.streak = 0;
        if newest > self.anchor + window {
            out.extend(self.held.drain(..).map(|h| (h, Verdict::Reject)));
        }
    }

    /// An idle flush: the first samples of a stream are judged now (however
    /// few), far-ahead ones stay held.
    pub fn idle(&mut self, out: &mut Vec<(Held, Verdict)>) {
        if self.starting && !self.held.is_empty() {
            self.decide(out);
        }
    }

    /// End of stream (or a grammar switch, which ends the stream for the old
    /// grammar): the first samples are judged, far-ahead ones rejected.
    pub fn end(&mut self, out: &mut Vec<(Held, Verdict)>) {
        if self.starting {
            self.idle(out);
        } else {
            self.streak = 0;
            out.extend(self.held.drain(..).map(|h| (h, Verdict::Reject)));
        }
    }

    /// Judges every held sample against the held samples' lower median:
    /// admitted if at most `max_jump` above it, rejected otherwise, in
    /// arrival order.
    fn decide(&mut self, out: &mut Vec<(Held, Verdict)>) {
        let mut ts = [0.0; HOLD];
        let n = self.held.len();
        for (slot, h) in ts.iter_mut().zip(&self.held) {
            *slot = h.sample.t;
        }
        ts[..n].sort_unstable_by(f64::total_cmp);
        let limit = ts[(n - 1) / 2] + self.max_jump;
        out.extend(self.held.drain(..).map(|h| {
            let verdict = if h.sample.t <= limit {
                Verdict::Admit
            } else {
                Verdict::Reject
            };
            (h, verdict)
        }));
        self.streak = 0;
        self.starting = false;
    }

    /// Calls `f` with the channel of every held sample.
    pub fn for_each_channel(&self, mut f: impl FnMut(crate::ChannelId)) {
        for h in &self.held {
            f(h.sample.channel);
        }
    }
}

/// Checkpoint part: the held samples survive a checkpoint, with everything
/// that decides them, so a restart decides exactly as the run would have.
impl FutureGuard {
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u8(u8::from(self.starting));
        w.f64(self.anchor);
        w.u64(self.streak as u64);
        w.u64(self.jumps);
        w.len(self.held.len());
        for h in &self.held {
            w.sample(&h.sample);
            w.u8(u8::from(h.producer.is_some()));
            w.u64(h.producer.unwrap_or(0));
        }
    }

    /// Decodes a guard for `max_jump`, checking the invariants of
    /// [`FutureGuard`] against the restored buffer's `newest`.
    pub(crate) fn decode(
        r: &mut Reader<'_>,
        max_jump: f64,
        newest: f64,
        known: Known<'_>,
    ) -> Decoded<Self> {
        let mut g = Self::new(max_jump);
        g.starting = match r.u8("guard state")? {
            0 => false,
            1 => true,
            other => return Err(malformed(format!("guard state {other}"))),
        };
        g.anchor = r.event_time("hold anchor")?;
        g.streak = r.counter("hold streak")? as usize;
        g.jumps = r.counter("time jumps")?;
        let n = r.len("held samples", SAMPLE_BYTES + 9)?;
        let most = if g.starting { CONFIRM - 1 } else { HOLD };
        if n > most || g.streak > n {
            return Err(malformed(format!(
                "{n} samples held, {} in a row: more than the guard holds",
                g.streak
            )));
        }
        if g.starting && newest != f64::NEG_INFINITY {
            return Err(malformed("first samples held after samples were admitted"));
        }
        for _ in 0..n {
            let sample = r.sample("held sample")?;
            known.sample(&sample, "held sample")?;
            let has_producer = r.u8("held sample producer")?;
            let key = r.u64("held sample producer")?;
            let producer = match has_producer {
                0 => None,
                1 => Some(key),
                other => return Err(malformed(format!("held sample producer tag {other}"))),
            };
            if !g.starting && sample.t <= g.anchor + max_jump {
                return Err(malformed(format!(
                    "held sample at t = {} is not far ahead of {}",
                    sample.t, g.anchor
                )));
            }
            g.held.push(Held { sample, producer });
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(t: f64) -> Held {
        Held {
            sample: Sample::new(t, 0, 0, 0.0),
            producer: None,
        }
    }

    fn verdicts(out: &[(Held, Verdict)]) -> Vec<(f64, Verdict)> {
        out.iter().map(|(h, v)| (h.sample.t, *v)).collect()
    }

    #[test]
    fn the_first_samples_are_judged_against_their_median() {
        let mut g = FutureGuard::new(100.0);
        let mut out = Vec::new();
        let first = [1e300, 5.0, 1.0, 7.0, 6e12, 3.0, 2.0, 4.0];
        for t in first {
            assert!(g.is_far(t, f64::NEG_INFINITY));
            g.hold(held(t), f64::NEG_INFINITY, &mut out);
        }
        use Verdict::*;
        assert_eq!(
            verdicts(&out),
            [
                (1e300, Reject),
                (5.0, Admit),
                (1.0, Admit),
                (7.0, Admit),
                (6e12, Reject),
                (3.0, Admit),
                (2.0, Admit),
                (4.0, Admit)
            ]
        );
        assert!(!g.holding() && !g.starting);
    }

    #[test]
    fn a_stream_that_carries_on_rejects_what_was_held() {
        let mut g = FutureGuard::new(100.0);
        let mut out = Vec::new();
        g.starting = false;
        g.hold(held(1e300), 50.0, &mut out);
        g.in_range(55.0, 10.0, &mut out);
        assert!(out.is_empty() && g.holding(), "5 s on: jitter, still held");
        g.hold(held(5e12), 55.0, &mut out);
        g.in_range(60.5, 10.0, &mut out);
        assert_eq!(
            verdicts(&out),
            [(1e300, Verdict::Reject), (5e12, Verdict::Reject)]
        );
        assert_eq!(g.jumps(), 0);
    }

    #[test]
    fn confirm_far_arrivals_in_a_row_are_a_jump() {
        let mut g = FutureGuard::new(100.0);
        let mut out = Vec::new();
        g.starting = false;
        for i in 0..CONFIRM - 1 {
            g.hold(held(1000.0 + i as f64), 50.0, &mut out);
        }
        g.in_range(51.0, 10.0, &mut out);
        assert!(out.is_empty(), "a straggler ends the streak, not the hold");
        for i in 0..CONFIRM - 1 {
            g.hold(held(2000.0 + i as f64), 51.0, &mut out);
        }
        assert!(out.is_empty());
        g.hold(held(1e300), 51.0, &mut out);
        assert_eq!(g.jumps(), 1);
        let v = verdicts(&out);
        assert_eq!(v.len(), 2 * CONFIRM - 1);
        assert!(v[..v.len() - 1].iter().all(|&(_, x)| x == Verdict::Admit));
        assert_eq!(v[v.len() - 1], (1e300, Verdict::Reject));
    }

    #[test]
    fn beyond_hold_the_oldest_is_let_go() {
        let mut g = FutureGuard::new(100.0);
        let mut out = Vec::new();
        g.starting = false;
        for i in 0..HOLD + 3 {
            g.hold(held(1e6 + i as f64), 0.0, &mut out);
            if i % 2 == 0 {
                g.in_range(1.0, 10.0, &mut out);
            }
        }
        assert_eq!(g.held(), HOLD);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|(_, v)| *v == Verdict::Reject));
        g.end(&mut out);
        assert_eq!(out.len(), HOLD + 3);
        assert!(!g.holding());
    }
}
