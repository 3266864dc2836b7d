//! Keeps connections within the open-file limit.
//!
//! Every TCP producer holds one file; what the scrape server holds, per
//! connection and besides, it reports itself
//! ([`motifd_exporter::server::files_needed`]). Running out no longer stops
//! either listener (both retry accepts), but every connection past the limit
//! waits in the kernel's backlog until a file frees, and a flood of
//! producers could starve the scrape port of files or the reverse. So when
//! the soft `RLIMIT_NOFILE` cannot hold both caps at once, the caps are
//! lowered to fit at start, with a warning that says what to raise.

use motifd_exporter::server::{files_needed as scrape_files, FILES_PER_CONNECTION};

/// Files the daemon holds besides its connections: standard streams, the
/// ingest listener, the episode log, a checkpoint or textfile being written,
/// `/proc` reads for the process metrics, with room to spare.
pub const RESERVED: usize = 64;

/// Connection caps that fit the open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// TCP producers connected at once.
    pub producers: usize,
    /// Scrape connections served at once.
    pub scrape_connections: usize,
}

/// The soft open-file limit of this process (None: unlimited or unknown).
pub fn soft_open_files() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let row = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    row.split_whitespace().next()?.parse().ok()
}

/// The caps of `wanted` (0 where there is no listener) that fit this
/// process's open-file limit; logs a warning when they had to be lowered.
pub fn for_daemon(wanted: Caps) -> Caps {
    let limit = soft_open_files();
    let caps = fit(wanted, limit);
    if caps != wanted {
        log::warn!(
            "open-file limit {} is too low for {} producers and {} scrape connections (about {} files): serving at most {} and {}; raise it (LimitNOFILE, ulimit -n) to lift this",
            limit.unwrap_or(0),
            wanted.producers,
            wanted.scrape_connections,
            files_needed(wanted),
            caps.producers,
            caps.scrape_connections
        );
    }
    caps
}

/// Files the connections of `caps` can hold, with [`RESERVED`] and the
/// scrape server's own (none without a metrics listener).
pub fn files_needed(caps: Caps) -> usize {
    let scrape = if caps.scrape_connections > 0 {
        scrape_files(caps.scrape_connections)
    } else {
        0
    };
    RESERVED + caps.producers + scrape
}

/// Lowers `wanted` so that both caps fit `limit` files, if they do not. When
/// both must shrink, the scrape connections get a quarter of what is left
/// (a few scrapers are the normal case) and the producers the rest. A cap of
/// 0 (no listener) stays 0; any other stays at least 1.
pub fn fit(wanted: Caps, limit: Option<usize>) -> Caps {
    let Some(limit) = limit else { return wanted };
    if files_needed(wanted) <= limit {
        return wanted;
    }
    let within = |v: usize, cap: usize| v.min(cap).max(usize::from(cap > 0));
    let server = if wanted.scrape_connections > 0 {
        scrape_files(0)
    } else {
        0
    };
    let available = limit.saturating_sub(RESERVED + server);
    let scrape_connections = within(
        (available / 4 / FILES_PER_CONNECTION)
            .max(available.saturating_sub(wanted.producers) / FILES_PER_CONNECTION),
        wanted.scrape_connections,
    );
    let producers = within(
        available.saturating_sub(scrape_connections * FILES_PER_CONNECTION),
        wanted.producers,
    );
    Caps {
        producers,
        scrape_connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Caps = Caps {
        producers: 256,
        scrape_connections: 128,
    };

    fn files(c: Caps) -> usize {
        files_needed(c)
    }

    #[test]
    fn the_scrape_servers_own_files_are_counted() {
        let scrape_only = Caps {
            producers: 0,
            scrape_connections: 10,
        };
        assert_eq!(files(scrape_only), RESERVED + scrape_files(10));
        let ingest_only = Caps {
            producers: 10,
            scrape_connections: 0,
        };
        assert_eq!(files(ingest_only), RESERVED + 10);
    }

    #[test]
    fn caps_that_fit_are_kept() {
        assert_eq!(fit(DEFAULT, None), DEFAULT);
        assert_eq!(fit(DEFAULT, Some(65536)), DEFAULT);
        assert_eq!(fit(DEFAULT, Some(files(DEFAULT))), DEFAULT);
        // A shell's default of 1024 holds both default caps.
        assert_eq!(fit(DEFAULT, Some(1024)), DEFAULT);
    }

    #[test]
    fn caps_shrink_to_fit_the_limit() {
        let least = RESERVED + scrape_files(1) + 1;
        for limit in [64, 200, 256, 400, files(DEFAULT) - 1] {
            let c = fit(DEFAULT, Some(limit));
            assert!(
                c.producers >= 1 && c.scrape_connections >= 1,
                "{limit}: {c:?}"
            );
            assert!(c.producers <= DEFAULT.producers, "{limit}: {c:?}");
            assert!(c.scrape_connections <= DEFAULT.scrape_connections);
            if limit >= least {
                assert!(files(c) <= limit, "{limit}: {c:?} needs {}", files(c));
            }
        }
        // Producers keep their cap while the scrapers can have a quarter.
        let c = fit(DEFAULT, Some(files(DEFAULT) - 10));
        assert_eq!(c.producers, 256);
        assert_eq!(c.scrape_connections, 128 - 10 / FILES_PER_CONNECTION);
        // Tighter: the scrapers get a quarter of what is left.
        let available = 400 - RESERVED - scrape_files(0);
        let c = fit(DEFAULT, Some(400));
        assert_eq!(c.scrape_connections, available / 4 / FILES_PER_CONNECTION);
        assert_eq!(c.producers, available - c.scrape_connections);
    }

    #[test]
    fn a_missing_listener_stays_missing() {
        let scrape_only = Caps {
            producers: 0,
            scrape_connections: 128,
        };
        let c = fit(scrape_only, Some(300));
        assert_eq!(c.producers, 0);
        assert_eq!(
            c.scrape_connections,
            (300 - RESERVED - scrape_files(0)) / FILES_PER_CONNECTION
        );
        let ingest_only = Caps {
            producers: 256,
            scrape_connections: 0,
        };
        let c = fit(ingest_only, Some(150));
        assert_eq!(c.scrape_connections, 0);
        assert_eq!(c.producers, 150 - RESERVED);
    }
}
