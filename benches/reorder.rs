//! Reorder buffer alone: 1M samples pushed and released, with the release
//! callback doing no more than summing values (so the figure is the buffer's own
//! cost). Conditions in `common/mod.rs`: 1,000 samples per event-second, 10 s
//! window, so 10,000 samples are staged at any moment in order and about 5,500
//! at most with jitter (the bench prints the figure).
//!
//! - `in_order`: time-ordered arrivals; each sample waits a full window.
//! - `jitter_5s`: uniform ±5 s jitter on event time (±window/2); nothing drops.
//! - `in_order_window0`: window 0, every sample released at once (strict ingest).

mod common;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use motifd_engine::{ReorderBuffer, Sample};

fn run(window: f64, samples: &[Sample]) -> (f64, ReorderBuffer) {
    let mut rb = ReorderBuffer::new(window).unwrap();
    let mut acc = 0.0;
    for &s in samples {
        rb.push(s, |x| acc += x.value);
    }
    rb.flush_all(|x| acc += x.value);
    (acc, rb)
}

fn reorder(c: &mut Criterion) {
    let len = common::stream_len();
    let in_order = common::in_order(len, 1_000);
    let jittered = common::jittered(len, 1_000);

    // Outside the timed loop: the jittered stream really is reordered without
    // a single drop. Staged: a full window (10,000) in order; with ±5 s jitter
    // about half a window's worth of arrivals is still above the cutoff.
    let mut rb = ReorderBuffer::new(common::WINDOW).unwrap();
    let mut max_staged = 0;
    for &s in &jittered {
        rb.push(s, |_| {});
        max_staged = max_staged.max(rb.staged());
    }
    assert_eq!(rb.counters().dropped_out_of_window, 0);
    assert!(len < 100_000 || max_staged > 4_000, "staged {max_staged}");
    eprintln!("reorder: {len} samples, jittered: at most {max_staged} staged");

    let mut g = c.benchmark_group("reorder");
    g.throughput(Throughput::Elements(len as u64));
    g.bench_function("in_order", |b| {
        b.iter(|| black_box(run(common::WINDOW, black_box(&in_order)).0))
    });
    g.bench_function("jitter_5s", |b| {
        b.iter(|| black_box(run(common::WINDOW, black_box(&jittered)).0))
    });
    g.bench_function("in_order_window0", |b| {
        b.iter(|| black_box(run(0.0, black_box(&in_order)).0))
    });
    g.finish();
}

criterion_group!(benches, reorder);
criterion_main!(benches);
