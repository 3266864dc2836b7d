//! The motif grammar as the commands see it: read from a file (or the
//! built-in default), and, in the daemon, the one in force, which SIGHUP may
//! replace while sources parse under it.

use crate::error::{Context, Failure};
use motifd_engine::Grammar;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Reads and validates a grammar file (or returns the default grammar).
///
/// # Errors
/// The file cannot be read, does not parse, or breaks a rule; the message
/// names the file and, for a rule, the motif and key.
pub fn load(path: Option<&Path>) -> Result<Grammar, Failure> {
    let Some(path) = path else {
        return Ok(Grammar::default());
    };
    let text = std::fs::read_to_string(path).context(path.display())?;
    Grammar::from_toml(&text).context(path.display())
}

/// The grammar in force and its generation; replaced on SIGHUP.
///
/// Sources compare the generation (one atomic load per read) and take the
/// grammar itself (a lock) only when it changed, so they never wait on the
/// engine thread.
#[derive(Debug)]
pub struct GrammarCell {
    current: Mutex<Arc<Grammar>>,
    /// Bumped after `current` is replaced: a reader that sees the new value
    /// finds the new grammar behind the lock.
    generation: AtomicU64,
}

impl GrammarCell {
    /// A cell holding `grammar` as generation 0.
    pub fn new(grammar: Arc<Grammar>) -> Self {
        Self {
            current: Mutex::new(grammar),
            generation: AtomicU64::new(0),
        }
    }

    /// The grammar in force and its generation.
    pub fn load(&self) -> (u64, Arc<Grammar>) {
        let g = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (self.generation.load(Ordering::Acquire), Arc::clone(&g))
    }

    /// Current generation (one atomic load).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Installs `grammar`; returns its generation.
    pub fn replace(&self, grammar: Arc<Grammar>) -> u64 {
        let mut g = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *g = grammar;
        self.generation.fetch_add(1, Ordering::AcqRel) + 1
    }
}
