//! SQLShare `queries.txt`: query texts separated by runs of 40 underscores.
//! Every 200 queries make a bucket; from the second bucket on, each full bucket
//! gives one workload-phase residual — the JSD between its skeleton mix and
//! the previous bucket's — at t = 200 × bucket index, on channel
//! `ord[START-END]`. A trailing partial bucket gives nothing.
//!
//! Streams: the time axis is the query's position, so each residual is final
//! when its bucket fills, and memory holds two buckets and one query.

use super::formulas::js_divergence;
use super::skeleton::skeleton_into;
use super::{Adapter, DistillError, Out, ResidualClass};
use motifd_engine::RejectReason;
use rustc_hash::FxHashMap;
use std::io::{self, Read};

/// Queries per bucket.
const BUCKET: usize = 200;
/// The divider: 40 underscores, found anywhere (not only on a line of its own).
const DIVIDER: usize = 40;

type Mix = FxHashMap<Box<str>, u64>;

#[derive(Default)]
pub(crate) struct SqlshareText {
    current: Mix,
    prev: Option<Mix>,
    in_bucket: usize,
    bucket_index: usize,
    /// The query being read.
    query: Vec<u8>,
    /// Line of its first non-blank byte.
    query_line: Option<u64>,
    too_long: bool,
    /// Underscores seen and not yet placed.
    underscores: usize,
    line: u64,
    skeleton: String,
}

impl Adapter for SqlshareText {
    fn read(&mut self, input: &mut dyn Read, out: &mut Out<'_>) -> Result<(), DistillError> {
        self.line = 1;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(out.io(e)),
            };
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let text = memchr::memchr(b'_', rest).unwrap_or(rest.len());
                if text == 0 {
                    let run = rest.iter().take_while(|&&b| b == b'_').count();
                    self.underscores += run;
                    rest = &rest[run..];
                    continue;
                }
                if self.underscores > 0 {
                    self.place_underscores(out)?;
                }
                self.append(&rest[..text], out.max_record);
                rest = &rest[text..];
            }
        }
        // The end of an input ends its last query.
        self.place_underscores(out)?;
        self.end_query(out)?;
        Ok(())
    }

    fn finish(&mut self, _: &mut Out<'_>) -> Result<(), DistillError> {
        Ok(())
    }
}

impl SqlshareText {
    /// A run of underscores just ended: each 40 of them, from its start, is a
    /// divider; fewer than 40 left over belong to the next query.
    fn place_underscores(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        let run = std::mem::take(&mut self.underscores);
        if run >= DIVIDER {
            self.end_query(out)?;
        }
        let rest = if run >= DIVIDER { run % DIVIDER } else { run };
        if rest > 0 {
            self.append(&[b'_'; DIVIDER][..rest], out.max_record);
        }
        Ok(())
    }

    /// Appends text to the query being read (bounded), keeping line numbers.
    fn append(&mut self, text: &[u8], max: usize) {
        if self.query_line.is_none() {
            if let Some(p) = text.iter().position(|b| !b.is_ascii_whitespace()) {
                self.query_line = Some(self.line + newlines(&text[..p]));
            }
        }
        self.line += newlines(text);
        if self.too_long {
            return;
        }
        if self.query.len() + text.len() > max {
            self.too_long = true;
            self.query.clear();
        } else {
            self.query.extend_from_slice(text);
        }
    }

    fn end_query(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        let line = self.query_line.take();
        if std::mem::take(&mut self.too_long) {
            out.row();
            let detail = format!("the query is longer than {} bytes", out.max_record);
            out.reject(line, RejectReason::LineTooLong, &detail)?;
            return Ok(());
        }
        // None: blank (not a query); Some(false): not UTF-8; Some(true): a skeleton.
        let outcome = match std::str::from_utf8(&self.query) {
            Err(_) => Some(false),
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => {
                skeleton_into(text.trim(), &mut self.skeleton);
                Some(true)
            }
        };
        self.query.clear();
        match outcome {
            None => Ok(()),
            Some(false) => {
                out.row();
                out.reject(
                    line,
                    RejectReason::InvalidUtf8,
                    "the query is not valid UTF-8",
                )?;
                Ok(())
            }
            Some(true) => {
                out.row();
                self.count(out)
            }
        }
    }

    /// Adds the skeleton just made to the bucket; a full bucket is compared
    /// with the one before and handed out.
    fn count(&mut self, out: &mut Out<'_>) -> Result<(), DistillError> {
        match self.current.get_mut(self.skeleton.as_str()) {
            Some(n) => *n += 1,
            None => {
                self.current.insert(self.skeleton.as_str().into(), 1);
            }
        }
        self.in_bucket += 1;
        if self.in_bucket < BUCKET {
            return Ok(());
        }
        let start = self.bucket_index * BUCKET;
        let end = start + self.in_bucket - 1;
        if let Some(prev) = &self.prev {
            let mut p: Vec<(&str, u64)> = prev.iter().map(|(k, &n)| (&**k, n)).collect();
            let mut q: Vec<(&str, u64)> = self.current.iter().map(|(k, &n)| (&**k, n)).collect();
            let d = js_divergence(&mut p, &mut q);
            let channel = format!("ord[{start}-{end}]");
            out.emit(start as f64, ResidualClass::WorkloadPhase, &channel, d)?;
        }
        self.prev = Some(std::mem::take(&mut self.current));
        self.in_bucket = 0;
        self.bucket_index += 1;
        Ok(())
    }
}

fn newlines(text: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', text).count() as u64
}
