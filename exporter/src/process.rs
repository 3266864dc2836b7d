//! Standard `process_*` metrics read from `/proc` (Linux only).
//!
//! Read without `libc`: the crate forbids `unsafe`, so the clock-tick rate
//! and page size are not queried via `sysconf`. CPU time comes from
//! `/proc/self/stat` in clock ticks, assumed to be `USER_HZ` = 100, which is
//! what Linux exports to user space on every architecture it supports; RSS
//! comes from `VmRSS` in `/proc/self/status`, which is in kB and needs no page
//! size.

/// Linux's `USER_HZ`: the unit of the tick counts in `/proc/<pid>/stat`.
const USER_HZ: f64 = 100.0;

/// Process metrics for one snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    /// Start time of the process, seconds since the Unix epoch
    /// (`process_start_time_seconds`).
    pub start_time_seconds: f64,
    /// Resident set size, bytes (`process_resident_memory_bytes`).
    pub resident_memory_bytes: u64,
    /// User + system CPU time, seconds (`process_cpu_seconds_total`).
    pub cpu_seconds_total: f64,
}

impl ProcessStats {
    /// Reads the current process's values; `None` where `/proc` is missing or
    /// unreadable (then the `process_*` families are omitted).
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(&stat, &status, &boot)
    }

    /// Parses the contents of `/proc/self/stat`, `/proc/self/status` and
    /// `/proc/stat`.
    fn parse(stat: &str, status: &str, boot: &str) -> Option<Self> {
        // The command name (field 2) may contain spaces and ')': fields after
        // the last ')' are fixed. Field 3 (state) is the first of them.
        let after = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| -> Option<f64> { fields.get(n - 3)?.parse().ok() };
        let cpu_ticks = field(14)? + field(15)?;
        let start_ticks = field(22)?;
        let boot_time: f64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let rss_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(Self {
            start_time_seconds: boot_time + start_ticks / USER_HZ,
            resident_memory_bytes: rss_kb * 1024,
            cpu_seconds_total: cpu_ticks / USER_HZ,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_formats_with_awkward_command_names() {
        let stat =
            "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 1000 200";
        let status = "Name:\ta\nVmRSS:\t    2048 kB\nThreads:\t1\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let p = ProcessStats::parse(stat, status, boot).unwrap();
        assert_eq!(p.cpu_seconds_total, (250.0 + 50.0) / USER_HZ);
        assert_eq!(p.start_time_seconds, 1_700_000_000.0 + 12345.0 / USER_HZ);
        assert_eq!(p.resident_memory_bytes, 2048 * 1024);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let p = ProcessStats::read().expect("/proc is readable on Linux");
        assert!(p.resident_memory_bytes > 0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // Started before now, and not before the year 2000.
        assert!(p.start_time_seconds <= now + 1.0 && p.start_time_seconds > 946_684_800.0);
    }
}
