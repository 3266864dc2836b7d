//! Cutting a file into runs of whole lines that can be parsed apart and
//! still give, one after another, exactly the lines a single reader gives.
//!
//! A run starts where the previous one ended and ends just after the first
//! newline at or beyond `RUN_BYTES` from its start (or at the end of the
//! file). The first run of a file also reaches past the file's first record
//! line: the line the header rule looks at
//! ([`crate::line_ingest::Options::header_first`]), which only a run that
//! starts the file checks. Each search starts where the last one
//! stopped, so planning reads every byte at most once, whatever the lines.

use std::io;

/// Bytes a run aims for: large enough that handing it over costs nothing
/// next to parsing it, small enough that parsers share the end of a file.
pub(crate) const RUN_BYTES: u64 = 2 << 20;

/// Bytes read at a time while looking for a line's end.
const PROBE: usize = 4096;

/// Reads at an offset without moving a cursor, so several threads can read
/// one open file.
pub(crate) trait ReadAt {
    /// Reads into `buf` from byte `offset`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ReadAt for std::fs::File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(self, buf, offset)
    }
}

#[cfg(test)]
impl ReadAt for [u8] {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let rest = self.get(offset as usize..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// Bytes `start..end` of input `input`: whole lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) input: usize,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// It starts the input (the header rule applies to it).
    pub(crate) first: bool,
}

/// Appends the runs of input `input` (`len` bytes) to `out`, each about
/// `size` bytes; lines over `max_line` bytes do not count as the first
/// record line, as the line reader rejects them before the header rule.
pub(crate) fn plan(
    file: &(impl ReadAt + ?Sized),
    len: u64,
    size: u64,
    max_line: usize,
    input: usize,
    out: &mut Vec<Run>,
) -> io::Result<()> {
    let first_record = end_of_first_record(file, len, max_line)?;
    let mut start = 0;
    while start < len {
        let mut aim = start.saturating_add(size.max(1));
        if start == 0 {
            aim = aim.max(first_record);
        }
        let end = if aim >= len {
            len
        } else {
            end_of_line_at(file, aim - 1, len)?
        };
        out.push(Run {
            input,
            start,
            end,
            first: start == 0,
        });
        start = end;
    }
    Ok(())
}

/// The offset just after the first newline at or after `from` (`len` if none).
fn end_of_line_at(file: &(impl ReadAt + ?Sized), from: u64, len: u64) -> io::Result<u64> {
    let mut buf = [0u8; PROBE];
    let mut at = from;
    while at < len {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
    Ok(len)
}

/// The offset just after the first line that is not blank and not over
/// `max_line` bytes (`len` if there is none).
fn end_of_first_record(
    file: &(impl ReadAt + ?Sized),
    len: u64,
    max_line: usize,
) -> io::Result<u64> {
    let mut buf = [0u8; PROBE];
    let (mut at, mut line_len, mut blank) = (0u64, 0usize, true);
    while at < len {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                if !blank && line_len <= max_line {
                    return Ok(at + i as u64 + 1);
                }
                (line_len, blank) = (0, true);
            } else {
                line_len += 1;
                blank &= b.is_ascii_whitespace();
            }
        }
        at += n as u64;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(bytes: &[u8], size: u64, max_line: usize) -> Vec<Run> {
        let mut out = Vec::new();
        plan(bytes, bytes.len() as u64, size, max_line, 0, &mut out).unwrap();
        out
    }

    /// The runs cover the file without gap or overlap, each ends after a
    /// newline or at the end, and only the first starts the file.
    fn assert_tiles(bytes: &[u8], runs: &[Run]) {
        let mut at = 0;
        for (k, c) in runs.iter().enumerate() {
            assert_eq!((c.start, c.first), (at, k == 0), "{runs:?}");
            assert!(c.end > c.start, "{runs:?}");
            let ends_line = bytes[c.end as usize - 1] == b'\n';
            assert!(ends_line || c.end == bytes.len() as u64, "{runs:?}");
            at = c.end;
        }
        assert_eq!(at, bytes.len() as u64);
    }

    #[test]
    fn runs_tile_the_file_at_line_ends() {
        let text: Vec<u8> = (0..500)
            .flat_map(|i| format!("{i},cache_io,ch{},{}\n", i % 7, "9".repeat(i % 13)).into_bytes())
            .collect();
        for size in [1, 2, 7, 64, 100, 1000, 1 << 20] {
            let runs = cut(&text, size, 1 << 20);
            assert_tiles(&text, &runs);
            // A run is at least `size` bytes unless it is the last.
            for c in &runs[..runs.len() - 1] {
                assert!(c.end - c.start >= size);
            }
        }
        let mut unterminated = text.clone();
        unterminated.extend_from_slice(b"1,cache_io,x,1");
        assert_tiles(&unterminated, &cut(&unterminated, 64, 1 << 20));
    }

    #[test]
    fn a_line_longer_than_a_run_stays_whole() {
        let mut text = b"t,class,channel,value\n".to_vec();
        text.extend(std::iter::repeat_n(b'7', 5000));
        text.extend_from_slice(b"\n1,a,b,2\n");
        let runs = cut(&text, 100, 1 << 20);
        assert_tiles(&text, &runs);
        assert!(runs.iter().any(|c| c.end - c.start > 5000));
    }

    #[test]
    fn the_first_run_holds_the_first_record_line() {
        // Blank lines and a line over max_line come before the header: the
        // first run must still reach it, however small the runs.
        let mut text = b"\n  \r\n".repeat(300);
        text.extend_from_slice(&[b'x'; 50]);
        text.extend_from_slice(b"\nt,class,channel,value\n1,a,b,2\n3,a,b,4\n");
        let header = text.len() as u64 - 16;
        let runs = cut(&text, 8, 40);
        assert_tiles(&text, &runs);
        assert_eq!(runs[0].end, header, "{runs:?}");
        // With room for the long line, that line is the first record.
        let runs = cut(&text, 8, 50);
        assert_eq!(runs[0].end as usize, 1500 + 51);
    }

    #[test]
    fn an_empty_file_has_no_runs() {
        assert!(cut(b"", 64, 100).is_empty());
    }
}
