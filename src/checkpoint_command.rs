//! `motifd checkpoint FILE`: verifies a checkpoint's header and checksum and
//! prints its configuration fingerprint and headline figures, without the
//! configuration that wrote it. Exit status 2 when the file is not a sound
//! checkpoint.

use crate::cli::CheckpointArgs;
use crate::error::Failure;
use motifd_engine::checkpoint;
use std::process::ExitCode;

/// Runs `motifd checkpoint`.
pub fn run(args: &CheckpointArgs) -> Result<ExitCode, Failure> {
    let bytes = std::fs::read(&args.path)
        .map_err(|e| Failure::new(format!("{}: {e}", args.path.display())))?;
    let (fingerprint, meta, s) = checkpoint::inspect(&bytes)
        .map_err(|e| Failure::new(format!("{}: {e}", args.path.display())))?;
    let finite = |v: f64| v.is_finite().then_some(v);
    if args.json {
        let value = serde_json::json!({
            "format_version": checkpoint::FORMAT_VERSION,
            "bytes": bytes.len(),
            "written_unix": meta.written_unix,
            "episode_log_len": meta.episode_log_len,
            "fingerprint": fingerprint.digest(),
            "configuration": fingerprint.as_str(),
            "received": s.received,
            "flushed": s.flushed,
            "staged": s.staged,
            "dropped_out_of_window": s.dropped_out_of_window,
            "rejected": s.rejected,
            "watermark": finite(s.frontier),
            "newest": finite(s.newest),
            "episodes": s.episodes,
            "open_episodes": s.open_episodes,
            "channels_tracked": s.channels_tracked,
            "channel_names": s.channel_names,
        });
        println!("{value}");
    } else {
        println!(
            "checkpoint {} (format {}, {} bytes), fingerprint {}",
            args.path.display(),
            checkpoint::FORMAT_VERSION,
            bytes.len(),
            fingerprint.digest()
        );
        println!("written at       {:.3} (Unix seconds)", meta.written_unix);
        match meta.episode_log_len {
            Some(len) => println!("episode log      {len} bytes at the time"),
            None => println!("episode log      none"),
        }
        println!("received         {}", s.received);
        println!("flushed          {}", s.flushed);
        println!("staged           {}", s.staged);
        println!("dropped (late)   {}", s.dropped_out_of_window);
        println!("rejected         {}", s.rejected);
        println!("watermark        {}", s.frontier);
        println!("newest           {}", s.newest);
        println!("episodes closed  {}", s.episodes);
        println!("episodes open    {}", s.open_episodes);
        println!("channels tracked {}", s.channels_tracked);
        println!("channel names    {}", s.channel_names);
        println!("configuration:");
        for line in fingerprint.as_str().lines() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
