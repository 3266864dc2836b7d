//! Textfile faults while the daemon runs: its directory disappears, then a
//! regular file takes the directory's place (the tests run as root in CI, so
//! permission bits would not stop a write; these do). Each failed write must be
//! counted in `dsfb_textfile_write_errors_total` and logged, the previous good
//! count of writes must stand still, `/metrics` and ingest must go on, and once
//! the directory is back the next write must succeed, be logged as a recovery,
//! and leave a valid exposition holding the current counts.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_vanished_textfile_directory_is_counted_and_writing_resumes_when_it_returns() {
    let dir = Scratch::new("faults-textfile");
    let prom_dir = dir.path("prom");
    std::fs::create_dir(&prom_dir).unwrap();
    let textfile = prom_dir.join("motifd.prom");
    let records = csv_records("demo.csv");
    let third = records.len() / 3;
    let mut daemon = Daemon::listening(&[
        "--textfile",
        textfile.to_str().unwrap(),
        "--textfile-interval",
        "0.1",
    ]);
    let mut producer = connect(daemon.ingest_addr());
    let mut send = |records: &[String]| {
        let text: String = records.iter().map(|r| format!("{r}\n")).collect();
        producer.write_all(text.as_bytes()).unwrap();
    };
    let m = daemon.wait_metrics(LIMIT, "a first textfile write", |m| {
        m.get("dsfb_textfile_writes_total")
            .is_some_and(|w| w >= 1.0)
    });
    assert_eq!(m.textfile_errors(), 0);
    assert!(textfile.exists());

    // 1. The directory vanishes (the file with it). Renamed away first, in
    // one step: removed in place, it could gain the daemon's next temp file
    // between being emptied and being removed.
    let gone = dir.path("prom.gone");
    std::fs::rename(&prom_dir, &gone).unwrap();
    std::fs::remove_dir_all(&gone).unwrap();
    let m = daemon.wait_metrics(LIMIT, "textfile errors (no directory)", |m| {
        m.textfile_errors() >= 3
    });
    let writes_before = m.textfile_writes();
    daemon.wait_for_log("writing textfile", LIMIT);
    assert!(
        daemon.stderr().contains("No such file or directory"),
        "{}",
        daemon.stderr()
    );
    // Ingest and scrapes go on meanwhile.
    send(&records[..third]);
    let m = daemon.wait_metrics(LIMIT, "the first third", |m| m.received() == third as u64);
    m.assert_conserved();

    // 2. A regular file where the directory was: ENOTDIR.
    std::fs::write(&prom_dir, b"not a directory\n").unwrap();
    let errors = m.textfile_errors();
    let m = daemon.wait_metrics(LIMIT, "textfile errors (parent is a file)", |m| {
        m.textfile_errors() >= errors + 3
    });
    daemon.wait_for_log("Not a directory", LIMIT);
    assert_eq!(
        m.textfile_writes(),
        writes_before,
        "no write succeeds while the directory is missing"
    );
    send(&records[third..2 * third]);
    let m = daemon.wait_metrics(LIMIT, "the second third", |m| {
        m.received() == 2 * third as u64
    });
    m.assert_conserved();
    let (status, body) = http_get(daemon.metrics_addr(), "/healthz").unwrap();
    assert_eq!(status, 200, "/healthz: {body}");
    assert!(!daemon.stderr().contains("written again"));

    // 3. The directory comes back: the next write succeeds.
    std::fs::remove_file(&prom_dir).unwrap();
    std::fs::create_dir(&prom_dir).unwrap();
    let m = daemon.wait_metrics(
        LIMIT,
        "a textfile write after the directory returned",
        |m| m.textfile_writes() > writes_before,
    );
    let errors_total = m.textfile_errors();
    daemon.wait_for_log("written again after", LIMIT);
    let text = std::fs::read_to_string(&textfile).unwrap();
    check_classic_format(&text).unwrap_or_else(|e| panic!("textfile: {e}"));
    let in_file = Metrics::parse(&text);
    assert!(
        in_file.received() >= third as u64 * 2,
        "the textfile holds current counts: {}",
        in_file.summary()
    );
    // The writer keeps writing, so a listing may catch a temporary file of a
    // write in progress; one left behind would stay, so the listing must
    // come down to the textfile alone.
    let mut listing = Vec::new();
    let clean = poll_opt(LIMIT, || {
        listing = std::fs::read_dir(&prom_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>();
        (listing == ["motifd.prom"]).then_some(())
    });
    assert!(clean.is_some(), "temporary file left behind: {listing:?}");

    send(&records[2 * third..]);
    let m = daemon.wait_metrics(LIMIT, "every record", |m| {
        m.received() == records.len() as u64
    });
    m.assert_conserved();
    assert_eq!(m.textfile_errors(), errors_total, "no error once back");
    daemon.terminate();
    let last = Metrics::parse(&std::fs::read_to_string(&textfile).unwrap());
    assert_eq!(last.received(), records.len() as u64, "final textfile");
    println!(
        "textfile: {} failed writes counted while the directory was missing or a file, {} writes before, writing resumed; {} samples conserved",
        errors_total,
        writes_before,
        m.received()
    );
}
