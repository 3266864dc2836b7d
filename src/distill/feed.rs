//! `motifd replay --from FORMAT`: the adapters as the replay's producer —
//! residuals go straight into the engine's batches, rejects into its counts.

use super::{DistillError, Distiller, Options, Rejected, Residual, ResidualClass, Sink, Stop};
use crate::error::Failure;
use crate::line_ingest::Pacer;
use motifd_engine::ingest::BatchWriter;
use motifd_engine::intern::LocalInterner;
use motifd_engine::{ChannelNames, ClassId, Grammar, RejectReason, Sample};
use std::sync::Arc;
use std::thread;

/// How the replay runs the adapter.
pub(crate) struct FeedOptions {
    pub(crate) format: super::TraceFormat,
    pub(crate) adapter: Options,
    pub(crate) strict: bool,
    pub(crate) show_rejects: u64,
    pub(crate) speed: Option<f64>,
}

/// Distills `inputs` (as one trace) into `writer`; returns the number of files.
pub(crate) fn produce(
    inputs: super::Inputs,
    grammar: Arc<Grammar>,
    names: &ChannelNames,
    opts: &FeedOptions,
    writer: BatchWriter,
) -> Result<usize, Failure> {
    let mut distiller = Distiller::new(opts.format, &opts.adapter).map_err(Failure::new)?;
    let classes = ResidualClass::ALL.map(|c| grammar.class_id(c.name().as_bytes()));
    let mut sink = EngineSink {
        format: opts.format.name(),
        classes,
        missing_reported: [false; 5],
        channels: names.local(),
        writer,
        pacer: opts.speed.map(Pacer::new),
        strict: opts.strict,
        show_rejects: opts.show_rejects,
        shown: 0,
        failure: None,
    };
    let files = inputs.len();
    for (name, reader) in inputs {
        let result = distiller.read(&name, reader, &mut sink);
        sink.settle(result)?;
    }
    let result = distiller.finish(&mut sink).map(|_| ());
    sink.settle(result)?;
    sink.writer
        .flush()
        .map_err(|_| Failure::new("the engine stopped before the input ended"))?;
    Ok(files)
}

struct EngineSink {
    format: &'static str,
    /// Grammar class of each residual class (`None`: no motif watches it).
    classes: [Option<ClassId>; 5],
    missing_reported: [bool; 5],
    channels: LocalInterner,
    writer: BatchWriter,
    pacer: Option<Pacer>,
    strict: bool,
    show_rejects: u64,
    shown: u64,
    failure: Option<Failure>,
}

impl EngineSink {
    fn settle(&mut self, result: Result<(), DistillError>) -> Result<(), Failure> {
        match result {
            Ok(()) => Ok(()),
            Err(DistillError::Stopped) => Err(self
                .failure
                .take()
                .unwrap_or_else(|| Failure::new("the engine stopped before the input ended"))),
            Err(e) => Err(Failure::new(e.to_string())),
        }
    }
}

impl Sink for EngineSink {
    fn residual(&mut self, r: Residual<'_>) -> Result<(), Stop> {
        let Some(class) = self.classes[r.class as usize] else {
            // A custom grammar without this class: counted like an unknown
            // class in a sample file.
            self.writer.reject(RejectReason::UnknownClass);
            if !std::mem::replace(&mut self.missing_reported[r.class as usize], true) {
                eprintln!(
                    "{}: no motif of the grammar watches class {}: its residuals are counted \
                     as rejected (unknown_class)",
                    self.format,
                    r.class.name()
                );
            }
            return Ok(());
        };
        let channel = self.channels.intern(r.channel);
        let sample = Sample::new(r.t, class, channel, r.value);
        if let Some(wait) = self.pacer.as_mut().and_then(|p| p.wait(sample.t)) {
            // Hand over what is due before sleeping.
            self.writer.flush().map_err(|_| Stop)?;
            thread::sleep(wait);
        }
        self.writer.push(sample).map_err(|_| Stop)
    }

    fn reject(&mut self, r: Rejected<'_>) -> Result<(), Stop> {
        self.writer.reject(r.reason);
        if self.strict {
            self.failure = Some(Failure::new(format!("{r} (--strict)")));
            return Err(Stop);
        }
        if self.shown < self.show_rejects {
            self.shown += 1;
            eprintln!("{r}");
        }
        Ok(())
    }
}
