//! `ServerConfig::realtime_priority`: which threads end up at `SCHED_FIFO`.
//! One test in its own process, so no other test's server threads are in
//! `/proc/self/task` while it looks.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::HttpClient;
use motifd_exporter::server::priority::make_current_thread_realtime;
use motifd_exporter::{ExporterCounters, Liveness, ScrapeServer, ServerConfig, SnapshotHandle};

/// (name, policy, real-time priority) of the threads of this process not in
/// `old`, from fields 2, 41 and 40 of `/proc/self/task/*/stat`; and the ids
/// of all of them.
fn threads(old: &HashSet<String>) -> (Vec<(String, u32, u32)>, HashSet<String>) {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap() {
        let entry = entry.unwrap();
        let id = entry.file_name().to_string_lossy().into_owned();
        ids.insert(id.clone());
        if old.contains(&id) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        let open = stat.find('(').unwrap();
        let close = stat.rfind(')').unwrap();
        let name = stat[open + 1..close].to_string();
        // Field 3 (state) is the first after the name.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let rt_priority = fields[40 - 3].parse().unwrap();
        let policy = fields[41 - 3].parse().unwrap();
        out.push((name, policy, rt_priority));
    }
    (out, ids)
}

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;

fn start(realtime_priority: Option<u8>) -> ScrapeServer {
    ScrapeServer::start(
        ServerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            realtime_priority,
            ..ServerConfig::default()
        },
        SnapshotHandle::new(common::busy_snapshot()),
        Liveness::default(),
        Arc::new(ExporterCounters::default()),
    )
    .unwrap()
}

/// The value of `dsfb_scrape_realtime_priority` in an exposition.
fn exported_priority(body: &[u8]) -> u64 {
    let text = std::str::from_utf8(body).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("dsfb_scrape_realtime_priority "))
        .unwrap_or_else(|| panic!("no dsfb_scrape_realtime_priority in\n{text}"));
    line.parse().unwrap()
}

/// Names of the scrape path's threads (15-character kernel names).
fn on_scrape_path(name: &str) -> bool {
    name.starts_with("motifd-scrape-") && name != "motifd-scrape-r"
}

#[test]
fn realtime_priority_reaches_every_thread_on_the_scrape_path_and_nothing_else() {
    // Whether this machine lets us use SCHED_FIFO at all, asked on a thread
    // of our own: the server's report must agree with it.
    let allowed = std::thread::spawn(|| make_current_thread_realtime(3))
        .join()
        .unwrap();

    let (_, before) = threads(&HashSet::new());
    let server = start(Some(3));
    // A live keep-alive connection, so its thread exists while we look.
    let mut client = HttpClient::connect(server.local_addr());
    let metrics = client.get("/metrics", &[]);
    assert_eq!(metrics.status, 200);
    let exported = exported_priority(&metrics.body);
    let (seen, _) = threads(&HashSet::new());
    let path: Vec<_> = seen.iter().filter(|t| on_scrape_path(&t.0)).collect();
    // The accept thread and the one connection's thread: nothing else
    // carries a scrape.
    let mut names: Vec<&str> = path.iter().map(|t| t.0.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["motifd-scrape-a", "motifd-scrape-c"], "{seen:?}");
    match (&allowed, server.realtime()) {
        (Ok(()), Some(Ok(3))) => {
            assert_eq!(exported, 3);
            for t in &path {
                assert_eq!((t.1, t.2), (SCHED_FIFO, 3), "{t:?} not at SCHED_FIFO 3");
            }
        }
        (Err(_), Some(Err(why))) => {
            assert!(why.contains("CAP_SYS_NICE"), "unhelpful refusal: {why}");
            assert_eq!(exported, 0, "refused, yet exported as in force");
            for t in &path {
                assert_eq!(t.1, SCHED_OTHER, "{t:?} changed policy although refused");
            }
        }
        (allowed, reported) => {
            panic!("the machine says {allowed:?}, the server reports {reported:?}")
        }
    }
    // Everything else keeps its policy: the reaper, and the threads of this
    // test (the one that started the server included).
    for t in seen.iter().filter(|t| !on_scrape_path(&t.0)) {
        assert_eq!(t.1, SCHED_OTHER, "{t:?} is not on the scrape path");
    }
    assert!(seen.iter().any(|t| t.0 == "motifd-scrape-r"));
    drop(client);
    server.stop();

    // Not asked for: nothing changes, and the server says so. (Only threads
    // started since are looked at.)
    let (_, before) = threads(&before);
    let server = start(None);
    let mut client = HttpClient::connect(server.local_addr());
    let metrics = client.get("/metrics", &[]);
    assert_eq!(metrics.status, 200);
    assert_eq!(exported_priority(&metrics.body), 0);
    assert_eq!(server.realtime(), None);
    let (seen, _) = threads(&before);
    assert_eq!(seen.iter().filter(|t| on_scrape_path(&t.0)).count(), 2);
    for t in seen {
        assert_eq!(t.1, SCHED_OTHER, "{t:?}");
    }
    drop(client);
    server.stop();

    assert!(make_current_thread_realtime(0).is_err());
    assert!(make_current_thread_realtime(100).is_err());
}
