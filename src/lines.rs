//! Reads a byte stream line by line into a reused buffer: no allocation per
//! line, no UTF-8 validation of the whole line (the parsers validate the fields
//! they use), and a bound on line length so one endless line cannot exhaust memory.

use std::io::{self, Read};

/// What the line callback wants next.
pub enum Next {
    /// Keep reading.
    Continue,
    /// Stop now.
    Stop,
}

/// One line handed to the callback.
pub enum Line<'a> {
    /// A complete line without its `\n`.
    Text(&'a [u8]),
    /// A line longer than the limit; its bytes were skipped.
    TooLong,
}

/// Calls `f(line_number, line)` for every line of `input` (1-based numbers; a
/// last line without `\n` counts). Lines longer than `max_line` bytes are
/// reported as [`Line::TooLong`] and skipped to their end.
pub fn for_each_line(
    mut input: impl Read,
    max_line: usize,
    mut f: impl FnMut(u64, Line<'_>) -> Next,
) -> io::Result<()> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK.max(max_line + 1)];
    let mut start = 0; // first unconsumed byte
    let mut end = 0; // end of valid data
    let mut line_no = 0u64;
    let mut skipping = false; // inside an over-long line
    loop {
        if start > 0 && (buf.len() - end) < CHUNK / 2 {
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        let n = match input.read(&mut buf[end..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let eof = n == 0;
        end += n;
        while let Some(pos) = memchr::memchr(b'\n', &buf[start..end]) {
            let line = &buf[start..start + pos];
            start += pos + 1;
            line_no += 1;
            let item = if skipping || line.len() > max_line {
                skipping = false;
                Line::TooLong
            } else {
                Line::Text(line)
            };
            if let Next::Stop = f(line_no, item) {
                return Ok(());
            }
        }
        if end - start > max_line {
            // No newline within the limit: drop what we have and skip to the next one.
            skipping = true;
            start = end;
        }
        if eof {
            if end > start || skipping {
                line_no += 1;
                let item = if skipping {
                    Line::TooLong
                } else {
                    Line::Text(&buf[start..end])
                };
                f(line_no, item);
            }
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max_line: usize) -> Vec<(u64, Option<String>)> {
        let mut out = Vec::new();
        for_each_line(input, max_line, |n, line| {
            out.push((
                n,
                match line {
                    Line::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                    Line::TooLong => None,
                },
            ));
            Next::Continue
        })
        .unwrap();
        out
    }

    #[test]
    fn splits_lines_and_keeps_a_last_partial_line() {
        let got = collect(b"a\n\nbc\nd", 10);
        assert_eq!(
            got,
            [
                (1, Some("a".into())),
                (2, Some(String::new())),
                (3, Some("bc".into())),
                (4, Some("d".into()))
            ]
        );
    }

    #[test]
    fn over_long_lines_are_skipped_whole() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 << 20));
        input.extend_from_slice(b"\nfine\n");
        input.extend(std::iter::repeat_n(b'y', 50));
        let got = collect(&input, 40);
        assert_eq!(
            got,
            [
                (1, Some("ok".into())),
                (2, None),
                (3, Some("fine".into())),
                (4, None)
            ]
        );
    }
}
