//! Helpers of the trace-adapter tests: a temporary directory, and where the
//! reference crate's sources (and its example traces) are.
#![allow(dead_code)] // each test file uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory removed at the end of the test.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("motifd-distill-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// dsfb-database 0.1.1's source directory, from `cargo metadata`.
pub fn reference_source_dir() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "dsfb-database" && p["version"] == "0.1.1")
        .expect("dsfb-database 0.1.1 in the dependency graph");
    Path::new(pkg["manifest_path"].as_str().unwrap())
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The reference's example traces: (format, file).
pub const EXAMPLE_FILES: [(&str, &str); 6] = [
    ("pg-stat-statements", "pg_stat_statements_sample.csv"),
    ("ceb", "ceb_sample.csv"),
    ("job", "job_trace_sample.csv"),
    ("snowset", "snowset_sample.csv"),
    ("generic", "generic_sample.csv"),
    ("sqlshare-text", "queries.txt"),
];
