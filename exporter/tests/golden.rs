//! Golden tests: fixed snapshots render byte for byte to the committed files
//! in `exporter/golden/`. Set `UPDATE_GOLDEN=1` to rewrite them after an
//! intended change, then review the diff: every changed line is a change on
//! the wire.

mod common;

use std::path::PathBuf;

use motifd_exporter::{
    render_to_vec, ExpositionFormat, Families, Namespace, RenderOptions, Snapshot,
};

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name)
}

fn check(name: &str, snapshot: &Snapshot, options: &RenderOptions, format: ExpositionFormat) {
    let stats = common::exporter_stats();
    let bytes = render_to_vec(snapshot, &stats, options, format);
    // Determinism: a second render of the same inputs is identical.
    assert_eq!(
        bytes,
        render_to_vec(snapshot, &stats, options, format),
        "{name}: not deterministic"
    );
    let path = golden_path(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    if bytes != expected {
        let got = String::from_utf8_lossy(&bytes);
        let want = String::from_utf8_lossy(&expected);
        let first = got.lines().zip(want.lines()).position(|(a, b)| a != b);
        panic!(
            "{name} differs from golden file (first differing line: {first:?})\n--- got ---\n{got}"
        );
    }
}

fn both(stem: &str, snapshot: &Snapshot, options: &RenderOptions) {
    check(
        &format!("{stem}.om"),
        snapshot,
        options,
        ExpositionFormat::OpenMetrics,
    );
    check(
        &format!("{stem}.prom"),
        snapshot,
        options,
        ExpositionFormat::Classic,
    );
}

#[test]
fn busy_snapshot_matches_golden() {
    both("busy", &common::busy_snapshot(), &RenderOptions::default());
}

#[test]
fn fresh_snapshot_matches_golden() {
    both(
        "fresh",
        &common::fresh_snapshot(),
        &RenderOptions::default(),
    );
}

#[test]
fn escaping_snapshot_matches_golden() {
    both(
        "escaping",
        &common::tricky_snapshot(),
        &RenderOptions::default(),
    );
}

#[test]
fn seed_families_match_golden() {
    let options = RenderOptions {
        families: Families::Core,
        ..RenderOptions::default()
    };
    both("seed", &common::busy_snapshot(), &options);
}

#[test]
fn custom_namespace_matches_golden() {
    let options = RenderOptions {
        namespace: Namespace::new("motifd").unwrap(),
        ..RenderOptions::default()
    };
    both("namespace-motifd", &common::fresh_snapshot(), &options);
}

/// The seed's six families keep exactly the seed's names, in both formats.
#[test]
fn seed_names_are_exact() {
    let stats = common::exporter_stats();
    let snapshot = common::busy_snapshot();
    let om = String::from_utf8(render_to_vec(
        &snapshot,
        &stats,
        &RenderOptions::default(),
        ExpositionFormat::OpenMetrics,
    ))
    .unwrap();
    let prom = String::from_utf8(render_to_vec(
        &snapshot,
        &stats,
        &RenderOptions::default(),
        ExpositionFormat::Classic,
    ))
    .unwrap();
    for motif in common::MOTIFS {
        for name in [
            "dsfb_episodes_total",
            "dsfb_episode_peak_last",
            "dsfb_episode_trust_sum_last",
        ] {
            let prefix = format!("{name}{{motif=\"{motif}\"}} ");
            assert!(
                om.lines().any(|l| l.starts_with(&prefix)),
                "OM lacks {prefix}"
            );
            assert!(
                prom.lines().any(|l| l.starts_with(&prefix)),
                "classic lacks {prefix}"
            );
        }
    }
    for name in [
        "dsfb_streaming_residuals_staged ",
        "dsfb_streaming_residuals_flushed_total ",
        "dsfb_streaming_residuals_dropped_out_of_window_total ",
    ] {
        assert!(om.lines().any(|l| l.starts_with(name)), "OM lacks {name}");
        assert!(
            prom.lines().any(|l| l.starts_with(name)),
            "classic lacks {name}"
        );
    }
    assert!(om.contains("# TYPE dsfb_episodes counter\n"));
    assert!(prom.contains("# TYPE dsfb_episodes_total counter\n"));
    assert!(om.ends_with("\n# EOF\n"));
    assert!(!prom.contains("# EOF") && !prom.contains("# UNIT") && prom.ends_with('\n'));
}

/// Values in the output are the snapshot's values, parsed back.
#[test]
fn values_round_trip_through_the_text() {
    let snapshot = common::busy_snapshot();
    let prom = String::from_utf8(render_to_vec(
        &snapshot,
        &common::exporter_stats(),
        &RenderOptions::default(),
        ExpositionFormat::Classic,
    ))
    .unwrap();
    let value_of = |series: &str| -> f64 {
        let line = prom
            .lines()
            .find(|l| l.starts_with(series))
            .unwrap_or_else(|| panic!("no {series}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    for m in &snapshot.motifs {
        assert_eq!(
            value_of(&format!("dsfb_episode_peak_last{{motif=\"{}\"}} ", m.name)),
            m.peak_last
        );
        assert_eq!(
            value_of(&format!(
                "dsfb_episode_trust_sum_last{{motif=\"{}\"}} ",
                m.name
            )),
            m.trust_sum_last
        );
        assert_eq!(
            value_of(&format!("dsfb_episodes_total{{motif=\"{}\"}} ", m.name)),
            m.episodes_total as f64
        );
        assert_eq!(
            value_of(&format!(
                "dsfb_episode_duration_seconds_count{{motif=\"{}\"}} ",
                m.name
            )),
            m.duration.count as f64
        );
    }
    assert_eq!(
        value_of("dsfb_streaming_watermark_seconds "),
        snapshot.reorder.watermark_seconds
    );
    assert_eq!(
        value_of("dsfb_samples_received_total "),
        snapshot.received_total as f64
    );
}
