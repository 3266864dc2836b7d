//! The live page at `/`: a timeline per motif (SVG) and tables of the open and
//! the recently closed episodes. Self-contained (inline style and SVG, no
//! script), read-only, refreshed by the browser every [`REFRESH_SECONDS`].
//! Every name is escaped.

use std::fmt::Write;

use super::{clock, LiveEpisodes};
use crate::html::escape_into;

/// Seconds between reloads of the page.
pub const REFRESH_SECONDS: u32 = 2;

const STYLE: &str = "body{font-family:\"DejaVu Sans\",Verdana,sans-serif;margin:1.2em;color:#222}\
h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.2em 0 .4em}\
.meta{color:#555;font-size:.9em}table{border-collapse:collapse;font-size:.85em}\
th,td{padding:.15em .6em;border-bottom:1px solid #eee;text-align:left}\
th{background:#f6f6f6}.n{text-align:right;font-variant-numeric:tabular-nums}\
svg text{font-size:12px;fill:#333}";

const LABEL_WIDTH: f64 = 230.0;
const PLOT_WIDTH: f64 = 940.0;
const LANE: f64 = 22.0;
const CLOSED_FILL: &str = "#1f77b4";
const OPEN_FILL: &str = "#ff7f0e";

/// Renders the page.
pub fn render(v: &LiveEpisodes) -> String {
    let mut out = String::with_capacity(8192 + 600 * (v.closed.len() + v.open.len()));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\n\
         <title>motifd · live episodes</title>\n<style>{STYLE}</style></head>\n<body>\n\
         <h1>motifd · live episodes</h1>\n"
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\">Newest event {} UTC (Unix {}) · {} open · {} closed since start · \
         refreshes every {REFRESH_SECONDS} s · \
         <a href=\"/metrics\">/metrics</a> · <a href=\"/episodes.json\">/episodes.json</a> · \
         <a href=\"/healthz\">/healthz</a></p>",
        clock(v.now),
        if v.now.is_finite() {
            v.now.to_string()
        } else {
            "–".into()
        },
        v.open_total,
        v.closed_total
    );
    let _ = writeln!(
        out,
        "<h2>Timeline</h2>\n<p class=\"meta\"><span style=\"color:{CLOSED_FILL}\">■</span> closed \
         <span style=\"color:{OPEN_FILL}\">■</span> open, drawn to the newest event · \
         one lane per motif, all channels; hover a bar for its channel</p>"
    );
    timeline(&mut out, v);
    open_table(&mut out, v);
    closed_table(&mut out, v);
    out.push_str("</body></html>\n");
    out
}

/// Event-time span the timeline covers: from the earliest shown opening to
/// the newest event (or latest close).
fn span(v: &LiveEpisodes) -> Option<(f64, f64)> {
    let starts = v
        .closed
        .iter()
        .map(|e| e.t_start)
        .chain(v.open.iter().map(|e| e.t_start));
    let from = starts.fold(f64::INFINITY, f64::min);
    let to = v
        .closed
        .iter()
        .map(|e| e.t_end)
        .chain(v.open.iter().map(|e| e.t_start))
        .fold(v.now, |a, b| if a.is_finite() { a.max(b) } else { b });
    if !(from.is_finite() && to.is_finite()) {
        None
    } else if to > from {
        Some((from, to))
    } else {
        Some((from - 0.5, from + 0.5))
    }
}

fn timeline(out: &mut String, v: &LiveEpisodes) {
    let Some((from, to)) = span(v) else {
        out.push_str("<p class=\"meta\">No episode yet.</p>\n");
        return;
    };
    let height = LANE * v.motifs.len() as f64 + 30.0;
    let width = LABEL_WIDTH + PLOT_WIDTH + 20.0;
    let x = |t: f64| LABEL_WIDTH + (t - from) / (to - from) * PLOT_WIDTH;
    let _ = writeln!(
        out,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"episodes per motif over event time\">"
    );
    for (i, motif) in v.motifs.iter().enumerate() {
        let y = LANE * i as f64;
        let shade = if i % 2 == 0 { "#f7f7f7" } else { "#ffffff" };
        let _ = write!(
            out,
            "<rect x=\"0\" y=\"{y}\" width=\"{width}\" height=\"{LANE}\" fill=\"{shade}\"/>\
             <text x=\"4\" y=\"{}\">",
            y + 15.0
        );
        escape_into(out, motif);
        out.push_str("</text>\n");
    }
    for e in &v.closed {
        let title = format!(
            "{} · {} to {} UTC · peak {} · {} samples · {}",
            e.channel,
            clock(e.t_start),
            clock(e.t_end),
            e.peak,
            e.samples,
            e.closed_by
        );
        bar(
            out,
            x(e.t_start),
            x(e.t_end),
            e.motif,
            CLOSED_FILL,
            "closed",
            &title,
        );
    }
    for e in &v.open {
        let title = format!("{} · open since {} UTC", e.channel, clock(e.t_start));
        bar(out, x(e.t_start), x(to), e.motif, OPEN_FILL, "open", &title);
    }
    let axis_y = LANE * v.motifs.len() as f64;
    let step = tick_step(to - from);
    let mut t = (from / step).ceil() * step;
    while t <= to {
        let label = clock(t);
        // Whole seconds need no milliseconds.
        let label = if step >= 1.0 { &label[..8] } else { &label[..] };
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{axis_y}\" stroke=\"#ccc\"/>\
             <text x=\"{0:.1}\" y=\"{1}\" text-anchor=\"middle\">{label}</text>",
            x(t),
            axis_y + 18.0
        );
        t += step;
    }
    out.push_str("</svg>\n");
}

/// The smallest round clock step giving at most eight ticks over `span`
/// seconds.
fn tick_step(span: f64) -> f64 {
    const STEPS: [f64; 20] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
        3600.0, 7200.0, 21600.0, 43200.0, 86400.0,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 8.0)
        .unwrap_or_else(|| (span / 8.0 / 86400.0).ceil() * 86400.0)
}

fn bar(out: &mut String, x0: f64, x1: f64, motif: u16, fill: &str, class: &str, title: &str) {
    let y = LANE * f64::from(motif) + 4.0;
    // An episode just opened (or closed within a pixel) stays visible.
    let w = (x1 - x0).max(if class == "open" { 4.0 } else { 2.0 });
    let _ = write!(
        out,
        "<rect class=\"{class}\" x=\"{x0:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{fill}\" fill-opacity=\"0.7\"><title>",
        LANE - 8.0
    );
    escape_into(out, title);
    out.push_str("</title></rect>\n");
}

fn open_table(out: &mut String, v: &LiveEpisodes) {
    let _ = writeln!(
        out,
        "<h2>Open episodes ({} of {})</h2>\n<table id=\"open\"><thead><tr><th>motif</th><th>channel</th>\
         <th>since (UTC)</th><th class=\"n\">open for (s)</th></tr></thead><tbody>",
        v.open.len(),
        v.open_total
    );
    for e in &v.open {
        row_head(out, "open", v, e.motif, &e.channel);
        let _ = writeln!(
            out,
            "</td><td>{}</td><td class=\"n\">{:.3}</td></tr>",
            clock(e.t_start),
            v.now - e.t_start
        );
    }
    out.push_str("</tbody></table>\n");
}

/// A table row of class `class` up to its motif and channel cells.
fn row_head(out: &mut String, class: &str, v: &LiveEpisodes, motif: u16, channel: &str) {
    out.push_str("<tr class=\"");
    out.push_str(class);
    out.push_str("\"><td>");
    motif_name(out, v, motif);
    out.push_str("</td><td>");
    escape_into(out, channel);
}

fn closed_table(out: &mut String, v: &LiveEpisodes) {
    let _ = writeln!(
        out,
        "<h2>Recently closed ({} of {}, newest first)</h2>\n<table id=\"closed\"><thead><tr>\
         <th>motif</th><th>channel</th><th>start (UTC)</th><th>end (UTC)</th><th class=\"n\">duration (s)</th>\
         <th class=\"n\">peak</th><th class=\"n\">samples</th><th>closed by</th></tr></thead><tbody>",
        v.closed.len(),
        v.closed_total
    );
    for e in v.closed.iter().rev() {
        row_head(out, "closed", v, e.motif, &e.channel);
        let _ = writeln!(
            out,
            "</td><td>{}</td><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            clock(e.t_start),
            clock(e.t_end),
            e.t_end - e.t_start,
            e.peak,
            e.samples,
            e.closed_by
        );
    }
    out.push_str("</tbody></table>\n");
}

fn motif_name(out: &mut String, v: &LiveEpisodes, motif: u16) {
    escape_into(
        out,
        v.motifs.get(usize::from(motif)).map_or("?", String::as_str),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{clip_name, ClosedEpisode, OpenEpisode};

    /// The `i`-th closed episode of a test view.
    fn closed(i: usize, motif: u16, channel: std::sync::Arc<str>) -> ClosedEpisode {
        ClosedEpisode {
            motif,
            channel,
            t_start: 1_700_000_000.0 + i as f64,
            t_end: 1_700_000_000.5 + i as f64,
            peak: 1.25,
            samples: 3,
            closed_by: "dwell",
        }
    }

    fn view(n: usize) -> LiveEpisodes {
        let closed = (0..n)
            .map(|i| {
                let name = format!("<script>alert({i})</script>{}", "x".repeat(500));
                closed(i, (i % 2) as u16, clip_name(&name))
            })
            .collect();
        LiveEpisodes {
            motifs: vec!["a_motif".into(), "b<motif>".into()],
            closed,
            closed_total: n as u64 + 7,
            open: vec![OpenEpisode {
                motif: 1,
                channel: clip_name("q\"1'"),
                t_start: 1_700_000_010.0,
            }],
            open_total: 1,
            now: 1_700_000_020.0,
            capacity: n,
        }
    }

    #[test]
    fn names_are_text_and_rows_are_all_there() {
        let page = render(&view(3));
        assert!(!page.contains("<script"), "no script element at all");
        assert!(page.contains("&lt;script&gt;alert(0)&lt;/script&gt;"));
        assert!(page.contains("b&lt;motif&gt;"));
        assert!(page.contains("q&quot;1&#39;"));
        assert_eq!(page.matches("<tr class=\"closed\">").count(), 3);
        assert_eq!(page.matches("<tr class=\"open\">").count(), 1);
        assert_eq!(page.matches("<rect class=\"closed\"").count(), 3);
        assert!(page.contains("Recently closed (3 of 10, newest first)"));
        assert!(!page.contains("NaN"));
    }

    #[test]
    fn size_is_bounded_by_the_rows_not_the_names() {
        // The worst case: names of quotes, each escaped to six bytes, cut to
        // MAX_NAME_CHARS, in every row of both kinds.
        let name = clip_name(&"\"".repeat(100_000));
        let mut v = view(0);
        v.capacity = crate::live::MAX_CAPACITY;
        v.closed = (0..v.capacity)
            .map(|i| closed(i, 0, name.clone()))
            .collect();
        v.open = (0..v.capacity)
            .map(|i| OpenEpisode {
                motif: 1,
                channel: name.clone(),
                t_start: 1_700_000_000.0 + i as f64,
            })
            .collect();
        let page = render(&v);
        let per_row = page.len() / (2 * v.capacity);
        assert!(per_row < 2048, "{per_row} bytes per row");
        let empty = render(&LiveEpisodes::default());
        assert!(empty.contains("No episode yet."));
    }
}
