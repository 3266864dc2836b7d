//! Motif engine step per sample, fed in order, at 1 / 1,000 / 100,000 channels.
//!
//! Each iteration processes the same 1M-sample in-order stream (conditions in
//! `common/mod.rs`: all five classes mixed, incidents opening and closing
//! episodes) through an engine that already tracks every (motif, channel): the
//! warm-up, which allocates the channel slots, happens in the untimed setup, so
//! the figure is the steady-state cost of one sample.

mod common;

use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput,
};
use motifd_engine::{EngineLimits, Episode, MotifEngine, Sample};
use std::sync::Arc;

/// An engine that has seen one quiet sample on every (class, channel), a second
/// before the stream starts.
fn warmed(grammar: &Arc<motifd_engine::Grammar>, channels: u32) -> MotifEngine {
    let mut engine = MotifEngine::new(grammar.clone(), EngineLimits::default());
    let mut sink = |_: &Episode| {};
    for channel in 0..channels {
        for class in 0..common::CLASSES {
            engine.process(
                &Sample::new(common::T0 - 1.0, class, channel, 0.0),
                &mut sink,
            );
        }
    }
    engine
}

fn run(mut engine: MotifEngine, samples: &[Sample]) -> (u64, MotifEngine) {
    let mut episodes = 0u64;
    let mut sink = |e: &Episode| episodes += black_box(e).samples;
    for s in samples {
        engine.process(s, &mut sink);
    }
    (episodes, engine)
}

fn run_all(mut engine: MotifEngine, samples: &[Sample]) -> (u64, MotifEngine) {
    let mut episodes = 0u64;
    let mut sink = |e: &Episode| episodes += black_box(e).samples;
    engine.process_all(samples, &mut sink);
    (episodes, engine)
}

/// One group: `runner` over the in-order stream at 1, 1,000 and 100,000
/// channels, each time from a freshly warmed engine.
fn group(c: &mut Criterion, name: &str, runner: fn(MotifEngine, &[Sample]) -> (u64, MotifEngine)) {
    let grammar = Arc::new(common::grammar());
    let len = common::stream_len();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(len as u64));
    for channels in [1u32, 1_000, 100_000] {
        let samples = common::in_order(len, channels);
        // At 100,000 channels each (class, channel) sees only a couple of samples,
        // too few to close an episode; the other sizes must close some. Both
        // entries must agree.
        let (episode_samples, _) = runner(warmed(&grammar, channels), &samples);
        assert!(
            channels > 1_000 || episode_samples > 0,
            "no episode at {channels}"
        );
        assert_eq!(
            episode_samples,
            run(warmed(&grammar, channels), &samples).0,
            "{name} and process disagree at {channels}"
        );
        g.bench_with_input(
            BenchmarkId::from_parameter(channels),
            &samples,
            |b, samples| {
                b.iter_batched(
                    || warmed(&grammar, channels),
                    // The engine is returned so that freeing it is not timed.
                    |engine| runner(engine, samples),
                    BatchSize::PerIteration,
                )
            },
        );
    }
    g.finish();
}

fn engine_step(c: &mut Criterion) {
    group(c, "engine_step", run);
}

/// The same streams through `MotifEngine::process_all`, the batch entry the
/// pipeline releases through: same episodes, state read ahead.
fn engine_step_all(c: &mut Criterion) {
    group(c, "engine_step_all", run_all);
}

criterion_group!(benches, engine_step, engine_step_all);
criterion_main!(benches);
