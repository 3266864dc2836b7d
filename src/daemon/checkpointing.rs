//! Checkpoints on the daemon side: restore at start, write every
//! `checkpoint_interval` and at SIGTERM/SIGINT (docs/reliability.md).
//!
//! A checkpoint is written like the textfile: to a temporary file in the same
//! directory, fsynced, renamed over the old one, and the directory fsynced, so
//! a crash at any moment leaves either the previous checkpoint or the new one,
//! never a mixture. The engine thread only encodes the state (a memory copy);
//! periodic checkpoints are written and fsynced by the `motifd-checkpoint`
//! thread, so a slow disk stalls neither ingest nor scrapes. The checkpoint at
//! shutdown is written synchronously, after any periodic one in flight. The episode log is fsynced first and its length recorded,
//! which is what lets a restart after `kill -9` recognise the episodes already
//! logged after that checkpoint (see [`lines_after`]).

use crossbeam_channel::Sender;
use motifd_engine::checkpoint::{self, Fingerprint, Meta, Restored};
use motifd_engine::{ChannelNames, Grammar, Pipeline, PipelineConfig};
use motifd_exporter::atomic_file::write_atomic;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Outcome counts of checkpoint writes, shared with the writer thread.
#[derive(Debug, Default)]
pub struct CheckpointOutcomes {
    /// Checkpoints written.
    pub written: AtomicU64,
    /// Checkpoints that failed to be written.
    pub errors: AtomicU64,
    /// Periodic checkpoints skipped because the previous one was still being
    /// written (a disk slower than the interval).
    pub skipped: AtomicU64,
    /// Bits of the Unix time of the last successful write (0: none yet).
    pub last_written_unix: AtomicU64,
    /// Size of the last checkpoint written, bytes.
    pub last_bytes: AtomicU64,
}

/// One encoded checkpoint on its way to the disk.
struct Job {
    bytes: Vec<u8>,
    written_unix: f64,
    /// Asked for by SIGUSR1: confirmed in the log.
    requested: bool,
}

/// Writes checkpoints of the engine thread's pipeline.
pub struct Checkpointer {
    path: PathBuf,
    interval: Duration,
    last_attempt: Instant,
    fingerprint: Fingerprint,
    stats: Arc<CheckpointOutcomes>,
    jobs: Option<Sender<Job>>,
    writer: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// A writer to `path` every `interval` for a pipeline configured as
    /// `fingerprint` says.
    pub fn new(path: PathBuf, interval: Duration, fingerprint: Fingerprint) -> Self {
        let stats = Arc::new(CheckpointOutcomes::default());
        // One job in flight at most: a checkpoint superseded before it reached
        // the disk is worth nothing.
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(1);
        let writer = {
            let (path, stats) = (path.clone(), Arc::clone(&stats));
            std::thread::Builder::new()
                .name("motifd-checkpoint".into())
                .spawn(move || {
                    for job in queue {
                        store(&path, &job, &stats);
                    }
                })
                .map_err(|e| {
                    log::warn!("checkpoint writer thread: {e}; writing on the engine thread")
                })
                .ok()
        };
        Self {
            path,
            interval,
            last_attempt: Instant::now(),
            fingerprint,
            stats,
            jobs: writer.is_some().then_some(jobs),
            writer,
        }
    }

    /// Live outcome counts, for the metrics.
    pub fn stats(&self) -> Arc<CheckpointOutcomes> {
        Arc::clone(&self.stats)
    }

    /// True when the interval has passed since the last attempt.
    pub fn due(&self) -> bool {
        self.last_attempt.elapsed() >= self.interval
    }

    fn encode(
        &mut self,
        pipeline: &Pipeline,
        names: &ChannelNames,
        episode_log_len: Option<u64>,
        requested: bool,
    ) -> Job {
        self.last_attempt = Instant::now();
        let written_unix = unix_now();
        let meta = Meta {
            episode_log_len,
            written_unix,
        };
        let bytes = checkpoint::encode(pipeline, &names.lock(), &self.fingerprint, &meta);
        Job {
            bytes,
            written_unix,
            requested,
        }
    }

    /// Encodes a checkpoint of `pipeline` (`episode_log_len`: the episode
    /// log's length after an fsync) and hands it to the writer thread. If the
    /// previous one is still being written, this one is skipped and counted.
    pub fn write_in_background(
        &mut self,
        pipeline: &Pipeline,
        names: &ChannelNames,
        episode_log_len: Option<u64>,
        requested: bool,
    ) {
        let job = self.encode(pipeline, names, episode_log_len, requested);
        let Some(jobs) = &self.jobs else {
            store(&self.path, &job, &self.stats);
            return;
        };
        if jobs.try_send(job).is_err() {
            let skipped = self.stats.skipped.fetch_add(1, Ordering::Relaxed) + 1;
            log::warn!(
                "checkpoint {}: the previous checkpoint is still being written, skipping this one ({skipped} skipped so far)",
                self.path.display()
            );
        }
    }

    /// Writes a checkpoint now, on this thread, after any write in flight.
    /// Returns whether it reached the disk.
    pub fn write_now(
        &mut self,
        pipeline: &Pipeline,
        names: &ChannelNames,
        episode_log_len: Option<u64>,
    ) -> bool {
        self.jobs = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        let job = self.encode(pipeline, names, episode_log_len, false);
        store(&self.path, &job, &self.stats)
    }
}

/// Writes one checkpoint and records the outcome.
fn store(path: &Path, job: &Job, stats: &CheckpointOutcomes) -> bool {
    match write_atomic(path, &job.bytes) {
        Ok(()) => {
            stats.written.fetch_add(1, Ordering::Relaxed);
            stats
                .last_written_unix
                .store(job.written_unix.to_bits(), Ordering::Relaxed);
            stats
                .last_bytes
                .store(job.bytes.len() as u64, Ordering::Relaxed);
            if job.requested {
                log::info!(
                    "SIGUSR1: checkpoint written to {} ({} bytes)",
                    path.display(),
                    job.bytes.len()
                );
            } else {
                log::debug!("checkpoint {}: {} bytes", path.display(), job.bytes.len());
            }
            true
        }
        Err(err) => {
            let errors = stats.errors.fetch_add(1, Ordering::Relaxed) + 1;
            if errors == 1 || errors % 100 == 0 {
                log::error!(
                    "checkpoint {}: write failed ({errors} failures so far), the previous checkpoint stays: {err}",
                    path.display()
                );
            }
            false
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Reads the checkpoint at `path` and restores it if it belongs to this
/// configuration. Anything else starts fresh, with the reason logged; a
/// checkpoint that cannot be restored is moved aside to `<path>.rejected` so
/// the next write does not destroy what an operator may want to inspect.
pub fn restore(path: &Path, grammar: &Arc<Grammar>, config: &PipelineConfig) -> Option<Restored> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            log::info!("checkpoint {}: none yet, starting fresh", path.display());
            return None;
        }
        Err(err) => {
            log::error!(
                "checkpoint {}: cannot be read ({err}), starting fresh",
                path.display()
            );
            return None;
        }
    };
    match checkpoint::decode(&bytes, Arc::clone(grammar), config) {
        Ok(restored) => {
            let s = &restored.summary;
            log::info!(
                "checkpoint {} restored (written {:.1} s ago): {} records received, {} staged samples, {} open episodes, {} tracked channels, watermark {}",
                path.display(),
                (unix_now() - restored.meta.written_unix).max(0.0),
                s.received,
                s.staged,
                s.open_episodes,
                s.channels_tracked,
                s.frontier
            );
            Some(restored)
        }
        Err(err) => {
            let mut aside = path.as_os_str().to_owned();
            aside.push(".rejected");
            let aside = PathBuf::from(aside);
            let moved = match fs::rename(path, &aside) {
                Ok(()) => format!("moved to {}", aside.display()),
                Err(e) => format!("could not be moved aside: {e}"),
            };
            log::error!(
                "checkpoint {} not restored, starting fresh ({moved}): {err}",
                path.display()
            );
            None
        }
    }
}
