//! The Grafana dashboard (docs/grafana/motifd.json) and the alert rules
//! (docs/alerts.yml), proven against a real Prometheus (Debian `prometheus`)
//! scraping a running daemon fed the demo stream: every dashboard query
//! parses and returns at least one series; every alert expression parses, and
//! what it compares (the expression without its threshold, or inside
//! `absent()`) returns at least one series. Prometheus also loads the rules
//! file. The dashboard's structure is checked without any server, and its
//! schema by scripts/check-grafana-schema.sh (npm @grafana/schema).

mod common;

use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn dashboard() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("docs/grafana/motifd.json")).unwrap();
    serde_json::from_str(&text).expect("docs/grafana/motifd.json is JSON")
}

/// Every panel, rows' nested panels included.
fn panels(d: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// (panel title, expr) of every query target.
fn dashboard_queries(d: &serde_json::Value) -> Vec<(String, String)> {
    panels(d)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_string();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap().to_string()))
        })
        .collect()
}

/// The `expr:` lines of docs/alerts.yml (each on one line there), by alert.
fn alert_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("docs/alerts.yml")).unwrap();
    let mut alert = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            alert = name.to_string();
        } else if let Some(expr) = line.strip_prefix("expr: ") {
            out.push((alert.clone(), expr.to_string()));
        }
    }
    out
}

/// Grafana's variables as a dashboard user with everything selected gets them.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$job", "motifd")
        .replace("$instance", ".+")
}

/// What an alert compares: `absent(X)` → X; `A or B` → A and B; `X > 3` → X.
fn operands(expr: &str) -> Vec<String> {
    if let Some(inner) = expr
        .strip_prefix("absent(")
        .and_then(|e| e.strip_suffix(')'))
    {
        return vec![inner.to_string()];
    }
    // Both sides of `or` and `and` must have series for the alert to be able
    // to fire, so each is checked on its own.
    expr.split(" or ")
        .flat_map(|side| side.split(" and "))
        .map(|side| {
            let side = side.trim();
            let (rest, number) = side.rsplit_once(' ').unwrap();
            let (rest, op) = rest.rsplit_once(' ').unwrap();
            assert!(
                number.parse::<f64>().is_ok()
                    && matches!(op, ">" | "<" | "==" | "!=" | ">=" | "<="),
                "not a comparison with a threshold: {side}"
            );
            rest.to_string()
        })
        .collect()
}

#[test]
fn dashboard_structure() {
    let d = dashboard();
    assert_eq!(d["uid"], "motifd");
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "job", "instance"]);
    assert_eq!(d["templating"]["list"][0]["type"], "datasource");
    assert_eq!(d["templating"]["list"][0]["query"], "prometheus");
    let mut ids = std::collections::BTreeSet::new();
    let mut cells = std::collections::BTreeSet::new();
    for p in panels(&d) {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate id {}",
            p["id"]
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "panel {} is wider than the grid", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "panel {} overlaps another",
                    p["title"]
                );
            }
        }
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for t in p["targets"].as_array().unwrap() {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            let expr = t["expr"].as_str().unwrap();
            assert!(
                expr.contains("job=~\"$job\", instance=~\"$instance\""),
                "{expr}"
            );
        }
    }
    // Every dsfb_ family a query names is in the metric catalogue.
    let catalogue = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    for (_, expr) in dashboard_queries(&d) {
        for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(name) = word.strip_prefix("dsfb_") {
                let family = name.strip_suffix("_bucket").unwrap_or(name).to_string();
                assert!(
                    catalogue.contains(&format!("`dsfb_{family}`")),
                    "dsfb_{family} is not in docs/metrics.md"
                );
            }
        }
    }
    // The panels the dashboard is for.
    let titles: Vec<&str> = panels(&d)
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Episodes per motif",
        "Open episodes",
        "Episode duration",
        "Episode peak",
        "Trust sum at the last close",
        "Lateness",
        "Out-of-window drops",
        "Ingest rate",
        "Channel depth and staged samples",
        "Target up",
        "Scrape duration",
    ] {
        assert!(titles.contains(&wanted), "no panel {wanted:?}");
    }
}

#[test]
fn operands_strip_thresholds() {
    assert_eq!(operands("increase(x[10m]) > 0"), ["increase(x[10m])"]);
    assert_eq!(operands("a < 0.99 or a > 1.01"), ["a", "a"]);
    assert_eq!(operands("absent(b{job=\"m\"})"), ["b{job=\"m\"}"]);
    assert_eq!(operands("time() - c > 180"), ["time() - c"]);
    assert_eq!(
        operands("sum(d) > 100 and sum(deriv(d[10m])) > 0"),
        ["sum(d)", "sum(deriv(d[10m]))"]
    );
}

/// A Prometheus server on loopback scraping `target` every second, with the
/// alert rules loaded. Killed on drop.
struct Prometheus {
    child: Child,
    api: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(dir: &Scratch, target: SocketAddr) -> Prometheus {
    let config = dir.write(
        "prometheus.yml",
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: motifd\n    static_configs:\n      - targets: ['{target}']\n",
            root().join("docs/alerts.yml").display()
        ),
    );
    for attempt in 0..3 {
        let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.path(&format!("prometheus-{attempt}.log"))).unwrap();
        let mut child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path(&format!("tsdb-{attempt}")).display()
            ))
            .arg(format!("--web.listen-address={api}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the prometheus binary (Debian package prometheus)");
        let ready = poll_opt(Duration::from_secs(30), || {
            if let Ok(Some(_)) = child.try_wait() {
                return Some(false); // exited: most likely the port was taken
            }
            // 503 while it loads its storage: keep polling.
            http_get(api, "/-/ready")
                .ok()
                .and_then(|(s, _)| (s == 200).then_some(true))
        });
        if ready == Some(true) {
            return Prometheus { child, api };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("prometheus did not start; logs in {}", dir.0.display());
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Evaluates `expr` now: Ok(number of series) or Err(Prometheus' error).
fn query(api: SocketAddr, expr: &str) -> Result<usize, String> {
    let (_, body) = http_get(
        api,
        &format!("/api/v1/query?query={}", percent_encode(expr)),
    )
    .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

#[test]
#[ignore = "needs prometheus (Debian package prometheus): run by .ci/run"]
fn every_query_returns_series_from_a_real_prometheus() {
    let dir = Scratch::new("grafana-queries");
    let kafka = KafkaMember::start();
    let (episodes, state, textfile) = (
        dir.path("episodes.jsonl"),
        dir.path("state.ckpt"),
        dir.path("motifd.prom"),
    );
    let mut args = vec![
        "--ingest-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--episodes-out",
        episodes.to_str().unwrap(),
        "--checkpoint",
        state.to_str().unwrap(),
        "--checkpoint-interval",
        "1",
        "--idle-flush",
        "1",
        "--textfile",
        textfile.to_str().unwrap(),
        // A PostgreSQL source with no server behind it: its families exist
        // (down, connects failing), so its alerts' operands have series.
        "--postgres",
        "postgres://motifd_observer@127.0.0.1:1/absent",
    ];
    args.extend(kafka.args());
    let d = Daemon::run(&args);
    kafka.wait_assigned(&d);
    let mut feed = TcpStream::connect(d.ingest_addr()).unwrap();
    feed.write_all(&std::fs::read(fixture("demo.csv")).unwrap())
        .unwrap();
    drop(feed);
    // The demo's episodes have closed (its last ones when the idle flush
    // released the end of the stream) and a checkpoint has been written.
    poll(
        Duration::from_secs(60),
        "demo episodes and a checkpoint",
        || {
            let m = d.scrape();
            (m.sum("dsfb_episodes_total") >= 52.0
                && m.get("dsfb_checkpoint_writes_total").unwrap_or(0.0) >= 1.0)
                .then_some(())
        },
    );
    let prometheus = start_prometheus(&dir, d.metrics_addr());
    // Rates need two scrapes in their window; wait for three.
    poll(Duration::from_secs(60), "three scrapes of motifd", || {
        let n = query(
            prometheus.api,
            "count_over_time(up{job=\"motifd\"}[1m]) >= 3",
        );
        (n == Ok(1)).then_some(())
    });
    let (_, rules) = http_get(prometheus.api, "/api/v1/rules").unwrap();
    let alerts = alert_expressions();
    assert!(alerts.len() >= 10);
    for (name, _) in &alerts {
        assert!(
            rules.contains(&format!("\"name\":\"{name}\"")),
            "rule {name} not loaded"
        );
    }

    let mut checks: Vec<(String, String, bool)> = Vec::new();
    for (title, expr) in dashboard_queries(&dashboard()) {
        checks.push((format!("panel {title:?}"), substitute(&expr), true));
    }
    for (name, expr) in &alerts {
        if !kafka.covers(name) {
            println!("alert {name}: evaluated in the run with the kafka feature");
            continue;
        }
        checks.push((format!("alert {name}"), expr.clone(), false));
        for operand in operands(expr) {
            checks.push((format!("alert {name}, operand"), operand, true));
        }
    }
    assert!(checks.len() > 50);
    let mut failures = Vec::new();
    for (what, expr, needs_series) in &checks {
        // Parse errors are final; an empty answer may only need a later scrape.
        let outcome = poll_opt(Duration::from_secs(20), || {
            match query(prometheus.api, expr) {
                Err(e) => Some(Err(e)),
                Ok(n) if n > 0 || !needs_series => Some(Ok(n)),
                Ok(_) => None,
            }
        });
        match outcome {
            Some(Ok(_)) => {}
            Some(Err(e)) => failures.push(format!("{what}: {expr}: {e}")),
            None => failures.push(format!("{what}: {expr}: no series")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} expressions failed:\n{}",
        failures.len(),
        checks.len(),
        failures.join("\n")
    );
    eprintln!("{} expressions evaluated, every one answered", checks.len());
}

#[test]
#[ignore = "needs node, npm and the npm registry: run by .ci/run"]
fn dashboard_matches_the_grafana_schema() {
    let out = Command::new("bash")
        .arg(root().join("scripts/check-grafana-schema.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With the `kafka` feature, the daemon is also a consumer-group member of a
/// tansu broker the test starts (one partition, one message), so the Kafka
/// families, and the alerts on them, have series. Without it, they are left
/// to the run with the feature (`scripts/test-all` runs this test in both).
#[cfg(feature = "kafka")]
struct KafkaMember {
    broker: common::kafka::Broker,
    group: String,
}

#[cfg(feature = "kafka")]
impl KafkaMember {
    fn start() -> Self {
        let broker = common::kafka::Broker::start();
        broker.create_topic("in", 1);
        broker.create_topic("in.motifd-state", 1);
        Self {
            broker,
            group: common::kafka::fresh_group("grafana"),
        }
    }

    fn args(&self) -> Vec<&str> {
        vec![
            "--kafka-brokers",
            &self.broker.addr,
            "--kafka-topic",
            "in",
            "--kafka-group",
            &self.group,
            "--kafka-property",
            "session.timeout.ms=6000",
            "--kafka-property",
            "heartbeat.interval.ms=500",
        ]
    }

    /// Waits until the member holds its partition and reports its lag.
    fn wait_assigned(&self, d: &Daemon) {
        d.wait_metrics(
            Duration::from_secs(60),
            "the Kafka partition assigned",
            |m| {
                m.get("dsfb_kafka_assigned_partitions") == Some(1.0)
                    && m.get("dsfb_kafka_consumer_lag{partition=\"0\"}").is_some()
            },
        );
    }

    fn covers(&self, _alert: &str) -> bool {
        true
    }
}

#[cfg(not(feature = "kafka"))]
struct KafkaMember;

#[cfg(not(feature = "kafka"))]
impl KafkaMember {
    fn start() -> Self {
        Self
    }

    fn args(&self) -> Vec<&str> {
        Vec::new()
    }

    fn wait_assigned(&self, _d: &Daemon) {}

    fn covers(&self, alert: &str) -> bool {
        !alert.starts_with("MotifdKafka")
    }
}
