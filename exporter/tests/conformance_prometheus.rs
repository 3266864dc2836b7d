//! A real Prometheus server (Debian package `prometheus`) scrapes a running
//! exporter on 127.0.0.1: the target is up, `dsfb_episodes_total` is
//! queryable with its `motif` label, and the counter type survives.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{fetch, wait_for, ChildGuard, TempDir};
use motifd_exporter::{
    ExporterCounters, Liveness, ScrapeServer, ServerConfig, SnapshotHandle, SnapshotPublisher,
};

/// Starts Prometheus scraping `target` every second; retries on a port clash.
fn start_prometheus(dir: &TempDir, target: SocketAddr) -> (ChildGuard, SocketAddr) {
    let binary = common::require_program("prometheus", "the Debian package prometheus");
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: motifd\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    for attempt in 0..3 {
        let api: SocketAddr = format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap();
        let log = std::fs::File::create(dir.0.join(format!("prometheus-{attempt}.log"))).unwrap();
        let mut guard = ChildGuard::spawn(
            "prometheus",
            Command::new(&binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.0.join(format!("tsdb-{attempt}")).display()
                ))
                .arg(format!("--web.listen-address={api}"))
                .stdout(Stdio::null())
                .stderr(log),
        );
        let ready = wait_for("prometheus /-/ready", Duration::from_secs(30), || {
            if let Ok(Some(_)) = guard.child.try_wait() {
                return Some(false); // exited: most likely the port was taken
            }
            fetch(api, "/-/ready").map(|_| true)
        });
        if ready {
            return (guard, api);
        }
    }
    panic!(
        "prometheus did not start; see its logs in {}",
        dir.0.display()
    );
}

/// Crude JSON probing, enough for these fixed API answers: the text of the
/// object that contains `needle`.
fn object_containing<'a>(json: &'a str, needle: &str) -> Option<&'a str> {
    let at = json.find(needle)?;
    let start = json[..at].rfind('{')?;
    let end = at + json[at..].find('}')?;
    Some(&json[start..=end])
}

#[test]
#[ignore = "needs the prometheus server binary (Debian package prometheus); takes ~10 s"]
fn prometheus_scrapes_and_keeps_types() {
    let handle = SnapshotHandle::new(common::busy_snapshot());
    let server = ScrapeServer::start(
        ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        },
        handle.clone(),
        Liveness::default(),
        Arc::new(ExporterCounters::default()),
    )
    .unwrap();
    let dir = TempDir::new("prometheus");
    let (_prometheus, api) = start_prometheus(&dir, server.local_addr());

    // Prometheus applies a new target only after ~5 s: wait on its health.
    let mut downs = 0;
    wait_for("the target to be up", Duration::from_secs(40), || {
        let targets = fetch(api, "/api/v1/targets?state=active")?;
        if targets.contains("\"health\":\"down\"") {
            downs += 1;
            assert!(downs < 5, "target down: {targets}");
        }
        targets.contains("\"health\":\"up\"").then_some(())
    });

    // Keep publishing while it scrapes, as the engine would.
    let mut publisher = SnapshotPublisher::new(handle);
    publisher.publish_with(|s| s.motifs[0].episodes_total += 1);

    let result = wait_for(
        "dsfb_episodes_total to be queryable",
        Duration::from_secs(15),
        || {
            let r = fetch(api, "/api/v1/query?query=dsfb_episodes_total")?;
            common::MOTIFS
                .iter()
                .all(|m| r.contains(&format!("\"motif\":\"{m}\"")))
                .then_some(r)
        },
    );
    assert!(result.contains("\"job\":\"motifd\""), "{result}");
    let up = fetch(api, "/api/v1/query?query=up%7Bjob%3D%22motifd%22%7D").unwrap();
    assert!(up.contains("\"1\"]"), "up: {up}");

    let meta = wait_for("target metadata", Duration::from_secs(10), || {
        let m = fetch(
            api,
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%22motifd%22%7D",
        )?;
        m.contains("dsfb_episodes").then_some(m)
    });
    // OpenMetrics names the counter family without `_total`.
    let episodes = object_containing(&meta, "\"metric\":\"dsfb_episodes\"")
        .unwrap_or_else(|| panic!("{meta}"));
    assert!(episodes.contains("\"type\":\"counter\""), "{episodes}");
    // A unit is only recorded when the OpenMetrics parser was used.
    let duration =
        object_containing(&meta, "\"metric\":\"dsfb_episode_duration_seconds\"").unwrap();
    assert!(
        duration.contains("\"type\":\"histogram\"") && duration.contains("\"unit\":\"seconds\""),
        "{duration}"
    );
    assert!(
        !meta.contains("\"type\":\"unknown\""),
        "untyped series: {meta}"
    );

    let quantile = fetch(
        api,
        "/api/v1/query?query=histogram_quantile(0.5%2C%20dsfb_streaming_lateness_seconds_bucket)",
    )
    .unwrap();
    assert!(
        quantile.contains("\"status\":\"success\"") && quantile.contains("\"value\""),
        "{quantile}"
    );
    server.stop();
}
