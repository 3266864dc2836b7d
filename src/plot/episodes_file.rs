//! Reading an episodes file (the daemon's episode log, or `motifd replay`'s
//! JSON-lines output) instead of running the engine.

use super::model::EpisodeRow;
use crate::error::Failure;
use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// One record as written by `Episode::write_json` (other keys are ignored).
#[derive(Deserialize)]
struct Record {
    motif: String,
    channel: String,
    t_start: f64,
    t_end: f64,
    peak: Option<f64>,
    trust_sum: Option<f64>,
    samples: u64,
    closed_by: String,
}

/// What reading gave: the episodes and the number of lines refused.
pub struct Read {
    /// Episodes, in file order.
    pub episodes: Vec<EpisodeRow>,
    /// Lines that were not an episode record (each reported on stderr).
    pub refused: u64,
}

/// Most refused lines reported on stderr (all are counted).
const SHOW_REFUSED: u64 = 20;

/// Reads the JSON-lines episodes in `path`. A line that is not an episode record
/// is reported with its line number, counted and skipped.
pub fn read(path: &Path) -> Result<Read, Failure> {
    let file =
        std::fs::File::open(path).map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    let mut out = Read {
        episodes: Vec::new(),
        refused: 0,
    };
    for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(r) if r.t_start.is_finite() && r.t_end.is_finite() && r.t_start <= r.t_end => {
                out.episodes.push(EpisodeRow {
                    motif: r.motif,
                    channel: r.channel,
                    t_start: r.t_start,
                    t_end: r.t_end,
                    peak: r.peak.unwrap_or(f64::NAN),
                    trust_sum: r.trust_sum.unwrap_or(f64::NAN),
                    samples: r.samples,
                    closed_by: r.closed_by,
                });
            }
            other => {
                out.refused += 1;
                if out.refused <= SHOW_REFUSED {
                    let why = match other {
                        Err(e) => e.to_string(),
                        Ok(_) => "t_start and t_end must be finite, t_start <= t_end".into(),
                    };
                    eprintln!("{}:{}: not an episode record: {why}", path.display(), n + 1);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_counted_and_the_good_ones_kept() {
        let dir = std::env::temp_dir().join(format!("motifd-episodes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("e.jsonl");
        std::fs::write(
            &path,
            "{\"motif\":\"m\",\"channel\":\"<b>\",\"t_start\":1.0,\"t_end\":2.5,\"duration\":1.5,\"peak\":null,\"ema_at_boundary\":0.1,\"trust_sum\":1.0,\"trust_weight\":0.5,\"samples\":3,\"closed_by\":\"dwell\"}\n\
             not json\n\n\
             {\"motif\":\"m\",\"channel\":\"c\",\"t_start\":3.0,\"t_end\":2.0,\"peak\":1,\"trust_sum\":1,\"samples\":1,\"closed_by\":\"dwell\"}\n\
             {\"motif\":\"m\",\"channel\":\"c\",\"t_start\":3.0,\"t_end\":4.0,\"peak\":2.0,\"trust_sum\":1,\"samples\":2,\"closed_by\":\"evicted\"}",
        )
        .unwrap();
        let read = read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read.refused, 2);
        assert_eq!(read.episodes.len(), 2);
        assert_eq!(read.episodes[0].channel, "<b>");
        assert!(read.episodes[0].peak.is_nan());
        assert_eq!(read.episodes[1].closed_by, "evicted");
        assert_eq!(read.episodes[1].peak, 2.0);
    }
}
