//! Losing the database: the source counts the failures, reports itself down,
//! reconnects with back-off once the server is back and polls on, while the
//! daemon and its other sources (a TCP listener here) carry on untouched.

mod common;
mod pg_support;

use common::Daemon;
use pg_support::Cluster;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const UP: &str = "dsfb_postgres_up{source=\"db\"}";
const POLLS: &str = "dsfb_postgres_polls_total{source=\"db\"}";
const RECONNECTS: &str = "dsfb_postgres_reconnects_total{source=\"db\"}";

#[test]
#[ignore = "needs PostgreSQL (postgresql): run by .ci/run"]
fn a_lost_database_is_counted_and_reconnected_and_nothing_else_stops() {
    let c = Cluster::start("32MB");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/sources.md");
    c.sql("postgres", &pg_support::observer_role_sql(&docs, "pw"));
    let url = format!(
        "{}?application_name=motifd-reconnect",
        c.url("motifd_observer", "pw", "postgres")
    );
    let config = format!(
        "ingest_listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n\n[[postgres]]\nname = \"db\"\nurl = \"{url}\"\ninterval = 0.2\nmax_interval = 2.0\n"
    );
    let dir = common::Scratch::new("pg-reconnect");
    let d = Daemon::run(&[
        "--config",
        dir.write("motifd.toml", config).to_str().unwrap(),
    ]);
    let polled = d.wait_metrics(Duration::from_secs(30), "first polls", |m| {
        m.value(POLLS) >= 3.0
    });
    assert_eq!(polled.value(UP), 1.0);
    assert!(
        !d.stderr().contains(":pw@"),
        "the password reached the log:\n{}",
        d.stderr()
    );

    c.kill();
    let down = d.wait_metrics(Duration::from_secs(30), "the source to notice", |m| {
        m.value(UP) == 0.0
    });
    let polls_down = down.value(POLLS);
    // Other sources go on: a TCP producer's samples arrive while the
    // database is away.
    let mut tcp = std::net::TcpStream::connect(d.ingest_addr()).unwrap();
    let received = down.received();
    writeln!(
        tcp,
        "1700000000,contention,other,0.5\n1700000001,contention,other,0.7"
    )
    .unwrap();
    d.wait_metrics(
        Duration::from_secs(10),
        "TCP samples while the database is down",
        |m| m.received() >= received + 2,
    );
    // Connection attempts fail and are counted while it stays away.
    let failing = d.wait_metrics(Duration::from_secs(30), "failed reconnects", |m| {
        m.value("dsfb_postgres_poll_errors_total{source=\"db\",reason=\"connect\"}") >= 2.0
    });
    assert_eq!(failing.value(POLLS), polls_down, "polled a stopped server");

    c.resume();
    let back = d.wait_metrics(Duration::from_secs(60), "the source back", |m| {
        m.value(UP) == 1.0 && m.value(POLLS) >= polls_down + 3.0
    });
    assert!(back.value(RECONNECTS) >= 1.0, "{}", back.summary());
    assert!(d
        .stderr()
        .contains("postgres db: connected to postgres://motifd_observer:***@127.0.0.1:"));
    assert!(
        !d.stderr().contains(":pw@"),
        "the password reached the log:\n{}",
        d.stderr()
    );
}
