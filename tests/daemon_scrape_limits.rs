//! The scrape server's limits come from the config file: a connection cap of
//! 2 answers a third connection 503, and a 0.5 s idle timeout closes silent
//! connections; both are counted by reason in
//! `dsfb_scrape_connections_closed_total`.

mod common;

use common::*;
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn closed(reason: &str) -> String {
    format!("dsfb_scrape_connections_closed_total{{reason=\"{reason}\"}}")
}

#[test]
fn connection_cap_and_idle_timeout_come_from_the_config_file() {
    let dir = Scratch::new("scrape-limits");
    let config = dir.write(
        "motifd.toml",
        "max_scrape_connections = 2\nscrape_idle_timeout = 0.5\n",
    );
    let daemon = Daemon::run(&[
        "--config",
        config.to_str().unwrap(),
        "--ingest-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let before = daemon.wait_for_series("dsfb_scrape_connections_open");
    assert_eq!(before.value(&closed("idle_timeout")), 0.0);

    // Two silent connections fill the cap: a scrape beside them gets 503.
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(daemon.metrics_addr()).unwrap())
        .collect();
    let opened = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    let (status, _) = http_get(daemon.metrics_addr(), "/metrics").unwrap();
    assert_eq!(status, 503);

    // The idle timeout closes both.
    for conn in &mut idle {
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(conn.read(&mut buf).unwrap_or(0), 0, "not closed");
    }
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    // Their slots free once the server has let go of them too.
    let mut refused = 1;
    poll(Duration::from_secs(10), "a free connection slot", || {
        let (status, _) = http_get(daemon.metrics_addr(), "/healthz").ok()?;
        refused += u32::from(status == 503);
        (status == 200).then_some(())
    });
    let m = daemon.wait_metrics(Duration::from_secs(10), "the closes counted", |m| {
        m.value(&closed("idle_timeout")) == 2.0
    });
    assert_eq!(m.value(&closed("connection_limit")), f64::from(refused));
    assert_eq!(m.value(&closed("write_timeout")), 0.0);
    assert_eq!(m.value(&closed("unread_responses")), 0.0);
    // The scrape that read these metrics is the one open connection.
    assert_eq!(m.value("dsfb_scrape_connections_open"), 1.0);
}
