//! The common shape of a JSON-lines record, read without a general JSON
//! parser: one object whose keys are `t`, `class`, `value` and optionally
//! `channel`, each once, with numbers for `t` and `value` and strings of
//! printable ASCII without escapes for the names, and whitespace wherever
//! JSON allows it:
//!
//! ```text
//! {"t":1700000000.25,"class":"cardinality","channel":"q7","value":-0.5}
//! ```
//!
//! Anything else — another key, an escape, `null`, a non-ASCII name, a
//! missing field, a number JSON does not allow — is not read here but left
//! to the general parser ([`crate::parse::RecordParser::json`]), which
//! decides what it is, so this reader changes how fast records are read,
//! never what they mean. Its numbers are read correctly rounded, as the
//! general parser reads them (tested below, record for record).

use crate::decimal::parse_f64;

/// A record in the flat shape; names are ASCII.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FlatRecord<'a> {
    pub t: f64,
    pub class: &'a [u8],
    /// Empty when the record has no `channel`.
    pub channel: &'a [u8],
    pub value: f64,
}

/// `line` as a flat record, or `None` if it is not one.
#[inline]
pub(crate) fn read(line: &[u8]) -> Option<FlatRecord<'_>> {
    let mut c = Cursor { s: line, at: 0 };
    let mut record = FlatRecord {
        t: 0.0,
        class: &[],
        channel: &[],
        value: 0.0,
    };
    // Bits of the keys seen: t, class, channel, value.
    let mut seen = 0u8;
    c.eat(b'{')?;
    loop {
        let key = c.string()?;
        c.eat(b':')?;
        let bit = match key {
            b"t" => {
                record.t = c.number()?;
                1
            }
            b"class" => {
                record.class = c.string()?;
                2
            }
            b"channel" => {
                record.channel = c.string()?;
                4
            }
            b"value" => {
                record.value = c.number()?;
                8
            }
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        if c.eat(b'}').is_some() {
            break;
        }
        c.eat(b',')?;
    }
    c.skip_whitespace();
    let complete = seen | 4 == 15 && !record.class.is_empty();
    (complete && c.at == line.len()).then_some(record)
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then `byte`.
    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        if self.s.get(self.at) == Some(&byte) {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    /// A string of printable ASCII without escapes; its bytes.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        // Names are short: one scalar pass finds the end and checks every
        // byte (measured faster than a vector search plus a check).
        loop {
            match *self.s.get(self.at)? {
                b'"' => break,
                b'\\' => return None,
                b' '..=b'~' => self.at += 1,
                _ => return None,
            }
        }
        self.at += 1;
        Some(&self.s[start..self.at - 1])
    }

    /// A number as JSON writes one: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
    /// ([eE] [+-]? [0-9]+)?`.
    #[inline]
    fn number(&mut self) -> Option<f64> {
        self.skip_whitespace();
        let start = self.at;
        self.optional(b"-");
        match self.s.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return None,
        }
        if self.optional(b".") {
            self.required_digits()?;
        }
        if self.optional(b"eE") {
            self.optional(b"+-");
            self.required_digits()?;
        }
        parse_f64(&self.s[start..self.at])
    }

    /// Steps over one of `bytes` if it comes next.
    #[inline]
    fn optional(&mut self, bytes: &[u8]) -> bool {
        let next = self.s.get(self.at).is_some_and(|b| bytes.contains(b));
        self.at += usize::from(next);
        next
    }

    #[inline]
    fn digits(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    #[inline]
    fn required_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_common_shapes() {
        let r = read(br#"{"t":1700000000.25,"class":"cardinality","channel":"q7","value":-0.5}"#)
            .unwrap();
        assert_eq!(
            (r.t, r.class, r.channel, r.value),
            (1_700_000_000.25, &b"cardinality"[..], &b"q7"[..], -0.5)
        );
        // Python's json.dumps spacing, another key order, no channel, a CR.
        let r = read(b"{\"value\": 1e-3, \"class\": \"cache_io\", \"t\": 12}\r").unwrap();
        assert_eq!((r.t, r.channel, r.value), (12.0, &b""[..], 0.001));
    }

    #[test]
    fn leaves_everything_else_to_the_general_parser() {
        for line in [
            r#"{"t":1,"class":"c","value":1,"extra":2}"#,
            r#"{"t":1,"class":"c","channel":null,"value":1}"#,
            r#"{"t":1,"class":"c","channel":"a\"b","value":1}"#,
            r#"{"t":1,"class":"c","channel":"ä","value":1}"#,
            r#"{"t":1,"class":"","value":1}"#,
            r#"{"t":1,"class":"c"}"#,
            r#"{"t":1,"t":2,"class":"c","value":1}"#,
            r#"{"t":01,"class":"c","value":1}"#,
            r#"{"t":1.,"class":"c","value":1}"#,
            r#"{"t":.5,"class":"c","value":1}"#,
            r#"{"t":+1,"class":"c","value":1}"#,
            r#"{"t":1e,"class":"c","value":1}"#,
            r#"{"t":NaN,"class":"c","value":1}"#,
            r#"{"t":"1","class":"c","value":1}"#,
            r#"{"t":1,"class":"c","value":1} x"#,
            r#"{"t":1,"class":"c","value":1"#,
            r#"{"t":1,"class":"c","value":1,}"#,
            r#"{}"#,
            r#"[1]"#,
            "",
        ] {
            assert_eq!(read(line.as_bytes()), None, "{line}");
        }
    }

    /// Random records, most in the flat shape and some just outside it,
    /// read both ways: the same sample or the same rejection every time.
    #[test]
    fn agrees_with_the_general_parser_record_for_record() {
        use crate::{ChannelNames, Grammar, RecordParser};
        let names = ChannelNames::default();
        let mut parser = RecordParser::new(std::sync::Arc::new(Grammar::default()), &names);
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut flat, runs) = (0, 100_000);
        for _ in 0..runs {
            let line = record(&mut next);
            flat += usize::from(read(line.as_bytes()).is_some());
            let ours = parser.json(line.as_bytes());
            let general = parser.json_general(line.as_bytes());
            let bits = |r: Result<crate::Sample, _>| {
                r.map(|s| (s.t.to_bits(), s.class, s.channel, s.value.to_bits()))
            };
            assert_eq!(bits(ours), bits(general), "{line}");
        }
        // Both readers were exercised.
        assert!(flat > runs / 4 && flat < runs * 9 / 10, "{flat} flat");
    }

    fn record(next: &mut impl FnMut(usize) -> usize) -> String {
        const SPACE: [&str; 4] = ["", "", " ", "\t "];
        const NAMES: [&str; 8] = [
            "q1", "q22", "", "a\\\"b", "\\u00e4", "ä", "a b~", "x\\u0001",
        ];
        const CLASSES: [&str; 5] = ["cardinality", "cache_io", "", "nope", "contention"];
        let mut keys = vec!["t", "class", "channel", "value"];
        for _ in 0..4 {
            let (a, b) = (next(4), next(4));
            keys.swap(a, b);
        }
        match next(20) {
            0 => keys.truncate(3),
            1 => keys.push("extra"),
            2 => keys.push("t"),
            _ => {}
        }
        let fields: Vec<String> = keys
            .iter()
            .map(|&k| {
                let v = match k {
                    "t" | "value" | "extra" => number(next),
                    "class" => format!("\"{}\"", CLASSES[next(CLASSES.len())]),
                    _ if next(10) == 0 => "null".to_string(),
                    _ => format!("\"{}\"", NAMES[next(NAMES.len())]),
                };
                let sp = SPACE[next(SPACE.len())];
                format!("{sp}\"{k}\"{sp}:{sp}{v}{sp}")
            })
            .collect();
        format!("{{{}}}{}", fields.join(","), SPACE[next(SPACE.len())])
    }

    fn number(next: &mut impl FnMut(usize) -> usize) -> String {
        const ODD: [&str; 16] = [
            "-0",
            "0",
            "-0.0",
            "1e400",
            "-1e400",
            "1e-400",
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "NaN",
            "123456789012345678901234567890",
            "18446744073709551617",
            "9007199254740993",
            "2.5E-3",
        ];
        let mantissa = (next(1 << 30) as f64 + next(1 << 20) as f64 / 1e6) * 1e-3;
        match next(6) {
            0 => ODD[next(ODD.len())].to_string(),
            1 => format!("{}", next(1 << 30) as i64 - (1 << 29)),
            2 => format!("{mantissa:e}"),
            3 => format!("-{mantissa}"),
            _ => ryu::Buffer::new().format(mantissa * 1.37).to_string(),
        }
    }
}
