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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

enum Target {
    File(File, PathBuf),
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
    ///
    /// # Errors
    /// The file cannot be opened, or it holds something other than episodes
    /// (its first line is not an episode record): a mistyped path must not
    /// have its last line cut off or episodes appended to it.
    pub fn open(path: &Path, sync_every: Duration) -> io::Result<Self> {
        let target = if path == Path::new("-") {
            Target::Stdout
        } else {
            let mut f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(path)?;
            // Devices and pipes (`/dev/full` in a test, a FIFO to a shipper)
            // are written as they are: there is no content to protect.
            let regular = f.metadata()?.is_file();
            if regular && !holds_episodes(&mut f)? {
                return Err(io::Error::other(
                    "not an episode log (its first line is not an episode record); refusing to append to it",
                ));
            }
            let cut = if regular {
                cut_partial_line(&mut f)?
            } else {
                0
            };
            if cut > 0 {
                log::warn!(
                    "episode log {}: removed an incomplete last line ({cut} bytes) left by a crash",
                    path.display()
                );
            }
            Target::File(f, path.to_owned())
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
            Target::File(f, _) => f.metadata().ok().map(|m| m.len()),
            Target::Stdout => None,
        }
    }

    /// After a restart from a checkpoint taken when the log was `len` bytes
    /// long: the episodes the log holds beyond that were closed after the
    /// checkpoint (the process died before the next one). Replaying the same
    /// input closes them again; each is not written the next time it closes,
    /// so the log never holds one twice.
    pub fn skip_logged_after(&mut self, len: u64) {
        let Target::File(_, path) = &self.target else {
            return;
        };
        let path = path.clone();
        match lines_after(&path, len) {
            Ok(Some(lines)) if !lines.is_empty() => {
                log::info!(
                    "episode log {}: {} episodes were logged after the checkpoint; if they close again they are not written twice",
                    path.display(),
                    lines.len()
                );
                for line in lines {
                    *self.skip.entry(line).or_default() += 1;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => log::warn!(
                "episode log {} is shorter than when the checkpoint was taken (rotated or truncated?): episodes replayed after the restart may appear in both files",
                path.display()
            ),
            Err(err) => log::warn!(
                "episode log {}: cannot read what was logged after the checkpoint ({err}): episodes replayed after the restart may be logged twice",
                path.display()
            ),
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
            Target::File(f, _) => append_whole(f, &self.line),
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
        if let Target::File(f, _) = &self.target {
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

/// True if `f` is empty or its first line is an episode record (a JSON
/// object whose first key is `motif`, as [`Episode::write_json`] writes it).
fn holds_episodes(f: &mut File) -> io::Result<bool> {
    let mut head = [0u8; 10];
    f.seek(SeekFrom::Start(0))?;
    let n = f.read(&mut head)?;
    Ok(n == 0 || head[..n].starts_with(b"{\"motif\":") || b"{\"motif\":".starts_with(&head[..n]))
}

/// The complete lines of the file at `path` after byte `offset`. `None` when
/// the file is shorter than `offset` (it was truncated or rotated since).
pub fn lines_after(path: &Path, offset: u64) -> io::Result<Option<Vec<Vec<u8>>>> {
    let mut f = File::open(path)?;
    if f.metadata()?.len() < offset {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(offset))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    let complete = tail.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Ok(Some(
        tail[..complete]
            .split_inclusive(|&b| b == b'\n')
            .map(<[u8]>::to_vec)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("motifd-episode-log-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn lines_after_an_offset_are_the_complete_ones() {
        let dir = scratch("lines-after");
        let path = dir.join("log");
        std::fs::write(&path, b"a\nbb\nccc\ndd").unwrap();
        let lines = lines_after(&path, 2).unwrap().unwrap();
        assert_eq!(lines, [b"bb\n".to_vec(), b"ccc\n".to_vec()]);
        assert_eq!(lines_after(&path, 100).unwrap(), None);
        assert_eq!(lines_after(&path, 11).unwrap(), Some(vec![]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_an_episode_log_is_refused_untouched() {
        let dir = scratch("not-a-log");
        let path = dir.join("notes.txt");
        std::fs::write(&path, b"a\nb-no-newline").unwrap();
        let err = EpisodeLog::open(&path, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(err.to_string().contains("not an episode log"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"a\nb-no-newline");

        let log = dir.join("episodes.jsonl");
        std::fs::write(&log, b"{\"motif\":\"m\"}\n{\"motif\":\"cut").unwrap();
        EpisodeLog::open(&log, Duration::from_secs(1)).unwrap();
        assert_eq!(std::fs::read(&log).unwrap(), b"{\"motif\":\"m\"}\n");
        let empty = dir.join("new.jsonl");
        EpisodeLog::open(&empty, Duration::from_secs(1)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
