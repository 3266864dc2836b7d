//! JSON-lines record parser on arbitrary bytes, one line per `\n`.
//!
//! Checks, for every line: no panic; an accepted sample is finite, has a known
//! class and an interned channel; `auto` agrees with `json` on lines starting
//! with `{`; and the `t`, `class`, `channel` and `value` of an accepted line,
//! each read as a generic `serde_json::Value`, are exactly the sample's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd_engine::sample::ANONYMOUS_NAME;
use motifd_engine::{ChannelNames, Grammar, RecordParser, Sample};
use motifd_fuzz::check_sample;
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

fn grammar() -> &'static Arc<Grammar> {
    static GRAMMAR: OnceLock<Arc<Grammar>> = OnceLock::new();
    GRAMMAR.get_or_init(|| Arc::new(Grammar::default()))
}

/// The four fields, each read as a generic JSON value.
#[derive(Deserialize)]
struct Fields {
    t: Option<Value>,
    class: Option<Value>,
    channel: Option<Value>,
    value: Option<Value>,
}

fn check_against_value(s: &Sample, line: &[u8], names: &ChannelNames) {
    // Other keys are skipped unread by the parser as here (invalid UTF-8, lone
    // surrogate escapes or out-of-range numbers there do not matter).
    let f: Fields = serde_json::from_slice(line).expect("accepted line reads as JSON");
    let t = f.t.as_ref().and_then(Value::as_f64).expect("t is a number");
    assert_eq!(s.t.to_bits(), (t + 0.0).to_bits(), "t");
    let value = f.value.as_ref().and_then(Value::as_f64).expect("value");
    assert_eq!(s.value.to_bits(), value.to_bits(), "value");
    let class = f.class.as_ref().and_then(Value::as_str).expect("class");
    assert_eq!(grammar().classes()[s.class as usize], class, "class");
    let channel = match &f.channel {
        None | Some(Value::Null) => "",
        Some(c) => c.as_str().expect("channel is a string"),
    };
    let table = names.lock();
    let expected = if channel.is_empty() {
        ANONYMOUS_NAME
    } else {
        channel
    };
    assert_eq!(table.name(s.channel), expected, "channel");
}

fuzz_target!(|data: &[u8]| {
    let names = ChannelNames::default();
    let mut parser = RecordParser::new(Arc::clone(grammar()), &names);
    for line in data.split(|&b| b == b'\n') {
        let json = parser.json(line);
        if let Ok(s) = &json {
            check_sample(s, grammar(), &names);
            check_against_value(s, line, &names);
        }
        let auto = parser.auto(line);
        if let Ok(s) = &auto {
            check_sample(s, grammar(), &names);
        }
        let first = line.iter().find(|b| !matches!(b, b' ' | b'\t'));
        if first == Some(&b'{') {
            assert_eq!(auto, json, "auto and json disagree");
        }
    }
});
