//! Arbitrary operation sequences through `motifd_engine::Pipeline`.
//!
//! The input's first bytes choose a grammar, the reorder window, the channel
//! TTL and the channel cap (all within what a validated config allows); the
//! rest is a sequence of operations: samples (near a moving clock, so they
//! arrive jittered, late and tied; or with arbitrary float bits), rejected
//! records, idle flushes and grammar reloads. A sample with a NaN or infinite
//! `t` or value is counted as rejected (`non_finite`), as the parsers do: such
//! a sample never reaches the engine.
//!
//! Checked after every operation: the conservation law and the counters that
//! tie the reorder buffer to the engine; a plain model of the far-future
//! guard's documented rules decides which samples are admitted, held or
//! rejected (`future_time`) and agrees with the pipeline on every count; a
//! second `ReorderBuffer` fed the admitted samples releases exactly what a
//! plain sorted-list model of the documented reorder rules releases (time
//! order, ties in arrival order, drops below the frontier), and agrees with the
//! pipeline's own buffer on every counter;
//! every episode is well-formed (finite `t_start <= t_end` within the released
//! stream, at least `min_dwell_seconds` long, finite non-negative peak no
//! larger than any |value| fed, at least one sample, `trust_sum` in
//! [0.99, 1.01] and `trust_weight` in [0, 1.01] while values stay below 1e12,
//! `evicted` only with a TTL) and episodes of one motif and channel never
//! overlap. At the end nothing is staged, tracked or open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd_engine::future::{CONFIRM, HOLD};
use motifd_engine::grammar::MotifParams;
use motifd_engine::reorder::ReorderBuffer;
use motifd_engine::{
    ClosedBy, EngineLimits, Episode, Grammar, MotifSpec, Pipeline, PipelineConfig, RejectReason,
    Sample,
};
use motifd_fuzz::Bytes;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

const GRAMMARS: usize = 3;

/// While every |value| fed is at most this, trust sums must stay in
/// [0.99, 1.01]: the motifs' total trust cannot collapse by the twenty-odd
/// orders of magnitude that `S`'s compensated rounding needs to matter.
const TRUST_BAND_VALUES: f64 = 1e12;

fn spec(name: &str, class: &str, params: [f64; 5]) -> MotifSpec {
    let [rho, sigma0, drift_threshold, slew_threshold, min_dwell_seconds] = params;
    MotifSpec {
        name: name.into(),
        class: class.into(),
        params: MotifParams {
            rho,
            sigma0,
            drift_threshold,
            slew_threshold,
            min_dwell_seconds,
        },
    }
}

/// The default grammar; two motifs sharing a class plus one that is always
/// out of its envelope; the default grammar plus a zero-dwell motif.
fn grammars() -> &'static [Arc<Grammar>; GRAMMARS] {
    static GRAMMARS: OnceLock<[Arc<Grammar>; 3]> = OnceLock::new();
    GRAMMARS.get_or_init(|| {
        let shared = Grammar::new(vec![
            spec("fast", "x", [0.5, 0.01, 0.1, 0.5, 0.0]),
            spec("slow", "x", [0.9, 0.05, 0.2, 1.0, 2.0]),
            spec("always", "y", [0.99, 1e-6, 0.0, 0.0, 1.0]),
        ])
        .expect("valid grammar");
        let mut extended = Grammar::default().motifs().to_vec();
        extended.push(spec("cache_fast", "cache_io", [0.5, 0.02, 0.05, 0.1, 0.0]));
        let extended = Grammar::new(extended).expect("valid grammar");
        [
            Arc::new(Grammar::default()),
            Arc::new(shared),
            Arc::new(extended),
        ]
    })
}

/// Staging order of the model: time, then arrival.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Arrival(f64, u64);

impl Eq for Arrival {}

impl Ord for Arrival {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The documented reorder rules over an ordered map: the model.
#[derive(Default)]
struct Model {
    newest: Option<f64>,
    frontier: Option<f64>,
    staged: BTreeMap<Arrival, Sample>,
    seq: u64,
    released: u64,
    dropped: u64,
}

impl Model {
    fn push(&mut self, s: Sample, window: f64, out: &mut Vec<Sample>) {
        if self.frontier.is_some_and(|f| s.t < f) {
            self.dropped += 1;
            return;
        }
        self.seq += 1;
        self.staged.insert(Arrival(s.t, self.seq), s);
        let newest = self.newest.map_or(s.t, |n| n.max(s.t));
        self.newest = Some(newest);
        self.release(|t| t <= newest - window, out);
    }

    fn flush(&mut self, out: &mut Vec<Sample>) {
        self.release(|_| true, out);
    }

    fn release(&mut self, due: impl Fn(f64) -> bool, out: &mut Vec<Sample>) {
        while let Some(first) = self.staged.first_entry() {
            if !due(first.key().0) {
                break;
            }
            let (Arrival(t, _), s) = first.remove_entry();
            self.frontier = Some(t);
            self.released += 1;
            out.push(s);
        }
    }
}

/// The far-future guard's documented rules, written plainly: the model.
/// Admitted samples go to `admitted`, in admission order.
struct GuardModel {
    max_jump: f64,
    starting: bool,
    held: Vec<Sample>,
    anchor: f64,
    streak: usize,
    rejected: u64,
    jumps: u64,
}

impl GuardModel {
    fn new(max_jump: f64) -> Self {
        Self {
            max_jump,
            starting: true,
            held: Vec::new(),
            anchor: f64::NEG_INFINITY,
            streak: 0,
            rejected: 0,
            jumps: 0,
        }
    }

    /// Offers `s`; `newest` reads the reorder model's newest time, `admit`
    /// hands a sample to it.
    fn offer(
        &mut self,
        s: Sample,
        window: f64,
        newest: &mut dyn FnMut() -> f64,
        admit: &mut dyn FnMut(Sample),
    ) {
        if self.starting {
            self.held.push(s);
            if self.held.len() == CONFIRM {
                self.decide(admit);
            }
            return;
        }
        let n = newest();
        if s.t > n + self.max_jump {
            if self.held.is_empty() {
                self.anchor = n;
                self.streak = 0;
            }
            if self.held.len() == HOLD {
                self.held.remove(0);
                self.rejected += 1;
                self.streak = self.streak.min(self.held.len());
            }
            self.held.push(s);
            self.streak += 1;
            if self.streak >= CONFIRM {
                self.jumps += 1;
                self.decide(admit);
            }
            return;
        }
        admit(s);
        if !self.held.is_empty() {
            self.streak = 0;
            if newest() > self.anchor + window {
                self.rejected += self.held.len() as u64;
                self.held.clear();
            }
        }
    }

    fn decide(&mut self, admit: &mut dyn FnMut(Sample)) {
        let mut ts: Vec<f64> = self.held.iter().map(|h| h.t).collect();
        ts.sort_by(f64::total_cmp);
        let limit = ts[(ts.len() - 1) / 2] + self.max_jump;
        for h in std::mem::take(&mut self.held) {
            if h.t <= limit {
                admit(h);
            } else {
                self.rejected += 1;
            }
        }
        self.streak = 0;
        self.starting = false;
    }

    fn idle(&mut self, admit: &mut dyn FnMut(Sample)) {
        if self.starting && !self.held.is_empty() {
            self.decide(admit);
        }
    }

    fn end(&mut self, admit: &mut dyn FnMut(Sample)) {
        if self.starting {
            self.idle(admit);
        } else {
            self.rejected += self.held.len() as u64;
            self.held.clear();
            self.streak = 0;
        }
    }
}

struct Run {
    grammar: usize,
    window: f64,
    ttl: Option<f64>,
    max_channels: usize,
    pipeline: Pipeline,
    buffer: ReorderBuffer,
    model: Model,
    guard: GuardModel,
    /// `future_time` rejections offered directly (as a parser would count them).
    future_rejected: u64,
    offered: u64,
    max_abs_value: f64,
    reloaded: bool,
    /// Episodes emitted, by motif name (under the grammar of the moment).
    per_motif: HashMap<String, u64>,
    /// Last `t_end` per (motif name, channel).
    last_end: HashMap<(String, u32), f64>,
}

impl Run {
    fn push(&mut self, t: f64, class: u8, channel: u8, value: f64) {
        self.offered += 1;
        if !t.is_finite() || !value.is_finite() {
            self.pipeline.reject(RejectReason::NonFinite);
            self.check(Vec::new(), self.grammar);
            return;
        }
        let g = &grammars()[self.grammar];
        let class = (class as usize % g.classes().len()) as u16;
        let s = Sample::new(t, class, u32::from(channel % 8), value);
        self.max_abs_value = self.max_abs_value.max(value.abs());
        let mut episodes = Vec::new();
        self.pipeline.push(s, &mut |e: &Episode| episodes.push(*e));
        let (mut ours, mut model) = (Vec::new(), Vec::new());
        let (buffer, reorder, window) = (&mut self.buffer, &mut self.model, self.window);
        let newest = std::cell::Cell::new(reorder.newest.unwrap_or(f64::NEG_INFINITY));
        self.guard.offer(
            s,
            window,
            &mut || newest.get(),
            &mut |x| {
                buffer.push(x, |y| ours.push(*y));
                reorder.push(x, window, &mut model);
                newest.set(reorder.newest.unwrap_or(f64::NEG_INFINITY));
            },
        );
        compare_releases(&ours, &model);
        self.check(episodes, self.grammar);
    }

    /// Admits what the guard model lets go at `step` (idle or end), then
    /// releases everything staged in the buffer and the model.
    fn flush_model(&mut self, end: bool) {
        let (mut ours, mut model) = (Vec::new(), Vec::new());
        let (buffer, reorder, window) = (&mut self.buffer, &mut self.model, self.window);
        let mut admit = |x: Sample| {
            buffer.push(x, |y| ours.push(*y));
            reorder.push(x, window, &mut model);
        };
        if end {
            self.guard.end(&mut admit);
        } else {
            self.guard.idle(&mut admit);
        }
        self.buffer.flush_all(|x| ours.push(*x));
        self.model.flush(&mut model);
        compare_releases(&ours, &model);
    }

    fn flush(&mut self) {
        let mut episodes = Vec::new();
        self.pipeline
            .flush_staged(&mut |e: &Episode| episodes.push(*e));
        self.flush_model(false);
        self.check(episodes, self.grammar);
    }

    fn reload(&mut self, to: usize) {
        let old = self.grammar;
        let mut episodes = Vec::new();
        self.pipeline
            .replace_grammar(Arc::clone(&grammars()[to]), &mut |e: &Episode| {
                episodes.push(*e)
            });
        self.flush_model(true);
        // Everything emitted during the switch belongs to the old grammar.
        self.check(episodes, old);
        self.grammar = to;
        self.reloaded = true;
    }

    fn reject(&mut self, reason: RejectReason) {
        self.offered += 1;
        if reason == RejectReason::FutureTime {
            self.future_rejected += 1;
        }
        self.pipeline.reject(reason);
        self.check(Vec::new(), self.grammar);
    }

    fn check(&mut self, episodes: Vec<Episode>, grammar: usize) {
        let c = self.pipeline.counters();
        assert!(c.conserved(), "conservation broken: {c:?}");
        assert_eq!(c.received, self.offered, "received");
        let r = self.pipeline.reorder().counters();
        let b = self.buffer.counters();
        assert_eq!(
            (r.flushed, r.dropped_out_of_window),
            (b.flushed, b.dropped_out_of_window),
            "pipeline buffer and lone buffer disagree"
        );
        let held = self.guard.held.len();
        assert_eq!(c.staged as usize, self.buffer.staged() + held);
        assert_eq!(c.staged as usize, self.model.staged.len() + held, "staged");
        let future = c.rejected.get(RejectReason::FutureTime);
        assert_eq!(future, self.guard.rejected + self.future_rejected, "future_time");
        assert_eq!(c.time_jumps, self.guard.jumps, "jumps");
        let newest = self.pipeline.reorder().newest();
        assert!(
            self.guard.held.iter().all(|h| h.t > newest),
            "a held sample is not ahead of the stream"
        );
        assert_eq!(c.flushed, self.model.released, "released");
        assert_eq!(c.dropped_out_of_window, self.model.dropped, "dropped");
        let frontier = self.pipeline.reorder().frontier();
        match self.model.frontier {
            Some(f) => assert_eq!(frontier.to_bits(), f.to_bits(), "frontier"),
            None => assert_eq!(frontier, f64::NEG_INFINITY, "frontier"),
        }
        let e = self.pipeline.engine().counters();
        assert_eq!(e.processed, c.flushed, "engine saw every released sample");
        assert!(e.channels_tracked <= self.max_channels as u64);
        let g = &grammars()[grammar];
        for ep in &episodes {
            self.check_episode(ep, g, frontier, e.processed);
        }
    }

    fn check_episode(&mut self, ep: &Episode, g: &Grammar, frontier: f64, processed: u64) {
        let spec = g.motifs().get(ep.motif as usize).expect("motif id");
        assert!(ep.t_start.is_finite() && ep.t_end.is_finite(), "{ep:?}");
        assert!(ep.t_start <= ep.t_end, "{ep:?}");
        assert!(ep.t_end <= frontier, "closed after the frontier: {ep:?}");
        assert!(
            ep.duration() >= spec.params.min_dwell_seconds,
            "shorter than the dwell: {ep:?}"
        );
        assert!(ep.peak.is_finite() && ep.peak >= 0.0, "{ep:?}");
        assert!(
            ep.peak <= self.max_abs_value,
            "peak above any value: {ep:?}"
        );
        assert!(ep.samples >= 1 && ep.samples <= processed, "{ep:?}");
        assert!(
            ep.ema_at_boundary >= 0.0 || ep.ema_at_boundary.is_nan(),
            "{ep:?}"
        );
        // Beyond this, `S`'s own rounding may leave the band (docs/semantics.md).
        if self.max_abs_value <= TRUST_BAND_VALUES {
            assert!((0.99..=1.01).contains(&ep.trust_sum), "trust sum {ep:?}");
            assert!((0.0..=1.01).contains(&ep.trust_weight), "{ep:?}");
        }
        assert!(
            ep.closed_by != ClosedBy::Evicted || self.ttl.is_some(),
            "evicted without a TTL"
        );
        assert!(ep.channel < 8, "{ep:?}");
        *self.per_motif.entry(spec.name.clone()).or_default() += 1;
        let key = (spec.name.clone(), ep.channel);
        if let Some(&prev) = self.last_end.get(&key) {
            assert!(
                ep.t_start >= prev,
                "overlapping episodes: {ep:?} after {prev}"
            );
        }
        self.last_end.insert(key, ep.t_end);
    }

    fn finish(mut self) {
        let mut episodes = Vec::new();
        self.pipeline.finish(&mut |e: &Episode| episodes.push(*e));
        self.flush_model(true);
        self.check(episodes, self.grammar);
        let c = self.pipeline.counters();
        assert_eq!(c.staged, 0);
        let engine = self.pipeline.engine();
        assert_eq!(engine.counters().channels_tracked, 0);
        let g = &grammars()[self.grammar];
        for (m, spec) in g.motifs().iter().enumerate() {
            let stats = engine.stats(m as u16);
            assert_eq!(stats.open, 0, "{} still open", spec.name);
            if !self.reloaded {
                let emitted = self.per_motif.get(&spec.name).copied().unwrap_or(0);
                assert_eq!(stats.episodes, emitted, "{} episode count", spec.name);
            }
        }
    }
}

fn compare_releases(ours: &[Sample], model: &[Sample]) {
    assert!(
        ours.windows(2).all(|w| w[0].t <= w[1].t),
        "released out of order"
    );
    let bits = |s: &[Sample]| -> Vec<(u64, u16, u32, u64)> {
        s.iter()
            .map(|x| (x.t.to_bits(), x.class, x.channel, x.value.to_bits()))
            .collect()
    };
    assert_eq!(bits(ours), bits(model), "release differs from the model");
}

fn window(b: &mut Bytes) -> f64 {
    const TABLE: [f64; 6] = [0.0, 0.25, 1.0, 10.0, 1e9, f64::MAX];
    match b.u8() {
        i @ 0..=5 => TABLE[i as usize],
        _ => {
            let w = b.f64_bits().abs();
            if w.is_finite() {
                w
            } else {
                0.0
            }
        }
    }
}

fn ttl(b: &mut Bytes) -> Option<f64> {
    const TABLE: [f64; 4] = [1e-9, 0.5, 5.0, 3600.0];
    match b.u8() {
        0..=63 => None,
        i @ 64..=127 => Some(TABLE[i as usize % 4]),
        _ => Some(b.f64_bits().abs()).filter(|t| *t > 0.0 && t.is_finite()),
    }
}

fn max_channels(b: &mut Bytes) -> usize {
    match b.u8() {
        i @ 0..=127 => i as usize % 16 + 1,
        _ => 1_000_000,
    }
}

fn max_future_jump(b: &mut Bytes) -> f64 {
    const TABLE: [f64; 4] = [3600.0, 0.5, 40.0, 1e300];
    TABLE[b.u8() as usize % 4]
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let grammar = b.u8() as usize % GRAMMARS;
    let window = window(&mut b);
    let ttl = ttl(&mut b);
    let max_channels = max_channels(&mut b);
    let max_future_jump = max_future_jump(&mut b);
    let config = PipelineConfig {
        window,
        max_future_jump,
        limits: EngineLimits {
            channel_ttl: ttl,
            max_channels,
        },
        ..PipelineConfig::default()
    };
    let mut run = Run {
        grammar,
        window,
        ttl,
        max_channels,
        pipeline: Pipeline::new(Arc::clone(&grammars()[grammar]), &config)
            .expect("a valid configuration"),
        buffer: ReorderBuffer::new(window).expect("a valid window"),
        model: Model::default(),
        guard: GuardModel::new(max_future_jump),
        future_rejected: 0,
        offered: 0,
        max_abs_value: 0.0,
        reloaded: false,
        per_motif: HashMap::new(),
        last_end: HashMap::new(),
    };
    let mut clock = 0.0f64;
    while !b.is_empty() {
        match b.u8() % 16 {
            0..=9 => {
                // Near the clock: steps of a quarter second, back or forth.
                clock += f64::from(b.u8() as i8) * 0.25;
                let (class, channel) = (b.u8(), b.u8());
                let value = f64::from(b.u8() as i8) / 16.0;
                run.push(clock, class, channel, value);
            }
            10 => {
                let t = b.f64_bits();
                let (class, channel) = (b.u8(), b.u8());
                let value = b.f64_bits();
                run.push(t, class, channel, value);
            }
            11 => {
                let (class, channel) = (b.u8(), b.u8());
                let value = b.f64_bits();
                run.push(clock, class, channel, value);
            }
            12 => run.flush(),
            13 => run.reload(b.u8() as usize % GRAMMARS),
            14 => {
                let reason = RejectReason::ALL[b.u8() as usize % RejectReason::COUNT];
                run.reject(reason);
            }
            _ => clock += f64::from(b.u16()) * 10.0,
        }
    }
    run.finish();
});
