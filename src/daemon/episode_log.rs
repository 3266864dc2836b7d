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
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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
}

impl EpisodeLog {
    /// Opens `path` for appending (`-` = stdout).
    pub fn open(path: &Path, sync_every: Duration) -> io::Result<Self> {
        let target = if path == Path::new("-") {
            Target::Stdout
        } else {
            Target::File(OpenOptions::new().create(true).append(true).open(path)?)
        };
        Ok(Self {
            target,
            line: Vec::with_capacity(512),
            dirty: false,
            last_sync: Instant::now(),
            sync_every,
            written: 0,
            errors: Arc::default(),
        })
    }

    /// The live count of write and sync errors, for the metrics.
    pub fn error_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.errors)
    }

    /// Appends one episode.
    pub fn append(&mut self, e: &Episode, grammar: &Grammar, names: &Interner) {
        self.line.clear();
        e.write_json(grammar, names, &mut self.line);
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
