//! Residual files read line by line and routed to partitions
//! ([`crate::partitioning`]): what `motifd produce` sends and what `motifd
//! replay --partitions` splits, read by one function so the two cannot
//! differ.
//!
//! The file rules are replay's: the format comes from the extension (stdin:
//! CSV) unless given; a CSV file must start with its header; blank lines and
//! header lines are skipped; a line that is not a record is reported with
//! file and line, counted by reason and left out, and the lines around it go
//! on.

use crate::error::Failure;
use crate::line_ingest::{preview, LineFormat};
use crate::lines::{for_each_line, Line, Next};
use crate::partitioning::{Route, Router};
use motifd_engine::parse::{is_csv_header, CSV_HEADER};
use motifd_engine::{RecordFormat, RejectCounts, RejectReason};
use std::fs::File;
use std::io::{self, Read};

/// What routing read.
#[derive(Debug, Default)]
pub struct Routed {
    /// Files read.
    pub files: usize,
    /// Records routed, per partition.
    pub per_partition: Vec<u64>,
    /// Lines left out, by reason.
    pub rejected: RejectCounts,
}

impl Routed {
    /// Records routed, all partitions.
    pub fn records(&self) -> u64 {
        self.per_partition.iter().sum()
    }
}

/// How lines are read and reported.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    /// Format of every input (None: from each file's extension).
    pub format: Option<LineFormat>,
    /// Longest accepted line.
    pub max_line: usize,
    /// Rejected lines printed (all are counted).
    pub show_rejects: u64,
    /// Stop at the first rejected line.
    pub strict: bool,
}

/// Reads `inputs` in order (`-` = stdin) and calls `deliver(partition,
/// line, key)` for every record, in file order.
///
/// # Errors
/// An input cannot be read, a CSV file lacks its header, a line is rejected
/// in strict mode, or `deliver` fails.
pub fn route_files(
    inputs: &[String],
    reading: Reading,
    router: &mut Router,
    mut deliver: impl FnMut(u32, &[u8], &[u8]) -> Result<(), Failure>,
) -> Result<Routed, Failure> {
    let mut file = FileRouting {
        reading,
        routed: Routed {
            per_partition: vec![0; router.partitions() as usize],
            ..Routed::default()
        },
        printed: 0,
        name: String::new(),
        at_start: false,
        parse_as: None,
        failed: None,
    };
    for input in inputs {
        file.routed.files += 1;
        let format = reading.format.unwrap_or_else(|| format_of(input));
        let reader: Box<dyn Read> = if input == "-" {
            file.name = "<stdin>".into();
            Box::new(io::stdin())
        } else {
            file.name.clone_from(input);
            Box::new(File::open(input).map_err(|e| Failure::new(format!("{input}: {e}")))?)
        };
        file.at_start = format == LineFormat::Csv;
        file.parse_as = match format {
            LineFormat::Auto => None,
            LineFormat::Csv => Some(RecordFormat::Csv),
            LineFormat::Jsonl => Some(RecordFormat::Jsonl),
        };
        for_each_line(reader, reading.max_line, |line_no, line| {
            file.line(line_no, line, router, &mut deliver)
        })
        .map_err(|e| Failure::new(format!("{}: {e}", file.name)))?;
        if let Some(failure) = file.failed.take() {
            return Err(failure);
        }
    }
    Ok(file.routed)
}

/// The state of routing one file.
struct FileRouting {
    reading: Reading,
    routed: Routed,
    printed: u64,
    name: String,
    /// A CSV file whose header has not been seen yet.
    at_start: bool,
    parse_as: Option<RecordFormat>,
    failed: Option<Failure>,
}

impl FileRouting {
    fn line(
        &mut self,
        line_no: u64,
        line: Line<'_>,
        router: &mut Router,
        deliver: &mut impl FnMut(u32, &[u8], &[u8]) -> Result<(), Failure>,
    ) -> Next {
        let text = match line {
            Line::TooLong { len } => {
                let why = format!(
                    "{len} bytes, longer than --max-line {}",
                    self.reading.max_line
                );
                return self.reject(line_no, RejectReason::LineTooLong, why.as_bytes());
            }
            Line::Text(text) => text,
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            return Next::Continue;
        }
        if std::mem::take(&mut self.at_start) && !is_csv_header(text) {
            return self.fail(format!(
                "{}:{line_no}: a CSV input must start with the header `{CSV_HEADER}` (use --input-format jsonl for JSON lines)",
                self.name
            ));
        }
        match router.route(text, self.parse_as) {
            Route::Skip => Next::Continue,
            Route::Reject(reason) => self.reject(line_no, reason, text),
            Route::To(p) => {
                self.routed.per_partition[p as usize] += 1;
                match deliver(p, text, router.last_key()) {
                    Ok(()) => Next::Continue,
                    Err(e) => self.fail_with(e),
                }
            }
        }
    }

    fn reject(&mut self, line_no: u64, reason: RejectReason, text: &[u8]) -> Next {
        self.routed.rejected.add(reason);
        if self.reading.strict {
            return self.fail(format!(
                "{}:{line_no}: rejected ({reason}) in --strict mode: {}",
                self.name,
                preview(text)
            ));
        }
        if self.printed < self.reading.show_rejects {
            self.printed += 1;
            eprintln!(
                "{}:{line_no}: rejected ({reason}): {}",
                self.name,
                preview(text)
            );
        }
        Next::Continue
    }

    fn fail(&mut self, message: String) -> Next {
        self.fail_with(Failure::new(message))
    }

    fn fail_with(&mut self, failure: Failure) -> Next {
        self.failed = Some(failure);
        Next::Stop
    }
}

/// The format replay assumes for `input`: stdin CSV, else by extension.
pub fn format_of(input: &str) -> LineFormat {
    if input == "-" {
        return LineFormat::Csv;
    }
    match RecordFormat::from_path(input) {
        RecordFormat::Csv => LineFormat::Csv,
        RecordFormat::Jsonl => LineFormat::Jsonl,
    }
}
