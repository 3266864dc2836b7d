//! The trace adapters against the reference's own (dsfb-database 0.1.1, the
//! dev-dependency): for every format, seeded traces with bad rows mixed in,
//! and the reference's example files, read from its source directory.
//!
//! On a generated trace, motifd reads the file WITH the bad rows; the
//! reference reads the same file WITHOUT them (it fails whole files, panics
//! in debug builds or emits non-finite residuals on several kinds of bad
//! row). The residual streams must be equal to the bit, and motifd must
//! reject exactly the bad rows, with their lines and reasons. Where the
//! reference skips a kind of bad row silently, it also reads the file with
//! just those rows, and must give the same stream as without them.

mod distill_support;
#[path = "../examples/trace_gen/formats.rs"]
mod formats;

use distill_support::{reference_source_dir, TempDir, EXAMPLE_FILES};
use dsfb_database::adapters::DatasetAdapter;
use dsfb_database::residual::ResidualStream;
use formats::Trace;
use motifd::distill::{distill_all, GenericOptions, Options, TraceFormat};
use std::path::Path;

/// (t bits, class, channel, value bits)
type Stream = Vec<(u64, &'static str, String, u64)>;

fn format_of(name: &str) -> TraceFormat {
    *TraceFormat::ALL.iter().find(|f| f.name() == name).unwrap()
}

fn generic_options(trace: &Trace) -> GenericOptions {
    let (time_col, value_col, channel_col, pre_residualized) = trace.generic.clone();
    GenericOptions {
        time_col,
        value_col,
        channel_col,
        pre_residualized,
    }
}

fn from_reference(stream: ResidualStream) -> Stream {
    stream
        .samples
        .into_iter()
        .map(|s| {
            (
                s.t.to_bits(),
                s.class.name(),
                s.channel.unwrap_or_default(),
                s.value.to_bits(),
            )
        })
        .collect()
}

/// The reference's adapter on `path`.
fn reference(format: &str, path: &Path, generic: &GenericOptions) -> Result<Stream, String> {
    use dsfb_database::adapters::*;
    let stream = match format {
        "pg-stat-statements" => postgres::load_pg_stat_statements(path),
        "ceb" => ceb::Ceb.load(path),
        "job" => job::Job.load(path),
        "tpcds" => tpcds::TpcDs.load(path),
        "snowset" => snowset::Snowset.load(path),
        "sqlshare" => sqlshare::SqlShare.load(path),
        "sqlshare-text" => sqlshare_text::SqlShareText.load(path),
        "otel" => otel::load_otel_db_spans(path),
        "generic" => generic_csv::load_generic_csv(
            path,
            &generic_csv::GenericCsvOptions {
                time_col: generic.time_col.clone(),
                value_col: generic.value_col.clone(),
                channel_col: generic.channel_col.clone(),
                pre_residualized: generic.pre_residualized,
            },
        ),
        other => panic!("{other}"),
    };
    stream.map(from_reference).map_err(|e| format!("{e:#}"))
}

struct Ours {
    stream: Stream,
    /// (line, reason)
    rejects: Vec<(u64, &'static str)>,
}

fn ours(format: &str, bytes: &[u8], options: &Options) -> Result<Ours, String> {
    let got = distill_all(format_of(format), options, [("trace".to_string(), bytes)])
        .map_err(|e| e.to_string())?;
    let stream = got
        .residuals
        .into_iter()
        .map(|(t, c, ch, v)| (t.to_bits(), c.name(), ch, v.to_bits()))
        .collect();
    let rejects = got
        .rejects
        .iter()
        .map(|(_, line, reason, detail)| {
            (
                line.unwrap_or_else(|| panic!("no line: {detail}")),
                reason.as_str(),
            )
        })
        .collect();
    Ok(Ours { stream, rejects })
}

/// The reference hands out the phase residuals of one bucket boundary in
/// `HashMap` order (snowset, sqlshare): it varies from run to run. Such a run
/// of same-time workload-phase residuals is put in channel order on both sides.
fn canonical(mut s: Stream) -> Stream {
    let mut i = 0;
    while i < s.len() {
        let mut j = i + 1;
        while j < s.len()
            && s[j].1 == "workload_phase"
            && s[i].1 == "workload_phase"
            && s[j].0 == s[i].0
        {
            j += 1;
        }
        s[i..j].sort_by(|a, b| a.2.cmp(&b.2));
        i = j;
    }
    s
}

fn assert_same(what: &str, ours: &Stream, theirs: &Stream) {
    let (ours, theirs) = (canonical(ours.clone()), canonical(theirs.clone()));
    if let Some(i) = (0..ours.len().max(theirs.len())).find(|&i| ours.get(i) != theirs.get(i)) {
        let show = |s: &Stream| {
            s.get(i).map_or("<end>".to_string(), |(t, c, ch, v)| {
                format!(
                    "t={} {c} {ch:?} value={} ({v:#x})",
                    f64::from_bits(*t),
                    f64::from_bits(*v)
                )
            })
        };
        panic!(
            "{what}: residual {i} of {} (reference: {}) differs\n  motifd:    {}\n  reference: {}",
            ours.len(),
            theirs.len(),
            show(&ours),
            show(&theirs)
        );
    }
}

/// Counts for the report line.
#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    both_refuse: usize,
    residuals: usize,
    bad_rows: usize,
    skip_checks: usize,
}

fn differential(format: &str, cases: u64) -> Tally {
    let dir = TempDir::new(format);
    let mut tally = Tally::default();
    for case in 0..cases {
        let rows = match format {
            "sqlshare-text" => [1200, 2500, 4000][case as usize % 3],
            _ => [20, 45, 120, 300][case as usize % 4],
        };
        let trace = formats::generate(format, case, rows, true);
        let generic = generic_options(&trace);
        let options = Options {
            max_record: 4096,
            generic: generic.clone(),
        };
        let (dirty, expected) = trace.render(|_| true);
        let (clean, _) = trace.render(|r| r.bad.is_none());
        let what = format!("{format} case {case} ({} rows)", trace.len());
        let theirs = reference(format, &dir.write("clean", &clean), &generic);
        let mine = ours(format, &dirty, &options);
        match (&mine, &theirs) {
            (Ok(m), Ok(t)) => {
                assert_same(&what, &m.stream, t);
                assert_eq!(m.rejects, expected, "{what}: rejected rows (line, reason)");
                tally.residuals += t.len();
            }
            (Err(_), Err(_)) => tally.both_refuse += 1,
            (m, t) => panic!(
                "{what}: motifd {:?}, reference {:?}",
                m.as_ref().map(|m| m.stream.len()),
                t.as_ref().map(|t| t.len())
            ),
        }
        tally.bad_rows += expected.len();
        // The bad rows the reference skips by itself: same stream with them.
        let (skippable, skip_bad) = trace.render(|r| r.bad.is_none_or(|b| b.reference_skips));
        if !skip_bad.is_empty() {
            let theirs_skipping = reference(format, &dir.write("skippable", &skippable), &generic);
            assert_eq!(
                theirs_skipping.as_ref().map(|s| canonical(s.clone())).ok(),
                theirs.as_ref().map(|s| canonical(s.clone())).ok(),
                "{what}: the reference does not skip these rows silently: {skip_bad:?}"
            );
            let mine_skipping = ours(format, &skippable, &options);
            assert_eq!(
                mine_skipping
                    .as_ref()
                    .map(|m| canonical(m.stream.clone()))
                    .ok(),
                mine.as_ref().map(|m| canonical(m.stream.clone())).ok(),
                "{what}"
            );
            tally.skip_checks += 1;
        }
        tally.cases += 1;
    }
    assert!(
        tally.both_refuse * 4 < tally.cases,
        "{format}: most cases are refused by both sides: {tally:?}"
    );
    eprintln!("{format}: {tally:?}");
    tally
}

const CASES: u64 = 24;

#[test]
fn pg_stat_statements_matches_the_reference() {
    differential("pg-stat-statements", CASES);
}

#[test]
fn ceb_matches_the_reference() {
    differential("ceb", CASES);
}

#[test]
fn job_matches_the_reference() {
    differential("job", CASES);
}

#[test]
fn tpcds_matches_the_reference() {
    differential("tpcds", CASES);
}

#[test]
fn snowset_matches_the_reference() {
    differential("snowset", CASES);
}

#[test]
fn sqlshare_matches_the_reference() {
    differential("sqlshare", CASES);
}

#[test]
fn sqlshare_text_matches_the_reference() {
    differential("sqlshare-text", CASES);
}

#[test]
fn otel_matches_the_reference() {
    differential("otel", CASES);
}

#[test]
fn generic_matches_the_reference() {
    differential("generic", CASES);
}

#[test]
fn the_reference_example_files_give_the_same_residuals() {
    let data = reference_source_dir().join("examples/data");
    let files = EXAMPLE_FILES;
    // Every example file is covered.
    let mut present: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    let mut covered: Vec<String> = files.iter().map(|f| f.1.to_string()).collect();
    covered.sort();
    assert_eq!(present, covered, "example files in {}", data.display());
    for (format, file) in files {
        let path = data.join(file);
        let theirs = reference(format, &path, &GenericOptions::default()).unwrap();
        let mine = ours(format, &std::fs::read(&path).unwrap(), &Options::default()).unwrap();
        assert!(!theirs.is_empty(), "{file}");
        assert_same(file, &mine.stream, &theirs);
        assert_eq!(mine.rejects, [], "{file}");
        eprintln!("{file}: {} residuals equal", theirs.len());
    }
}

/// The reference slices the skeleton at byte 64 for the channel name and
/// panics when that byte is inside a character; motifd cuts back to the
/// character boundary.
#[test]
fn a_sqlshare_channel_cut_inside_a_character() {
    let dir = TempDir::new("cut");
    let query = format!("select {}é", "a".repeat(56)); // skeleton: 'é' at bytes 63..65
    let text = format!(
        "user_id,runtime_seconds,submitted_at,query_text\nu,1.0,0,{query}\nu,2.0,1,{query}\n"
    );
    let path = dir.write("cut.csv", text.as_bytes());
    let theirs =
        std::panic::catch_unwind(|| dsfb_database::adapters::sqlshare::SqlShare.load(&path));
    assert!(
        theirs.is_err(),
        "the reference slices inside 'é' and panics"
    );
    let mine = ours("sqlshare", text.as_bytes(), &Options::default()).unwrap();
    let channel = format!("u#select {}", "a".repeat(56));
    assert_eq!(mine.stream.len(), 2);
    assert!(
        mine.stream.iter().all(|s| s.2 == channel),
        "{:?}",
        mine.stream
    );
}
