//! Property tests of escaping and number spelling, in pure Rust: whatever
//! the label value or float, the text decodes back to exactly it, and no
//! line is ever broken.

mod common;

use motifd_exporter::render::{escape, number};
use motifd_exporter::{render_to_vec, ExpositionFormat, MotifStats, RenderOptions};
use proptest::prelude::*;

/// Reverses label-value / OpenMetrics-HELP escaping per the specification
/// (`\\`, `\"`, `\n`); any other escape is an error.
fn unescape(s: &[u8]) -> Result<String, String> {
    let mut out = Vec::new();
    let mut it = s.iter();
    while let Some(&b) = it.next() {
        match b {
            b'\\' => match it.next() {
                Some(b'\\') => out.push(b'\\'),
                Some(b'"') => out.push(b'"'),
                Some(b'n') => out.push(b'\n'),
                other => return Err(format!("invalid escape {other:?}")),
            },
            b'"' => return Err("raw quote".into()),
            b'\n' => return Err("raw newline".into()),
            _ => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![Just('"'), Just('\\'), Just('\n'), Just('n'), any::<char>()],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #[test]
    fn label_values_round_trip(s in tricky_string()) {
        let mut out = Vec::new();
        escape::label_value(&mut out, &s);
        prop_assert_eq!(unescape(&out), Ok(s));
    }

    #[test]
    fn classic_help_keeps_quotes_raw_and_round_trips(s in tricky_string()) {
        let mut out = Vec::new();
        escape::help_classic(&mut out, &s);
        prop_assert!(!out.contains(&b'\n'));
        // Classic HELP: only \\ and \n are escapes, '"' stays as is.
        let decoded = String::from_utf8(out).unwrap().replace("\\\\", "\u{0}").replace("\\n", "\n").replace('\u{0}', "\\");
        // The NUL trick is only valid when the input had no NUL of its own.
        if !s.contains('\u{0}') {
            prop_assert_eq!(decoded, s);
        }
    }

    #[test]
    fn floats_round_trip(bits in any::<u64>()) {
        let v = f64::from_bits(bits);
        let mut out = Vec::new();
        number::write_f64(&mut out, v);
        let text = String::from_utf8(out).unwrap();
        let parsed: f64 = match text.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            t => t.parse().unwrap(),
        };
        if v.is_nan() {
            prop_assert_eq!(text, "NaN");
        } else {
            prop_assert_eq!(parsed.to_bits(), v.to_bits(), "{}", text);
        }
    }

    #[test]
    fn le_round_trips(v in -1e30f64..1e30) {
        let mut out = Vec::new();
        number::write_le(&mut out, v);
        let text = String::from_utf8(out).unwrap();
        prop_assert_eq!(text.parse::<f64>().unwrap(), v, "{}", text);
        prop_assert!(text.contains('.') || text.contains('e'), "{}", text);
    }

    /// Whole expositions: one line per sample/metadata item, whatever the
    /// motif names, and the label values decode back to the names.
    #[test]
    fn rendered_lines_stay_intact(names in prop::collection::vec(tricky_string(), 1..6)) {
        let mut snapshot = common::fresh_snapshot();
        snapshot.motifs = names.iter().enumerate().map(|(i, n)| MotifStats::new(format!("{i}{n}"))).collect();
        let text = render_to_vec(&snapshot, &common::exporter_stats(), &RenderOptions::default(), ExpositionFormat::OpenMetrics);
        let prefix = b"dsfb_episodes_total{motif=\"";
        let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| l.starts_with(prefix)).collect();
        prop_assert_eq!(lines.len(), snapshot.motifs.len());
        for (line, motif) in lines.iter().zip(&snapshot.motifs) {
            let inner = &line[prefix.len()..line.len() - b"\"} 0".len()];
            prop_assert_eq!(unescape(inner), Ok(motif.name.clone()));
        }
    }
}
