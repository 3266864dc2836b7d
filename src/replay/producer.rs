//! The engine side of a replay's input: the batches of whatever parses the
//! inputs, in order, and how the parsing ended.

use super::inputs::Produced;
use super::parallel::RunReader;
use crate::error::Failure;
use crossbeam_channel::{Receiver, Sender};
use motifd_engine::ingest::{self, Batch};
use motifd_engine::Sample;
use std::thread::JoinHandle;

/// Where the engine takes its batches from.
pub(crate) enum Producer {
    /// One thread reads the inputs as a stream and sends its batches here.
    Thread {
        batches: Receiver<Batch>,
        thread: JoinHandle<Result<Produced, Failure>>,
    },
    /// Regular files parsed in runs on several threads.
    Runs(RunReader),
}

impl Iterator for Producer {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        match self {
            Self::Thread { batches, .. } => batches.recv().ok(),
            Self::Runs(runs) => runs.next(),
        }
    }
}

impl Producer {
    /// Hands back a batch's emptied buffer for reuse (parsers that fill
    /// large batches take it again).
    pub(crate) fn recycle(&self, samples: Vec<Sample>) {
        if let Self::Runs(runs) = self {
            runs.recycle(samples);
        }
    }

    /// A producer thread started by `spawn`, which is handed the sending end
    /// of the channel the engine reads.
    ///
    /// # Errors
    /// Those of `spawn`.
    pub(crate) fn on_thread(
        spawn: impl FnOnce(Sender<Batch>) -> Result<JoinHandle<Result<Produced, Failure>>, Failure>,
    ) -> Result<Self, Failure> {
        let (tx, batches) = ingest::channel(super::CHANNEL_BATCHES);
        Ok(Self::Thread {
            batches,
            thread: spawn(tx)?,
        })
    }

    /// Waits for the parsing to end, once every batch has been taken.
    ///
    /// # Errors
    /// The input broke a rule that ends the run, could not be read, or a
    /// parser thread failed.
    pub(crate) fn finish(self) -> Result<Produced, Failure> {
        match self {
            Self::Thread { batches, thread } => {
                drop(batches);
                thread
                    .join()
                    .map_err(|_| Failure::new("the parser thread panicked"))?
            }
            Self::Runs(runs) => runs.finish(),
        }
    }
}
