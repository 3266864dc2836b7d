//! Raw bytes sent to a real `ScrapeServer` over loopback.
//!
//! One server (127.0.0.1, port 0) is started per process. Each input is written
//! on a fresh connection, whatever the server answers within a short wait is
//! read and the connection dropped. Then a well-formed `GET /metrics` on
//! another fresh connection must still be answered `200` with a body: no input
//! may crash the server, wedge its workers or leave it refusing scrapers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use motifd_exporter::{ExporterCounters, Liveness, ScrapeServer, ServerConfig, SnapshotHandle};
use motifd_exporter::{MotifStats, Snapshot};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long an input's connection waits for an answer before it is dropped.
const ANSWER_WAIT: Duration = Duration::from_millis(15);
/// Patience of the check scrape: generous, the machine may be loaded.
const SCRAPE_WAIT: Duration = Duration::from_secs(10);

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let mut snapshot = Snapshot::default();
        snapshot.motifs.push(MotifStats::new("cache_collapse"));
        let config = ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            idle_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(2),
            ..ServerConfig::default()
        };
        let server = ScrapeServer::start(
            config,
            SnapshotHandle::new(snapshot),
            Liveness::default(),
            Arc::new(ExporterCounters::default()),
        )
        .expect("scrape server starts on 127.0.0.1:0");
        // Serves for the whole life of the fuzzing process.
        Box::leak(Box::new(server)).local_addr()
    })
}

fn send_input(addr: SocketAddr, data: &[u8]) {
    let Ok(mut conn) = TcpStream::connect(addr) else {
        panic!("cannot connect to the scrape server");
    };
    let _ = conn.set_nodelay(true);
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    if conn.write_all(data).is_err() {
        return; // the server closed the connection: allowed
    }
    let _ = conn.set_read_timeout(Some(ANSWER_WAIT));
    let mut buf = [0u8; 16 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return,
            Err(_) => return,
        }
    }
}

fn scrape(addr: SocketAddr) -> Vec<u8> {
    let mut conn = TcpStream::connect(addr).expect("connect for the check scrape");
    conn.set_read_timeout(Some(SCRAPE_WAIT)).unwrap();
    conn.set_write_timeout(Some(SCRAPE_WAIT)).unwrap();
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n")
        .expect("send the check scrape");
    let mut answer = Vec::new();
    if let Err(e) = conn.read_to_end(&mut answer) {
        panic!("check scrape read failed after {} bytes: {e}", answer.len());
    }
    answer
}

fuzz_target!(|data: &[u8]| {
    let addr = server();
    send_input(addr, data);
    let answer = scrape(addr);
    let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
    assert!(
        answer.starts_with(b"HTTP/1.1 200 "),
        "check scrape answered {head:?}"
    );
    let body_at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    assert!(
        answer[body_at + 4..].starts_with(b"# HELP"),
        "body does not start with a metric family"
    );
});
