//! Checkpoint encode and decode (validation included) of a pipeline tracking
//! 100,000 (motif, channel) states per motif watching the stream's classes,
//! with a 10 s reorder window's worth of samples staged: the engine thread
//! pays the encode at every checkpoint, a restart pays the decode.

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use motifd_engine::checkpoint::{self, Fingerprint, Meta};
use motifd_engine::intern::Interner;
use motifd_engine::{Episode, Pipeline, PipelineConfig};
use std::sync::Arc;

fn checkpoint(c: &mut Criterion) {
    let grammar = Arc::new(common::grammar());
    let channels = if common::smoke() { 1_000 } else { 100_000 };
    let config = PipelineConfig::default();
    let mut pipeline = Pipeline::new(Arc::clone(&grammar), &config).unwrap();
    let mut names = Interner::default();
    for c in 1..channels {
        names.intern(&format!("db-{c}"));
    }
    // Every channel sees every class; then the stream's tail stays staged.
    for s in common::in_order(channels as usize * common::CLASSES as usize * 2, channels) {
        pipeline.push(s, &mut |_: &Episode| {});
    }
    let tracked = pipeline.engine().counters().channels_tracked;
    let staged = pipeline.counters().staged;
    let fingerprint = Fingerprint::of(&grammar, &config);
    let meta = Meta {
        episode_log_len: Some(0),
        written_unix: 0.0,
    };
    let bytes = checkpoint::encode(&pipeline, &names, &fingerprint, &meta);
    eprintln!(
        "checkpoint: {tracked} tracked (motif, channel) states, {staged} staged samples, {} bytes ({:.0} B per tracked state)",
        bytes.len(),
        bytes.len() as f64 / tracked as f64
    );
    let mut g = c.benchmark_group("checkpoint");
    g.sample_size(10);
    g.throughput(Throughput::Elements(tracked));
    g.bench_function("encode", |b| {
        b.iter(|| checkpoint::encode(black_box(&pipeline), &names, &fingerprint, &meta).len())
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            checkpoint::decode(black_box(&bytes), Arc::clone(&grammar), &config)
                .map(|r| r.summary.staged)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, checkpoint);
criterion_main!(benches);
