//! The SQLShare adapters' query skeleton: a crude digest standing in for a
//! query id. Character by character: a `'` or `"` toggles "inside a literal"
//! and writes `?`; inside a literal nothing is written; an ASCII digit writes
//! `?`; a run of whitespace writes one space; anything else is lower-cased.
//! The result is trimmed. Quirks kept from the reference: both quote kinds
//! toggle the same flag (`'…"` closes), and a literal does not end a
//! whitespace run, so `a 'x' b` gives `a ??b`.

/// Writes the skeleton of `query` into `out` (cleared first). ASCII is
/// handled byte by byte (the same result as the `char` rules for it:
/// `char::is_whitespace` on ASCII is exactly tab, LF, VT, FF, CR and space).
pub(crate) fn skeleton_into(query: &str, out: &mut String) {
    out.clear();
    let mut in_literal = false;
    let mut prev_ws = false;
    let bytes = query.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii() {
            i += 1;
            match b {
                b'\'' | b'"' => {
                    in_literal = !in_literal;
                    out.push('?');
                }
                _ if in_literal => {}
                b'0'..=b'9' => {
                    out.push('?');
                    prev_ws = false;
                }
                b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' => {
                    if !prev_ws {
                        out.push(' ');
                        prev_ws = true;
                    }
                }
                _ => {
                    prev_ws = false;
                    out.push(char::from(b.to_ascii_lowercase()));
                }
            }
            continue;
        }
        let Some(c) = query[i..].chars().next() else {
            break;
        };
        i += c.len_utf8();
        if in_literal {
        } else if c.is_whitespace() {
            if !prev_ws {
                out.push(' ');
                prev_ws = true;
            }
        } else {
            prev_ws = false;
            out.extend(c.to_lowercase());
        }
    }
    let trimmed = out.trim();
    if trimmed.len() != out.len() {
        let start = out.len() - out.trim_start().len();
        let end = start + trimmed.len();
        out.truncate(end);
        out.drain(..start);
    }
}

/// The reference's rule, `char` by `char`: what [`skeleton_into`] must equal.
#[cfg(test)]
fn skeleton_by_chars(q: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut prev_ws = false;
    for c in q.chars() {
        if c == '\'' || c == '"' {
            in_str = !in_str;
            out.push('?');
            continue;
        }
        if in_str {
            continue;
        }
        if c.is_ascii_digit() {
            out.push('?');
            prev_ws = false;
            continue;
        }
        if c.is_whitespace() {
            if !prev_ws {
                out.push(' ');
                prev_ws = true;
            }
            continue;
        }
        prev_ws = false;
        out.extend(c.to_lowercase());
    }
    out.trim().to_string()
}

/// The first `max` bytes of `s`, cut back to a character boundary. (The
/// reference slices at byte `max` and panics when that falls inside a
/// character.)
pub(crate) fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sk(q: &str) -> String {
        let mut s = String::new();
        skeleton_into(q, &mut s);
        s
    }

    #[test]
    fn skeletons() {
        assert_eq!(
            sk("SELECT * FROM t WHERE id = 123 AND name = 'alice'"),
            sk("select * from t where id = 999 and name = 'bob'")
        );
        assert_eq!(sk("  a 'x' b  "), "a ??b");
        assert_eq!(sk("A\t\n B1"), "a b?");
        assert_eq!(sk("x 'it\" y"), "x ??y");
        assert_eq!(sk("ÉTÉ"), "été");
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_fast_path_equals_the_char_rules(q in "[ -~\t\n\x0b\x0c\r\x00-\x1fÉéßİΩ\u{85}\u{a0}\u{2003}'\"]{0,40}") {
            proptest::prop_assert_eq!(sk(&q), skeleton_by_chars(&q));
        }
    }

    #[test]
    fn prefix_cuts_on_a_character_boundary() {
        assert_eq!(prefix("abc", 64), "abc");
        assert_eq!(prefix("aé", 2), "a");
        assert_eq!(prefix("aé", 3), "aé");
    }
}
