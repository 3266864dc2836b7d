//! A bad configuration at start: `motifd run` exits non-zero, before listening,
//! with a message naming the offending key.

mod common;

use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs `motifd run ARGS` (bounded in time) and returns (exit code, stderr).
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = motifd()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("motifd run {args:?} did not exit");
        }
        std::thread::sleep(POLL);
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

#[test]
fn a_bad_config_file_exits_non_zero_naming_the_key() {
    let dir = Scratch::new("bad-config");
    let bad_grammar = dir.write(
        "grammar.toml",
        "[[motif]]\nname = \"m\"\nclass = \"c\"\nrho = 0.9\nsigma0 = -1\n\
         drift_threshold = 0.2\nslew_threshold = 0.5\nmin_dwell_seconds = 1\n",
    );
    let cases = [
        ("window = -1\n", "window"),
        ("windw = 3\n", "windw"),
        ("idle_flush = \"soon\"\n", "idle_flush"),
        ("ingest_listen = \"nowhere\"\n", "ingest_listen"),
        ("metrics_listen = \"localhost\"\n", "metrics_listen"),
        ("max_line = 0\n", "max_line"),
        ("channel_capacity = 0\n", "channel_capacity"),
        ("namespace = \"9lives\"\n", "namespace"),
        ("textfile_interval = 0\n", "textfile_interval"),
    ];
    for (text, key) in cases {
        let config = dir.write("motifd.toml", format!("{text}inputs = [\"-\"]\n"));
        let (code, err) = run(&["--config", config.to_str().unwrap()]);
        assert!(
            code.is_some_and(|c| c != 0),
            "{text:?}: exit {code:?}, stderr {err}"
        );
        assert!(
            err.contains(key),
            "{text:?}: the message names {key}: {err}"
        );
        assert!(
            !err.contains(" running: "),
            "{text:?}: it did not start: {err}"
        );
    }
    let config = dir.write(
        "motifd.toml",
        format!(
            "inputs = [\"-\"]\ngrammar = {:?}\n",
            bad_grammar.to_str().unwrap()
        ),
    );
    let (code, err) = run(&["--config", config.to_str().unwrap()]);
    assert!(code.is_some_and(|c| c != 0), "{err}");
    assert!(
        err.contains("sigma0"),
        "the message names the grammar key: {err}"
    );
}

#[test]
fn bad_flags_exit_non_zero_naming_the_key() {
    for (args, key) in [
        (&["--window", "-5"][..], "window"),
        (&["--channel-capacity", "0"][..], "channel_capacity"),
        (&["--metrics-listen", "nowhere:port"][..], "metrics_listen"),
    ] {
        let mut all = vec!["--input", "-"];
        all.extend_from_slice(args);
        let (code, err) = run(&all);
        assert!(code.is_some_and(|c| c != 0), "{args:?}: {err}");
        assert!(
            err.contains(key),
            "{args:?}: the message names {key}: {err}"
        );
    }
}
