//! The atomic textfile writer: content, atomicity, periodic and final
//! writes, error counting.

mod common;

use std::sync::Arc;
use std::time::Duration;

use motifd_exporter::textfile::write_atomic;
use motifd_exporter::{
    render_to_vec, ExporterCounters, ExpositionFormat, SnapshotHandle, SnapshotPublisher,
    TextfileConfig, TextfileWriter,
};

#[test]
fn write_atomic_replaces_and_leaves_no_temp_file() {
    let dir = common::TempDir::new("atomic");
    let path = dir.0.join("motifd.prom");
    write_atomic(&path, b"a 1\n").unwrap();
    write_atomic(&path, b"a 2\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"a 2\n");
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("motifd.prom")]);
}

#[test]
fn readers_never_see_a_partial_file() {
    let dir = common::TempDir::new("partial");
    let path = dir.0.join("motifd.prom");
    let big_a = vec![b'a'; 256 * 1024];
    let big_b = vec![b'b'; 256 * 1024];
    write_atomic(&path, &big_a).unwrap();
    let writer = {
        let (path, a, b) = (path.clone(), big_a.clone(), big_b.clone());
        std::thread::spawn(move || {
            for i in 0..100 {
                write_atomic(&path, if i % 2 == 0 { &b } else { &a }).unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        let content = std::fs::read(&path).unwrap();
        assert!(
            content == big_a || content == big_b,
            "partial file of {} bytes",
            content.len()
        );
        reads += 1;
    }
    writer.join().unwrap();
    assert!(reads > 0);
}

#[test]
fn periodic_writer_writes_latest_snapshot_and_a_final_one() {
    let dir = common::TempDir::new("periodic");
    let path = dir.0.join("motifd.prom");
    let handle = SnapshotHandle::new(common::fresh_snapshot());
    let counters = Arc::new(ExporterCounters::default());
    let mut config = TextfileConfig::new(&path);
    config.interval = Duration::from_millis(50);
    let writer = TextfileWriter::start(config.clone(), handle.clone(), counters.clone()).unwrap();
    common::wait_for("first write", Duration::from_secs(5), || {
        path.exists().then_some(())
    });
    let mut publisher = SnapshotPublisher::new(handle.clone());
    publisher.publish_with(|s| *s = common::busy_snapshot());
    common::wait_for(
        "a write of the new snapshot",
        Duration::from_secs(5),
        || {
            let text = std::fs::read_to_string(&path).ok()?;
            text.contains("dsfb_samples_received_total 1234567")
                .then_some(())
        },
    );
    publisher.publish_with(|s| s.received_total = 99);
    // Whatever the timing of the periodic writes, the file left behind is
    // the final write made by stop().
    writer.stop();
    let text = std::fs::read(&path).unwrap();
    let stats = counters.snapshot();
    // Expected: the classic rendering of the last snapshot with the counts as
    // they were before that final write was counted.
    let mut before = stats.clone();
    before.textfile_writes_total -= 1;
    assert_eq!(
        text,
        render_to_vec(
            &handle.load(),
            &before,
            &config.render,
            ExpositionFormat::Classic
        )
    );
    assert!(
        !String::from_utf8(text).unwrap().contains("process_"),
        "no process_* in textfiles"
    );
    assert_eq!(stats.textfile_write_errors_total, 0);
}

#[test]
fn write_errors_are_counted_not_fatal() {
    let dir = common::TempDir::new("errors");
    let path = dir.0.join("missing-dir").join("motifd.prom");
    let counters = Arc::new(ExporterCounters::default());
    let mut config = TextfileConfig::new(&path);
    config.interval = Duration::from_millis(20);
    let writer =
        TextfileWriter::start(config, SnapshotHandle::default(), counters.clone()).unwrap();
    common::wait_for("three failed writes", Duration::from_secs(5), || {
        (counters.snapshot().textfile_write_errors_total >= 3).then_some(())
    });
    writer.stop();
    let stats = counters.snapshot();
    assert_eq!(stats.textfile_writes_total, 0);
    assert!(!path.exists());
}
