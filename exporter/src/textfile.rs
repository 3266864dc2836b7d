//! Atomic textfile writer for node_exporter's textfile collector.
//!
//! Each write renders the classic format into `<name>.prom.tmp` next to the
//! target (same directory, hence same filesystem, so `rename` is atomic),
//! fsyncs it, renames it over the target, then fsyncs the directory so the
//! rename itself survives a crash. node_exporter only reads `*.prom`, so it
//! never sees the temporary file; a reader sees the old file or the new one,
//! never a partial one. Failures are counted and logged to stderr, never
//! fatal: metrics must not take the daemon down. The writer keeps trying at
//! every interval, and logs once when a write succeeds again after failures
//! (the directory came back, the disk has room again).

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::publish::SnapshotHandle;
use crate::render::{render, ExpositionFormat, RenderOptions};
use crate::self_stats::ExporterCounters;

pub use crate::atomic_file::write_atomic;

/// Configuration of a [`TextfileWriter`].
#[derive(Debug, Clone)]
pub struct TextfileConfig {
    /// Target file; should end in `.prom` for node_exporter to read it.
    pub path: PathBuf,
    /// Time between writes. Default 15 s.
    pub interval: Duration,
    /// Rendering options (namespace). `process_metrics` is off by default
    /// here: node_exporter exposes its own `process_*` series.
    pub render: RenderOptions,
}

impl TextfileConfig {
    /// Writes to `path` every 15 s with the default namespace.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            interval: Duration::from_secs(15),
            render: RenderOptions {
                process_metrics: false,
                ..RenderOptions::default()
            },
        }
    }
}

/// A thread that writes the textfile periodically and once more at stop.
#[derive(Debug)]
pub struct TextfileWriter {
    stop_tx: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl TextfileWriter {
    /// Starts the `motifd-textfile` thread. The first write happens at once.
    ///
    /// # Errors
    /// Only if the thread cannot be spawned.
    pub fn start(
        config: TextfileConfig,
        snapshots: SnapshotHandle,
        counters: Arc<ExporterCounters>,
    ) -> io::Result<Self> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("motifd-textfile".into())
            .spawn(move || run(&config, &snapshots, &counters, &stop_rx))?;
        Ok(Self {
            stop_tx,
            thread: Some(thread),
        })
    }

    /// Stops the thread after one final write, and joins it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop_tx.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TextfileWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(
    config: &TextfileConfig,
    snapshots: &SnapshotHandle,
    counters: &ExporterCounters,
    stop: &mpsc::Receiver<()>,
) {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut failing = 0;
    let mut next = Instant::now();
    loop {
        write_once(config, snapshots, counters, &mut buf, &mut failing);
        next += config.interval;
        match stop.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            // Stop requested (or the writer handle vanished): final write.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    write_once(config, snapshots, counters, &mut buf, &mut failing);
}

fn write_once(
    config: &TextfileConfig,
    snapshots: &SnapshotHandle,
    counters: &ExporterCounters,
    buf: &mut Vec<u8>,
    failing: &mut u64,
) {
    buf.clear();
    let snapshot = snapshots.load();
    render(
        &snapshot,
        &counters.snapshot(),
        &config.render,
        ExpositionFormat::Classic,
        buf,
    );
    let ok = match write_atomic(&config.path, buf) {
        Ok(()) => {
            if *failing > 0 {
                log::info!(
                    "textfile {} written again after {failing} failed writes",
                    config.path.display()
                );
                *failing = 0;
            }
            true
        }
        Err(e) => {
            *failing += 1;
            log::warn!("writing textfile {}: {e}", config.path.display());
            false
        }
    };
    counters.record_textfile_write(ok);
}
