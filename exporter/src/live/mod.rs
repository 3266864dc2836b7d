//! The live episode view: the last closed episodes and the open ones, served
//! as a self-refreshing page at `/` and as `/episodes.json`.
//!
//! Like metric snapshots, the data is plain and published whole: the daemon's
//! engine thread builds a [`LiveEpisodes`] when something changed (at most once
//! per publish interval) and swaps it into the [`LiveHandle`]; request threads
//! clone the `Arc` and render without holding the lock. Its size is bounded by
//! [`LiveEpisodes::capacity`] rows of each kind, whatever the number of
//! channels, and channel names are cut to [`MAX_NAME_CHARS`] by the producer of
//! the data ([`clip_name`]).

pub mod json;
pub mod page;

use std::sync::Arc;

use parking_lot::Mutex;

/// Longest channel name kept for the live view, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// Most rows of each kind (closed, open) a live view may hold.
pub const MAX_CAPACITY: usize = 1000;

/// A closed episode.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedEpisode {
    /// Index into [`LiveEpisodes::motifs`].
    pub motif: u16,
    /// Channel name (cut to [`MAX_NAME_CHARS`]).
    pub channel: Arc<str>,
    /// Opening time, event seconds.
    pub t_start: f64,
    /// Closing time, event seconds.
    pub t_end: f64,
    /// Largest |residual| in the episode.
    pub peak: f64,
    /// Samples in the episode.
    pub samples: u64,
    /// `dwell`, `end_of_stream` or `evicted`.
    pub closed_by: &'static str,
}

/// An episode still open.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenEpisode {
    /// Index into [`LiveEpisodes::motifs`].
    pub motif: u16,
    /// Channel name (cut to [`MAX_NAME_CHARS`]).
    pub channel: Arc<str>,
    /// Opening time, event seconds.
    pub t_start: f64,
}

/// What the live view shows.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEpisodes {
    /// Motif names, in grammar order.
    pub motifs: Vec<String>,
    /// The most recently closed episodes, oldest first, at most `capacity`.
    pub closed: Vec<ClosedEpisode>,
    /// Episodes closed since the daemon started.
    pub closed_total: u64,
    /// Open episodes, longest open first, at most `capacity`.
    pub open: Vec<OpenEpisode>,
    /// Episodes open now.
    pub open_total: u64,
    /// Newest event time the daemon has seen (NaN before the first sample).
    pub now: f64,
    /// Rows of each kind kept.
    pub capacity: usize,
}

impl Default for LiveEpisodes {
    fn default() -> Self {
        Self {
            motifs: Vec::new(),
            closed: Vec::new(),
            closed_total: 0,
            open: Vec::new(),
            open_total: 0,
            now: f64::NAN,
            capacity: 0,
        }
    }
}

/// Shared access to the latest [`LiveEpisodes`]; empty until the daemon
/// publishes the first one (the server then keeps its plain index page).
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LiveHandle {
    current: Arc<Mutex<Option<Arc<LiveEpisodes>>>>,
}

impl LiveHandle {
    /// The latest view, if any was published.
    pub fn load(&self) -> Option<Arc<LiveEpisodes>> {
        self.current.lock().clone()
    }

    /// Makes `next` current.
    pub fn publish(&self, next: Arc<LiveEpisodes>) {
        *self.current.lock() = Some(next);
    }
}

/// `name` cut to [`MAX_NAME_CHARS`] characters (with `…` when cut), as the
/// live view stores it.
pub fn clip_name(name: &str) -> Arc<str> {
    match name.char_indices().nth(MAX_NAME_CHARS) {
        None => Arc::from(name),
        Some((end, _)) => Arc::from(format!("{}…", &name[..end]).as_str()),
    }
}

/// Time of day of event time `t` in UTC, `HH:MM:SS.mmm` (the page's clock
/// labels; the date is in the page header as Unix seconds).
pub fn clock(t: f64) -> String {
    if !t.is_finite() {
        return "–".into();
    }
    let ms = (t.rem_euclid(86_400.0) * 1000.0).round() as u64 % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_on_a_character_boundary() {
        assert_eq!(&*clip_name("short"), "short");
        let long = "é".repeat(MAX_NAME_CHARS + 5);
        let cut = clip_name(&long);
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(clock(1_700_000_000.25), "22:13:20.250");
        assert_eq!(clock(f64::NAN), "–");
        assert_eq!(clock(-1.0), "23:59:59.000");
    }
}
