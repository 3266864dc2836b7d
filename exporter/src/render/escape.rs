//! Escaping of label values and HELP text.
//!
//! The two formats differ only in HELP: OpenMetrics requires `"` to be
//! written `\"` (its ABNF excludes a raw `"`), while the classic parsers
//! (promtool, node_exporter) reject `\"` in HELP as an invalid escape. Label
//! values escape exactly `\`, `"` and newline in both; no other escape is
//! emitted, because the classic parser rejects unknown escapes such as `\d`.

/// Appends `value` escaped for use inside a quoted label value.
#[inline]
pub fn label_value(out: &mut Vec<u8>, value: &str) {
    escape(out, value.as_bytes(), true);
}

/// Appends HELP text escaped for OpenMetrics (`\\`, `\n`, `\"`).
#[inline]
pub fn help_openmetrics(out: &mut Vec<u8>, help: &str) {
    escape(out, help.as_bytes(), true);
}

/// Appends HELP text escaped for the classic format (`\\`, `\n`; `"` raw).
#[inline]
pub fn help_classic(out: &mut Vec<u8>, help: &str) {
    escape(out, help.as_bytes(), false);
}

/// Copies runs of plain bytes in one go; the common case (no special byte)
/// is a single `extend_from_slice`.
#[inline]
fn escape(out: &mut Vec<u8>, bytes: &[u8], quote: bool) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quote => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&mut Vec<u8>, &str), s: &str) -> String {
        let mut out = Vec::new();
        f(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_values_escape_backslash_quote_newline_only() {
        assert_eq!(run(label_value, "a\\b\"c\nd\te"), "a\\\\b\\\"c\\nd\te");
        assert_eq!(run(label_value, "plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn help_differs_by_format_only_in_quotes() {
        let help = "say \"hi\"\\\n";
        assert_eq!(run(help_openmetrics, help), "say \\\"hi\\\"\\\\\\n");
        assert_eq!(run(help_classic, help), "say \"hi\"\\\\\\n");
    }
}
