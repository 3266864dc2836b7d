//! Keeps connections within the open-file limit.
//!
//! Every TCP producer holds one file and every scrape connection
//! [`FILES_PER_SCRAPE_CONNECTION`]. Running out is not a local failure:
//! tiny_http's accept thread stops for good at its first "too many open
//! files", and `/metrics` is gone until a restart. So when the soft
//! `RLIMIT_NOFILE` cannot hold both caps at once (a shell's default of 1024
//! cannot: 128 scrape connections alone need 1024), the caps are lowered to
//! fit at start, with a warning that says what to raise.

/// Files one scrape connection holds: the client socket and three handles on
/// it in the front layer, both ends of the private Unix socket, and
/// tiny_http's two handles on its end.
pub const FILES_PER_SCRAPE_CONNECTION: usize = 8;
/// Files held whatever the connections: standard streams, listeners, the
/// episode log, a textfile being written, refused connections being closed
/// or answered (up to 64 + 64 in the scrape front layer), with room to spare.
pub const RESERVED: usize = 192;

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

/// Files the connections of `caps` can hold, with [`RESERVED`].
pub fn files_needed(caps: Caps) -> usize {
    RESERVED + caps.producers + caps.scrape_connections * FILES_PER_SCRAPE_CONNECTION
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
    let available = limit.saturating_sub(RESERVED);
    let scrape_connections = within(
        (available / 4 / FILES_PER_SCRAPE_CONNECTION)
            .max(available.saturating_sub(wanted.producers) / FILES_PER_SCRAPE_CONNECTION),
        wanted.scrape_connections,
    );
    let producers = within(
        available.saturating_sub(scrape_connections * FILES_PER_SCRAPE_CONNECTION),
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
    fn caps_that_fit_are_kept() {
        assert_eq!(fit(DEFAULT, None), DEFAULT);
        assert_eq!(fit(DEFAULT, Some(65536)), DEFAULT);
        assert_eq!(fit(DEFAULT, Some(files(DEFAULT))), DEFAULT);
    }

    #[test]
    fn caps_shrink_to_fit_the_limit() {
        for limit in [200, 256, 400, 1024, 1300, files(DEFAULT) - 1] {
            let c = fit(DEFAULT, Some(limit));
            assert!(
                c.producers >= 1 && c.scrape_connections >= 1,
                "{limit}: {c:?}"
            );
            assert!(c.producers <= DEFAULT.producers, "{limit}: {c:?}");
            assert!(c.scrape_connections <= DEFAULT.scrape_connections);
            if limit > RESERVED + 1 + FILES_PER_SCRAPE_CONNECTION {
                assert!(files(c) <= limit, "{limit}: {c:?} needs {}", files(c));
            }
        }
        // A shell's default: producers keep their cap, scrapers get the rest.
        let c = fit(DEFAULT, Some(1024));
        assert_eq!(c.producers, 256);
        assert_eq!(c.scrape_connections, (1024 - RESERVED - 256) / 8);
    }

    #[test]
    fn a_missing_listener_stays_missing() {
        let scrape_only = Caps {
            producers: 0,
            scrape_connections: 128,
        };
        let c = fit(scrape_only, Some(512));
        assert_eq!(c.producers, 0);
        assert_eq!(c.scrape_connections, (512 - RESERVED) / 8);
    }
}
