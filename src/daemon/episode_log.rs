//! The episode log: JSON lines appended to a file (or stdout).
//!
//! Each episode is formatted into a buffer and written with one `write_all`, so
//! the file only ever holds whole lines followed by whatever a crash cut short of
//! the last one; it is fsynced on a timer and at shutdown. Write errors are
//! counted and logged, never fatal: the engine keeps running and the metrics
//! keep flowing.

use motifd_engine::intern::Interner;
use motifd_engine::{Episode, Grammar};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
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
    /// Write or sync errors.
    pub errors: u64,
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
            errors: 0,
        })
    }

    /// Appends one episode.
    pub fn append(&mut self, e: &Episode, grammar: &Grammar, names: &Interner) {
        self.line.clear();
        e.write_json(grammar, names, &mut self.line);
        let result = match &mut self.target {
            Target::File(f) => f.write_all(&self.line),
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
        self.errors += 1;
        // First error, then every 1000th: enough to notice, not enough to flood.
        if self.errors == 1 || self.errors % 1000 == 0 {
            log::error!(
                "episode log: {what} failed ({} errors so far): {err}",
                self.errors
            );
        }
    }
}
