//! The signals the daemon acts on, as flags the engine loop polls.

use crate::error::{Context, Failure};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGXFSZ};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Flags set by signal handlers.
pub struct Signals {
    /// SIGTERM or SIGINT: drain and stop.
    pub stop: Arc<AtomicBool>,
    /// SIGHUP: reload the grammar.
    pub reload: Arc<AtomicBool>,
    /// SIGUSR1: write a checkpoint now.
    pub checkpoint_now: Arc<AtomicBool>,
}

impl Signals {
    /// Installs the handlers.
    ///
    /// # Errors
    /// A handler cannot be installed.
    pub fn install() -> Result<Self, Failure> {
        let signals = Self {
            stop: Arc::default(),
            reload: Arc::default(),
            checkpoint_now: Arc::default(),
        };
        // Past the file-size limit (RLIMIT_FSIZE) the kernel sends SIGXFSZ,
        // which kills by default. Caught, the write just fails with EFBIG,
        // and the episode log counts it like any other write error.
        let ignored = Arc::new(AtomicBool::new(false));
        let flags = [
            (SIGTERM, &signals.stop),
            (SIGINT, &signals.stop),
            (SIGHUP, &signals.reload),
            (SIGUSR1, &signals.checkpoint_now),
            (SIGXFSZ, &ignored),
        ];
        for (signal, flag) in flags {
            signal_hook::flag::register(signal, Arc::clone(flag))
                .context("cannot install a signal handler")?;
        }
        Ok(signals)
    }
}
