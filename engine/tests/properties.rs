//! Property tests of the reorder buffer, the pipeline's counters and the motif
//! engine (docs/semantics.md#reorder-buffer, #bounded-state).

use motifd_engine::grammar::MotifParams;
use motifd_engine::motif::EngineCounters;
use motifd_engine::{
    ChannelNames, ClosedBy, EngineLimits, Episode, Grammar, MotifEngine, MotifId, MotifSpec,
    Pipeline, PipelineConfig, RejectReason, ReorderBuffer, Sample,
};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};
use std::collections::HashMap;
use std::sync::Arc;

/// Failing cases are recorded next to the crate so they are replayed first on
/// every later run (and can be committed).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// The reorder rules of docs/semantics.md#reorder-buffer written as plainly as possible: a staged
/// list, re-sorted (stably) on every release.
struct NaiveReorder {
    window: f64,
    newest: f64,
    frontier: f64,
    staged: Vec<(f64, usize)>,
}

impl NaiveReorder {
    fn new(window: f64) -> Self {
        Self {
            window,
            newest: f64::NEG_INFINITY,
            frontier: f64::NEG_INFINITY,
            staged: Vec::new(),
        }
    }

    /// Returns whether the sample was accepted, and the ids released.
    fn push(&mut self, t: f64, id: usize) -> (bool, Vec<usize>) {
        if t < self.frontier {
            return (false, Vec::new());
        }
        self.newest = self.newest.max(t);
        self.staged.push((t, id));
        let cutoff = self.newest - self.window;
        (true, self.release(|t| t <= cutoff))
    }

    fn release(&mut self, due: impl Fn(f64) -> bool) -> Vec<usize> {
        let (mut out, keep): (Vec<_>, Vec<_>) = self.staged.iter().partition(|&&(t, _)| due(t));
        self.staged = keep;
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(&(t, _)) = out.last() {
            self.frontier = t;
        }
        out.into_iter().map(|(_, id)| id).collect()
    }
}

/// Event times with many ties, small steps and occasional big jumps.
fn times() -> impl Strategy<Value = Vec<f64>> {
    let t = prop_oneof![
        4 => (0u32..40).prop_map(|k| f64::from(k) * 0.5),
        1 => -50.0..80.0f64,
        1 => Just(0.0),
    ];
    prop::collection::vec(t, 0..200)
}

fn windows() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(0.5), Just(1.0), 0.0..25.0f64]
}

proptest! {
    #![proptest_config(config(512))]

    /// The radix-heap buffer releases exactly what the naive rules release, in
    /// the same order; the released stream is sorted with ties in arrival order,
    /// and `accepted = flushed + staged + dropped` after every push.
    #[test]
    fn reorder_buffer_follows_the_rules(ts in times(), window in windows()) {
        let mut rb = ReorderBuffer::new(window).unwrap();
        let mut naive = NaiveReorder::new(window);
        let mut released: Vec<(f64, usize)> = Vec::new();
        let mut accepted = 0u64;
        for (id, &t) in ts.iter().enumerate() {
            let mut now = Vec::new();
            let ok = rb.push(Sample::new(t, 0, 0, id as f64), |s| now.push(s.value as usize));
            let (naive_ok, naive_now) = naive.push(t, id);
            prop_assert_eq!(ok, naive_ok, "accept decision for t={}", t);
            prop_assert_eq!(&now, &naive_now);
            accepted += u64::from(ok);
            let c = rb.counters();
            prop_assert_eq!(accepted, c.flushed + rb.staged() as u64);
            prop_assert_eq!(
                id as u64 + 1,
                c.flushed + rb.staged() as u64 + c.dropped_out_of_window
            );
            released.extend(now.into_iter().map(|id| (ts[id], id)));
        }
        let mut rest = Vec::new();
        rb.flush_all(|s| rest.push(s.value as usize));
        prop_assert_eq!(&rest, &naive.release(|_| true));
        released.extend(rest.into_iter().map(|id| (ts[id], id)));
        prop_assert_eq!(rb.staged(), 0);
        prop_assert_eq!(released.len() as u64, accepted);
        prop_assert_eq!(rb.counters().flushed, accepted);
        for w in released.windows(2) {
            prop_assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1), "{:?}", w);
        }
    }

    /// Window 0: a sample is dropped exactly when it is below the largest time
    /// accepted before it; everything else is released at once, in arrival order.
    #[test]
    fn window_zero_drops_exactly_below_the_frontier(ts in times()) {
        let mut rb = ReorderBuffer::new(0.0).unwrap();
        let mut running_max = f64::NEG_INFINITY;
        let mut expected_dropped = 0u64;
        for (id, &t) in ts.iter().enumerate() {
            let expect_drop = t < running_max;
            let mut now = Vec::new();
            let ok = rb.push(Sample::new(t, 0, 0, id as f64), |s| now.push(s.value as usize));
            prop_assert_eq!(ok, !expect_drop, "t={} running max={}", t, running_max);
            if expect_drop {
                expected_dropped += 1;
                prop_assert!(now.is_empty());
            } else {
                running_max = t;
                prop_assert_eq!(now, vec![id]);
            }
            prop_assert_eq!(rb.staged(), 0);
            prop_assert_eq!(rb.counters().dropped_out_of_window, expected_dropped);
        }
    }

    /// The pipeline's conservation law holds after every operation: pushes,
    /// rejections and idle flushes.
    #[test]
    fn pipeline_counters_are_conserved(
        ops in prop::collection::vec((0u8..10, (0u32..40).prop_map(|k| f64::from(k) * 0.5)), 0..200),
        window in windows(),
    ) {
        let config = PipelineConfig { window, ..PipelineConfig::default() };
        let mut p = Pipeline::new(Arc::new(Grammar::default()), &config).unwrap();
        let mut sink = |_: &Episode| {};
        let mut offered = 0u64;
        for (op, t) in ops {
            match op {
                0 => p.reject(RejectReason::ALL[(t as usize) % RejectReason::COUNT]),
                1 => p.flush_staged(&mut sink),
                _ => p.push(Sample::new(t, (op % 5).into(), 1, t.sin()), &mut sink),
            }
            offered += u64::from(op != 1);
            let c = p.counters();
            prop_assert!(c.conserved(), "{:?}", c);
            prop_assert_eq!(c.received, offered);
        }
        p.finish(&mut sink);
        let c = p.counters();
        prop_assert!(c.conserved() && c.staged == 0, "{:?}", c);
        prop_assert_eq!(c.flushed, p.engine().counters().processed);
    }
}

/// A grammar for the engine properties: the default one, or a custom one with
/// two motifs sharing a class, zero dwell and extreme parameters.
fn grammars() -> impl Strategy<Value = Arc<Grammar>> {
    let params = (
        prop_oneof![Just(1e-9), Just(0.999_999), 0.01..0.99f64],
        prop_oneof![Just(1e-300), Just(1e6), 1e-4..1.0f64],
        prop_oneof![Just(0.0), 0.0..2.0f64],
        prop_oneof![Just(0.0), 0.0..3.0f64],
        prop_oneof![Just(0.0), Just(1e-9), 0.0..10.0f64],
    )
        .prop_map(|(rho, sigma0, drift, slew, dwell)| MotifParams {
            rho,
            sigma0,
            drift_threshold: drift,
            slew_threshold: slew,
            min_dwell_seconds: dwell,
        });
    prop_oneof![
        Just(Arc::new(Grammar::default())),
        prop::collection::vec((0usize..3, params), 1..5).prop_map(|motifs| {
            let motifs = motifs
                .into_iter()
                .enumerate()
                .map(|(i, (class, params))| MotifSpec {
                    name: format!("m{i}"),
                    class: format!("k{class}"),
                    params,
                })
                .collect();
            Arc::new(Grammar::new(motifs).expect("generated parameters are in range"))
        }),
    ]
}

/// Any finite value, with the awkward ones over-represented.
fn values() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => -3.0..3.0f64,
        1 => prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        1 => prop::sample::select(vec![1e300, -1e300, f64::MAX, -f64::MAX, f64::MIN_POSITIVE, -0.0]),
    ]
}

/// Time steps: equal times, tiny steps, ordinary ones, long gaps; occasionally
/// a step back (which the reorder buffer stages or drops).
fn steps() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => Just(0.0),
        1 => Just(1e-9),
        1 => Just(1e-300),
        4 => 0.0..2.0f64,
        1 => 5.0..200.0f64,
        1 => -20.0..0.0f64,
    ]
}

/// The engine's channel bookkeeping as docs/semantics.md#bounded-state states it, per sample: for
/// each motif watching the class, evict that motif's channels idle for longer
/// than the TTL, then track the sample's channel, or refuse it at the cap.
struct TrackingModel {
    ttl: Option<f64>,
    cap: u64,
    /// `last_t[motif][channel]`.
    last_t: Vec<HashMap<u32, f64>>,
    counters: EngineCounters,
}

impl TrackingModel {
    fn tracked(&self) -> u64 {
        self.last_t.iter().map(|m| m.len() as u64).sum()
    }

    fn evict(&mut self, motif: usize, now: f64) {
        if let Some(ttl) = self.ttl {
            let before = now - ttl;
            let n = self.last_t[motif].len();
            self.last_t[motif].retain(|_, &mut last| last >= before);
            self.counters.channels_evicted += (n - self.last_t[motif].len()) as u64;
        }
    }

    fn process(&mut self, grammar: &Grammar, s: &Sample) {
        self.counters.processed += 1;
        for &m in grammar.motifs_of(s.class) {
            let m = m as usize;
            self.evict(m, s.t);
            if !self.last_t[m].contains_key(&s.channel) && self.tracked() >= self.cap {
                self.counters.refused_channel_cap += 1;
                continue;
            }
            self.last_t[m].insert(s.channel, s.t);
        }
        self.counters.channels_tracked = self.tracked();
    }
}

/// What the generated cases exercised, so the properties cannot hold vacuously.
#[derive(Debug, Default)]
struct Coverage {
    cases: u64,
    episodes: u64,
    evicted: u64,
    refused: u64,
    reordered: u64,
}

/// Grammar, first time, (step, class, channel, value) inputs, reorder window,
/// TTL, channel cap, whether to run idle evictions.
type EngineCase = (
    Arc<Grammar>,
    f64,
    Vec<(f64, u16, u32, f64)>,
    f64,
    Option<f64>,
    usize,
    bool,
);

fn engine_case(
    (grammar, t0, input, window, ttl, cap, idle_evictions): EngineCase,
    coverage: &mut Coverage,
) -> Result<(), TestCaseError> {
    let limits = EngineLimits {
        channel_ttl: ttl,
        max_channels: cap,
    };
    let mut engine = MotifEngine::new(grammar.clone(), limits);
    let mut model = TrackingModel {
        ttl,
        cap: cap as u64,
        last_t: vec![HashMap::new(); grammar.motifs().len()],
        counters: EngineCounters::default(),
    };
    let names = ChannelNames::default();
    for c in 1..6 {
        names.local().intern(&format!("c{c}"));
    }
    let mut episodes: Vec<Episode> = Vec::new();
    let mut rb = ReorderBuffer::new(window).unwrap();
    let mut t = t0;
    for (step, class, channel, value) in input {
        t += step;
        if !t.is_finite() {
            break;
        }
        let mut released = Vec::new();
        rb.push(Sample::new(t, class, channel, value), |s| released.push(*s));
        for s in released {
            engine.process(&s, &mut |e: &Episode| episodes.push(*e));
            model.process(&grammar, &s);
            prop_assert_eq!(engine.counters(), model.counters);
            prop_assert!(engine.counters().channels_tracked <= cap as u64);
        }
        if idle_evictions && rb.frontier().is_finite() {
            let now = rb.frontier();
            engine.evict_all_idle(now, &mut |e: &Episode| episodes.push(*e));
            for m in 0..grammar.motifs().len() {
                model.evict(m, now);
            }
            model.counters.channels_tracked = model.tracked();
            prop_assert_eq!(engine.counters(), model.counters);
        }
    }
    let mut rest = Vec::new();
    rb.flush_all(|s| rest.push(*s));
    for s in rest {
        engine.process(&s, &mut |e: &Episode| episodes.push(*e));
        model.process(&grammar, &s);
        prop_assert_eq!(engine.counters(), model.counters);
    }
    engine.finish(&mut |e: &Episode| episodes.push(*e));
    prop_assert_eq!(engine.counters().channels_tracked, 0);

    let closed: u64 = (0..grammar.motifs().len())
        .map(|m| engine.stats(m as MotifId).episodes)
        .sum();
    prop_assert_eq!(closed, episodes.len() as u64);
    for m in 0..grammar.motifs().len() {
        prop_assert_eq!(engine.stats(m as MotifId).open, 0);
    }
    let mut out = Vec::new();
    for e in &episodes {
        prop_assert!(e.t_start <= e.t_end, "{:?}", e);
        prop_assert!(e.samples >= 1, "{:?}", e);
        prop_assert!(e.peak >= 0.0, "{:?}", e);
        prop_assert!(ttl.is_some() || e.closed_by != ClosedBy::Evicted, "{:?}", e);
        let dwell = grammar.motif(e.motif).params.min_dwell_seconds;
        if e.closed_by != ClosedBy::Dwell {
            prop_assert!(e.t_end - e.t_start >= dwell, "{:?}", e);
        }
        e.write_json(&grammar, &names.lock(), &mut out);
        e.write_csv(&grammar, &names.lock(), &mut out);
    }
    coverage.cases += 1;
    coverage.episodes += episodes.len() as u64;
    coverage.evicted += engine.counters().channels_evicted;
    coverage.refused += engine.counters().refused_channel_cap;
    Ok(())
}

/// Arbitrary finite input never panics the engine; with TTL eviction and a
/// small channel cap the tracked / evicted / refused counters follow the model
/// exactly after every sample, and every episode is well formed and
/// serialisable.
#[test]
fn engine_survives_arbitrary_input_and_conserves_channels() {
    let strategy = (
        grammars(),
        prop_oneof![
            Just(0.0),
            Just(1.7e9),
            Just(-1e15),
            Just(1e300),
            -1e3..1e3f64
        ],
        prop::collection::vec((steps(), 0u16..4, 0u32..6, values()), 0..300),
        windows(),
        prop_oneof![Just(None), Just(Some(0.0)), (0.0..30.0f64).prop_map(Some)],
        1usize..6,
        any::<bool>(),
    );
    let coverage = std::cell::RefCell::new(Coverage::default());
    let mut runner = TestRunner::new(config(256));
    runner
        .run(&strategy, |case| {
            engine_case(case, &mut coverage.borrow_mut())
        })
        .unwrap();
    let c = coverage.into_inner();
    eprintln!("{c:?}");
    assert!(c.cases >= 256, "{c:?}");
    assert!(
        c.episodes >= 500 && c.evicted >= 200 && c.refused >= 200,
        "{c:?}"
    );
}

/// One generated sample before arrival: `(t, class, channel, value)`.
type Base = (f64, u16, u32, f64);

/// Sorted base samples with plenty of ties, spikes and quiet stretches.
fn base_stream() -> impl Strategy<Value = Vec<Base>> {
    let step = prop_oneof![3 => Just(0.0), 6 => Just(0.5), 4 => Just(1.0), 1 => Just(3.0), 1 => Just(40.0)];
    let value = prop_oneof![
        4 => -0.05..0.05f64,
        2 => -1.5..1.5f64,
        1 => prop::sample::select(vec![2.0, -2.0, 0.6, 0.3]),
    ];
    prop::collection::vec((step, 0u16..5, 0u32..4, value), 1..250).prop_map(|v| {
        let mut t = 0.0;
        v.into_iter()
            .map(|(step, class, channel, value)| {
                t += step;
                (t, class, channel, value)
            })
            .collect()
    })
}

fn run_pipeline(
    grammar: &Arc<Grammar>,
    window: f64,
    limits: EngineLimits,
    samples: &[Base],
    names: &ChannelNames,
) -> (Vec<u8>, u64) {
    let config = PipelineConfig {
        window,
        limits,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::new(grammar.clone(), &config).unwrap();
    let mut out = Vec::new();
    let names = names.lock();
    let mut sink = |e: &Episode| e.write_json(grammar, &names, &mut out);
    for &(t, class, channel, value) in samples {
        p.push(Sample::new(t, class, channel, value), &mut sink);
    }
    p.finish(&mut sink);
    let dropped = p.counters().dropped_out_of_window;
    (out, dropped)
}

/// Sorted samples, per-sample jitter in [0, 1], window, grammar, TTL, cap.
type ReorderCase = (Vec<Base>, Vec<f64>, f64, Arc<Grammar>, Option<f64>, usize);

fn reorder_case(
    (base, jitter, window, grammar, ttl, cap): ReorderCase,
    coverage: &mut Coverage,
) -> Result<(), TestCaseError> {
    // Arrival order: sorted by t + jitter·window. If a arrives before b then
    // t_a − t_b ≤ window, up to rounding — checked exactly below.
    let mut arrival: Vec<(f64, Base)> = base
        .iter()
        .zip(&jitter)
        .map(|(&s, &u)| (s.0 + u * window, s))
        .collect();
    arrival.sort_by(|a, b| a.0.total_cmp(&b.0));
    let arrival: Vec<Base> = arrival.into_iter().map(|(_, s)| s).collect();
    let mut newest = f64::NEG_INFINITY;
    let mut within = true;
    for s in &arrival {
        within &= newest - s.0 <= window;
        newest = newest.max(s.0);
    }
    prop_assume!(within);
    let mut sorted = arrival.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));

    let names = ChannelNames::default();
    for c in 1..4 {
        names.local().intern(&format!("c{c}"));
    }
    let classes = grammar.classes().len() as u16;
    let fit = |v: &[Base]| -> Vec<Base> {
        v.iter()
            .map(|&(t, k, c, x)| (t, k % classes, c, x))
            .collect()
    };
    let limits = EngineLimits {
        channel_ttl: ttl,
        max_channels: cap,
    };
    let (jittered, dropped) = run_pipeline(&grammar, window, limits, &fit(&arrival), &names);
    let (in_order, _) = run_pipeline(&grammar, 0.0, limits, &fit(&sorted), &names);
    prop_assert_eq!(dropped, 0);
    let jittered = String::from_utf8(jittered).unwrap();
    prop_assert_eq!(&jittered, &String::from_utf8(in_order).unwrap());
    coverage.cases += 1;
    coverage.episodes += jittered.lines().count() as u64;
    coverage.reordered += u64::from(arrival.windows(2).any(|w| w[1].0 < w[0].0));
    coverage.evicted += jittered.matches("\"closed_by\":\"evicted\"").count() as u64;
    Ok(())
}

/// Any arrival order in which no sample comes after one more than a window
/// newer gives byte-identical episodes to the same samples stably sorted by `t`
/// (ties in arrival order), whatever the grammar and limits.
#[test]
fn reordering_within_the_window_does_not_change_episodes() {
    let strategy = (
        base_stream(),
        prop::collection::vec(0.0..=1.0f64, 250),
        prop_oneof![Just(0.5), Just(1.0), 0.0..15.0f64],
        grammars(),
        prop_oneof![Just(None), (1.0..60.0f64).prop_map(Some)],
        prop_oneof![Just(1_000_000usize), 1usize..8],
    );
    let coverage = std::cell::RefCell::new(Coverage::default());
    let mut runner = TestRunner::new(config(320));
    runner
        .run(&strategy, |case| {
            reorder_case(case, &mut coverage.borrow_mut())
        })
        .unwrap();
    let c = coverage.into_inner();
    eprintln!("{c:?}");
    assert!(c.cases >= 320, "{c:?}");
    assert!(
        c.episodes >= 1000 && c.reordered >= 150 && c.evicted >= 50,
        "{c:?}"
    );
}
