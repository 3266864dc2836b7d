//! `motifd` with no arguments: the embedded demo on 127.0.0.1:9184 — banner,
//! live episodes in /metrics and on stdout, SIGTERM → exit 0. The port is fixed,
//! so the test runs only when it is free (and says so when it is not).

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn motifd_without_arguments_runs_the_demo() {
    let addr: SocketAddr = "127.0.0.1:9184".parse().unwrap();
    if TcpListener::bind(addr).is_err() {
        println!("SKIPPED: {addr} is in use; the embedded default cannot be tested here");
        return;
    }
    let mut cmd = motifd();
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut daemon = Daemon::spawn(cmd);
    assert_eq!(daemon.metrics, Some(addr), "{}", daemon.stderr());
    assert_eq!(daemon.ingest, None);
    let stdout = daemon.child.stdout.take().unwrap();
    let out = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&out);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });

    // The banner follows the startup line.
    daemon.wait_for_log("Ctrl-C", Duration::from_secs(10));
    let banner = daemon.stderr();
    for needle in [
        "http://127.0.0.1:9184/metrics",
        "curl -s http://127.0.0.1:9184/metrics",
        "--ingest-listen",
    ] {
        assert!(
            banner.contains(needle),
            "banner lacks {needle:?}:\n{banner}"
        );
    }

    let m = daemon.wait_metrics(Duration::from_secs(20), "demo episodes", |m| {
        m.sum("dsfb_episodes_total") >= 1.0
    });
    m.assert_conserved();
    let shown = poll(Duration::from_secs(10), "an episode on stdout", || {
        let lines = out.lock().unwrap().clone();
        (!lines.is_empty()).then_some(lines)
    });
    let e: serde_json::Value = serde_json::from_str(&shown[0]).expect("a JSON episode line");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let t_end = e["t_end"].as_f64().unwrap();
    assert!(
        (t_end - now).abs() < 3600.0,
        "demo times are shifted to now: t_end {t_end}, now {now}"
    );
    let elapsed = daemon.started.elapsed();
    let stop = daemon.terminate();
    println!(
        "demo: {} episodes after {elapsed:.1?} ({}), first on stdout: {}; SIGTERM → exit 0 in {stop:.1?}",
        m.sum("dsfb_episodes_total"),
        m.summary(),
        shown[0]
    );
}
