//! SIGHUP re-reads the config file: a valid one with a new grammar is applied
//! (a new motif watching a new class appears and detects episodes); an invalid
//! config or grammar is logged ("keeping the current grammar") and ignored — the
//! daemon keeps serving with the grammar it had.

mod common;

use common::*;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

const NEW_MOTIF: &str = "checkout_latency_spike";
const NEW_CLASS: &str = "checkout_latency";

fn grammar_with_new_motif() -> String {
    format!(
        "extend_defaults = true\n\n[[motif]]\nname = \"{NEW_MOTIF}\"\nclass = \"{NEW_CLASS}\"\n\
         rho = 0.9\nsigma0 = 0.05\ndrift_threshold = 0.2\nslew_threshold = 0.5\nmin_dwell_seconds = 3\n"
    )
}

/// One episode's worth of `NEW_CLASS` samples starting at `t0`: quiet, a burst
/// above the slew threshold, then quiet long enough to close by dwell.
fn episode_lines(t0: u64) -> (String, usize) {
    let mut text = String::new();
    let mut n = 0;
    for i in 0..40u64 {
        let v = if (5..10).contains(&i) { 0.9 } else { 0.01 };
        text.push_str(&format!("{}.0,{NEW_CLASS},shop-1,{v}\n", t0 + i));
        n += 1;
    }
    (text, n)
}

fn send(addr: SocketAddr, text: &str) {
    let mut c = connect(addr);
    c.write_all(text.as_bytes()).unwrap();
}

#[test]
fn sighup_applies_a_valid_grammar_and_keeps_the_current_one_on_a_bad_config() {
    let dir = Scratch::new("sighup");
    let episodes = dir.path("episodes.jsonl");
    let grammar = dir.write("grammar.toml", grammar_with_new_motif());
    let config = dir.write("motifd.toml", "window = 1\n");
    let mut daemon = Daemon::listening(&[
        "--config",
        config.to_str().unwrap(),
        "--episodes-out",
        episodes.to_str().unwrap(),
        "--idle-flush",
        "3600",
    ]);
    let ingest = daemon.ingest_addr();

    // Before: the default grammar does not know the class.
    let (lines, n) = episode_lines(1_700_000_000);
    send(ingest, &lines);
    let m = daemon.wait_metrics(Duration::from_secs(30), "the first lines", |m| {
        m.received() == n as u64
    });
    assert_eq!(m.rejected_for("unknown_class"), n as u64, "{}", m.summary());
    assert_eq!(m.episodes(NEW_MOTIF), None);

    // A valid config naming the new grammar: applied.
    std::fs::write(
        &config,
        format!("window = 1\ngrammar = {:?}\n", grammar.to_str().unwrap()),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon.wait_for_log(
        "SIGHUP: grammar replaced (6 motifs)",
        Duration::from_secs(30),
    );
    daemon.wait_metrics(Duration::from_secs(30), "the new motif's series", |m| {
        m.episodes(NEW_MOTIF) == Some(0) && m.episodes("cache_collapse").is_some()
    });
    let (lines, n2) = episode_lines(1_700_000_100);
    send(ingest, &lines);
    let m = daemon.wait_metrics(
        Duration::from_secs(30),
        "an episode of the new motif",
        |m| m.episodes(NEW_MOTIF) == Some(1),
    );
    assert_eq!(m.received(), (n + n2) as u64);
    assert_eq!(m.rejected_for("unknown_class"), n as u64, "{}", m.summary());

    // Invalid configs: logged and ignored, twice over (a bad key in the config
    // file, then a bad value in the grammar it names).
    std::fs::write(&config, "window = 1\nwindw = 2\n").unwrap();
    daemon.signal("HUP");
    daemon.wait_for_log("unknown field `windw`", Duration::from_secs(30));
    std::fs::write(
        &grammar,
        grammar_with_new_motif().replace("rho = 0.9", "rho = 7"),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!("window = 1\ngrammar = {:?}\n", grammar.to_str().unwrap()),
    )
    .unwrap();
    daemon.signal("HUP");
    poll(Duration::from_secs(30), "two refused reloads", || {
        (daemon
            .stderr()
            .matches("SIGHUP: keeping the current grammar")
            .count()
            == 2)
            .then_some(())
    });
    let log = daemon.stderr();
    let refusal = log
        .lines()
        .rfind(|l| l.contains("keeping the current grammar"))
        .unwrap();
    assert!(
        refusal.contains("rho"),
        "the message names the key: {refusal}"
    );
    assert_eq!(log.matches("SIGHUP: grammar replaced").count(), 1, "{log}");

    // Still serving with the grammar applied before.
    let (status, _) = http_get(daemon.metrics_addr(), "/healthz").unwrap();
    assert_eq!(status, 200);
    let (lines, n3) = episode_lines(1_700_000_200);
    send(ingest, &lines);
    let m = daemon.wait_metrics(Duration::from_secs(30), "a second episode", |m| {
        m.episodes(NEW_MOTIF) == Some(2)
    });
    assert_eq!(m.received(), (n + n2 + n3) as u64);
    assert_eq!(m.rejected_for("unknown_class"), n as u64, "{}", m.summary());
    assert!(m.episodes("plan_regression_onset").is_some());
    m.assert_conserved();
    daemon.terminate();

    let log = std::fs::read_to_string(&episodes).unwrap();
    let new: Vec<&str> = log.lines().filter(|l| l.contains(NEW_MOTIF)).collect();
    assert_eq!(new.len(), 2, "{log}");
    assert!(new[0].contains("\"t_start\":1700000105.0"), "{}", new[0]);
    println!("valid reload applied (6 motifs, 2 {NEW_MOTIF} episodes), 2 invalid reloads refused");
}
