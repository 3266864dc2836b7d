//! Render cost: the core catalogue (the six core families, five motifs, as
//! the reference exporter renders them), the full catalogue at five motifs,
//! and ~10,000 series, the plain ones both with short decimals (as input
//! readings are) and with floats that need 16–17 digits (as computed sums do). Throughput is in sample lines, so criterion reports
//! time per series. Snapshots are built outside the timed loop and the output
//! buffer is reused, as the scrape threads do.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use motifd_exporter::{render, render_to_vec, ExpositionFormat, Families, RenderOptions, Snapshot};

fn bench_case(c: &mut Criterion, group: &str, snapshot: &Snapshot, options: &RenderOptions) {
    let stats = common::exporter_stats();
    let mut g = c.benchmark_group(group);
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Classic] {
        let lines = common::sample_lines(&render_to_vec(snapshot, &stats, options, format));
        g.throughput(Throughput::Elements(lines as u64));
        let mut out = Vec::with_capacity(1 << 20);
        g.bench_function(
            BenchmarkId::new(format!("{format:?}"), format!("{lines}_series")),
            |b| {
                b.iter(|| {
                    out.clear();
                    render(snapshot, &stats, options, format, &mut out);
                    out.len()
                })
            },
        );
    }
    g.finish();
}

fn seed_catalogue(c: &mut Criterion) {
    let options = RenderOptions {
        families: Families::Core,
        ..RenderOptions::default()
    };
    bench_case(
        c,
        "render_seed_catalogue",
        &common::busy_snapshot(),
        &options,
    );
}

fn full_catalogue(c: &mut Criterion) {
    bench_case(
        c,
        "render_full_catalogue",
        &common::busy_snapshot(),
        &RenderOptions::default(),
    );
}

fn ten_thousand_series(c: &mut Criterion) {
    // Core families only: 3 series per motif + 3 → 9,999 plain series.
    let seed = RenderOptions {
        families: Families::Core,
        ..RenderOptions::default()
    };
    bench_case(
        c,
        "render_10k_plain_series",
        &common::busy_snapshot_with_motifs(3332),
        &seed,
    );
    // The same with floats that need 15–17 significant digits (all but 48
    // of the 6,664), which the short-decimal path of `render/number.rs`
    // hands to ryu: peaks π·n, trust sums a few ulps either side of 1.
    let mut long = common::busy_snapshot_with_motifs(3332);
    for (i, m) in long.motifs.iter_mut().enumerate() {
        let n = i as f64 + 1.0;
        m.peak_last = std::f64::consts::PI * n;
        let ulps = if i % 2 == 0 { -n } else { n };
        m.trust_sum_last = 1.0 + ulps * f64::EPSILON;
    }
    bench_case(c, "render_10k_plain_series_long_floats", &long, &seed);
    // Full catalogue: 31 series per motif, most of them histogram buckets.
    bench_case(
        c,
        "render_10k_full_catalogue",
        &common::busy_snapshot_with_motifs(320),
        &RenderOptions::default(),
    );
}

criterion_group!(benches, seed_catalogue, full_catalogue, ten_thousand_series);
criterion_main!(benches);
