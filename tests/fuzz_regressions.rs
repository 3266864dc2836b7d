//! Config inputs that made the `config_toml` fuzz target (fuzz/) fail, kept as
//! plain tests: each was accepted by the loader and then brought the daemon
//! down while it started.

use motifd::daemon::config::{from_toml, secs, MAX_CHANNEL_CAPACITY, MAX_INTERVAL_SECONDS};

fn refusal(text: &str) -> String {
    match from_toml(text) {
        Ok(c) => panic!("{text:?} accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// Found by the fuzzer (input ` idle_flush=18446744073709551608`): accepted as
/// finite and positive, then `Duration::from_secs_f64` panicked at start.
#[test]
fn intervals_beyond_a_duration_are_refused() {
    let err = refusal(" idle_flush=18446744073709551608");
    assert!(
        err.starts_with("config: idle_flush must be at most 1e9 seconds"),
        "{err}"
    );
    for key in ["textfile_interval", "fsync_interval", "checkpoint_interval"] {
        let err = refusal(&format!("{key} = 1e300"));
        assert!(
            err.starts_with(&format!("config: {key} must be at most")),
            "{err}"
        );
    }
}

/// Input `channel_capacity = 100000000000`: accepted (`>= 1`), then the
/// producer → engine channel, whose slots are allocated up front, aborted
/// the process asking for terabytes.
#[test]
fn a_channel_capacity_beyond_the_cap_is_refused() {
    let err = refusal("channel_capacity = 100000000000");
    assert!(
        err.starts_with("config: channel_capacity must be at most 65536"),
        "{err}"
    );
}

/// The largest accepted values still build what the daemon builds from them.
#[test]
fn the_largest_accepted_values_build() {
    let text = format!(
        "idle_flush = {MAX_INTERVAL_SECONDS:e}\ntextfile_interval = {MAX_INTERVAL_SECONDS:e}\n\
         fsync_interval = {MAX_INTERVAL_SECONDS:e}\nchannel_capacity = {MAX_CHANNEL_CAPACITY}\n"
    );
    let c = from_toml(&text).expect("limits are accepted");
    for v in [c.idle_flush, c.textfile_interval, c.fsync_interval] {
        assert_eq!(secs(v).as_secs_f64(), MAX_INTERVAL_SECONDS);
    }
    let (tx, rx) = motifd_engine::ingest::channel(c.channel_capacity);
    assert_eq!(tx.capacity(), Some(MAX_CHANNEL_CAPACITY));
    drop(rx);
}
