//! A throwaway PostgreSQL cluster on loopback, a pgbench load, `motifd run
//! --postgres` against it, and three injected faults with recovery between
//! them. Shared by `tests/postgres_live.rs` (one scenario, asserted) and
//! `examples/pg_eval.rs` (many scenarios, scored; docs/evaluation.md).
//!
//! Needs the PostgreSQL server binaries (Debian `postgresql`,
//! `postgresql-contrib` for pg_stat_statements, pg_prewarm and pgbench).
//! Run as root, the server runs as the `postgres` user.
#![allow(dead_code)] // the test and the example use different parts

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Unix time now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Polls `f` every 50 ms until it gives `Some`, or panics after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The newest PostgreSQL server binaries installed, if any.
pub fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A cluster in a temporary directory, stopped and removed on drop.
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    as_postgres: bool,
    options: String,
}

impl Cluster {
    /// initdb + start on a free loopback port, pg_stat_statements preloaded.
    pub fn start(shared_buffers: &str) -> Self {
        Self::start_with(shared_buffers, "", |_| {})
    }

    /// Like [`Cluster::start`], with more server options, after `prepare`
    /// has had the cluster's directory (to put files the options name).
    pub fn start_with(shared_buffers: &str, extra: &str, prepare: impl FnOnce(&Path)) -> Self {
        let bin = server_bin().expect("PostgreSQL server binaries (Debian postgresql)");
        let as_postgres = is_root();
        // The server user must be able to enter the directory: not under a
        // home or work tree it may not traverse.
        let dir = std::env::temp_dir().join(format!(
            "motifd-pg-{}-{}",
            std::process::id(),
            now().to_bits() % 1_000_000
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(&dir), "chown");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = Self {
            dir,
            port,
            bin,
            as_postgres,
            options: String::new(),
        };
        let data = c.dir.join("data");
        run(
            c.server_cmd("initdb").arg("-D").arg(&data).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ]),
            "initdb",
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements \
             -c pg_stat_statements.track=all -c track_io_timing=on -c shared_buffers={shared_buffers} \
             -c fsync=off -c synchronous_commit=off -c max_connections=50 {extra}",
            c.dir.display()
        );
        prepare(&c.dir);
        if c.as_postgres {
            run(
                Command::new("chown").args(["-R", "postgres"]).arg(&c.dir),
                "chown -R",
            );
        }
        c.options = options;
        c.resume();
        c
    }

    /// Starts the stopped server again, same port and options.
    pub fn resume(&self) {
        run(
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &self.options, "start"]),
            "pg_ctl start",
        );
    }

    /// Stops the server at once (connections are cut, as in a crash).
    pub fn kill(&self) {
        run(
            self.server_cmd("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        );
    }

    fn server_cmd(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// A client program (psql, pgbench) aimed at this cluster as `postgres`.
    pub fn client(&self, program: &str, db: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        if program == "psql" {
            c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db]);
        }
        c
    }

    /// Runs `sql` in `db` as the superuser; returns psql's unaligned output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        run(
            self.client("psql", db).arg("-c").arg(sql),
            &format!("psql {sql:?}"),
        )
    }

    /// A connection URL.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self
            .server_cmd("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The observer role's statements, as docs/sources.md gives them, with
/// `password` instead of the placeholder.
pub fn observer_role_sql(docs: &Path, password: &str) -> String {
    let text = std::fs::read_to_string(docs).unwrap();
    let begin = text
        .find("<!-- observer-role:begin -->")
        .expect("observer-role block in docs/sources.md");
    let end = text
        .find("<!-- observer-role:end -->")
        .expect("observer-role end marker");
    let block = &text[begin..end];
    let sql_start = block.find("```sql\n").unwrap() + "```sql\n".len();
    let sql_end = block[sql_start..].find("```").unwrap() + sql_start;
    block[sql_start..sql_end].replace("change-me", password)
}

/// A child process killed and reaped on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the scenario needs.
pub struct Options {
    /// The motifd binary.
    pub motifd: PathBuf,
    /// docs/sources.md (the observer role).
    pub docs: PathBuf,
    /// Where the tape and episode log go.
    pub work: PathBuf,
    /// Residual mode of the live daemon.
    pub residuals: &'static str,
    /// pgbench transactions per second and clients.
    pub rate: u32,
    pub clients: u32,
    /// Polls before the first fault (baselines warm up).
    pub warmup_polls: u64,
    /// Seconds each fault lasts, and the recovery after it.
    pub fault_seconds: f64,
    pub recovery_seconds: f64,
    /// Poll interval, seconds.
    pub interval: f64,
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Window {
    pub fault: &'static str,
    pub motif: &'static str,
    /// Channels an episode must be on (prefix or substring match, the
    /// reference's rule).
    pub channels: Vec<String>,
    pub t_start: f64,
    pub t_end: f64,
}

/// What a scenario left behind.
pub struct Outcome {
    pub windows: Vec<Window>,
    pub tape: PathBuf,
    pub episodes: PathBuf,
    pub t_start: f64,
    pub t_end: f64,
    pub daemon_log: String,
}

/// The running daemon: stderr collected, metrics address parsed.
struct Daemon {
    child: Guard,
    log: Arc<Mutex<String>>,
    metrics: String,
}

impl Daemon {
    fn start(opts: &Options, url: &str, tape: &Path, episodes: &Path) -> Self {
        let mut child = Command::new(&opts.motifd)
            .args(["run", "--metrics-listen", "127.0.0.1:0", "--postgres", url])
            .arg("--postgres-interval")
            .arg(opts.interval.to_string())
            .args(["--postgres-residuals", opts.residuals])
            .arg("--postgres-tape")
            .arg(tape)
            .arg("--episodes-out")
            .arg(episodes)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (sink, stderr) = (Arc::clone(&log), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let child = Guard(child);
        let metrics = wait_for(Duration::from_secs(60), "the daemon's startup line", || {
            let l = log.lock().unwrap();
            let at = l.find("metrics http://")? + "metrics http://".len();
            let end = l[at..].find("/metrics")? + at;
            Some(l[at..end].to_owned())
        });
        Self {
            child,
            log,
            metrics,
        }
    }

    /// The value of series `key` on /metrics.
    fn metric(&self, key: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.metrics).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
    }

    fn stop(mut self) -> String {
        let pid = self.child.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "motifd exited with {status}:\n{}",
                    self.log.lock().unwrap()
                );
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "motifd did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The stderr thread ends with the pipe.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        log
    }
}

/// md5(queryid) of pgbench's statements that read pgbench_accounts.
fn accounts_query_ids(c: &Cluster) -> Vec<String> {
    let out = c.sql(
        "bench",
        "SELECT DISTINCT md5(queryid::text) FROM pg_stat_statements \
         WHERE query LIKE 'SELECT abalance FROM pgbench_accounts%' \
            OR query LIKE 'UPDATE pgbench_accounts SET%' ORDER BY 1",
    );
    out.lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Sleeps `secs` of the scenario's own timeline (a fault's length or a
/// recovery period: durations, not waits for something to happen).
fn hold(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}

/// A cluster under load with the daemon polling it, warmed up.
struct Setup {
    daemon: Daemon,
    _load: Guard,
    cluster: Cluster,
    tape: PathBuf,
    episodes: PathBuf,
    t_start: f64,
}

fn prepare(opts: &Options) -> Setup {
    let c = Cluster::start("32MB");
    c.sql("postgres", "CREATE DATABASE bench");
    c.sql("bench", "CREATE EXTENSION pg_prewarm");
    c.sql("bench", &observer_role_sql(&opts.docs, "observer-pw"));
    run(
        c.client("pgbench", "bench")
            .args(["-i", "-s", "1", "-q", "bench"]),
        "pgbench -i",
    );
    // Twice shared_buffers: read into the buffers, it evicts everything else.
    c.sql(
        "bench",
        "CREATE TABLE ballast AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 120000) g",
    );
    let load = Guard(
        c.client("pgbench", "bench")
            .args(["-n", "-T", "3600", "-R", &opts.rate.to_string()])
            .args(["-c", &opts.clients.to_string(), "-j", "2", "bench"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tape, episodes) = (
        opts.work.join("live.tape.jsonl"),
        opts.work.join("episodes.jsonl"),
    );
    let _ = std::fs::remove_file(&tape);
    let _ = std::fs::remove_file(tape.with_extension("jsonl.sha256.json"));
    let _ = std::fs::remove_file(&episodes);
    let url = c.url("motifd_observer", "observer-pw", "bench");
    let daemon = Daemon::start(opts, &url, &tape, &episodes);
    let t_start = now();
    let polls = "dsfb_postgres_polls_total{source=\"bench\"}";
    wait_for(Duration::from_secs(120), "warm-up polls", || {
        (daemon.metric(polls)? >= opts.warmup_polls as f64).then_some(())
    });
    Setup {
        daemon,
        _load: load,
        cluster: c,
        tape,
        episodes,
        t_start,
    }
}

impl Setup {
    fn finish(self, windows: Vec<Window>) -> Outcome {
        let t_end = now();
        let daemon_log = self.daemon.stop();
        Outcome {
            windows,
            tape: self.tape,
            episodes: self.episodes,
            t_start: self.t_start,
            t_end,
            daemon_log,
        }
    }
}

/// The whole scenario on a fresh cluster: the three faults, each followed
/// by a recovery period.
pub fn scenario(opts: &Options) -> Outcome {
    let setup = prepare(opts);
    let c = &setup.cluster;
    let accounts = wait_for(
        Duration::from_secs(60),
        "pgbench's statements in pg_stat_statements",
        || {
            let ids = accounts_query_ids(c);
            (ids.len() >= 2).then_some(ids)
        },
    );
    let mut windows = Vec::new();
    windows.push(drop_primary_key(c, opts, &accounts));
    hold(opts.recovery_seconds);
    windows.push(lock_a_contended_row(c, opts));
    hold(opts.recovery_seconds);
    windows.push(evict_the_cache(c, opts));
    hold(opts.recovery_seconds);
    setup.finish(windows)
}

/// The same cluster, load and daemon with no fault for `recovery_seconds`:
/// false alarms only.
pub fn quiet(opts: &Options) -> Outcome {
    let setup = prepare(opts);
    hold(opts.recovery_seconds);
    setup.finish(Vec::new())
}

/// Without its primary key every lookup of pgbench_accounts is a
/// sequential scan: the statements reading it regress.
fn drop_primary_key(c: &Cluster, opts: &Options, accounts: &[String]) -> Window {
    let t_start = now();
    c.sql(
        "bench",
        "ALTER TABLE pgbench_accounts DROP CONSTRAINT pgbench_accounts_pkey",
    );
    hold(opts.fault_seconds);
    c.sql(
        "bench",
        "ALTER TABLE pgbench_accounts ADD PRIMARY KEY (aid)",
    );
    Window {
        fault: "drop_primary_key",
        motif: "plan_regression_onset",
        channels: accounts.iter().map(|id| format!("bench/{id}")).collect(),
        t_start,
        t_end: now(),
    }
}

/// Every pgbench transaction updates the one branch of scale 1: holding
/// that row blocks them all.
fn lock_a_contended_row(c: &Cluster, opts: &Options) -> Window {
    let t_start = now();
    let holder = Guard(
        c.client("psql", "bench")
            .arg("-c")
            .arg(format!(
                "BEGIN; SELECT bid FROM pgbench_branches WHERE bid = 1 FOR UPDATE; SELECT pg_sleep({}); COMMIT;",
                opts.fault_seconds
            ))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The fault is real only once pgbench queues behind it.
    wait_for(
        Duration::from_secs(10),
        "a pgbench session blocked on the held row",
        || {
            let n: u32 = c
                .sql(
                    "bench",
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                )
                .trim()
                .parse()
                .ok()?;
            (n > 0).then_some(())
        },
    );
    let mut holder = holder;
    let status = holder.0.wait().unwrap();
    assert!(status.success(), "the lock holder failed");
    Window {
        fault: "lock_contended_row",
        motif: "contention_ramp",
        channels: vec!["bench/Lock".into()],
        t_start,
        t_end: now(),
    }
}

/// pg_prewarm reads a table twice the size of shared_buffers into them,
/// each pass in its own transaction (statistics are flushed at commit):
/// pgbench's pages are evicted and the database's hit ratio falls.
fn evict_the_cache(c: &Cluster, opts: &Options) -> Window {
    let reads = |c: &Cluster| -> u64 {
        c.sql(
            "bench",
            "SELECT blks_read FROM pg_stat_database WHERE datname = 'bench'",
        )
        .trim()
        .parse()
        .unwrap()
    };
    let before = reads(c);
    let t_start = now();
    while now() - t_start < opts.fault_seconds {
        c.sql("bench", "SELECT pg_prewarm('ballast')");
        hold(0.5);
    }
    let t_end = now();
    let moved = reads(c) - before;
    assert!(moved > 8000, "the eviction read only {moved} blocks");
    Window {
        fault: "evict_cache",
        motif: "cache_collapse",
        channels: vec!["bench/db::bench".into()],
        t_start,
        t_end,
    }
}

/// An episode as the scoring reads it.
#[derive(Debug, Clone)]
pub struct Episode {
    pub motif: String,
    pub channel: String,
    pub t_start: f64,
    pub t_end: f64,
}

/// Reads an episode log.
pub fn episodes(path: &Path) -> Vec<Episode> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Episode {
                motif: v["motif"].as_str().unwrap().to_owned(),
                channel: v["channel"].as_str().unwrap().to_owned(),
                t_start: v["t_start"].as_f64().unwrap(),
                t_end: v["t_end"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The reference's matching rule: the motif's, overlapping in time, on a
/// channel that starts with or contains a window channel.
pub fn matches(e: &Episode, w: &Window, channel: &str) -> bool {
    e.motif == w.motif
        && e.t_end >= w.t_start
        && e.t_start <= w.t_end
        && (e.channel.starts_with(channel) || e.channel.contains(channel))
}
