//! The live page of a running daemon: `/episodes.json` holds the last
//! `live_episodes` closed episodes — the same ones, in the same order, as the
//! end of the episode log — and the open ones; `/` lists the same rows with
//! every channel name escaped.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const RING: usize = 5;

fn episodes_json(d: &Daemon) -> serde_json::Value {
    let (status, body) = http_get(d.metrics_addr(), "/episodes.json").expect("GET /episodes.json");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("valid JSON")
}

#[test]
fn the_ring_holds_the_last_closed_episodes_and_the_open_ones() {
    let dir = Scratch::new("live-page");
    let config = dir.write("motifd.toml", format!("live_episodes = {RING}\n"));
    let d = Daemon::run(&[
        "--config",
        config.to_str().unwrap(),
        "--ingest-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--idle-flush",
        "1",
    ]);
    let mut feed = TcpStream::connect(d.ingest_addr()).unwrap();
    feed.write_all(&std::fs::read(fixture("demo.csv")).unwrap())
        .unwrap();
    // A burst on a hostile channel name, still open when the input stops.
    feed.write_all(
        b"1700000950,contention,\"<script>alert(1)</script>\",0.0\n\
          1700000951,contention,\"<script>alert(1)</script>\",2.0\n",
    )
    .unwrap();
    drop(feed);

    let golden = std::fs::read_to_string(fixture("golden/demo.episodes.jsonl")).unwrap();
    let golden: Vec<serde_json::Value> = golden
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // After the idle flush everything is released: every demo episode has
    // closed and the burst has opened one.
    let v = poll(
        Duration::from_secs(30),
        "all episodes closed and one open",
        || {
            let v = episodes_json(&d);
            (v["closed_total"] == golden.len() && v["open_total"] == 1).then_some(v)
        },
    );
    let closed = v["closed"].as_array().unwrap();
    assert_eq!(closed.len(), RING);
    for (got, want) in closed.iter().zip(&golden[golden.len() - RING..]) {
        for key in [
            "motif",
            "channel",
            "t_start",
            "t_end",
            "peak",
            "samples",
            "closed_by",
        ] {
            assert_eq!(got[key], want[key], "{key} of {got}");
        }
    }
    let open = &v["open"][0];
    assert_eq!(open["channel"], "<script>alert(1)</script>");
    assert_eq!(open["motif"], "contention_ramp");
    assert_eq!(open["t_start"], 1_700_000_951.0);
    assert_eq!(v["now"], 1_700_000_951.0);

    let (status, html) = http_get(d.metrics_addr(), "/").unwrap();
    assert_eq!(status, 200);
    assert_eq!(html.matches("<tr class=\"closed\">").count(), RING);
    assert_eq!(html.matches("<tr class=\"open\">").count(), 1);
    assert!(html.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
    assert!(!html.contains("<script"));
}

#[test]
fn live_episodes_is_validated() {
    let dir = Scratch::new("live-page-config");
    let config = dir.write("motifd.toml", "live_episodes = 1001\n");
    let out = motifd()
        .args(["run", "--config", config.to_str().unwrap(), "--input", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("live_episodes must be at most 1000, got 1001"),
        "{stderr}"
    );
}
