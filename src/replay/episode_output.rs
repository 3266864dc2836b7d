//! Episodes as a replay prints them: formatted into a buffer that is
//! streamed to stdout, or kept whole for `--check`, and the first line where
//! two outputs differ.

use crate::cli::OutputFormat;
use crate::error::Failure;
use motifd_engine::episode::CSV_HEADER as EPISODE_CSV_HEADER;
use motifd_engine::{Episode, Grammar};
use std::io::{self, Write};

/// Formats episodes into a buffer, streamed to stdout or kept for `--check`.
pub(super) struct EpisodeWriter {
    format: OutputFormat,
    buf: Vec<u8>,
    stream: Option<io::Stdout>,
}

impl EpisodeWriter {
    pub(super) fn new(format: OutputFormat, to_stdout: bool) -> Self {
        let mut buf = Vec::with_capacity(1 << 16);
        if format == OutputFormat::Csv {
            buf.extend_from_slice(EPISODE_CSV_HEADER.as_bytes());
            buf.push(b'\n');
        }
        Self {
            format,
            buf,
            stream: to_stdout.then(io::stdout),
        }
    }

    pub(super) fn write(
        &mut self,
        e: &Episode,
        grammar: &Grammar,
        names: &motifd_engine::intern::Interner,
    ) {
        match self.format {
            OutputFormat::Jsonl => e.write_json(grammar, names, &mut self.buf),
            OutputFormat::Csv => e.write_csv(grammar, names, &mut self.buf),
        }
    }

    pub(super) fn flush_if_large(&mut self) -> Result<(), Failure> {
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Failure> {
        if let Some(out) = &self.stream {
            let mut out = out.lock();
            match out.write_all(&self.buf).and_then(|()| out.flush()) {
                Ok(()) => self.buf.clear(),
                // A closed pipe (`| head`) is the reader's choice, not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => self.buf.clear(),
                Err(e) => return Err(Failure::new(format!("writing episodes: {e}"))),
            }
        }
        Ok(())
    }

    /// Flushes and returns what was kept (everything when not streaming).
    pub(super) fn finish(mut self) -> Result<Vec<u8>, Failure> {
        self.flush()?;
        Ok(self.buf)
    }
}

/// Describes the first line where `actual` departs from `expected`.
pub(crate) fn first_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    let mut e = expected.split_inclusive(|&b| b == b'\n');
    let mut a = actual.split_inclusive(|&b| b == b'\n');
    let mut n = 0;
    loop {
        n += 1;
        match (e.next(), a.next()) {
            (None, None) => return None,
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let show = |l: Option<&[u8]>| {
                    l.map_or("<end of output>".to_string(), |l| {
                        String::from_utf8_lossy(l).trim_end().to_string()
                    })
                };
                return Some(format!(
                    "line {n}:\n  expected: {}\n  actual:   {}",
                    show(x),
                    show(y)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_difference_names_the_line() {
        assert_eq!(first_difference(b"a\nb\n", b"a\nb\n"), None);
        let d = first_difference(b"a\nb\n", b"a\nc\n").unwrap();
        assert!(
            d.starts_with("line 2:\n  expected: b\n  actual:   c"),
            "{d}"
        );
        let d = first_difference(b"a\n", b"a\nb\n").unwrap();
        assert!(d.contains("expected: <end of output>"), "{d}");
        assert!(
            first_difference(b"a\n", b"a").is_some(),
            "a missing newline differs"
        );
    }
}
