//! CSV records, split by `csv-core`: the state machine under the `csv` crate
//! the reference reads with, so quoting, blank lines, CR/LF and a leading BOM
//! come out exactly as there. On top of it: the line each record starts on, a
//! bound on a record's size (a stray quote cannot make one record eat memory),
//! and UTF-8 checked field by field as `csv::StringRecord` checks it.

use csv_core::ReadRecordResult;
use std::io::{self, Read};

/// Bytes read from the input at a time.
const CHUNK: usize = 256 << 10;

/// One record; fields are borrowed from the reader's buffer.
pub(crate) struct Record<'a> {
    /// Line the record starts on (1-based).
    pub(crate) line: u64,
    text: &'a str,
    ends: &'a [usize],
}

impl<'a> Record<'a> {
    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Field `i` (empty if out of range).
    pub(crate) fn get(&self, i: usize) -> &'a str {
        let Some(&end) = self.ends.get(i) else {
            return "";
        };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..end]
    }

    /// All fields.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// What the reader found next.
pub(crate) enum Item<'a> {
    /// A record.
    Record(Record<'a>),
    /// A record longer than the bound, skipped (starting line).
    TooLong(u64),
    /// A record with a field that is not UTF-8 (starting line).
    InvalidUtf8(u64),
}

/// Reads CSV records from `input`.
pub(crate) struct CsvRecords<R> {
    input: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    core: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Line ends skipped here between records (csv-core counts the others).
    skipped_newlines: u64,
    started: bool,
    max_record: usize,
}

impl<R: Read> CsvRecords<R> {
    /// A reader refusing records longer than `max_record` bytes.
    pub(crate) fn new(input: R, max_record: usize) -> Self {
        Self {
            input,
            buf: vec![0; CHUNK],
            pos: 0,
            len: 0,
            eof: false,
            core: csv_core::Reader::new(),
            out: vec![0; max_record.clamp(1, 4096)],
            ends: vec![0; 64],
            skipped_newlines: 0,
            started: false,
            max_record,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        while self.pos == self.len && !self.eof {
            match self.input.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Skips the line ends between records (csv-core discards them there too)
    /// so that the next byte is the first of the record and its line is known.
    fn skip_line_ends(&mut self) -> io::Result<()> {
        loop {
            self.fill()?;
            match self.buf[self.pos..self.len].first() {
                Some(b'\n') => self.skipped_newlines += 1,
                Some(b'\r') => {}
                _ => return Ok(()),
            }
            self.pos += 1;
        }
    }

    /// The next record, or `None` at the end of the input.
    pub(crate) fn next_record(&mut self) -> io::Result<Option<Item<'_>>> {
        // Not before the first record: csv-core strips a BOM only from the
        // very first bytes it is given.
        if self.started {
            self.skip_line_ends()?;
        }
        // csv-core's line count starts at 1 and counts the line ends it read.
        let line = self.core.line() + self.skipped_newlines;
        let (mut nout, mut nend) = (0, 0);
        let mut too_long = false;
        loop {
            self.fill()?;
            let input = &self.buf[self.pos..self.len];
            let (res, nin, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nend..]);
            self.pos += nin;
            nout += o;
            nend += e;
            match res {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => {
                    if self.out.len() >= self.max_record {
                        // Keep parsing to the record's end, overwriting.
                        too_long = true;
                        nout = 0;
                    } else {
                        let grown = (self.out.len() * 2).min(self.max_record);
                        self.out.resize(grown, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull => {
                    if too_long || self.ends.len() > self.max_record {
                        too_long = true;
                        nend = 0;
                    } else {
                        let grown = self.ends.len() * 2;
                        self.ends.resize(grown, 0);
                    }
                }
                ReadRecordResult::Record => {
                    self.started = true;
                    if too_long {
                        return Ok(Some(Item::TooLong(line)));
                    }
                    return Ok(Some(self.record(line, nout, nend)));
                }
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    fn record(&self, line: u64, nout: usize, nend: usize) -> Item<'_> {
        let ends = &self.ends[..nend];
        let Ok(text) = std::str::from_utf8(&self.out[..nout]) else {
            return Item::InvalidUtf8(line);
        };
        // Valid as a whole and cut on character boundaries = every field valid.
        if !ends.iter().all(|&e| text.is_char_boundary(e)) {
            return Item::InvalidUtf8(line);
        }
        Item::Record(Record { line, text, ends })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<(u64, Result<Vec<String>, &'static str>)> {
        let mut r = CsvRecords::new(input, max);
        let mut v = Vec::new();
        while let Some(item) = r.next_record().unwrap() {
            v.push(match item {
                Item::Record(rec) => (rec.line, Ok(rec.fields().map(String::from).collect())),
                Item::TooLong(l) => (l, Err("too long")),
                Item::InvalidUtf8(l) => (l, Err("utf8")),
            });
        }
        v
    }

    fn ok(line: u64, f: &[&str]) -> (u64, Result<Vec<String>, &'static str>) {
        (line, Ok(f.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn lines_quotes_blank_lines_and_bom() {
        let got = all(
            b"\xEF\xBB\xBFa,b\r\n\r\n1,\"x\ny\"\n\n\n2,\"q\"\"\"\n3,4",
            1 << 20,
        );
        assert_eq!(
            got,
            vec![
                ok(1, &["a", "b"]),
                ok(3, &["1", "x\ny"]),
                ok(7, &["2", "q\""]),
                ok(8, &["3", "4"])
            ]
        );
    }

    #[test]
    fn long_and_non_utf8_records_are_reported_and_skipped() {
        let mut bytes = format!("a,b\n1,{}\n2,3\n", "x".repeat(100)).into_bytes();
        bytes.extend_from_slice(b"4,\xff\n");
        let got = all(&bytes, 32);
        assert_eq!(
            got,
            vec![
                ok(1, &["a", "b"]),
                (2, Err("too long")),
                ok(3, &["2", "3"]),
                (4, Err("utf8"))
            ]
        );
        // A character cut by a field boundary is invalid in both fields.
        let got = all(b"a,b\n\xC3,\xA9\n", 64);
        assert_eq!(got[1], (2, Err("utf8")));
    }

    #[test]
    fn an_unterminated_quote_runs_to_the_end_and_stays_bounded() {
        let text = format!("a,b\n1,\"{}\n", "y\n".repeat(10_000));
        let got = all(text.as_bytes(), 1000);
        assert_eq!(got, vec![ok(1, &["a", "b"]), (2, Err("too long"))]);
    }
}
