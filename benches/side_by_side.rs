//! Side by side with the reference implementation, dsfb-database 0.1.1's
//! `MotifEngine::run`, on the same 1M-sample in-memory stream (conditions in
//! `common/mod.rs`) at 8 and 1,000 channels.
//!
//! - `reference`: `MotifEngine::run` over a sorted `ResidualStream` built before
//!   the timed loop (the reference is batch-only: it groups the whole stream by
//!   channel, then walks each channel).
//! - `motifd_engine`: a fresh engine fed the same in-order samples one by one,
//!   then `finish`, collecting episodes into a `Vec` as the reference does.
//! - `motifd_pipeline_jitter`: reorder buffer + engine (10 s window) fed the same
//!   arrivals with ±5 s jitter on event time, then `finish`.
//!
//! Each iteration includes building the engine's state, as `run` does. The
//! reference costs O(channels) per sample (its cross-channel observer), about
//! 4.5 s per iteration at 1,000 channels here, so the group uses 10 flat samples.

mod common;

use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use dsfb_database::{MotifGrammar, ResidualClass, ResidualSample, ResidualStream};
use motifd_engine::{
    EngineLimits, Episode, Grammar, MotifEngine, Pipeline, PipelineConfig, Sample,
};
use std::sync::Arc;
use std::time::Duration;

/// The reference's view of `samples` (already in time order).
fn residual_stream(samples: &[Sample]) -> ResidualStream {
    let mut stream = ResidualStream::new("motifd-bench");
    for s in samples {
        let class = ResidualClass::ALL[s.class as usize];
        stream.push(
            ResidualSample::new(s.t, class, s.value).with_channel(format!("ch{}", s.channel)),
        );
    }
    stream
}

fn ours(grammar: &Arc<Grammar>, samples: &[Sample]) -> Vec<Episode> {
    let mut engine = MotifEngine::new(grammar.clone(), EngineLimits::default());
    let mut episodes = Vec::new();
    let mut sink = |e: &Episode| episodes.push(*e);
    for s in samples {
        engine.process(s, &mut sink);
    }
    engine.finish(&mut sink);
    episodes
}

fn ours_pipeline(grammar: &Arc<Grammar>, arrivals: &[Sample]) -> Vec<Episode> {
    let config = PipelineConfig {
        window: common::WINDOW,
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(grammar.clone(), &config).unwrap();
    let mut episodes = Vec::new();
    let mut sink = |e: &Episode| episodes.push(*e);
    for &s in arrivals {
        pipeline.push(s, &mut sink);
    }
    pipeline.finish(&mut sink);
    episodes
}

fn side_by_side(c: &mut Criterion) {
    let grammar = Arc::new(common::grammar());
    let len = common::stream_len();
    let mut g = c.benchmark_group("side_by_side");
    g.throughput(Throughput::Elements(len as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    for channels in [8u32, 1_000] {
        let samples = common::in_order(len, channels);
        let arrivals = common::jittered(len, channels);
        let stream = residual_stream(&samples);
        let reference = dsfb_database::MotifEngine::new(MotifGrammar::default());

        // Outside the timing: both sides find the same number of episodes.
        let n_ours = ours(&grammar, &samples).len();
        let n_ref = reference.run(&stream).len();
        assert_eq!(
            n_ours, n_ref,
            "episode counts differ at {channels} channels"
        );
        assert!(n_ours > 0);

        g.bench_with_input(
            BenchmarkId::new("reference", channels),
            &stream,
            |b, stream| b.iter(|| reference.run(black_box(stream))),
        );
        g.bench_with_input(
            BenchmarkId::new("motifd_engine", channels),
            &samples,
            |b, s| b.iter(|| ours(&grammar, black_box(s))),
        );
        g.bench_with_input(
            BenchmarkId::new("motifd_pipeline_jitter", channels),
            &arrivals,
            |b, a| b.iter(|| ours_pipeline(&grammar, black_box(a))),
        );
    }
    g.finish();
}

criterion_group!(benches, side_by_side);
criterion_main!(benches);
