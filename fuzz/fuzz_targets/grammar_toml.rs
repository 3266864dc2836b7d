//! Grammar loader on arbitrary text (bytes that are not UTF-8 are read lossily,
//! as a file would be refused before reaching the loader).
//!
//! A grammar that loads must satisfy its own invariants: 1..=MAX_MOTIFS motifs
//! with unique identifier names and in-range parameters; a class table with
//! no duplicates whose every class is watched; `class_id` and `motifs_of`
//! pointing at real motifs of that class, in grammar order, each motif exactly
//! once. Written back as TOML it must load to the same grammar, and a pipeline
//! built on it must take one sample of every class and finish without a panic.
//! A refused grammar must say why in a message starting with `grammar:`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd_engine::grammar::MAX_MOTIFS;
use motifd_engine::{EngineLimits, Episode, Grammar, MotifId, Pipeline, PipelineConfig, Sample};
use std::fmt::Write as _;
use std::sync::Arc;

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_invariants(g: &Grammar) {
    let motifs = g.motifs();
    assert!(!motifs.is_empty() && motifs.len() <= MAX_MOTIFS);
    for (i, m) in motifs.iter().enumerate() {
        assert!(is_identifier(&m.name), "motif name {:?}", m.name);
        assert!(is_identifier(&m.class), "class name {:?}", m.class);
        assert!(
            motifs[..i].iter().all(|o| o.name != m.name),
            "duplicate {:?}",
            m.name
        );
        let p = m.params;
        assert!(p.rho > 0.0 && p.rho < 1.0, "rho {}", p.rho);
        assert!(
            p.sigma0 > 0.0 && p.sigma0.is_finite(),
            "sigma0 {}",
            p.sigma0
        );
        for v in [p.drift_threshold, p.slew_threshold, p.min_dwell_seconds] {
            assert!(v >= 0.0 && v.is_finite(), "threshold {v}");
        }
        assert_eq!(g.motif(i as MotifId), m);
    }
    let classes = g.classes();
    let mut seen = vec![0u32; motifs.len()];
    for (c, name) in classes.iter().enumerate() {
        assert!(
            classes[..c].iter().all(|o| o != name),
            "duplicate class {name:?}"
        );
        let id = g.class_id(name.as_bytes()).expect("listed class resolves");
        assert_eq!(id as usize, c, "class_id of {name:?}");
        let of = g.motifs_of(id);
        assert!(!of.is_empty(), "class {name:?} watched by no motif");
        assert!(of.windows(2).all(|w| w[0] < w[1]), "not in grammar order");
        for &m in of {
            let spec = motifs.get(m as usize).expect("motif id in range");
            assert_eq!(&spec.class, name, "motif {m} listed under another class");
            seen[m as usize] += 1;
        }
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "every motif under exactly one class: {seen:?}"
    );
    assert!(g.motifs_of(classes.len() as u16).is_empty());
}

/// The grammar written back as a grammar file.
fn to_toml(g: &Grammar) -> String {
    let mut out = String::new();
    for m in g.motifs() {
        let p = m.params;
        // `{:?}` of an f64 is its shortest round-trip spelling.
        let _ = write!(
            out,
            "[[motif]]\nname = \"{}\"\nclass = \"{}\"\nrho = {:?}\nsigma0 = {:?}\n\
             drift_threshold = {:?}\nslew_threshold = {:?}\nmin_dwell_seconds = {:?}\n\n",
            m.name,
            m.class,
            p.rho,
            p.sigma0,
            p.drift_threshold,
            p.slew_threshold,
            p.min_dwell_seconds
        );
    }
    out
}

fn run_one_sample_per_class(g: Grammar) {
    let g = Arc::new(g);
    let limits = EngineLimits {
        channel_ttl: Some(1.0),
        max_channels: 4,
    };
    let config = PipelineConfig {
        window: 0.0,
        limits,
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(Arc::clone(&g), &config).expect("a valid configuration");
    let mut episodes = 0u64;
    let mut sink = |e: &Episode| {
        assert!(e.t_start <= e.t_end);
        episodes += 1;
    };
    for (c, _) in g.classes().iter().enumerate().take(64) {
        let s = Sample::new(c as f64, c as u16, 0, 1e3);
        pipeline.push(s, &mut sink);
        assert!(pipeline.counters().conserved());
    }
    pipeline.finish(&mut sink);
    let counters = pipeline.counters();
    assert!(counters.conserved());
    assert_eq!(counters.staged, 0);
    assert_eq!(pipeline.engine().counters().channels_tracked, 0);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Grammar::from_toml(&text) {
        Ok(g) => {
            check_invariants(&g);
            let again = Grammar::from_toml(&to_toml(&g)).expect("written grammar loads");
            assert_eq!(again, g, "round trip through TOML");
            run_one_sample_per_class(g);
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("grammar: "), "{msg}");
        }
    }
});
