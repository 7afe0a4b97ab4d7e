//! Liveness of a worker (supervisor.md §4): when silence means stuck.

use crate::model::{Thread, ThreadStatus};
use crate::process::procfs;
use std::time::Duration;
use tokio::time::Instant;

/// The three clocks of a worker (supervisor.md §4): its last output byte, the last CPU
/// progress of its session, and its last inbox activity. Stalled means none of them moved
/// for the stall timeout; a thread blocked on the leader's answer never stalls. Before
/// the first byte of output, the first-output deadline applies on its own (a CLI that
/// hangs before printing anything may still tick its event loop).
pub struct Liveness {
    stall_timeout: Duration,
    first_output_timeout: Duration,
    started: Instant,
    last_output: Option<Instant>,
    last_activity: Instant,
    thread_updated_at: i64,
    cpu_ticks: Option<u64>,
}

impl Liveness {
    pub fn new(stall_timeout: Duration, first_output_timeout: Duration) -> Liveness {
        let now = Instant::now();
        Liveness {
            stall_timeout,
            first_output_timeout,
            started: now,
            last_output: None,
            last_activity: now,
            thread_updated_at: 0,
            cpu_ticks: None,
        }
    }

    pub fn output(&mut self) {
        let now = Instant::now();
        self.last_output = Some(now);
        self.last_activity = now;
    }

    /// `Some(reason)` when the worker has stalled.
    pub fn check(&mut self, thread: &Thread, pid: u32) -> Option<String> {
        let now = Instant::now();
        if thread.updated_at != self.thread_updated_at {
            self.thread_updated_at = thread.updated_at;
            self.last_activity = now;
        }
        if thread.status == ThreadStatus::Blocked {
            self.last_activity = now;
            return None;
        }
        if self.last_output.is_none() && now - self.started >= self.first_output_timeout {
            return Some(format!(
                "no output at all in the first {}",
                humantime::format_duration(self.first_output_timeout)
            ));
        }
        let silent = now - self.last_activity;
        // CPU is read only once the worker has been quiet for half the timeout: scanning
        // /proc costs more than the clocks above. The first reading is the baseline; no
        // stall is declared before a second one shows no progress.
        if silent >= self.stall_timeout / 2 {
            let ticks = procfs::session_cpu_ticks(pid);
            let baseline = self.cpu_ticks.replace(ticks);
            match baseline {
                None => return None,
                Some(before) if before != ticks => {
                    self.last_activity = now;
                    return None;
                }
                Some(_) => {}
            }
        } else {
            self.cpu_ticks = None;
        }
        (now - self.last_activity >= self.stall_timeout).then(|| {
            format!(
                "no output, CPU or inbox activity for {}",
                humantime::format_duration(self.stall_timeout)
            )
        })
    }
}
