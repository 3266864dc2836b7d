//! Optional real-time scheduling of the scrape path.
//!
//! A scrape is served by its connection's thread, woken by the client's
//! request. While ingest keeps both cores busy, a woken thread of normal
//! priority can wait for the next scheduler tick (4 ms at `HZ=250`), so the
//! tail of scrape latency is ticks, not work (`docs/performance.md`).
//! `SCHED_FIFO` threads take a core as soon as they wake. They sleep on
//! sockets between requests, render for tens of microseconds and serve at
//! most `max_connections` clients, so they take little from ingest — but
//! every scrape preempts it, which is why this is opt-in.
//!
//! The policy is inherited by threads a thread spawns, so it is set on the
//! accept thread, whose connection threads inherit it. The thread that
//! starts the server keeps its own policy; the reaper stays normal.

use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, RealtimeThreadSchedulePolicy, ThreadPriority,
    ThreadPriorityValue, ThreadSchedulePolicy,
};

/// Highest `SCHED_FIFO` priority Linux accepts.
pub const MAX_REALTIME_PRIORITY: u8 = 99;

/// Moves the calling thread to `SCHED_FIFO` at `priority` (1..=99).
///
/// # Errors
/// The priority is out of range, or the kernel refused (without
/// `CAP_SYS_NICE`, `RLIMIT_RTPRIO` must be at least `priority`); the message
/// says how to allow it.
pub fn make_current_thread_realtime(priority: u8) -> Result<(), String> {
    if !(1..=MAX_REALTIME_PRIORITY).contains(&priority) {
        return Err(format!(
            "real-time priority {priority} is outside 1..={MAX_REALTIME_PRIORITY}"
        ));
    }
    let value = ThreadPriorityValue::try_from(priority).map_err(|e| e.to_string())?;
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .map_err(|e| {
        format!(
            "SCHED_FIFO priority {priority} refused ({e:?}): it needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {priority} (systemd: LimitRTPRIO={priority})"
        )
    })
}
