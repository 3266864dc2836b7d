//! Splits a byte stream into lines without allocating per line: bytes are fed in
//! as they are read, complete lines are handed out as slices of an internal
//! buffer, and a bound on line length keeps one endless line from exhausting
//! memory. No UTF-8 validation here — the parsers validate the fields they use.

use std::io::{self, Read};

/// What the line callback wants next.
pub enum Next {
    /// Keep going.
    Continue,
    /// Stop now.
    Stop,
}

/// One line handed to the callback.
pub enum Line<'a> {
    /// A complete line without its `\n`.
    Text(&'a [u8]),
    /// A line longer than the limit; its bytes were skipped.
    TooLong {
        /// The line's length in bytes (without its `\n`).
        len: usize,
    },
}

/// Incremental line splitter with a length limit.
pub struct LineSplitter {
    max_line: usize,
    pending: Vec<u8>,
    /// Inside an over-long line: drop bytes until its end.
    skipping: bool,
    /// Bytes of the over-long line dropped so far (valid while `skipping`).
    skipped: usize,
    line_no: u64,
}

impl LineSplitter {
    /// A splitter refusing lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            pending: Vec::new(),
            skipping: false,
            skipped: 0,
            line_no: 0,
        }
    }

    /// Feeds `bytes`; calls `f(line_number, line)` for every line completed.
    /// Returns `Next::Stop` if the callback asked to stop.
    pub fn feed(&mut self, mut bytes: &[u8], f: &mut impl FnMut(u64, Line<'_>) -> Next) -> Next {
        while let Some(pos) = memchr::memchr(b'\n', bytes) {
            let (head, rest) = (&bytes[..pos], &bytes[pos + 1..]);
            bytes = rest;
            self.line_no += 1;
            let item = if self.skipping || self.pending.len() + head.len() > self.max_line {
                let len = if self.skipping {
                    self.skipped
                } else {
                    self.pending.len()
                } + head.len();
                self.skipping = false;
                self.pending.clear();
                Line::TooLong { len }
            } else if self.pending.is_empty() {
                Line::Text(head)
            } else {
                self.pending.extend_from_slice(head);
                Line::Text(&self.pending)
            };
            let next = f(self.line_no, item);
            self.pending.clear();
            if let Next::Stop = next {
                return Next::Stop;
            }
        }
        if self.skipping {
            self.skipped += bytes.len();
        } else if self.pending.len() + bytes.len() > self.max_line {
            self.skipping = true;
            self.skipped = self.pending.len() + bytes.len();
            self.pending.clear();
        } else {
            self.pending.extend_from_slice(bytes);
        }
        Next::Continue
    }

    /// End of input: a last line without `\n` still counts.
    pub fn finish(&mut self, f: &mut impl FnMut(u64, Line<'_>) -> Next) {
        if self.skipping || !self.pending.is_empty() {
            self.line_no += 1;
            let item = if self.skipping {
                Line::TooLong { len: self.skipped }
            } else {
                Line::Text(&self.pending)
            };
            f(self.line_no, item);
        }
        self.pending.clear();
        self.skipping = false;
    }

    /// Lines handed out so far (complete, or cut by `finish`).
    pub fn lines(&self) -> u64 {
        self.line_no
    }

    /// True while a partial line is buffered (a producer that disconnects now
    /// leaves half a line behind).
    pub fn has_partial_line(&self) -> bool {
        self.skipping || !self.pending.is_empty()
    }
}

/// Size of one read.
pub const READ_CHUNK: usize = 256 << 10;

/// Calls `f(line_number, line)` for every line of `input` (1-based numbers).
pub fn for_each_line(
    mut input: impl Read,
    max_line: usize,
    mut f: impl FnMut(u64, Line<'_>) -> Next,
) -> io::Result<()> {
    let mut splitter = LineSplitter::new(max_line);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Next::Stop = splitter.feed(&buf[..n], &mut f) {
            return Ok(());
        }
    }
    splitter.finish(&mut f);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_chunked(input: &[u8], max_line: usize, chunk: usize) -> Vec<(u64, Option<String>)> {
        let mut out = Vec::new();
        let mut f = |n, line: Line<'_>| {
            out.push((
                n,
                match line {
                    Line::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                    Line::TooLong { len } => Some(format!("too long: {len}")),
                },
            ));
            Next::Continue
        };
        let mut s = LineSplitter::new(max_line);
        for piece in input.chunks(chunk) {
            s.feed(piece, &mut f);
        }
        s.finish(&mut f);
        out
    }

    #[test]
    fn splits_lines_across_chunks_and_keeps_a_last_partial_line() {
        for chunk in [1, 2, 3, 100] {
            let got = collect_chunked(b"a\n\nbc\nd", 10, chunk);
            assert_eq!(
                got,
                [
                    (1, Some("a".into())),
                    (2, Some(String::new())),
                    (3, Some("bc".into())),
                    (4, Some("d".into()))
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn over_long_lines_are_skipped_whole() {
        let mut input = b"ok\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 << 20));
        input.extend_from_slice(b"\nfine\n");
        input.extend(std::iter::repeat_n(b'y', 50));
        for chunk in [7, 4096, 1 << 20] {
            let got = collect_chunked(&input, 40, chunk);
            assert_eq!(
                got,
                [
                    (1, Some("ok".into())),
                    (2, Some(format!("too long: {}", 3 << 20))),
                    (3, Some("fine".into())),
                    (4, Some("too long: 50".into()))
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn reader_helper_matches_the_splitter() {
        let mut got = Vec::new();
        for_each_line(&b"x\ny"[..], 10, |n, l| {
            if let Line::Text(t) = l {
                got.push((n, t.to_vec()));
            }
            Next::Continue
        })
        .unwrap();
        assert_eq!(got, [(1, b"x".to_vec()), (2, b"y".to_vec())]);
    }
}
