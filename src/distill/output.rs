//! Residuals as text: `t,class,channel,value` CSV (with header) or JSON lines —
//! the two formats `motifd replay` and `motifd run` read. Floats are written
//! in their shortest round-trip form, so reading them back gives the same bits.

use super::Residual;
use motifd_engine::episode::write_float;

/// The output format of `motifd distill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleFormat {
    /// `t,class,channel,value` with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// The CSV header.
pub const CSV_HEADER: &str = "t,class,channel,value\n";

/// True if motifd's CSV reader cannot give this channel back as it is: it
/// splits lines before fields and trims blanks around fields.
pub fn csv_loses(channel: &str) -> bool {
    channel.contains(['\n', '\r'])
        || channel.starts_with([' ', '\t'])
        || channel.ends_with([' ', '\t'])
}

/// Appends one residual in `format`.
pub fn write_residual(format: SampleFormat, r: &Residual<'_>, out: &mut Vec<u8>) {
    match format {
        SampleFormat::Csv => {
            write_float(r.t, b"", out);
            out.push(b',');
            out.extend_from_slice(r.class.name().as_bytes());
            out.push(b',');
            if r.channel.contains([',', '"', '\n', '\r']) {
                out.push(b'"');
                for part in r.channel.split_inclusive('"') {
                    out.extend_from_slice(part.as_bytes());
                    if part.ends_with('"') {
                        out.push(b'"');
                    }
                }
                out.push(b'"');
            } else {
                out.extend_from_slice(r.channel.as_bytes());
            }
            out.push(b',');
            write_float(r.value, b"", out);
            out.push(b'\n');
        }
        SampleFormat::Jsonl => {
            out.extend_from_slice(b"{\"t\":");
            write_float(r.t, b"null", out);
            out.extend_from_slice(b",\"class\":\"");
            out.extend_from_slice(r.class.name().as_bytes());
            out.extend_from_slice(b"\",\"channel\":");
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, r.channel);
            out.extend_from_slice(b",\"value\":");
            write_float(r.value, b"null", out);
            out.extend_from_slice(b"}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distill::ResidualClass;
    use motifd_engine::{ChannelNames, Grammar, RecordParser};
    use std::sync::Arc;

    #[test]
    fn written_samples_read_back_exactly() {
        let names = ChannelNames::default();
        let mut parser = RecordParser::new(Arc::new(Grammar::default()), &names);
        for channel in ["q1", "a,\"b\"", "ünï", ""] {
            // The last pair: values serde_json's default parser rounds wrongly.
            for (t, v) in [
                (0.1 + 0.2, -1e-300),
                (1.7e9 + 0.25, 123456.789e10),
                (-0.0, 0.0),
                (3.7344731493242413, -0.21062612799666294),
            ] {
                let r = Residual {
                    t,
                    class: ResidualClass::CacheIo,
                    channel,
                    value: v,
                };
                for format in [SampleFormat::Csv, SampleFormat::Jsonl] {
                    let mut line = Vec::new();
                    write_residual(format, &r, &mut line);
                    let s = parser.auto(line.strip_suffix(b"\n").unwrap()).unwrap();
                    assert_eq!(
                        (s.t.to_bits(), s.value.to_bits()),
                        ((t + 0.0).to_bits(), v.to_bits())
                    );
                    let expected = if channel.is_empty() {
                        "_anonymous_"
                    } else {
                        channel
                    };
                    assert_eq!(names.lock().name(s.channel), expected);
                }
            }
        }
        assert!(csv_loses(" x") && csv_loses("a\nb") && !csv_loses("a b"));
    }
}
