//! `/episodes.json`: the live view for scripts. One object:
//!
//! ```json
//! {"now":1700000020.0,"open_total":1,"closed_total":10,"capacity":100,
//!  "open":[{"motif":"m","channel":"c","t_start":1700000010.0}],
//!  "closed":[{"motif":"m","channel":"c","t_start":…,"t_end":…,"peak":…,"samples":3,"closed_by":"dwell"}]}
//! ```
//!
//! `closed` is oldest first (the order episodes closed), `open` longest open
//! first; a non-finite number is `null`.

use super::LiveEpisodes;

/// Renders the JSON document.
pub fn render(v: &LiveEpisodes) -> String {
    let mut out = String::with_capacity(256 + 200 * (v.closed.len() + v.open.len()));
    out.push_str("{\"now\":");
    number(&mut out, v.now);
    out.push_str(&format!(
        ",\"open_total\":{},\"closed_total\":{},\"capacity\":{},\"open\":[",
        v.open_total, v.closed_total, v.capacity
    ));
    for (i, e) in v.open.iter().enumerate() {
        episode_head(&mut out, i, motif(v, e.motif), &e.channel);
        out.push_str(",\"t_start\":");
        number(&mut out, e.t_start);
        out.push('}');
    }
    out.push_str("],\"closed\":[");
    for (i, e) in v.closed.iter().enumerate() {
        episode_head(&mut out, i, motif(v, e.motif), &e.channel);
        for (key, x) in [("t_start", e.t_start), ("t_end", e.t_end), ("peak", e.peak)] {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            number(&mut out, x);
        }
        out.push_str(&format!(
            ",\"samples\":{},\"closed_by\":\"{}\"}}",
            e.samples, e.closed_by
        ));
    }
    out.push_str("]}\n");
    out
}

/// Opens the `i`-th episode object of a list with its motif and channel.
fn episode_head(out: &mut String, i: usize, motif: &str, channel: &str) {
    out.push_str(if i == 0 {
        "{\"motif\":"
    } else {
        ",{\"motif\":"
    });
    string(out, motif);
    out.push_str(",\"channel\":");
    string(out, channel);
}

fn motif(v: &LiveEpisodes, m: u16) -> &str {
    v.motifs.get(usize::from(m)).map_or("?", String::as_str)
}

fn number(out: &mut String, x: f64) {
    if x.is_finite() {
        out.push_str(ryu::Buffer::new().format_finite(x));
    } else {
        out.push_str("null");
    }
}

/// A JSON string: quotes, backslashes and control characters escaped; `<` too,
/// so the document stays inert if a browser is ever talked into reading it as
/// HTML.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{ClosedEpisode, OpenEpisode};
    use std::sync::Arc;

    #[test]
    fn escapes_names_and_writes_null_for_non_finite() {
        let v = LiveEpisodes {
            motifs: vec!["m".into()],
            closed: vec![ClosedEpisode {
                motif: 0,
                channel: Arc::from("a\"b\\c\n<x>"),
                t_start: 1.5,
                t_end: 2.0,
                peak: f64::INFINITY,
                samples: 4,
                closed_by: "dwell",
            }],
            closed_total: 1,
            open: vec![OpenEpisode {
                motif: 0,
                channel: Arc::from("o"),
                t_start: 3.0,
            }],
            open_total: 1,
            now: f64::NAN,
            capacity: 10,
        };
        assert_eq!(
            render(&v),
            "{\"now\":null,\"open_total\":1,\"closed_total\":1,\"capacity\":10,\
             \"open\":[{\"motif\":\"m\",\"channel\":\"o\",\"t_start\":3.0}],\
             \"closed\":[{\"motif\":\"m\",\"channel\":\"a\\\"b\\\\c\\u000a\\u003cx>\",\
             \"t_start\":1.5,\"t_end\":2.0,\"peak\":null,\"samples\":4,\"closed_by\":\"dwell\"}]}\n"
        );
    }
}
