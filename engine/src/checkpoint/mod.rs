//! Checkpoints: the pipeline's whole state in one self-checking file, so a
//! restarted daemon continues open episodes, staged samples and counters
//! exactly where the previous process stopped.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! magic "MOTIFDCK" | version u32 | body length u64 | CRC-32 of body u32 | body
//! body = fingerprint | meta | summary | channel names | pipeline state
//! pipeline state = counters | reorder buffer | far-future guard | motif engine
//! ```
//!
//! Each part is written and read back by the type that owns it (its `encode`
//! and `decode`), which also checks its own invariants on the way in.
//!
//! The fingerprint is a canonical text of everything that gives the state its
//! meaning — the grammar and every pipeline setting. A
//! checkpoint restores only into a pipeline configured identically; otherwise
//! [`CheckpointError::ConfigChanged`] names the first difference. The summary
//! repeats a few headline figures so a checkpoint can be inspected without
//! the configuration that wrote it.
//!
//! Restoring is all or nothing: the header, the checksum and every structural
//! invariant are checked before a single value is handed back.

pub(crate) mod codec;

pub use codec::CheckpointError;

use crate::grammar::Grammar;
use crate::intern::Interner;
use crate::pipeline::{Pipeline, PipelineConfig};
use codec::{malformed, Known, Reader, Writer};
use std::fmt::Write as _;
use std::sync::Arc;

/// Format version written by this build. Version 2 added the far-future
/// guard's held samples, the released-at-cap counter and the settings behind
/// them, and stores only the channel names the state refers to, with their
/// ids. Other versions are refused ([`CheckpointError::UnsupportedVersion`]).
pub const FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"MOTIFDCK";
const HEADER: usize = 8 + 4 + 8 + 4;

/// The configuration a checkpoint belongs to, as canonical text: one
/// `key=value` line per setting and per motif, floats in shortest
/// round-trip form, so equal text means equal configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of a pipeline built with these settings.
    pub fn of(grammar: &Grammar, config: &PipelineConfig) -> Self {
        let mut text = String::new();
        let f = |v: f64| ryu::Buffer::new().format(v).to_string();
        let limits = &config.limits;
        let _ = writeln!(text, "window={}", f(config.window));
        let _ = writeln!(text, "max_future_jump={}", f(config.max_future_jump));
        let _ = writeln!(text, "max_staged={}", config.max_staged);
        let ttl = limits.channel_ttl.map_or_else(|| "off".to_string(), f);
        let _ = writeln!(text, "channel_ttl={ttl}");
        let _ = writeln!(text, "max_channels={}", limits.max_channels);
        for m in grammar.motifs() {
            let p = &m.params;
            let _ = writeln!(
                text,
                "motif={:?} class={:?} rho={} sigma0={} drift_threshold={} slew_threshold={} min_dwell_seconds={}",
                m.name,
                m.class,
                f(p.rho),
                f(p.sigma0),
                f(p.drift_threshold),
                f(p.slew_threshold),
                f(p.min_dwell_seconds)
            );
        }
        Self(text)
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short hex digest (FNV-1a 64) for logs.
    pub fn digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in self.0.as_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// The first difference from `now`, for the log line explaining why a
    /// checkpoint was not restored.
    pub fn difference(&self, now: &Fingerprint) -> String {
        let (a, b) = (self.0.lines(), now.0.lines());
        for pair in a.zip(b) {
            if pair.0 != pair.1 {
                return format!(
                    "checkpoint has `{}`, configuration has `{}`",
                    pair.0, pair.1
                );
            }
        }
        format!(
            "checkpoint has {} settings and motifs, configuration has {}",
            self.0.lines().count(),
            now.0.lines().count()
        )
    }
}

/// What the daemon records beside the engine state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meta {
    /// Length of the episode log (bytes) when the checkpoint was taken, after
    /// an fsync; `None` when there is no episode log file.
    pub episode_log_len: Option<u64>,
    /// Wall-clock time of writing, Unix seconds.
    pub written_unix: f64,
}

/// Headline figures, readable without the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Records received so far (samples and rejected records).
    pub received: u64,
    /// Samples released to the engine.
    pub flushed: u64,
    /// Samples staged in the reorder buffer or held by the far-future guard.
    pub staged: u64,
    /// Samples dropped below the frontier.
    pub dropped_out_of_window: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Largest event time released (the watermark).
    pub frontier: f64,
    /// Largest event time accepted.
    pub newest: f64,
    /// Episodes closed, all motifs.
    pub episodes: u64,
    /// Episodes open, all motifs.
    pub open_episodes: u64,
    /// (motif, channel) states tracked.
    pub channels_tracked: u64,
    /// Channel names the checkpoint carries: those the state refers to.
    pub channel_names: u64,
}

impl Summary {
    fn of(pipeline: &Pipeline, channel_names: usize) -> Self {
        let c = pipeline.counters();
        let engine = pipeline.engine();
        let motifs = engine.grammar().motifs().len();
        let stats = (0..motifs).map(|m| engine.stats(m as crate::MotifId));
        // Wrapping: a summary of (validated, bounded) counters of up to 1,024
        // motifs, which must not be able to panic on a damaged file.
        let (episodes, open) = stats.fold((0u64, 0u64), |(e, o), s| {
            (e.wrapping_add(s.episodes), o.wrapping_add(s.open))
        });
        Self {
            received: c.received,
            flushed: c.flushed,
            staged: c.staged,
            dropped_out_of_window: c.dropped_out_of_window,
            rejected: c.rejected.total(),
            frontier: pipeline.reorder().frontier(),
            newest: pipeline.reorder().newest(),
            episodes,
            open_episodes: open,
            channels_tracked: engine.counters().channels_tracked,
            channel_names: channel_names as u64,
        }
    }

    fn put(&self, w: &mut Writer) {
        for v in [
            self.received,
            self.flushed,
            self.staged,
            self.dropped_out_of_window,
            self.rejected,
        ] {
            w.u64(v);
        }
        w.f64(self.frontier);
        w.f64(self.newest);
        for v in [
            self.episodes,
            self.open_episodes,
            self.channels_tracked,
            self.channel_names,
        ] {
            w.u64(v);
        }
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, CheckpointError> {
        Ok(Self {
            received: r.counter("summary")?,
            flushed: r.counter("summary")?,
            staged: r.counter("summary")?,
            dropped_out_of_window: r.counter("summary")?,
            rejected: r.counter("summary")?,
            frontier: r.f64("summary")?,
            newest: r.f64("summary")?,
            episodes: r.counter("summary")?,
            open_episodes: r.counter("summary")?,
            channels_tracked: r.counter("summary")?,
            channel_names: r.counter("summary")?,
        })
    }
}

/// Encodes `pipeline` and the channel names its ids refer to.
pub fn encode(
    pipeline: &Pipeline,
    names: &Interner,
    fingerprint: &Fingerprint,
    meta: &Meta,
) -> Vec<u8> {
    let referenced = names.referenced(|f| pipeline.for_each_channel(f));
    // The header is patched in at the end, so the (possibly large) body is
    // written once, into a buffer sized up front, and never copied.
    let mut w = Writer {
        buf: Vec::with_capacity(HEADER + 1024 + referenced.len() * 24 + pipeline.encoded_size()),
    };
    w.buf.extend_from_slice(MAGIC);
    w.u32(FORMAT_VERSION);
    w.u64(0);
    w.u32(0);
    w.str(fingerprint.as_str());
    w.u64(meta.episode_log_len.unwrap_or(u64::MAX));
    w.f64(meta.written_unix);
    Summary::of(pipeline, referenced.len()).put(&mut w);
    names.encode_ids(&mut w, &referenced);
    pipeline.encode(&mut w);

    let body_len = (w.buf.len() - HEADER) as u64;
    let crc = crc32fast::hash(&w.buf[HEADER..]);
    w.buf[12..20].copy_from_slice(&body_len.to_le_bytes());
    w.buf[20..24].copy_from_slice(&crc.to_le_bytes());
    w.buf
}

/// A checkpoint's header fields, verified.
struct Opened<'a> {
    body: Reader<'a>,
    fingerprint: Fingerprint,
    meta: Meta,
    summary: Summary,
}

fn open(bytes: &[u8]) -> Result<Opened<'_>, CheckpointError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CheckpointError::NotACheckpoint);
    }
    if bytes.len() < HEADER {
        return Err(CheckpointError::Truncated {
            expected: HEADER as u64,
            actual: bytes.len() as u64,
        });
    }
    let mut header = Reader::new(&bytes[MAGIC.len()..HEADER]);
    let version = header.u32("version")?;
    if version != FORMAT_VERSION {
        return Err(CheckpointError::UnsupportedVersion(version));
    }
    let body_len = header.u64("body length")?;
    let stored = header.u32("checksum")?;
    let actual = (bytes.len() - HEADER) as u64;
    if actual != body_len {
        return Err(if actual < body_len {
            CheckpointError::Truncated {
                expected: (HEADER as u64).saturating_add(body_len),
                actual: bytes.len() as u64,
            }
        } else {
            malformed(format!(
                "{} bytes after the announced end",
                actual - body_len
            ))
        });
    }
    let body = &bytes[HEADER..];
    let computed = crc32fast::hash(body);
    if computed != stored {
        return Err(CheckpointError::ChecksumMismatch { stored, computed });
    }
    let mut body = Reader::new(body);
    let fingerprint = Fingerprint(body.str("fingerprint")?.to_string());
    let log_len = body.u64("episode log length")?;
    let meta = Meta {
        episode_log_len: (log_len != u64::MAX).then_some(log_len),
        written_unix: body.f64("write time")?,
    };
    let summary = Summary::get(&mut body)?;
    Ok(Opened {
        body,
        fingerprint,
        meta,
        summary,
    })
}

/// Header, fingerprint, meta and summary of a checkpoint, verified against its
/// checksum but without decoding the state.
pub fn inspect(bytes: &[u8]) -> Result<(Fingerprint, Meta, Summary), CheckpointError> {
    let opened = open(bytes)?;
    Ok((opened.fingerprint, opened.meta, opened.summary))
}

/// A restored checkpoint.
pub struct Restored {
    /// The pipeline, exactly as it was.
    pub pipeline: Pipeline,
    /// The channel names, with the same ids.
    pub names: Interner,
    /// What the daemon recorded.
    pub meta: Meta,
    /// Headline figures.
    pub summary: Summary,
}

/// Decodes a checkpoint into a pipeline configured with `grammar` and
/// `config`, which must match the checkpoint's fingerprint.
pub fn decode(
    bytes: &[u8],
    grammar: Arc<Grammar>,
    config: &PipelineConfig,
) -> Result<Restored, CheckpointError> {
    let Opened {
        mut body,
        fingerprint,
        meta,
        summary,
    } = open(bytes)?;
    let now = Fingerprint::of(&grammar, config);
    if fingerprint != now {
        return Err(CheckpointError::ConfigChanged(fingerprint.difference(&now)));
    }
    let names = Interner::decode(&mut body)?;
    let known = Known {
        classes: grammar.classes().len(),
        names: &names,
    };
    let pipeline = Pipeline::decode(&mut body, grammar, config, known)?;
    body.finish()?;
    if Summary::of(&pipeline, names.len()) != summary {
        return Err(malformed("the summary does not match the state"));
    }
    Ok(Restored {
        pipeline,
        names,
        meta,
        summary,
    })
}
