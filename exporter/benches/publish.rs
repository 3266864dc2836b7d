//! What publishing costs the engine thread: filling the recycled snapshot
//! and swapping it in, with and without a concurrent reader holding the
//! previous one.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use motifd_exporter::{SnapshotHandle, SnapshotPublisher};

fn publish(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    let handle = SnapshotHandle::new(common::busy_snapshot());
    let mut publisher = SnapshotPublisher::new(handle.clone());
    let mut n = 0u64;
    g.bench_function("fill_counters_and_swap", |b| {
        b.iter(|| {
            n += 1;
            publisher.publish_with(|s| {
                s.received_total = n;
                s.reorder.flushed_total = n;
                for m in &mut s.motifs {
                    m.episodes_total = n;
                }
            })
        })
    });
    g.bench_function("load", |b| b.iter(|| handle.load().received_total));
    g.finish();
}

criterion_group!(benches, publish);
criterion_main!(benches);
