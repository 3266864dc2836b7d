//! The episode log: JSON lines appended to a file (or stdout).
//!
//! Each episode is formatted into a buffer and written with one `write_all`, so
//! the file only ever holds whole lines followed by whatever a crash cut short of
//! the last one; it is fsynced on a timer and at shutdown. Write errors (a full
//! disk, the file-size limit) are counted (`dsfb_episode_log_write_errors_total`)
//! and logged, never fatal: the engine keeps running and the metrics keep
//! flowing. A write that failed part-way is cut back off the file, so a line
//! written once space is available again does not land after half a line.

use motifd_engine::intern::Interner;
use motifd_engine::{Episode, Grammar};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

enum Target {
    File(File),
    Stdout,
}

/// Appends episodes as JSON lines.
pub struct EpisodeLog {
    target: Target,
    line: Vec<u8>,
    dirty: bool,
    last_sync: Instant,
    sync_every: Duration,
    /// Episodes written.
    pub written: u64,
    /// Write or sync errors (shared with the metrics).
    errors: Arc<AtomicU64>,
    /// Lines already in the log that must not be written again (episodes
    /// logged after the checkpoint a restart restored; see
    /// [`EpisodeLog::skip_once`]), with how many copies of each remain.
    skip: HashMap<Vec<u8>, u32>,
    /// Episodes not written because they were already in the log.
    pub skipped: u64,
}

impl EpisodeLog {
    /// Opens `path` for appending (`-` = stdout).
    pub fn open(path: &Path, sync_every: Duration) -> io::Result<Self> {
        let target = if path == Path::new("-") {
            Target::Stdout
        } else {
            let mut f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(path)?;
            let cut = cut_partial_line(&mut f)?;
            if cut > 0 {
                log::warn!(
                    "episode log {}: removed an incomplete last line ({cut} bytes) left by a crash",
                    path.display()
                );
            }
            Target::File(f)
        };
        Ok(Self {
            target,
            line: Vec::with_capacity(512),
            dirty: false,
            last_sync: Instant::now(),
            sync_every,
            written: 0,
            errors: Arc::default(),
            skip: HashMap::new(),
            skipped: 0,
        })
    }

    /// The log's length in bytes (None for stdout or when it cannot be read).
    pub fn byte_len(&self) -> Option<u64> {
        match &self.target {
            Target::File(f) => f.metadata().ok().map(|m| m.len()),
            Target::Stdout => None,
        }
    }

    /// Each of `lines` (whole lines, newline included) is not written the next
    /// time the same episode closes. After a restart from a checkpoint, these
    /// are the episodes logged after that checkpoint: replaying the same input
    /// closes them again, and the log must not hold them twice.
    pub fn skip_once(&mut self, lines: Vec<Vec<u8>>) {
        for line in lines {
            *self.skip.entry(line).or_default() += 1;
        }
    }

    /// The live count of write and sync errors, for the metrics.
    pub fn error_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.errors)
    }

    /// Appends one episode.
    pub fn append(&mut self, e: &Episode, grammar: &Grammar, names: &Interner) {
        self.line.clear();
        e.write_json(grammar, names, &mut self.line);
        if !self.skip.is_empty() {
            if let Some(left) = self.skip.get_mut(&self.line) {
                *left -= 1;
                if *left == 0 {
                    self.skip.remove(&self.line);
                }
                self.skipped += 1;
                return;
            }
        }
        let result = match &mut self.target {
            Target::File(f) => append_whole(f, &self.line),
            Target::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&self.line).and_then(|()| out.flush())
            }
        };
        match result {
            Ok(()) => {
                self.written += 1;
                self.dirty = true;
            }
            Err(err) => self.fail("write", &err),
        }
    }

    /// Fsyncs if the interval has passed since the last sync.
    pub fn sync_if_due(&mut self) {
        if self.dirty && self.last_sync.elapsed() >= self.sync_every {
            self.sync();
        }
    }

    /// Fsyncs now.
    pub fn sync(&mut self) {
        self.last_sync = Instant::now();
        self.dirty = false;
        if let Target::File(f) = &self.target {
            if let Err(err) = f.sync_data() {
                self.fail("fsync", &err);
            }
        }
    }

    fn fail(&mut self, what: &str, err: &io::Error) {
        let errors = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        // First error, then every 1000th: enough to notice, not enough to flood.
        if errors == 1 || errors % 1000 == 0 {
            log::error!("episode log: {what} failed ({errors} errors so far): {err}");
        }
    }
}

/// Appends `line` to `f` (opened for appending). If the write fails after part
/// of the line reached the file (ENOSPC or EFBIG part-way), the file is cut back
/// to its length before the write.
fn append_whole(f: &mut File, line: &[u8]) -> io::Result<()> {
    let before = f.metadata().map(|m| m.len());
    let result = f.write_all(line);
    if let (Err(_), Ok(before)) = (&result, before) {
        if let Ok(now) = f.metadata().map(|m| m.len()) {
            if now > before {
                // Shrinking never exceeds a size limit; if it fails too, the
                // original error is still the one reported.
                let _ = f.set_len(before);
            }
        }
    }
    result
}

/// Cuts `f` back to its last newline, so appends never continue half a line a
/// crash left behind. Returns the bytes removed.
fn cut_partial_line(f: &mut File) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        f.set_len(end)?;
    }
    Ok(len - end)
}
