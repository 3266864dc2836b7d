//! The scrape server's limits come from the config file: a connection cap of
//! 2 answers a third connection 503, and an idle timeout closes silent
//! connections; both are counted by reason in
//! `dsfb_scrape_connections_closed_total`.
//!
//! The server releases a connection its client closed only once it has read
//! that close, at a moment no client can see. So this test never counts on a
//! closed connection being gone: it holds one keep-alive connection, reads the
//! open-connection gauge through it until that connection is the only one, and
//! reasons from there.

mod common;

use common::http::HttpConnection;
use common::*;
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

fn closed(reason: &str) -> String {
    format!("dsfb_scrape_connections_closed_total{{reason=\"{reason}\"}}")
}

/// Scrapes over `conn` until the open-connection gauge counts only `conn`.
fn until_alone(conn: &mut HttpConnection) -> Metrics {
    poll(Duration::from_secs(10), "the only open connection", || {
        let response = conn.get("/metrics").ok()?;
        assert_eq!(response.status, 200, "{}", response.body);
        let m = Metrics::parse(&response.body);
        (m.value("dsfb_scrape_connections_open") == 1.0).then_some(m)
    })
}

#[test]
fn connection_cap_and_idle_timeout_come_from_the_config_file() {
    let dir = Scratch::new("scrape-limits");
    let config = dir.write(
        "motifd.toml",
        format!(
            "max_scrape_connections = 2\nscrape_idle_timeout = {}\n",
            IDLE_TIMEOUT.as_secs_f64()
        ),
    );
    let daemon = Daemon::listening(&["--config", config.to_str().unwrap()]);
    daemon.wait_for_series("dsfb_scrape_connections_open");

    // One kept connection, alone on the server: one slot is left.
    let (mut kept, _, mut refused) =
        HttpConnection::admitted(daemon.metrics_addr(), "/metrics", Duration::from_secs(10));
    let before = until_alone(&mut kept);
    assert_eq!(before.value(&closed("idle_timeout")), 0.0);
    let quiet_since = Instant::now();

    // A silent connection takes it: the server accepts in order, so by the
    // time it accepts the scrape below, the cap is full.
    let mut silent = TcpStream::connect(daemon.metrics_addr()).unwrap();
    let (status, _) = http_get(daemon.metrics_addr(), "/metrics").unwrap();
    assert_eq!(status, 503);
    refused += 1;

    // The idle timeout closes both.
    for conn in [kept.stream(), &mut silent] {
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(conn.read(&mut buf).unwrap_or(0), 0, "not closed");
    }
    let waited = quiet_since.elapsed();
    // The server's timer started when it read the last request, a little
    // before the client had its answer: half the timeout is a floor that
    // still tells a timeout from an immediate close.
    assert!(
        waited >= IDLE_TIMEOUT / 2 && waited < IDLE_TIMEOUT * 5,
        "closed after {waited:?}"
    );

    // Their slots free once the server has let go of them too; a kept
    // connection then reads the counters without adding stale ones.
    let (mut reader, _, more_refused) =
        HttpConnection::admitted(daemon.metrics_addr(), "/healthz", Duration::from_secs(10));
    refused += more_refused;
    let m = poll(Duration::from_secs(10), "both idle closes counted", || {
        let m = until_alone(&mut reader);
        (m.value(&closed("idle_timeout")) == 2.0).then_some(m)
    });
    assert_eq!(m.value(&closed("connection_limit")), f64::from(refused));
    assert_eq!(m.value(&closed("write_timeout")), 0.0);
    assert_eq!(m.value(&closed("unread_responses")), 0.0);
}
