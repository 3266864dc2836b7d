//! Record parsers: CSV (`t,class,channel,value`) and JSON lines.
//!
//! Both turn one line into a [`Sample`] or a [`RejectReason`]; neither panics on
//! any input. Class names resolve against the grammar's class table and channel
//! names through a producer-private [`LocalInterner`], so the samples leaving
//! here carry only small ids.

use crate::flat_json;
use crate::grammar::Grammar;
use crate::intern::{ChannelNames, LocalInterner, NamesPin};
use crate::reject::RejectReason;
use crate::sample::{ClassId, Sample};
use memchr::{memchr, memchr2};
use serde::Deserialize;
use std::borrow::Cow;
use std::sync::Arc;

/// The CSV header every CSV file must start with.
pub const CSV_HEADER: &str = "t,class,channel,value";

/// Input record format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// `t,class,channel,value`.
    Csv,
    /// `{"t":..,"class":"..","channel":"..","value":..}`.
    Jsonl,
}

impl RecordFormat {
    /// Guesses the format from a file name: `.jsonl` / `.json` / `.ndjson` are
    /// JSON lines, anything else CSV.
    pub fn from_path(path: &str) -> RecordFormat {
        let lower = path.to_ascii_lowercase();
        if [".jsonl", ".json", ".ndjson"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            RecordFormat::Jsonl
        } else {
            RecordFormat::Csv
        }
    }
}

/// True if `line` is the CSV header (surrounding whitespace and a UTF-8 BOM ignored).
pub fn is_csv_header(line: &[u8]) -> bool {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    trim(line) == CSV_HEADER.as_bytes()
}

/// Turns lines into samples for one producer.
#[derive(Debug)]
pub struct RecordParser {
    grammar: Arc<Grammar>,
    names: LocalInterner,
}

#[derive(Deserialize)]
struct JsonRecord<'a> {
    t: Option<f64>,
    #[serde(borrow)]
    class: Option<Cow<'a, str>>,
    #[serde(borrow)]
    channel: Option<Cow<'a, str>>,
    value: Option<f64>,
}

impl RecordParser {
    /// A parser resolving classes in `grammar` and channels in `names`.
    pub fn new(grammar: Arc<Grammar>, names: &ChannelNames) -> Self {
        Self {
            grammar,
            names: names.local(),
        }
    }

    /// The channel-name table was collected since this parser's cache was
    /// filled (see [`crate::intern`]).
    #[inline]
    pub fn names_stale(&self) -> bool {
        self.names.is_stale()
    }

    /// Empties the channel-name cache and moves it to the table's current
    /// epoch. Samples parsed before must be sent in batches pinned with the
    /// old epoch ([`crate::ingest::BatchWriter::follow_names`] does both).
    pub fn refresh_names(&mut self) {
        self.names.refresh();
    }

    /// The epoch of the channel-name table this parser's ids come from.
    pub fn names_pin(&self) -> &NamesPin {
        self.names.pin()
    }

    /// Parses one line in `format`.
    #[inline]
    pub fn parse(&mut self, format: RecordFormat, line: &[u8]) -> Result<Sample, RejectReason> {
        match format {
            RecordFormat::Csv => self.csv(line),
            RecordFormat::Jsonl => self.json(line),
        }
    }

    /// Parses a line whose format is told by its first byte (`{` = JSON).
    pub fn auto(&mut self, line: &[u8]) -> Result<Sample, RejectReason> {
        if trim(line).first() == Some(&b'{') {
            self.json(line)
        } else {
            self.csv(line)
        }
    }

    /// Parses one CSV record (no header). A trailing `\r` is ignored; fields may
    /// be quoted RFC 4180 style; an empty channel means `_anonymous_`.
    ///
    /// Most lines need none of that: [`plain_record`] takes them in one pass
    /// that gives exactly what the general path would (docs/performance.md,
    /// "Plain CSV lines").
    #[inline]
    pub fn csv(&mut self, line: &[u8]) -> Result<Sample, RejectReason> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some((t, class, channel, value)) = plain_record(line) {
            return self.finish(t, class, channel, value);
        }
        self.csv_fields(line)
    }

    /// [`Self::csv`] for any line (its `\r` already cut): quoted fields,
    /// fields to trim, and every rejection. Inlined into [`Self::csv`]: called
    /// instead, it costs the plain path 26 instructions a line
    /// (`csv_parse_1000ch`).
    #[inline(always)]
    fn csv_fields(&mut self, line: &[u8]) -> Result<Sample, RejectReason> {
        if memchr(b'"', line).is_some() {
            let fields = split_quoted(line)?;
            let [t, class, channel, value] = fields.as_slice() else {
                return Err(too_few_or_many(fields.len()));
            };
            return self.build(
                t.as_bytes(),
                class.as_bytes(),
                channel.as_bytes(),
                value.as_bytes(),
            );
        }
        let mut rest = line;
        let mut fields: [&[u8]; 4] = [&[]; 4];
        for (i, field) in fields.iter_mut().enumerate() {
            match memchr(b',', rest) {
                Some(p) if i < 3 => {
                    *field = &rest[..p];
                    rest = &rest[p + 1..];
                }
                Some(_) => return Err(RejectReason::Malformed),
                None if i == 3 => *field = rest,
                None => return Err(RejectReason::MissingField),
            }
        }
        self.build(fields[0], fields[1], fields[2], fields[3])
    }

    /// Parses one JSON object. Extra keys are ignored; `channel` may be absent,
    /// `null` or empty.
    #[inline]
    pub fn json(&mut self, line: &[u8]) -> Result<Sample, RejectReason> {
        match flat_json::read(line) {
            Some(r) => self.finish(r.t, r.class, r.channel, r.value),
            None => self.json_general(line),
        }
    }

    /// [`Self::json`] for any object, through the general JSON parser.
    pub(crate) fn json_general(&mut self, line: &[u8]) -> Result<Sample, RejectReason> {
        let rec: JsonRecord<'_> = serde_json::from_slice(line).map_err(|e| {
            if e.to_string().starts_with("number out of range") {
                RejectReason::NonFinite
            } else if std::str::from_utf8(line).is_err()
                || (e.is_data() && e.to_string().starts_with("invalid unicode"))
            {
                // A line that is not UTF-8 is refused by the JSON parser
                // wherever the bad bytes are; it is counted as a CSV line
                // with a non-UTF-8 name is.
                RejectReason::InvalidUtf8
            } else {
                RejectReason::Malformed
            }
        })?;
        let (Some(t), Some(class), Some(value)) = (rec.t, rec.class, rec.value) else {
            return Err(RejectReason::MissingField);
        };
        if class.is_empty() {
            return Err(RejectReason::MissingField);
        }
        let channel = rec.channel.as_deref().unwrap_or("");
        self.finish(t, class.as_bytes(), channel.as_bytes(), value)
    }

    #[inline]
    fn build(
        &mut self,
        t: &[u8],
        class: &[u8],
        channel: &[u8],
        value: &[u8],
    ) -> Result<Sample, RejectReason> {
        let (t, class, channel, value) = (trim(t), trim(class), trim(channel), trim(value));
        if t.is_empty() || class.is_empty() || value.is_empty() {
            return Err(RejectReason::MissingField);
        }
        let t = parse_f64(t)?;
        let value = parse_f64(value)?;
        self.finish(t, class, channel, value)
    }

    #[inline]
    fn finish(
        &mut self,
        t: f64,
        class: &[u8],
        channel: &[u8],
        value: f64,
    ) -> Result<Sample, RejectReason> {
        if !t.is_finite() || !value.is_finite() {
            return Err(RejectReason::NonFinite);
        }
        let class = self.class(class)?;
        let channel = self
            .names
            .intern_bytes(channel)
            .ok_or(RejectReason::InvalidUtf8)?;
        Ok(Sample::new(t, class, channel, value))
    }

    #[inline]
    fn class(&self, name: &[u8]) -> Result<ClassId, RejectReason> {
        match self.grammar.class_id(name) {
            Some(c) => Ok(c),
            None if std::str::from_utf8(name).is_err() => Err(RejectReason::InvalidUtf8),
            None => Err(RejectReason::UnknownClass),
        }
    }
}

/// The fields of a CSV line that the general path would take as they stand:
/// no quote, four fields, a non-empty class, and both numbers parsing without
/// trimming. `None` for anything else, which the general path then decides.
#[inline]
fn plain_record(line: &[u8]) -> Option<(f64, &[u8], &[u8], f64)> {
    let (t, rest) = until_comma(line)?;
    let (class, rest) = until_comma(rest)?;
    let (channel, value) = until_comma(rest)?;
    let class = trim(class);
    if class.is_empty() {
        return None;
    }
    let t = crate::decimal::parse_f64(t)?;
    let value = crate::decimal::parse_f64(value)?;
    Some((t, class, trim(channel), value))
}

/// `line` cut at its first comma; `None` if a quote comes first or there is
/// no comma.
#[inline]
fn until_comma(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = memchr2(b',', b'"', line)?;
    (line[i] == b',').then(|| (&line[..i], &line[i + 1..]))
}

fn too_few_or_many(n: usize) -> RejectReason {
    if n < 4 {
        RejectReason::MissingField
    } else {
        RejectReason::Malformed
    }
}

/// A field's number ([`crate::decimal::parse_f64`]). `inf` / `nan` parse,
/// and are then rejected as non-finite by the caller.
#[inline]
fn parse_f64(field: &[u8]) -> Result<f64, RejectReason> {
    crate::decimal::parse_f64(field).ok_or(RejectReason::Malformed)
}

#[inline]
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Splits a CSV line with RFC 4180 quoting (`""` inside quotes is one quote).
fn split_quoted(line: &[u8]) -> Result<Vec<String>, RejectReason> {
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        if i < line.len() && line[i] == b'"' {
            i += 1;
            loop {
                match line.get(i) {
                    None => return Err(RejectReason::Malformed),
                    Some(b'"') if line.get(i + 1) == Some(&b'"') => {
                        field.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
                i += 1;
            }
            if i < line.len() && line[i] != b',' {
                return Err(RejectReason::Malformed);
            }
        } else {
            i = start;
            while i < line.len() && line[i] != b',' {
                if line[i] == b'"' {
                    return Err(RejectReason::Malformed);
                }
                field.push(line[i]);
                i += 1;
            }
        }
        let text =
            String::from_utf8(std::mem::take(&mut field)).map_err(|_| RejectReason::InvalidUtf8)?;
        fields.push(text);
        if i >= line.len() {
            return Ok(fields);
        }
        i += 1; // the comma
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::ANONYMOUS;
    use proptest::strategy::Strategy;
    use RejectReason::*;

    fn parser() -> (RecordParser, ChannelNames) {
        let names = ChannelNames::default();
        (
            RecordParser::new(Arc::new(Grammar::default()), &names),
            names,
        )
    }

    #[test]
    fn csv_records() {
        let (mut p, names) = parser();
        let s = p.csv(b"12.5,cardinality,q7,-0.25\r").unwrap();
        assert_eq!((s.t, s.value, s.class), (12.5, -0.25, 1));
        assert_eq!(names.lock().name(s.channel), "q7");
        assert_eq!(p.csv(b" 1 , contention , , 2 ").unwrap().channel, ANONYMOUS);
        let q = p.csv(br#"1,cache_io,"a,""b""",3"#).unwrap();
        assert_eq!(names.lock().name(q.channel), "a,\"b\"");
        assert_eq!(
            p.csv(b"-0,cache_io,x,1").unwrap().t.to_bits(),
            0.0f64.to_bits()
        );
    }

    #[test]
    fn csv_rejections_by_reason() {
        let (mut p, _) = parser();
        let cases: &[(&[u8], RejectReason)] = &[
            (b"", MissingField),
            (b"garbage", MissingField),
            (b"1,cardinality,q", MissingField),
            (b"1,cardinality,q,1,extra", Malformed),
            (b"x,cardinality,q,1", Malformed),
            (b"1,cardinality,q,", MissingField),
            (b",cardinality,q,1", MissingField),
            (b"1,,q,1", MissingField),
            (b"NaN,cardinality,q,1", NonFinite),
            (b"1,cardinality,q,inf", NonFinite),
            (b"1,cardinality,q,1e400", NonFinite),
            (b"1,latency,q,1", UnknownClass),
            (b"1,cardinality,\xff,1", InvalidUtf8),
            (b"1,\xffx,q,1", InvalidUtf8),
            (br#"1,cardinality,"unterminated,1"#, Malformed),
            (br#"1,cardinality,"a"b,1"#, Malformed),
            (br#"1,cardinality,a"b,1"#, Malformed),
        ];
        for &(line, reason) in cases {
            assert_eq!(
                p.csv(line),
                Err(reason),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn json_records_and_rejections() {
        let (mut p, names) = parser();
        let s = p
            .json(br#"{"t":3,"class":"cache_io","channel":"t\"1","value":-2.5,"extra":[1]}"#)
            .unwrap();
        assert_eq!((s.t, s.value), (3.0, -2.5));
        assert_eq!(names.lock().name(s.channel), "t\"1");
        let anon = p.json(br#"{"t":3,"class":"cache_io","channel":null,"value":1}"#);
        assert_eq!(anon.unwrap().channel, ANONYMOUS);
        let cases: &[(&[u8], RejectReason)] = &[
            (br#"{"t":3,"class":"cache_io"}"#, MissingField),
            (br#"{"class":"cache_io","value":1}"#, MissingField),
            (br#"{"t":3,"class":"","value":1}"#, MissingField),
            (br#"{"t":1e400,"class":"cache_io","value":1}"#, NonFinite),
            (br#"{"t":"NaN","class":"cache_io","value":1}"#, Malformed),
            (br#"{"t":3,"class":"nope","value":1}"#, UnknownClass),
            (br#"{"t":3,"class":"cache_io","value":1"#, Malformed),
            (
                b"{\"t\":3,\"class\":\"cache_io\",\"channel\":\"q\xff\",\"value\":1}",
                InvalidUtf8,
            ),
            (
                b"{\"t\":3,\"class\":\"cache\xc3\",\"value\":1}",
                InvalidUtf8,
            ),
            (b"[1,2]", Malformed),
            (b"", Malformed),
        ];
        for &(line, reason) in cases {
            assert_eq!(
                p.json(line),
                Err(reason),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    proptest::proptest! {
        /// The byte parser must give exactly `str::parse`'s value: replay
        /// output is compared bit for bit with the reference.
        #[test]
        fn float_parsing_matches_std(v in proptest::num::f64::ANY, digits in 0usize..20) {
            for text in [format!("{v}"), format!("{v:e}"), format!("{v:.digits$}")] {
                let ours = parse_f64(text.as_bytes());
                match text.parse::<f64>() {
                    Ok(std) if std.is_nan() => proptest::prop_assert!(ours.unwrap().is_nan()),
                    Ok(std) => proptest::prop_assert_eq!(ours.unwrap().to_bits(), std.to_bits()),
                    Err(_) => proptest::prop_assert!(ours.is_err()),
                }
            }
        }
    }

    /// Pieces of CSV fields, by the field they are most often drawn for:
    /// numbers of every form, and names.
    const NUMBERS: &[&[u8]] = &[
        b"0",
        b"17",
        b"-",
        b".",
        b"5",
        b"e",
        b"+",
        b"1700000000.001",
        b"-0.0547",
        b"0.12345678901234567",
        b"inf",
        b"NaN",
        b"1e400",
    ];
    const NAMES: &[&[u8]] = &[b"cache_io", b"cardinality", b"q7", b"x", b""];
    /// Bytes the general path treats apart, drawn for every field.
    const ODD: &[&[u8]] = &[b"\"", b" ", b"\t", b"\r", b",", b"\xff"];

    /// A field drawn from `pieces` and [`ODD`].
    fn field(pieces: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
        let all: Vec<&[u8]> = pieces.iter().chain(ODD).copied().collect();
        proptest::collection::vec(proptest::sample::select(all), 1..3).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4096))]
        /// The one-pass path for plain lines decides every line exactly as
        /// the general path does: the same sample, or the same reason.
        #[test]
        fn plain_lines_parse_as_the_general_path_parses_them(
            fields in (field(NUMBERS), field(NAMES), field(NAMES), field(NUMBERS)),
            extra in proptest::collection::vec(field(NAMES), 0..2),
            cut in 0usize..4,
        ) {
            let mut line = [fields.0, fields.1, fields.2, fields.3].join(&b',');
            for e in extra {
                line.push(b',');
                line.extend(e);
            }
            // Sometimes fewer fields.
            if cut == 0 {
                let end = line.iter().rposition(|&b| b == b',').unwrap_or(0);
                line.truncate(end);
            }
            let (mut p, _) = parser();
            let stripped = line.strip_suffix(b"\r").unwrap_or(&line);
            let general = p.csv_fields(stripped);
            proptest::prop_assert_eq!(p.csv(&line), general, "{:?}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn plain_lines_take_the_one_pass_path() {
        let cases: &[(&[u8], bool)] = &[
            (b"1700000000.001,cardinality,q1,-0.0522", true),
            (b"1,cache_io,,2.5", true),
            (b"1, cache_io ,q,2", true),
            (br#"1,cache_io,"q",2"#, false),
            (b" 1,cache_io,q,2", false),
            (b"1,,q,2", false),
            (b"1,cache_io,q,2,3", false),
            (b"1,cache_io,q", false),
        ];
        for &(line, plain) in cases {
            let taken = plain_record(line).is_some();
            assert_eq!(taken, plain, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn auto_detects_per_line_and_headers_are_recognised() {
        let (mut p, _) = parser();
        assert!(p.auto(br#" {"t":1,"class":"cache_io","value":1}"#).is_ok());
        assert!(p.auto(b"1,cache_io,,1").is_ok());
        assert!(is_csv_header(b"\xEF\xBB\xBFt,class,channel,value\r"));
        assert!(!is_csv_header(b"t,class,value"));
        assert_eq!(RecordFormat::from_path("x/y.JSONL"), RecordFormat::Jsonl);
        assert_eq!(RecordFormat::from_path("x/y.csv"), RecordFormat::Csv);
    }
}
