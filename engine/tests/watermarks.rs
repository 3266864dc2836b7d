//! Per-producer watermarks through the pipeline (docs/semantics.md,
//! "Per-producer watermarks"): one producer behaves exactly like `push`; a
//! producer running behind the others in event time loses nothing; an idle or
//! removed one stops holding the frontier back; the staged-sample cap bounds
//! what a slow producer can pile up.

mod pipeline_view;

use motifd_engine::{Episode, Grammar, Pipeline, PipelineConfig, Sample};
use pipeline_view::{observe, times};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

fn grammar() -> Arc<Grammar> {
    Arc::new(Grammar::default())
}

fn config(window: f64, max_staged: usize) -> PipelineConfig {
    PipelineConfig {
        window,
        max_staged,
        ..PipelineConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// With exactly one producer, `push_from` is `push`, sample for sample:
    /// same releases, drops, held and rejected samples, episodes and counters
    /// after every call, whatever the window, the cap and the batching.
    #[test]
    fn one_producer_is_exactly_push(
        ts in times(400, 300),
        window in prop_oneof![Just(0.0), Just(2.0), 0.0..30.0f64],
        cap in prop_oneof![Just(1usize << 24), 1usize..6],
        batch in 1usize..50,
        values in prop::collection::vec(-3.0..3.0f64, 300),
    ) {
        let c = config(window, cap);
        let (mut a, mut b) = (Pipeline::new(grammar(), &c).unwrap(), Pipeline::new(grammar(), &c).unwrap());
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        for (i, &t) in ts.iter().enumerate() {
            let s = Sample::new(t, (i % 5) as u16, (i % 3) as u32, values[i]);
            a.push(s, &mut |e: &Episode| ea.push(*e));
            let p = b.producer(42, Duration::from_millis((i / batch) as u64));
            b.push_from(p, s, &mut |e: &Episode| eb.push(*e));
            prop_assert_eq!(observe(&a), observe(&b), "after sample {}", i);
            prop_assert!(ea == eb, "episodes differ after sample {}", i);
        }
        a.flush_staged(&mut |e: &Episode| ea.push(*e));
        b.flush_staged(&mut |e: &Episode| eb.push(*e));
        a.finish(&mut |e: &Episode| ea.push(*e));
        b.finish(&mut |e: &Episode| eb.push(*e));
        prop_assert_eq!(observe(&a), observe(&b));
        prop_assert!(ea == eb);
    }
}

/// Producer `k`'s stream: its own channels, `per_second` samples a second
/// from `start`, times offset by `k` ms so that no two samples share a time.
fn producer_samples(k: u32, start: f64, seconds: u32, per_second: u32) -> Vec<Sample> {
    (0..seconds * per_second)
        .map(|j| {
            let t = start + f64::from(j) / f64::from(per_second) + f64::from(k) * 1e-3;
            let burst = (j / per_second) % 40 < 6;
            let value = if burst { 1.5 } else { 0.01 * f64::from(j % 3) };
            Sample::new(t, (j % 5) as u16, 10 * k + j % 4, value)
        })
        .collect()
}

/// Feeds round `r` (second `r` of every stream) through `feed`.
fn rounds(streams: &[Vec<Sample>], mut feed: impl FnMut(usize, usize, &[Sample])) {
    for round in 0..300 {
        for (k, stream) in streams.iter().enumerate() {
            feed(round, k, &stream[round * 20..(round + 1) * 20]);
        }
    }
}

#[test]
fn a_lagging_producer_loses_nothing_and_the_episodes_equal_the_sorted_stream() {
    const WINDOW: f64 = 10.0;
    // Producer 3 sends in step with the others, three windows behind them in
    // event time.
    let streams: Vec<Vec<Sample>> = (0..4)
        .map(|k| {
            let start = if k == 3 { 1.7e9 - 3.0 * WINDOW } else { 1.7e9 };
            producer_samples(k, start, 300, 20)
        })
        .collect();
    let mut p = Pipeline::new(grammar(), &config(WINDOW, 1 << 24)).unwrap();
    let mut episodes = Vec::new();
    let mut max_staged = 0;
    rounds(&streams, |round, k, batch| {
        let producer = p.producer(k as u64, Duration::from_millis(round as u64 * 10));
        for &s in batch {
            p.push_from(producer, s, &mut |e: &Episode| episodes.push(*e));
        }
        max_staged = max_staged.max(p.counters().staged);
        assert!(p.counters().conserved());
    });
    p.finish(&mut |e: &Episode| episodes.push(*e));
    let c = p.counters();
    assert_eq!(c.dropped_out_of_window, 0);
    assert_eq!(c.flushed, 4 * 300 * 20);
    assert!(
        max_staged >= 3 * 40 * 20,
        "three producers hold four windows: {max_staged}"
    );

    let mut sorted: Vec<Sample> = streams.concat();
    sorted.sort_by(|a, b| a.t.total_cmp(&b.t));
    let mut reference = Pipeline::new(grammar(), &config(WINDOW, 1 << 24)).unwrap();
    let mut expected = Vec::new();
    for &s in &sorted {
        reference.push(s, &mut |e: &Episode| expected.push(*e));
    }
    reference.finish(&mut |e: &Episode| expected.push(*e));
    assert!(expected.len() > 50, "{} episodes", expected.len());
    assert!(episodes == expected);

    // One frontier for all (plain `push`) drops the lagging producer's samples.
    let mut global = Pipeline::new(grammar(), &config(WINDOW, 1 << 24)).unwrap();
    rounds(&streams, |_, _, batch| {
        for &s in batch {
            global.push(s, &mut |_: &Episode| {});
        }
    });
    assert!(global.counters().dropped_out_of_window > 5000);
}

#[test]
fn an_idle_or_removed_producer_stops_holding_the_frontier_back() {
    let mut p = Pipeline::new(grammar(), &config(5.0, 1 << 24)).unwrap();
    let mut sink = |_: &Episode| {};
    let s = |t: f64| Sample::new(t, 0, 1, 0.0);
    let (a, b) = (p.producer(1, Duration::ZERO), p.producer(2, Duration::ZERO));
    for t in 0..8 {
        p.push_from(a, s(f64::from(t)), &mut sink);
    }
    p.push_from(b, s(100.0), &mut sink);
    for t in 100..200 {
        let a = p.producer(1, Duration::from_secs(2));
        p.push_from(a, s(f64::from(t)), &mut sink);
    }
    // b (at 100) holds everything above 95 back: a's 100..199 and b's 100.
    assert_eq!(p.reorder().frontier(), 7.0);
    assert_eq!(p.reorder().staged(), 101);
    p.expire_idle_producers(
        Duration::from_secs(2),
        Duration::from_millis(500),
        &mut sink,
    );
    assert_eq!(
        p.reorder().frontier(),
        194.0,
        "b went idle: a alone sets the cutoff"
    );
    assert_eq!(p.watermarks().active(), 1);
    // b comes back; the cutoff never goes backwards, and removing a frees it.
    let b = p.producer(2, Duration::from_secs(3));
    p.push_from(b, s(196.0), &mut sink);
    let a = p.producer(1, Duration::from_secs(3));
    p.push_from(a, s(250.0), &mut sink);
    assert_eq!(p.reorder().frontier(), 194.0);
    p.remove_producer(2, &mut sink);
    assert_eq!(p.reorder().frontier(), 199.0, "everything up to 245 is out");
    assert_eq!(p.reorder().staged(), 1);
    assert_eq!(p.counters().dropped_out_of_window, 0);
    assert!(p.counters().conserved());
}

#[test]
fn the_staged_cap_bounds_what_a_stalled_producer_piles_up() {
    let mut p = Pipeline::new(grammar(), &config(10.0, 500)).unwrap();
    let mut released = Vec::new();
    let mut sink = |_: &Episode| {};
    let slow = p.producer(1, Duration::ZERO);
    p.push_from(slow, Sample::new(0.0, 0, 1, 0.0), &mut sink);
    let fast = p.producer(2, Duration::ZERO);
    for i in 0..5000 {
        p.push_from(fast, Sample::new(f64::from(i) * 0.1, 1, 2, 0.0), &mut sink);
        assert!(p.counters().staged <= 500);
        released.push(p.reorder().frontier());
    }
    let c = p.counters();
    assert!(c.conserved());
    assert!(c.released_at_cap >= 4000, "{c:?}");
    assert!(
        released.windows(2).all(|w| w[0] <= w[1]),
        "the frontier only moves forward"
    );
    // The stalled producer's next samples are late now, and dropped.
    p.push_from(slow, Sample::new(1.0, 0, 1, 0.0), &mut sink);
    assert_eq!(p.counters().dropped_out_of_window, 1);
}
