//! The live PostgreSQL source: a read-only observer that polls the
//! statistics views, turns the snapshots into residual samples and hands
//! them to the engine (docs/sources.md#live-postgresql).
//!
//! One thread per database: [`spawn`] starts it. Everything the daemon needs
//! to know is in this module's surface: the [`config::Settings`] it parses,
//! the [`output::EngineOutput`] that turns residuals into samples, the
//! [`metrics::SourceMetrics`] it publishes, and [`tape_replay`] for
//! `motifd replay --tape`.

pub mod config;
pub mod metrics;
pub mod output;
mod pgpass;
pub mod poller;
pub mod queries;
pub mod residuals;
pub mod session;
pub mod snapshot;
pub mod source;
pub mod tape;
pub mod tape_replay;
pub mod target;
mod tls;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Starts polling the database `settings` name, on a thread of its own
/// (`motifd-pg-<name>`). It reconnects on its own and ends when `stop` is
/// set or the engine has gone away.
///
/// # Errors
/// The URL or password file is unusable, or the thread cannot start.
pub fn spawn(
    settings: config::Settings,
    output: output::EngineOutput,
    metrics: Arc<metrics::SourceMetrics>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let target = settings
        .target()
        .map_err(|e| format!("postgres {:?}: {e}", settings.name))?;
    let name: String = settings.name.chars().take(12).collect();
    let poller = poller::Poller {
        settings,
        target,
        output,
        metrics,
        stop,
    };
    std::thread::Builder::new()
        .name(format!("motifd-pg-{name}"))
        .spawn(move || poller.run())
        .map_err(|e| format!("cannot start a PostgreSQL source thread: {e}"))
}
