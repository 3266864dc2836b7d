//! CSV record parser on arbitrary bytes, one line per `\n`.
//!
//! Checks, for every line: no panic; an accepted sample is finite, has a known
//! class and an interned channel; `auto` agrees with `csv` on lines that do not
//! start with `{`; the header is never accepted as a record; and for unquoted
//! lines the accepted fields are exactly what a plain split-trim-`str::parse`
//! reading of the line gives (the byte parser promises `str::parse`'s values).
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd_engine::parse::is_csv_header;
use motifd_engine::sample::ANONYMOUS_NAME;
use motifd_engine::{ChannelNames, Grammar, RecordParser, Sample};
use motifd_fuzz::check_sample;
use std::sync::{Arc, OnceLock};

fn grammar() -> &'static Arc<Grammar> {
    static GRAMMAR: OnceLock<Arc<Grammar>> = OnceLock::new();
    GRAMMAR.get_or_init(|| Arc::new(Grammar::default()))
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let Some(start) = start else { return &[] };
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(start);
    &s[start..=end]
}

/// The plain reading of an unquoted line, if it has exactly four fields.
fn reference_fields(line: &[u8]) -> Option<[&[u8]; 4]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.contains(&b'"') {
        return None;
    }
    let fields: Vec<&[u8]> = line.split(|&b| b == b',').map(trim).collect();
    fields.try_into().ok()
}

fn std_f64(field: &[u8]) -> Option<f64> {
    std::str::from_utf8(field).ok()?.parse::<f64>().ok()
}

fn check_against_reference(s: &Sample, line: &[u8], names: &ChannelNames) {
    let Some([t, class, channel, value]) = reference_fields(line) else {
        return;
    };
    let g = grammar();
    assert_eq!(
        g.classes()[s.class as usize].as_bytes(),
        class,
        "class field"
    );
    let expect_t = std_f64(t).map(|t| (t + 0.0).to_bits());
    assert_eq!(Some(s.t.to_bits()), expect_t, "t differs from str::parse");
    let expect_v = std_f64(value).map(f64::to_bits);
    assert_eq!(
        Some(s.value.to_bits()),
        expect_v,
        "value differs from str::parse"
    );
    let table = names.lock();
    let name = table.name(s.channel).as_bytes();
    if channel.is_empty() {
        assert_eq!(name, ANONYMOUS_NAME.as_bytes());
    } else {
        assert_eq!(name, channel, "channel name");
    }
}

fuzz_target!(|data: &[u8]| {
    let names = ChannelNames::default();
    let mut parser = RecordParser::new(Arc::clone(grammar()), &names);
    for line in data.split(|&b| b == b'\n') {
        let csv = parser.csv(line);
        if let Ok(s) = &csv {
            check_sample(s, grammar(), &names);
            check_against_reference(s, line, &names);
        }
        if is_csv_header(line) {
            assert!(csv.is_err(), "header accepted as a record");
        }
        let auto = parser.auto(line);
        if let Ok(s) = &auto {
            check_sample(s, grammar(), &names);
        }
        if trim(line).first() != Some(&b'{') {
            assert_eq!(auto, csv, "auto and csv disagree");
        }
    }
});
