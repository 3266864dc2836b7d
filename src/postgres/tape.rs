//! Tapes: the raw snapshots of a PostgreSQL source, one JSON object per
//! line, so residuals and episodes can be re-derived later under any
//! residual mode (`motifd replay --tape FILE`).
//!
//! A tape is appended to: each daemon start writes a header line
//! (`{"tape":"motifd-postgres",…}`), which starts a new segment (fresh
//! residual state on replay, as in the daemon), then one line per poll. At
//! close a manifest `<tape>.sha256.json` records the SHA-256 of the whole
//! file, the number of snapshots and their time span; replay refuses a tape
//! whose bytes no longer match it.

use super::snapshot::Snapshot;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The `tape` value of a header line.
pub const MAGIC: &str = "motifd-postgres";

/// A segment's first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`MAGIC`].
    pub tape: String,
    /// Format version (1).
    pub version: u32,
    /// The source's name (its channel prefix).
    pub source: String,
    /// The target, password redacted.
    pub target: String,
    /// Residual mode the daemon ran.
    pub residuals: String,
    /// motifd version that wrote it.
    pub motifd: String,
}

/// Written next to the tape at close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Lower-case hex SHA-256 of the tape's bytes.
    pub sha256: String,
    /// Bytes covered.
    pub bytes: u64,
    /// Snapshot lines.
    pub snapshots: u64,
    /// Segments (header lines).
    pub segments: u64,
    /// Time of the first and last snapshot (None when there are none).
    pub first_t: Option<f64>,
    /// See `first_t`.
    pub last_t: Option<f64>,
    /// motifd version that wrote it.
    pub motifd: String,
}

/// `<tape>.sha256.json`.
pub fn manifest_path(tape: &Path) -> PathBuf {
    let mut p = tape.as_os_str().to_owned();
    p.push(".sha256.json");
    PathBuf::from(p)
}

/// Appends snapshots to a tape, hashing as it goes.
pub struct TapeWriter {
    path: PathBuf,
    out: BufWriter<File>,
    hash: Sha256,
    bytes: u64,
    snapshots: u64,
    segments: u64,
    first_t: Option<f64>,
    last_t: Option<f64>,
    line: Vec<u8>,
}

impl TapeWriter {
    /// Opens (or creates) `path` for appending and starts a segment. What the
    /// file already holds is hashed and counted first, so the manifest
    /// covers the whole file.
    ///
    /// # Errors
    /// The file cannot be read, opened or written.
    pub fn open(path: &Path, header: &Header) -> io::Result<Self> {
        let mut writer = Self {
            path: path.to_owned(),
            out: BufWriter::new(OpenOptions::new().create(true).append(true).open(path)?),
            hash: Sha256::new(),
            bytes: 0,
            snapshots: 0,
            segments: 0,
            first_t: None,
            last_t: None,
            line: Vec::new(),
        };
        writer.absorb_existing()?;
        let mut line = serde_json::to_vec(header).map_err(io::Error::other)?;
        line.push(b'\n');
        writer.write_line(&line)?;
        writer.segments += 1;
        writer.out.flush()?;
        Ok(writer)
    }

    fn absorb_existing(&mut self) -> io::Result<()> {
        let mut existing = Vec::new();
        File::open(&self.path)?.read_to_end(&mut existing)?;
        if !existing.is_empty() && !existing.ends_with(b"\n") {
            // A line cut by a crash: end it, so the header starts a line of
            // its own (replay rejects the cut line and goes on).
            existing.push(b'\n');
            self.out.write_all(b"\n")?;
        }
        self.hash.update(&existing);
        self.bytes = existing.len() as u64;
        for line in existing.split(|&b| b == b'\n') {
            match parse_line(line) {
                Ok(Line::Header(_)) => self.segments += 1,
                Ok(Line::Snapshot(s)) => self.note(s.t),
                _ => {}
            }
        }
        Ok(())
    }

    fn note(&mut self, t: f64) {
        self.snapshots += 1;
        self.first_t.get_or_insert(t);
        self.last_t = Some(t);
    }

    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.out.write_all(line)?;
        self.hash.update(line);
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Appends one snapshot and flushes it to the OS.
    ///
    /// # Errors
    /// The write failed.
    pub fn append(&mut self, snap: &Snapshot) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        serde_json::to_writer(&mut line, snap).map_err(io::Error::other)?;
        line.push(b'\n');
        let written = self.write_line(&line).and_then(|()| self.out.flush());
        self.line = line;
        written?;
        self.note(snap.t);
        Ok(())
    }

    /// Flushes, fsyncs and writes the manifest.
    ///
    /// # Errors
    /// A write or sync failed.
    pub fn close(mut self) -> io::Result<Manifest> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        let manifest = Manifest {
            sha256: hex(&self.hash.finalize()),
            bytes: self.bytes,
            snapshots: self.snapshots,
            segments: self.segments,
            first_t: self.first_t,
            last_t: self.last_t,
            motifd: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(io::Error::other)?;
        motifd_exporter::textfile::write_atomic(&manifest_path(&self.path), text.as_bytes())?;
        Ok(manifest)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One line of a tape.
#[derive(Debug)]
pub enum Line {
    /// A segment starts.
    Header(Header),
    /// A poll.
    Snapshot(Snapshot),
    /// Blank.
    Blank,
}

/// Parses one line (without its newline).
///
/// # Errors
/// What is wrong with it.
pub fn parse_line(line: &[u8]) -> Result<Line, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Line::Blank);
    }
    if line.starts_with(b"{\"tape\"") {
        let h: Header = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        if h.tape != MAGIC {
            return Err(format!("not a motifd PostgreSQL tape header: {:?}", h.tape));
        }
        return Ok(Line::Header(h));
    }
    let snap: Snapshot = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if !snap.t.is_finite() {
        return Err("snapshot time is not finite".into());
    }
    Ok(Line::Snapshot(snap))
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    /// The tape is exactly what its manifest describes.
    Exact(Manifest),
    /// The manifest's bytes match and more were appended since (a daemon
    /// still writing, or restarted): the appended part is unverified.
    Appended(Manifest, u64),
    /// No manifest (a daemon that has not stopped cleanly).
    Unverified,
}

/// Checks `tape` against its manifest.
///
/// # Errors
/// The tape or manifest cannot be read, or the bytes the manifest covers
/// have changed.
pub fn verify(tape: &Path) -> Result<Verified, String> {
    let mpath = manifest_path(tape);
    let text = match std::fs::read_to_string(&mpath) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Verified::Unverified),
        Err(e) => return Err(format!("{}: {e}", mpath.display())),
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", mpath.display()))?;
    let file = File::open(tape).map_err(|e| format!("{}: {e}", tape.display()))?;
    let total = file
        .metadata()
        .map_err(|e| format!("{}: {e}", tape.display()))?
        .len();
    let mut covered = file.take(manifest.bytes);
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = covered
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", tape.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    let got = hex(&hash.finalize());
    if got != manifest.sha256 || bytes != manifest.bytes {
        return Err(format!(
            "{}: does not match its manifest {}: its first {} bytes hash to {got}, the manifest says {} bytes hashing to {}; the tape was changed or truncated",
            tape.display(),
            mpath.display(),
            bytes,
            manifest.bytes,
            manifest.sha256,
        ));
    }
    Ok(if total > manifest.bytes {
        let extra = total - manifest.bytes;
        Verified::Appended(manifest, extra)
    } else {
        Verified::Exact(manifest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::snapshot::{PgssRow, StatDatabaseRow};

    fn header(mode: &str) -> Header {
        Header {
            tape: MAGIC.into(),
            version: 1,
            source: "bench".into(),
            target: "postgres://w:***@h:5432/bench?sslmode=prefer".into(),
            residuals: mode.into(),
            motifd: "test".into(),
        }
    }

    fn snap(t: f64, calls: u64) -> Snapshot {
        Snapshot {
            t,
            pgss: vec![PgssRow {
                query_id: "q".into(),
                calls,
                total_exec_time_ms: calls as f64 * 0.1,
                own: false,
            }],
            stat_database: vec![StatDatabaseRow {
                datname: "bench".into(),
                blks_hit: calls * 10,
                blks_read: calls,
            }],
            ..Snapshot::default()
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("motifd-tape-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn lines(path: &Path) -> Vec<Line> {
        let text = std::fs::read(path).unwrap();
        text.split(|&b| b == b'\n')
            .map(|l| parse_line(l).unwrap())
            .filter(|l| !matches!(l, Line::Blank))
            .collect()
    }

    #[test]
    fn segments_append_and_the_manifest_covers_the_whole_file() {
        let d = dir("segments");
        let path = d.join("t.jsonl");
        let mut w = TapeWriter::open(&path, &header("improved")).unwrap();
        w.append(&snap(1.5, 10)).unwrap();
        w.append(&snap(2.5, 20)).unwrap();
        let first = w.close().unwrap();
        assert_eq!((first.snapshots, first.segments), (2, 1));
        assert_eq!(verify(&path), Ok(Verified::Exact(first.clone())));
        let mut w = TapeWriter::open(&path, &header("reference")).unwrap();
        w.append(&snap(9.0, 5)).unwrap();
        // A running daemon: what the manifest covers still verifies.
        assert!(matches!(verify(&path), Ok(Verified::Appended(_, n)) if n > 0));
        let second = w.close().unwrap();
        assert_eq!((second.snapshots, second.segments), (3, 2));
        assert_eq!((second.first_t, second.last_t), (Some(1.5), Some(9.0)));
        assert_eq!(second.bytes, std::fs::metadata(&path).unwrap().len());
        let kinds: Vec<&str> = lines(&path)
            .iter()
            .map(|l| match l {
                Line::Header(_) => "h",
                Line::Snapshot(_) => "s",
                Line::Blank => "b",
            })
            .collect();
        assert_eq!(kinds, ["h", "s", "s", "h", "s"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_changed_tape_is_refused_and_a_missing_manifest_is_reported() {
        let d = dir("changed");
        let path = d.join("t.jsonl");
        let mut w = TapeWriter::open(&path, &header("improved")).unwrap();
        w.append(&snap(1.0, 10)).unwrap();
        w.close().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 5;
        bytes[at] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = verify(&path).unwrap_err();
        assert!(err.contains("does not match its manifest"), "{err}");
        std::fs::remove_file(manifest_path(&path)).unwrap();
        assert_eq!(verify(&path), Ok(Verified::Unverified));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_line_cut_by_a_crash_is_ended_before_the_next_segment() {
        let d = dir("cut");
        let path = d.join("t.jsonl");
        let mut w = TapeWriter::open(&path, &header("improved")).unwrap();
        w.append(&snap(1.0, 10)).unwrap();
        drop(w); // no manifest: killed
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"t":2.0,"pgss":[{"id":"q","ca"#).unwrap();
        drop(f);
        let w = TapeWriter::open(&path, &header("improved")).unwrap();
        let m = w.close().unwrap();
        assert_eq!((m.snapshots, m.segments), (1, 2));
        let text = std::fs::read_to_string(&path).unwrap();
        let cut: Vec<&str> = text
            .lines()
            .filter(|l| parse_line(l.as_bytes()).is_err())
            .collect();
        assert_eq!(cut, [r#"{"t":2.0,"pgss":[{"id":"q","ca"#]);
        assert!(matches!(lines_ok(&text).last(), Some(Line::Header(_))));
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn lines_ok(text: &str) -> Vec<Line> {
        text.lines()
            .filter_map(|l| parse_line(l.as_bytes()).ok())
            .collect()
    }

    #[test]
    fn foreign_lines_are_refused() {
        assert!(parse_line(br#"{"tape":"something-else","version":1,"source":"","target":"","residuals":"","motifd":""}"#).is_err());
        assert!(parse_line(b"not json").is_err());
        assert!(parse_line(br#"{"t":1e999}"#).is_err());
        assert!(matches!(parse_line(b"  "), Ok(Line::Blank)));
    }
}
