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

/// Copies runs of plain bytes in one go, finding the next special byte with
/// `memchr` (SIMD): label values are usually free of them, so the common
/// case is one search and one `extend_from_slice`.
#[inline]
fn escape(out: &mut Vec<u8>, bytes: &[u8], quote: bool) {
    let mut rest = bytes;
    loop {
        let next = if quote {
            memchr::memchr3(b'\\', b'\n', b'"', rest)
        } else {
            memchr::memchr2(b'\\', b'\n', rest)
        };
        let Some(i) = next else {
            out.extend_from_slice(rest);
            return;
        };
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            _ => b"\\\"",
        });
        rest = &rest[i + 1..];
    }
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
