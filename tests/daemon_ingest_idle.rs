//! A TCP producer that connects and sends nothing is disconnected after
//! `ingest_idle_timeout`, counted, and its slot goes to the next producer.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn silent_producers_are_closed_after_the_idle_timeout_and_free_their_slots() {
    let dir = Scratch::new("ingest-idle");
    let config = dir.write(
        "motifd.toml",
        "max_producers = 2\ningest_idle_timeout = 0.5\n",
    );
    let daemon = Daemon::listening(&["--config", config.to_str().unwrap()]);
    daemon.wait_for_series("dsfb_ingest_producers_idle_closed_total");

    // Two silent producers take both slots; the daemon closes them.
    let opened = Instant::now();
    let mut silent: Vec<_> = (0..2).map(|_| connect(daemon.ingest_addr())).collect();
    for conn in &mut silent {
        conn.set_read_timeout(Some(LIMIT)).unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(conn.read(&mut byte).unwrap_or(0), 0, "not closed");
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(400),
        "{:?}",
        opened.elapsed()
    );
    let m = daemon.wait_metrics(LIMIT, "both closes counted", |m| {
        m.value("dsfb_ingest_producers_idle_closed_total") == 2.0
    });
    assert_eq!(m.producers_refused(), 0);

    // A producer with something to send is served.
    let records = csv_records("demo.csv");
    let mut producer = connect(daemon.ingest_addr());
    let text: String = records[..100].iter().map(|r| format!("{r}\n")).collect();
    producer.write_all(text.as_bytes()).unwrap();
    daemon.wait_metrics(LIMIT, "its records", |m| m.received() == 100);
    let m = daemon.scrape();
    assert_eq!(m.producers_refused(), 0, "no slot was still taken");
}
