//! Paths, fixtures, scratch directories and episode logs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn motifd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_motifd"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures").join(name)
}

/// The records of a CSV fixture, header dropped, in file order.
pub fn csv_records(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("t,"))
        .map(str::to_owned)
        .collect()
}

/// Event time of a CSV record.
pub fn t_of(record: &str) -> f64 {
    record.split(',').next().unwrap().parse().unwrap()
}

/// A scratch directory under cargo's per-target temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }

    /// Writes `text` to `file` and returns its path.
    pub fn write(&self, file: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(file);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Writes records as a CSV file with a header.
pub fn write_csv(path: &Path, records: &[String]) {
    let mut text = String::from("t,class,channel,value\n");
    for r in records {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// `motifd replay --quiet ARGS...` stdout (must succeed).
pub fn replay(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = motifd()
        .arg("replay")
        .arg("--quiet")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Lines of an episode log (or replay output) as text.
pub fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Shows the first differing line of two episode logs.
pub fn assert_same_episodes(got: &[u8], expected: &[u8], what: &str) {
    if got == expected {
        return;
    }
    let (g, e) = (lines(got), lines(expected));
    let first = g.iter().zip(&e).position(|(a, b)| a != b);
    panic!(
        "{what}: episode log differs from replay ({} vs {} lines); first difference at line {}:\n  got:      {:?}\n  expected: {:?}",
        g.len(),
        e.len(),
        first.map_or(g.len().min(e.len()) + 1, |i| i + 1),
        first.map(|i| &g[i]).or(g.get(e.len())),
        first.map(|i| &e[i]).or(e.get(g.len())),
    );
}
