//! Residuals → engine samples: class names resolved in the grammar in force,
//! channels prefixed with the source's name and interned, samples sent in
//! batches on the daemon's ingest channel (or the replay's).

pub use super::residuals::{Class, ResidualSink};
use crossbeam_channel::Sender;
use motifd_engine::ingest::{Batch, BatchWriter, Disconnected, DEFAULT_BATCH};
use motifd_engine::intern::LocalInterner;
use motifd_engine::{ChannelNames, ClassId, Grammar, RejectReason, Sample};
use std::sync::Arc;

/// The grammar in force and its generation (the daemon's `GrammarCell`).
pub type GrammarNow = Box<dyn Fn() -> (u64, Arc<Grammar>) + Send>;

/// Sends one source's residuals to the engine.
pub struct EngineOutput {
    writer: BatchWriter,
    names: LocalInterner,
    grammar_now: GrammarNow,
    generation: Option<u64>,
    classes: [Option<ClassId>; Class::ALL.len()],
    prefix: String,
    channel: String,
    sent: u64,
    disconnected: bool,
}

impl EngineOutput {
    /// Samples go to `tx`, channels are interned in `names`, classes looked
    /// up in what `grammar_now` returns.
    pub fn new(tx: Sender<Batch>, names: &ChannelNames, grammar_now: GrammarNow) -> Self {
        Self::with_writer(BatchWriter::new(tx, DEFAULT_BATCH), names, grammar_now)
    }

    /// Like [`EngineOutput::new`], sending through `writer`.
    pub fn with_writer(writer: BatchWriter, names: &ChannelNames, grammar_now: GrammarNow) -> Self {
        Self {
            writer,
            names: names.local(),
            grammar_now,
            generation: None,
            classes: [None; Class::ALL.len()],
            prefix: String::new(),
            channel: String::new(),
            sent: 0,
            disconnected: false,
        }
    }

    /// Channels are named `<source>/<channel>`.
    pub fn set_source(&mut self, source: &str) {
        self.prefix.clear();
        self.prefix.push_str(source);
        self.prefix.push('/');
    }

    /// Picks up a grammar reloaded since the last poll (once per poll: it
    /// takes the grammar cell's lock).
    pub fn refresh_grammar(&mut self) {
        let (generation, grammar) = (self.grammar_now)();
        if self.generation == Some(generation) {
            return;
        }
        if self.writer.set_generation(generation).is_err() {
            self.disconnected = true;
        }
        for (slot, class) in self.classes.iter_mut().zip(Class::ALL) {
            *slot = grammar.class_id(class.as_str().as_bytes());
        }
        self.generation = Some(generation);
    }

    /// Sends what is batched.
    ///
    /// # Errors
    /// The engine has gone away.
    pub fn flush(&mut self) -> Result<(), Disconnected> {
        if self.disconnected {
            return Err(Disconnected);
        }
        self.writer
            .flush()
            .inspect_err(|_| self.disconnected = true)
    }

    /// The channel prefix (`<source>/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Counts one rejected input record (a bad tape line).
    pub fn reject(&mut self, reason: RejectReason) {
        self.writer.reject(reason);
    }

    /// Samples sent so far, and resets the count.
    pub fn take_sent(&mut self) -> u64 {
        std::mem::take(&mut self.sent)
    }
}

impl ResidualSink for EngineOutput {
    fn residual(&mut self, t: f64, class: Class, channel: &str, value: f64) {
        if self.generation.is_none() {
            self.refresh_grammar();
        }
        let Some(class_id) = self.classes[class as usize] else {
            // A grammar without this class: counted like a line of an
            // unknown class.
            self.writer.reject(RejectReason::UnknownClass);
            return;
        };
        if !(t.is_finite() && value.is_finite()) {
            self.writer.reject(RejectReason::NonFinite);
            return;
        }
        self.channel.clear();
        self.channel.push_str(&self.prefix);
        self.channel.push_str(channel);
        let id = self.names.intern(&self.channel);
        if self
            .writer
            .push(Sample::new(t, class_id, id, value))
            .is_err()
        {
            self.disconnected = true;
        }
        self.sent += 1;
    }
}
