//! Closed episodes and their JSON-lines / CSV records.

use crate::grammar::{Grammar, MotifId};
use crate::intern::Interner;
use crate::sample::ChannelId;

/// Why an episode closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// The residual stayed inside the envelope for the motif's dwell time.
    Dwell,
    /// End of stream (replay end, shutdown) with the episode at least a dwell long.
    EndOfStream,
    /// The channel went idle for longer than the channel TTL (end-of-stream rule).
    Evicted,
}

impl ClosedBy {
    /// Spelling used in records.
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Dwell => "dwell",
            ClosedBy::EndOfStream => "end_of_stream",
            ClosedBy::Evicted => "evicted",
        }
    }
}

/// One closed episode of one motif on one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    /// The motif.
    pub motif: MotifId,
    /// The channel.
    pub channel: ChannelId,
    /// Time of the sample that opened the episode.
    pub t_start: f64,
    /// Time of the closing sample (or the channel's last sample at end of stream).
    pub t_end: f64,
    /// Largest |value| of the channel's samples from `t_start` through the closing
    /// sample (see docs/semantics.md for ties at the boundaries).
    pub peak: f64,
    /// The observer's smoothed |residual| after the closing sample.
    pub ema_at_boundary: f64,
    /// Σ of the motif's normalised trust weights at the close (≈ 1).
    pub trust_sum: f64,
    /// This channel's own normalised trust weight at the close.
    pub trust_weight: f64,
    /// Samples from the opening sample through the closing one.
    pub samples: u64,
    /// Why it closed.
    pub closed_by: ClosedBy,
}

/// Column order of [`Episode::write_csv`].
pub const CSV_HEADER: &str =
    "motif,channel,t_start,t_end,duration,peak,ema_at_boundary,trust_sum,trust_weight,samples,closed_by";

impl Episode {
    /// `t_end − t_start`.
    pub fn duration(&self) -> f64 {
        self.t_end - self.t_start
    }

    /// Appends the episode as one JSON object and a newline. Floats are written in
    /// shortest round-trip form; a non-finite float (only possible after an
    /// overflowing residual) is written as `null`, which JSON can carry.
    pub fn write_json(&self, grammar: &Grammar, names: &Interner, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"motif\":");
        write_json_string(&grammar.motif(self.motif).name, out);
        out.extend_from_slice(b",\"channel\":");
        write_json_string(names.name(self.channel), out);
        let floats = [
            ("t_start", self.t_start),
            ("t_end", self.t_end),
            ("duration", self.duration()),
            ("peak", self.peak),
            ("ema_at_boundary", self.ema_at_boundary),
            ("trust_sum", self.trust_sum),
            ("trust_weight", self.trust_weight),
        ];
        for (key, v) in floats {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            write_float(v, b"null", out);
        }
        out.extend_from_slice(b",\"samples\":");
        out.extend_from_slice(itoa(self.samples).as_bytes());
        out.extend_from_slice(b",\"closed_by\":\"");
        out.extend_from_slice(self.closed_by.as_str().as_bytes());
        out.extend_from_slice(b"\"}\n");
    }

    /// Appends the episode as one CSV row (see [`CSV_HEADER`]) and a newline.
    /// Non-finite floats are written as an empty field.
    pub fn write_csv(&self, grammar: &Grammar, names: &Interner, out: &mut Vec<u8>) {
        out.extend_from_slice(grammar.motif(self.motif).name.as_bytes());
        out.push(b',');
        write_csv_field(names.name(self.channel), out);
        for v in [
            self.t_start,
            self.t_end,
            self.duration(),
            self.peak,
            self.ema_at_boundary,
            self.trust_sum,
            self.trust_weight,
        ] {
            out.push(b',');
            write_float(v, b"", out);
        }
        out.push(b',');
        out.extend_from_slice(itoa(self.samples).as_bytes());
        out.push(b',');
        out.extend_from_slice(self.closed_by.as_str().as_bytes());
        out.push(b'\n');
    }
}

fn itoa(n: u64) -> String {
    n.to_string()
}

/// Shortest round-trip spelling of a finite float (`ryu`), else `non_finite`.
pub fn write_float(v: f64, non_finite: &[u8], out: &mut Vec<u8>) {
    if v.is_finite() {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(v).as_bytes());
    } else {
        out.extend_from_slice(non_finite);
    }
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// A control character a terminal or a spreadsheet could act on: every C0
/// control but tab, CR and LF (which CSV quoting carries), DEL and the C1
/// controls.
fn is_unsafe_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Appends `s` as one CSV field: quoted RFC 4180 style when it holds a comma,
/// a quote or a line break. CSV has no escapes, so an unsafe control character
/// (ESC, NUL, ...) is written as the text `\u001b`, never raw; the JSON record
/// carries the exact name.
fn write_csv_field(s: &str, out: &mut Vec<u8>) {
    let quote = s.contains([',', '"', '\n', '\r']);
    if quote {
        out.push(b'"');
    }
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\"\""),
            c if is_unsafe_control(c) => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    if quote {
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::ChannelNames;

    fn episode(channel: ChannelId) -> Episode {
        Episode {
            motif: 1,
            channel,
            t_start: 10.0,
            t_end: 12.5,
            peak: 0.1 + 0.2,
            ema_at_boundary: 1e-7,
            trust_sum: 1.0,
            trust_weight: f64::INFINITY,
            samples: 7,
            closed_by: ClosedBy::Dwell,
        }
    }

    #[test]
    fn json_record_round_trips_floats_and_escapes_names() {
        let names = ChannelNames::default();
        let id = names.local().intern("q\"1\n");
        let mut out = Vec::new();
        episode(id).write_json(&Grammar::default(), &names.lock(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"motif\":\"cardinality_mismatch_regime\",\"channel\":\"q\\\"1\\n\",\"t_start\":10.0,\
             \"t_end\":12.5,\"duration\":2.5,\"peak\":0.30000000000000004,\"ema_at_boundary\":1e-7,\
             \"trust_sum\":1.0,\"trust_weight\":null,\"samples\":7,\"closed_by\":\"dwell\"}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["peak"].as_f64().unwrap(), 0.1 + 0.2);
        assert_eq!(v["channel"].as_str().unwrap(), "q\"1\n");
    }

    #[test]
    fn csv_record_never_writes_terminal_controls_raw() {
        let names = ChannelNames::default();
        let id = names.local().intern("a\u{1b}[31mred\0\u{9b}\tb");
        let mut out = Vec::new();
        episode(id).write_csv(&Grammar::default(), &names.lock(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("cardinality_mismatch_regime,a\\u001b[31mred\\u0000\\u009b\tb,"),
            "{text}"
        );
        assert!(!text.contains(['\u{1b}', '\0', '\u{9b}']));
    }

    #[test]
    fn csv_record_quotes_awkward_channels() {
        let names = ChannelNames::default();
        let id = names.local().intern("a,\"b\"");
        let mut out = Vec::new();
        episode(id).write_csv(&Grammar::default(), &names.lock(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cardinality_mismatch_regime,\"a,\"\"b\"\"\",10.0,12.5,2.5,0.30000000000000004,1e-7,1.0,,7,dwell\n"
        );
    }
}
