//! The report page: one HTML file with everything inline (style, pictures as
//! SVG, the table sorter), so it opens offline and can be mailed as is.
//!
//! Every name that comes from the input (channels above all) goes through
//! [`escape`]; the SVG pictures come from plotters, which escapes its text.

use crate::plot::model::{Collected, EpisodeRow, EpisodeSource};
use crate::plot::time_axis;
use motifd_engine::RejectReason;
use motifd_exporter::html::{escape, escape_into};
use std::fmt::Write;

const STYLE: &str = include_str!("page.css");
const SORTER: &str = include_str!("sort.js");

/// Most rows in the episode table; the rest are counted, not listed.
pub const MAX_ROWS: usize = 10_000;

/// What the page is made of.
pub struct Page<'a> {
    /// The run.
    pub collected: &'a Collected,
    /// One SVG document per panel, in panel order.
    pub pictures: &'a [String],
    /// The grammar file's text, when one was given.
    pub grammar_text: Option<&'a str>,
}

/// The whole HTML document.
pub fn render(page: &Page<'_>) -> String {
    let c = page.collected;
    let mut out =
        String::with_capacity(64 * 1024 + page.pictures.iter().map(String::len).sum::<usize>());
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>motifd report</title>\n<style>\n");
    out.push_str(STYLE);
    out.push_str("</style></head>\n<body>\n<h1>motifd report</h1>\n");
    header(&mut out, c);
    counters(&mut out, c);
    out.push_str("<h2 id=\"plots\">Residuals and episodes</h2>\n");
    for (panel, svg) in c.panels.iter().zip(page.pictures) {
        let _ = write!(out, "<div class=\"plot\" id=\"class-");
        escape_into(&mut out, &panel.class);
        out.push_str("\">\n");
        out.push_str(strip_xml_declaration(svg));
        out.push_str("\n</div>\n");
    }
    episodes(&mut out, &c.episodes);
    grammar(&mut out, c, page.grammar_text);
    out.push_str("<script>\n");
    out.push_str(SORTER);
    out.push_str("</script>\n</body></html>\n");
    out
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(svg, |(_, body)| body.trim_start()),
        None => svg,
    }
}

fn header(out: &mut String, c: &Collected) {
    out.push_str("<p class=\"meta\">Input: ");
    for (i, name) in c.inputs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("<code>");
        escape_into(out, name);
        out.push_str("</code>");
    }
    if let Some((a, b)) = c.range {
        let _ = write!(
            out,
            ". Time range {} to {} UTC ({} s)",
            time_axis::datetime(a),
            time_axis::datetime(b),
            b - a
        );
    }
    let _ = write!(out, ". Reorder window {} s. Episodes: ", c.window);
    match &c.source {
        EpisodeSource::Engine => out.push_str("from the engine run over the input."),
        EpisodeSource::File { path, refused } => {
            out.push_str("from <code>");
            escape_into(out, path);
            let _ = write!(out, "</code> ({refused} lines of it refused).");
        }
    }
    out.push_str("</p>\n");
}

fn counters(out: &mut String, c: &Collected) {
    let k = &c.counters;
    out.push_str("<h2 id=\"counters\">Counters</h2>\n<table id=\"counter-table\">\n");
    let mut row = |name: &str, value: u64| {
        let _ = writeln!(out, "<tr><th>{name}</th><td class=\"n\">{value}</td></tr>");
    };
    row("received", k.received);
    row("flushed to the engine", k.flushed);
    row("dropped out of window", k.dropped_out_of_window);
    row("staged at the end", k.staged);
    row("rejected", k.rejected.total());
    for reason in RejectReason::ALL {
        row(&format!("rejected: {reason}"), k.rejected.get(reason));
    }
    row("refused by the channel cap", c.engine.refused_channel_cap);
    row("episodes shown", c.episodes.len() as u64);
    out.push_str("</table>\n");
}

fn episodes(out: &mut String, episodes: &[EpisodeRow]) {
    out.push_str("<h2 id=\"episode-list\">Episodes</h2>\n");
    if episodes.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"meta\">The first {MAX_ROWS} of {} episodes, in close order.</p>",
            episodes.len()
        );
    }
    out.push_str(
        "<p class=\"meta\">Click a heading to sort.</p>\n<table id=\"episodes\"><thead><tr>",
    );
    for (key, label, numeric) in [
        ("motif", "motif", false),
        ("channel", "channel", false),
        ("start", "start (UTC)", true),
        ("end", "end (UTC)", true),
        ("duration", "duration (s)", true),
        ("peak", "peak", true),
        ("samples", "samples", true),
        ("trust_sum", "trust sum", true),
        ("closed_by", "closed by", false),
    ] {
        let class = if numeric {
            " class=\"n\" data-type=\"num\""
        } else {
            ""
        };
        let _ = write!(out, "<th data-key=\"{key}\"{class}>{label}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for e in episodes.iter().take(MAX_ROWS) {
        out.push_str("<tr><td>");
        escape_into(out, &e.motif);
        out.push_str("</td><td>");
        escape_into(out, &e.channel);
        let _ = write!(
            out,
            "</td><td class=\"n\" data-v=\"{}\">{}</td><td class=\"n\" data-v=\"{}\">{}</td>",
            e.t_start,
            time_axis::datetime_ms(e.t_start),
            e.t_end,
            time_axis::datetime_ms(e.t_end)
        );
        let _ = write!(
            out,
            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>",
            e.duration(),
            number(e.peak),
            e.samples,
            number(e.trust_sum)
        );
        escape_into(out, &e.closed_by);
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// A float as text; a missing value (NaN) as an empty cell.
fn number(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        v.to_string()
    }
}

fn grammar(out: &mut String, c: &Collected, text: Option<&str>) {
    out.push_str("<h2 id=\"grammar\">Grammar</h2>\n<table><thead><tr><th>motif</th><th>class</th>");
    for h in ["rho", "sigma0", "drift", "slew", "min dwell (s)"] {
        let _ = write!(out, "<th class=\"n\">{h}</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    for m in c.grammar.motifs() {
        let p = m.params;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&m.name),
            escape(&m.class),
            p.rho,
            p.sigma0,
            p.drift_threshold,
            p.slew_threshold,
            p.min_dwell_seconds
        );
    }
    out.push_str("</tbody></table>\n");
    match text {
        Some(text) => {
            out.push_str("<p class=\"meta\">From this grammar file:</p>\n<pre>");
            escape_into(out, text);
            out.push_str("</pre>\n");
        }
        None => out.push_str("<p class=\"meta\">The default grammar (docs/semantics.md).</p>\n"),
    }
}
