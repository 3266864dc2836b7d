//! Reading the input once: samples go to the decimator and through the same
//! pipeline replay runs (reorder buffer → motif engine), episodes are kept.
//!
//! Memory is bounded by the panels, not the samples: one decimated series per
//! class plus at most `--max-curves` per class, and the episodes themselves.

use super::args::{InputArgs, SelectionArgs};
use super::decimate::Decimator;
use super::episodes_file;
use super::model::{Collected, Curve, EpisodeRow, EpisodeSource, Panel};
use super::time_axis;
use crate::error::{Context, Failure};
use crate::line_ingest::{Options, RejectReport};
use crate::replay::{self, Input};
use motifd_engine::ingest::Batch;
use motifd_engine::intern::Interner;
use motifd_engine::{ChannelId, ChannelNames, Episode, Grammar, MotifId, Pipeline, PipelineConfig};
use std::collections::HashMap;
use std::sync::Arc;

/// The selection, checked against the grammar.
struct Selection {
    /// Panel of each class id (None: not drawn).
    panel_of_class: Vec<Option<usize>>,
    /// Whether each motif id is drawn.
    motif_drawn: Vec<bool>,
    channels: Vec<String>,
    since: f64,
    until: f64,
    max_curves: usize,
}

impl Selection {
    fn new(args: &SelectionArgs, grammar: &Grammar) -> Result<(Self, Vec<Panel>), Failure> {
        for name in &args.motifs {
            if !grammar.motifs().iter().any(|m| m.name == *name) {
                let known: Vec<&str> = grammar.motifs().iter().map(|m| m.name.as_str()).collect();
                return Err(Failure::new(format!(
                    "--motif {name}: no such motif (the grammar has {})",
                    known.join(", ")
                )));
            }
        }
        let motif_drawn: Vec<bool> = grammar
            .motifs()
            .iter()
            .map(|m| args.motifs.is_empty() || args.motifs.contains(&m.name))
            .collect();
        let mut panels = Vec::new();
        let mut panel_of_class = Vec::new();
        for (c, class) in grammar.classes().iter().enumerate() {
            let motifs: Vec<MotifId> = grammar
                .motifs_of(c as u16)
                .iter()
                .copied()
                .filter(|&m| motif_drawn[m as usize])
                .collect();
            if motifs.is_empty() {
                panel_of_class.push(None);
                continue;
            }
            panel_of_class.push(Some(panels.len()));
            panels.push(Panel {
                class: class.clone(),
                motifs,
                all_channels: 0,
                curves: Vec::new(),
                channels: 0,
            });
        }
        let time = |t: &Option<String>, flag: &str| {
            t.as_deref()
                .map(time_axis::parse)
                .transpose()
                .map_err(|e| Failure::new(format!("{flag}: {e}")))
        };
        let since = time(&args.since, "--since")?.unwrap_or(f64::NEG_INFINITY);
        let until = time(&args.until, "--until")?.unwrap_or(f64::INFINITY);
        if since >= until {
            return Err(Failure::new("--since must be before --until"));
        }
        let selection = Self {
            panel_of_class,
            motif_drawn,
            channels: args.channels.clone(),
            since,
            until,
            max_curves: args.max_curves,
        };
        Ok((selection, panels))
    }

    fn channel_wanted(&self, name: &str) -> bool {
        self.channels.is_empty() || self.channels.iter().any(|c| c == name)
    }

    fn episode_wanted(&self, e: &EpisodeRow, grammar: &Grammar) -> bool {
        let motif = grammar.motifs().iter().position(|m| m.name == e.motif);
        motif.is_some_and(|m| self.motif_drawn[m])
            && self.channel_wanted(&e.channel)
            && e.t_end >= self.since
            && e.t_start <= self.until
    }
}

/// Where samples come from. Today the readers replay uses; a trace adapter
/// (`--from FORMAT`) would add an arm here and a field to [`InputArgs`].
fn open_source(input: &InputArgs) -> Result<Vec<Input>, Failure> {
    replay::open_paths(&input.inputs, input.input_format)
}

/// Per-sample bookkeeping: which series a (class, channel) feeds.
struct Router {
    /// Per channel id: selected by `--channel`? (filled as ids appear)
    channel_selected: Vec<bool>,
    /// (panel, channel) → series of its curve (None: drawn in the band only).
    curve_of: HashMap<(usize, ChannelId), Option<usize>>,
}

impl Router {
    /// Extends the per-id table to every id the interner has issued.
    fn learn_names(&mut self, names: &Interner, sel: &Selection) {
        for id in self.channel_selected.len()..names.len() {
            let name = names.name(id as ChannelId);
            self.channel_selected.push(sel.channel_wanted(name));
        }
    }
}

/// Reads the input, runs the engine and decimates the residuals.
pub fn collect(input: &InputArgs, selection: &SelectionArgs) -> Result<Collected, Failure> {
    crate::settings_rules::non_negative_seconds(input.window)
        .map_err(|why| Failure::new(format!("--window {why}")))?;
    let grammar = Arc::new(crate::grammar::load(input.grammar.as_deref())?);
    let (sel, mut panels) = Selection::new(selection, &grammar)?;
    let names = ChannelNames::default();
    let mut producer = start_parser(input, &grammar, &names)?;
    let mut decimator = decimator_for(&sel, &mut panels);
    let config = PipelineConfig {
        window: input.window,
        ..PipelineConfig::default()
    };
    let mut pipeline = Pipeline::new(Arc::clone(&grammar), &config).context("--window")?;
    let mut router = Router {
        channel_selected: Vec::new(),
        curve_of: HashMap::new(),
    };
    let mut episodes = Vec::new();
    for batch in producer.by_ref() {
        let names = names.lock();
        router.learn_names(&names, &sel);
        let mut ctx = BatchContext {
            sel: &sel,
            grammar: &grammar,
            names: &names,
            panels: &mut panels,
            decimator: &mut decimator,
            router: &mut router,
            episodes: &mut episodes,
        };
        ctx.apply(batch, &mut pipeline);
    }
    producer.finish()?;
    {
        let names = names.lock();
        pipeline.finish(&mut |e: &Episode| {
            keep_episode(e, &grammar, &names, &sel, &mut episodes);
        });
        name_curves(&mut panels, &names);
    }
    let source = match &input.episodes {
        None => EpisodeSource::Engine,
        Some(path) => episodes_from_file(path, &sel, &grammar, &mut episodes)?,
    };
    let range = plot_range(&sel, &decimator);
    Ok(Collected {
        grammar: Arc::clone(&grammar),
        panels,
        decimator,
        episodes,
        source,
        counters: pipeline.counters(),
        engine: pipeline.engine().counters(),
        range,
        inputs: input.inputs.clone(),
        window: input.window,
    })
}

/// Starts parsing the input.
fn start_parser(
    input: &InputArgs,
    grammar: &Arc<Grammar>,
    names: &ChannelNames,
) -> Result<replay::Producer, Failure> {
    let sources = open_source(input)?;
    let options = Options {
        max_line: input.max_line,
        report: RejectReport::Print(20),
        strict: false,
        header_first: true,
        speed: None,
        max_ahead_of_clock: None,
    };
    replay::spawn_parser(sources, grammar, names, options, Arc::default())
}

/// A decimator over the selected time range (or growing with the data), with
/// each panel's all-channels series registered.
fn decimator_for(sel: &Selection, panels: &mut [Panel]) -> Decimator {
    let mut decimator = if sel.since.is_finite() && sel.until.is_finite() {
        Decimator::fixed(sel.since, sel.until)
    } else {
        Decimator::growing()
    };
    for p in panels {
        p.all_channels = decimator.add_series();
    }
    decimator
}

/// The time range drawn: the selection's, or the data's within it.
fn plot_range(sel: &Selection, decimator: &Decimator) -> Option<(f64, f64)> {
    if sel.since.is_finite() && sel.until.is_finite() {
        Some((sel.since, sel.until))
    } else {
        decimator
            .span()
            .map(|(a, b)| (a.max(sel.since), b.min(sel.until)))
    }
}

/// Curves were named by channel id while reading; names them now.
fn name_curves(panels: &mut [Panel], names: &Interner) {
    for p in panels {
        for c in &mut p.curves {
            let id: ChannelId = c.channel.parse().unwrap_or(0);
            c.channel = names.name(id).to_string();
        }
    }
}

/// `--episodes FILE`: the file's episodes (those selected) replace the
/// engine's.
fn episodes_from_file(
    path: &std::path::Path,
    sel: &Selection,
    grammar: &Grammar,
    episodes: &mut Vec<EpisodeRow>,
) -> Result<EpisodeSource, Failure> {
    let read = episodes_file::read(path)?;
    *episodes = read.episodes;
    episodes.retain(|e| sel.episode_wanted(e, grammar));
    Ok(EpisodeSource::File {
        path: path.display().to_string(),
        refused: read.refused,
    })
}

/// The state one batch is applied with.
struct BatchContext<'a> {
    sel: &'a Selection,
    grammar: &'a Grammar,
    names: &'a Interner,
    panels: &'a mut [Panel],
    decimator: &'a mut Decimator,
    router: &'a mut Router,
    episodes: &'a mut Vec<EpisodeRow>,
}

impl BatchContext<'_> {
    fn apply(&mut self, batch: Batch, pipeline: &mut Pipeline) {
        pipeline.add_rejections(&batch.rejected);
        for s in batch.samples {
            self.observe(s.t, s.value, s.class, s.channel);
            let (grammar, names, sel, episodes) =
                (self.grammar, self.names, self.sel, &mut *self.episodes);
            pipeline.push(s, &mut |e: &Episode| {
                keep_episode(e, grammar, names, sel, episodes);
            });
        }
    }

    /// Sends one sample to the series it belongs to, if any.
    #[inline]
    fn observe(&mut self, t: f64, v: f64, class: u16, channel: ChannelId) {
        let Some(&Some(panel)) = self.sel.panel_of_class.get(class as usize) else {
            return;
        };
        if !self.router.channel_selected[channel as usize]
            || t < self.sel.since
            || t > self.sel.until
        {
            return;
        }
        let p = &mut self.panels[panel];
        self.decimator.observe(p.all_channels, t, v);
        let max_curves = self.sel.max_curves;
        let decimator = &mut *self.decimator;
        let curve = *self
            .router
            .curve_of
            .entry((panel, channel))
            .or_insert_with(|| {
                p.channels += 1;
                (p.curves.len() < max_curves).then(|| {
                    let series = decimator.add_series();
                    // Named by id for now: the name is resolved once at the end.
                    p.curves.push(Curve {
                        channel: channel.to_string(),
                        series,
                    });
                    series
                })
            });
        if let Some(series) = curve {
            self.decimator.observe(series, t, v);
        }
    }
}

fn keep_episode(
    e: &Episode,
    grammar: &Grammar,
    names: &Interner,
    sel: &Selection,
    out: &mut Vec<EpisodeRow>,
) {
    let row = EpisodeRow {
        motif: grammar.motif(e.motif).name.clone(),
        channel: names.name(e.channel).to_string(),
        t_start: e.t_start,
        t_end: e.t_end,
        peak: e.peak,
        trust_sum: e.trust_sum,
        samples: e.samples,
        closed_by: e.closed_by.as_str().to_string(),
    };
    if sel.episode_wanted(&row, grammar) {
        out.push(row);
    }
}
