//! The strict OpenMetrics parser of python's `prometheus_client` accepts our
//! OpenMetrics output and reads back the values we put in.

mod common;

use motifd_exporter::{render_to_vec, ExpositionFormat, MotifStats, RenderOptions, Snapshot};
use proptest::prelude::*;

fn om(snapshot: &Snapshot) -> Vec<u8> {
    render_to_vec(
        snapshot,
        &common::exporter_stats(),
        &RenderOptions::default(),
        ExpositionFormat::OpenMetrics,
    )
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

fn check_snapshot(snapshot: &Snapshot) -> Result<(), String> {
    let text = om(snapshot);
    let samples = common::python_om_parse(&text)?;
    // The parser silently drops an adjacent duplicate: equal counts prove
    // there was none.
    if samples.len() != common::sample_lines(&text) {
        return Err(format!(
            "{} samples parsed from {} lines",
            samples.len(),
            common::sample_lines(&text)
        ));
    }
    for m in &snapshot.motifs {
        let labels = vec![("motif".to_string(), m.name.clone())];
        for (name, want) in [
            ("dsfb_episodes_total", m.episodes_total as f64),
            ("dsfb_episode_peak_last", m.peak_last),
            ("dsfb_episode_trust_sum_last", m.trust_sum_last),
        ] {
            let got = samples
                .iter()
                .find(|s| s.name == name && s.labels == labels)
                .ok_or_else(|| format!("{name}{{motif={:?}}} missing", m.name))?;
            if !same(got.value, want) {
                return Err(format!(
                    "{name}{{motif={:?}}}: {} != {want}",
                    m.name, got.value
                ));
            }
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs python3 with prometheus_client"]
fn fixed_snapshots_parse_strictly() {
    for s in [
        common::busy_snapshot(),
        common::fresh_snapshot(),
        common::tricky_snapshot(),
        common::postgres_snapshot(),
    ] {
        check_snapshot(&s).unwrap();
    }
    let build = common::python_om_parse(&om(&common::tricky_snapshot())).unwrap();
    let info = build.iter().find(|s| s.name == "dsfb_build_info").unwrap();
    assert!(info.labels.contains(&(
        "git_commit".into(),
        common::tricky_snapshot().build.git_commit
    )));
}

#[test]
#[ignore = "needs python3 with prometheus_client"]
fn parser_rejects_a_broken_exposition() {
    // Guards the harness itself: a body without `# EOF` must fail.
    let mut text = om(&common::busy_snapshot());
    text.truncate(text.len() - b"# EOF\n".len());
    assert!(common::python_om_parse(&text).is_err());
}

fn label_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just('{'),
            Just('='),
            any::<char>()
        ],
        0..16,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -1e6f64..1e6,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    #[ignore = "needs python3 with prometheus_client"]
    fn arbitrary_labels_and_floats_parse_strictly(
        motifs in prop::collection::vec((label_value(), float(), float(), any::<u32>()), 1..5),
        commit in label_value(),
    ) {
        let mut snapshot = common::fresh_snapshot();
        snapshot.build.git_commit = commit;
        snapshot.motifs = motifs
            .into_iter()
            .enumerate()
            .map(|(i, (name, peak, trust, n))| {
                // Unique names: a repeated name would be a duplicate series.
                let mut m = MotifStats::new(format!("{i}:{name}"));
                m.peak_last = peak;
                m.trust_sum_last = trust;
                m.episodes_total = u64::from(n);
                m
            })
            .collect();
        prop_assert_eq!(check_snapshot(&snapshot), Ok(()));
    }
}
