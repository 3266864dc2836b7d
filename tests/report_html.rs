//! `motifd report`: one self-contained HTML file (nothing fetched from
//! elsewhere), one table row per episode, the counters of the run, the grammar,
//! and hostile channel names shown as text. The browser test
//! (`tests/browser_pages.rs`) loads the same kind of file in Chromium.

mod common;

use common::{fixture, motifd, Scratch};

const HOSTILE: &str = "<script>alert(1)</script>";

/// demo.csv, then a second file whose channel names are markup.
fn inputs(scratch: &Scratch) -> std::path::PathBuf {
    scratch.write(
        "hostile.csv",
        format!(
            "t,class,channel,value\n\
             1700000950,contention,\"{HOSTILE}\",0.0\n\
             1700000951,contention,\"{HOSTILE}\",2.0\n\
             1700000960,contention,\"{HOSTILE}\",0.0\n\
             1700000961,contention,\"{HOSTILE}\",0.0\n\
             1700000962,contention,\"<img src=x onerror=alert(2)>\",0.0\n\
             1700000963,nosuchclass,x,1.0\n\
             not a record\n"
        ),
    )
}

/// Every start tag: `<` followed by a letter up to the next `>` (text holds
/// `&lt;` instead, and the sorter's comparisons have a space after `<`).
fn tags(html: &str) -> Vec<&str> {
    let b = html.as_bytes();
    (0..b.len().saturating_sub(1))
        .filter(|&i| b[i] == b'<' && b[i + 1].is_ascii_alphabetic())
        .map(|i| &html[i..i + html[i..].find('>').unwrap_or(html.len() - i)])
        .collect()
}

#[test]
fn the_report_is_self_contained_and_lists_every_episode() {
    let scratch = Scratch::new("report-html");
    let hostile = inputs(&scratch);
    let out_path = scratch.path("report.html");
    let out = motifd()
        .arg("report")
        .arg(fixture("demo.csv"))
        .arg(&hostile)
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&out_path).unwrap();

    // Nothing loaded from anywhere: no tag with a src or href attribute, no
    // CSS url() or @import.
    for tag in tags(&html) {
        for attr in [" src=", " href=", " xlink:href="] {
            assert!(!tag.contains(attr), "{tag}");
        }
    }
    for needle in ["url(", "@import"] {
        assert!(!html.contains(needle), "the report contains {needle:?}");
    }
    // The only script is the table sorter; markup in names is text.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains(HOSTILE) && !html.contains("<img"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // One row per episode: demo.csv's golden episodes plus the hostile channel's.
    let golden = std::fs::read_to_string(fixture("golden/demo.episodes.jsonl")).unwrap();
    let expected = golden.lines().count() + 1;
    let body = &html[html.find("<table id=\"episodes\">").unwrap()..];
    let body = &body[..body.find("</table>").unwrap()];
    assert_eq!(body.matches("<tr><td>").count(), expected);
    assert!(body.contains("<td>contention_ramp</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));

    // Counters of the run: 12,144 demo records + 6 hostile-file records + 1
    // line with too few fields; one unknown class.
    let counter = |name: &str| -> u64 {
        let row = format!("<tr><th>{name}</th><td class=\"n\">");
        let at = html
            .find(&row)
            .unwrap_or_else(|| panic!("no counter {name}"))
            + row.len();
        html[at..at + html[at..].find('<').unwrap()]
            .parse()
            .unwrap()
    };
    assert_eq!(counter("received"), 12_144 + 7);
    assert_eq!(counter("rejected"), 2);
    assert_eq!(counter("rejected: unknown_class"), 1);
    assert_eq!(counter("rejected: missing_field"), 1);
    assert_eq!(counter("dropped out of window"), 0);

    // One picture per class, and the default grammar's five motifs.
    assert_eq!(html.matches("<svg ").count(), 5);
    for motif in ["plan_regression_onset", "workload_phase_transition"] {
        assert!(html.contains(&format!("<tr><td>{motif}</td>")));
    }
}

#[test]
fn a_grammar_file_is_shown_as_given() {
    let scratch = Scratch::new("report-grammar");
    let grammar = scratch.write(
        "g.toml",
        "[[motif]]\nname = \"spiky\"\nclass = \"contention\"\nrho = 0.9\nsigma0 = 0.01\n\
         drift_threshold = 0.05\nslew_threshold = 0.5\nmin_dwell_seconds = 1\n",
    );
    let out_path = scratch.path("r.html");
    let out = motifd()
        .arg("report")
        .arg("--grammar")
        .arg(&grammar)
        .arg(fixture("demo.csv"))
        .arg("-o")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&out_path).unwrap();
    assert!(html.contains("name = &quot;spiky&quot;"));
    assert_eq!(html.matches("<svg ").count(), 1, "one class, one picture");
    // Every other class is unknown to this grammar: rejected and counted.
    assert!(html.contains("<tr><th>rejected: unknown_class</th><td class=\"n\">"));
}
