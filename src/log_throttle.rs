//! Log lines about repeated events (rejected lines, refused connections,
//! failed writes), limited so a flood of the event cannot flood the log: the
//! first few are logged one by one, then at most one summary per interval with
//! the number seen since the last line. Every event is counted in a metric
//! besides; the log only has to say that it is happening.

use std::time::{Duration, Instant};

/// Decides which occurrences of one kind of event are logged.
#[derive(Debug)]
pub struct Throttle {
    first: u64,
    every: Duration,
    seen: u64,
    unlogged: u64,
    last_line: Option<Instant>,
}

/// What to log for one occurrence.
#[derive(Debug, PartialEq, Eq)]
pub enum Say {
    /// Log this occurrence itself (one of the first few).
    This,
    /// Log a summary: this many occurrences since the last line (this one
    /// included), `total` in all.
    Summary {
        /// Occurrences since the last line.
        since: u64,
        /// Occurrences in all.
        total: u64,
    },
    /// Log nothing now.
    Nothing,
}

impl Throttle {
    /// The first `first` occurrences logged one by one, then a summary at most
    /// every `every`.
    pub fn new(first: u64, every: Duration) -> Self {
        Self {
            first,
            every,
            seen: 0,
            unlogged: 0,
            last_line: None,
        }
    }

    /// One line every ten seconds at most, from the first occurrence on.
    pub fn every_ten_seconds() -> Self {
        Self::new(0, Duration::from_secs(10))
    }

    /// Records one occurrence; says what to log for it.
    pub fn occurred(&mut self) -> Say {
        self.seen += 1;
        if self.seen <= self.first {
            self.last_line = Some(Instant::now());
            return Say::This;
        }
        self.unlogged += 1;
        if self.last_line.is_some_and(|t| t.elapsed() < self.every) {
            return Say::Nothing;
        }
        self.last_line = Some(Instant::now());
        let since = std::mem::take(&mut self.unlogged);
        Say::Summary {
            since,
            total: self.seen,
        }
    }

    /// Occurrences so far.
    pub fn total(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_ones_then_one_summary_per_interval() {
        let mut t = Throttle::new(2, Duration::from_secs(3600));
        assert_eq!(t.occurred(), Say::This);
        assert_eq!(t.occurred(), Say::This);
        // The interval since the last line has not passed: held back.
        assert_eq!(t.occurred(), Say::Nothing);
        assert_eq!(t.occurred(), Say::Nothing);
        assert_eq!(t.total(), 4);

        let mut t = Throttle::new(0, Duration::ZERO);
        assert_eq!(t.occurred(), Say::Summary { since: 1, total: 1 });
        assert_eq!(t.occurred(), Say::Summary { since: 1, total: 2 });
    }

    #[test]
    fn a_summary_counts_what_was_held_back() {
        let mut t = Throttle::new(0, Duration::from_millis(30));
        assert_eq!(t.occurred(), Say::Summary { since: 1, total: 1 });
        assert_eq!(t.occurred(), Say::Nothing);
        assert_eq!(t.occurred(), Say::Nothing);
        let wait = Instant::now();
        while wait.elapsed() < Duration::from_millis(40) {
            std::hint::spin_loop();
        }
        assert_eq!(t.occurred(), Say::Summary { since: 3, total: 4 });
    }
}
