//! node_exporter's textfile collector (Debian package
//! `prometheus-node-exporter`) reads the file our textfile writer produces:
//! no scrape error, no logged error, every series and every TYPE intact.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{fetch, wait_for, ChildGuard, TempDir};
use motifd_exporter::{ExporterCounters, SnapshotHandle, TextfileConfig, TextfileWriter};

/// `name -> count` of sample names (without labels) in an exposition.
fn sample_names(text: &str) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = line.split(['{', ' ']).next().unwrap();
        *out.entry(name.to_string()).or_default() += 1;
    }
    out
}

#[test]
#[ignore = "needs prometheus-node-exporter (Debian package)"]
fn node_exporter_reads_our_textfile() {
    let binary = common::require_program(
        "prometheus-node-exporter",
        "the Debian package prometheus-node-exporter",
    );
    let dir = TempDir::new("textfile");
    let textfiles = dir.0.join("textfiles");
    std::fs::create_dir(&textfiles).unwrap();
    let path = textfiles.join("motifd.prom");
    let writer = TextfileWriter::start(
        TextfileConfig::new(&path),
        SnapshotHandle::new(common::tricky_snapshot()),
        Arc::new(ExporterCounters::default()),
    )
    .unwrap();
    wait_for("the textfile", Duration::from_secs(5), || {
        path.exists().then_some(())
    });
    writer.stop();
    let file = std::fs::read_to_string(&path).unwrap();

    let log_path = dir.0.join("node_exporter.log");
    let mut started = None;
    for _ in 0..3 {
        let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap();
        // Its own process_*/go_* metrics stay on: our textfile must not clash with them.
        let mut guard = ChildGuard::spawn(
            "node_exporter",
            Command::new(&binary)
                .args(["--collector.disable-defaults", "--collector.textfile"])
                .arg(format!(
                    "--collector.textfile.directory={}",
                    textfiles.display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log_path).unwrap()),
        );
        let up = wait_for("node_exporter", Duration::from_secs(15), || {
            if let Ok(Some(_)) = guard.child.try_wait() {
                return Some(None);
            }
            fetch(addr, "/metrics").map(Some)
        });
        if let Some(metrics) = up {
            started = Some((guard, metrics));
            break;
        }
    }
    let (_guard, metrics) = started.expect("node_exporter did not start");

    assert!(
        metrics.lines().any(|l| l == "node_textfile_scrape_error 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("node_textfile_mtime_seconds{"),
        "file not read"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains("level=error"), "{log}");

    let exposed = sample_names(&metrics);
    for (name, count) in sample_names(&file) {
        assert_eq!(exposed.get(&name), Some(&count), "{name}");
    }
    for type_line in file.lines().filter(|l| l.starts_with("# TYPE ")) {
        assert!(metrics.lines().any(|l| l == type_line), "lost: {type_line}");
    }
    // The escaped label values survive the classic parser.
    assert!(metrics.contains("motif=\"quote\\\"d\""), "{metrics}");
}
