//! Files an operator or another local user got wrong: a symbolic link planted
//! where the daemon writes its temporary files, and an `--episodes-out` that
//! names a file holding something else. The daemon never writes through the
//! link and never touches the foreign file.

mod common;

use common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn symlinks_at_the_temporary_paths_are_replaced_not_written_through() {
    let dir = Scratch::new("hostile-symlinks");
    let victim = dir.write("victim.txt", "precious\n");
    let textfile = dir.path("motifd.prom");
    let checkpoint = dir.path("state.ckpt");
    for target in [&textfile, &checkpoint] {
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(".tmp");
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
    }
    let mut daemon = Daemon::listening(&[
        "--textfile",
        textfile.to_str().unwrap(),
        "--textfile-interval",
        "0.1",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]);
    daemon.wait_metrics(LIMIT, "a textfile write", |m| m.textfile_writes() >= 1);
    daemon.signal("USR1");
    daemon.wait_for_log("SIGUSR1: checkpoint written", LIMIT);
    daemon.terminate();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    for written in [&textfile, &checkpoint] {
        let meta = std::fs::symlink_metadata(written).unwrap();
        assert!(meta.is_file(), "{} is a regular file", written.display());
    }
    assert!(std::fs::read_to_string(&textfile)
        .unwrap()
        .contains("dsfb_samples_received_total"));
}

#[test]
fn an_episodes_out_that_is_not_an_episode_log_is_refused_untouched() {
    let dir = Scratch::new("hostile-episodes-out");
    let notes = dir.write("notes.txt", "a\nb-no-newline");
    let out = motifd()
        .args(["run", "--input", "/dev/null", "--metrics-listen", "off"])
        .arg("--episodes-out")
        .arg(&notes)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not an episode log"), "{stderr}");
    assert_eq!(std::fs::read(&notes).unwrap(), b"a\nb-no-newline");
}
