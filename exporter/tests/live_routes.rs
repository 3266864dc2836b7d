//! `/` and `/episodes.json` over a real socket: the plain index and a 404
//! until the daemon publishes a live view, then the live page and its JSON,
//! both marked uncacheable.

mod common;

use std::sync::Arc;

use common::HttpClient;
use motifd_exporter::live::{clip_name, ClosedEpisode, OpenEpisode};
use motifd_exporter::{
    ExporterCounters, LiveEpisodes, LiveHandle, Liveness, ScrapeServer, ServerConfig,
    SnapshotHandle,
};

#[test]
fn live_view_replaces_the_index_once_published() {
    let live = LiveHandle::default();
    let server = ScrapeServer::start(
        ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            live: live.clone(),
            ..ServerConfig::default()
        },
        SnapshotHandle::new(common::busy_snapshot()),
        Liveness::default(),
        Arc::new(ExporterCounters::default()),
    )
    .unwrap();
    let mut client = HttpClient::connect(server.local_addr());
    let index = client.get("/", &[]);
    assert_eq!(index.status, 200);
    assert!(index.text().contains("href=\"/metrics\""));
    assert_eq!(client.get("/episodes.json", &[]).status, 404);

    live.publish(Arc::new(LiveEpisodes {
        motifs: vec!["contention_ramp".into()],
        closed: vec![ClosedEpisode {
            motif: 0,
            channel: clip_name("<script>alert(1)</script>"),
            t_start: 1_700_000_000.0,
            t_end: 1_700_000_004.5,
            peak: 2.5,
            samples: 9,
            closed_by: "dwell",
        }],
        closed_total: 1,
        open: vec![OpenEpisode {
            motif: 0,
            channel: clip_name("q7"),
            t_start: 1_700_000_006.0,
        }],
        open_total: 1,
        now: 1_700_000_010.0,
        capacity: 100,
    }));
    let page = client.get("/", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("Cache-Control"), Some("no-store"));
    let html = page.text();
    assert!(html.contains("<tr class=\"closed\"><td>contention_ramp</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
    assert!(html.contains("<tr class=\"open\"><td>contention_ramp</td><td>q7</td>"));
    assert!(!html.contains("<script"));

    let json = client.get("/episodes.json", &[]);
    assert_eq!(json.status, 200);
    assert_eq!(json.header("Content-Type"), Some("application/json"));
    let text = json.text();
    assert!(text.starts_with("{\"now\":1700000010.0,\"open_total\":1,\"closed_total\":1,"));
    assert!(text.contains("\"channel\":\"\\u003cscript>alert(1)\\u003c/script>\""));
    server.stop();
}
