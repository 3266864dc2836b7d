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
