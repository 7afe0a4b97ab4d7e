//! Liveness of a worker (supervisor.md §4): when silence means stuck.

use crate::model::{Thread, ThreadStatus};
use crate::process::procfs;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// How long CPU use is averaged over before it is compared with the adapter's
/// `busy_cpu_percent` (docs/stall-measurements.md): over 10 s a waiting Claude Code used
/// at most 1.0 % of a core and a waiting Codex 0.4 %, while single seconds of Claude's
/// timers reached 4 %; a tool command computing for one second of the ten still reads
/// 10 %. Shorter when the stall timeout is short: at most half of it.
const CPU_WINDOW: Duration = Duration::from_secs(10);

/// The three clocks of a worker (supervisor.md §4): its last output byte, the last CPU
/// progress of its processes, and its last inbox activity. Stalled means none of them
/// moved for the stall timeout; a thread blocked on the leader's answer never stalls.
/// Before the first byte of output, the first-output deadline applies on its own (a CLI
/// that hangs before printing anything may still tick its event loop).
pub struct Liveness {
    stall_timeout: Duration,
    first_output_timeout: Duration,
    started: Instant,
    last_output: Option<Instant>,
    last_activity: Instant,
    thread_updated_at: i64,
    cpu: CpuWindow,
}

impl Liveness {
    /// Any CPU time of the worker's processes counts as progress (`busy_cpu_percent` 0);
    /// see [`Liveness::with_busy_cpu_percent`].
    pub fn new(stall_timeout: Duration, first_output_timeout: Duration) -> Liveness {
        let now = Instant::now();
        Liveness {
            stall_timeout,
            first_output_timeout,
            started: now,
            last_output: None,
            last_activity: now,
            thread_updated_at: 0,
            cpu: CpuWindow::new(0.0, stall_timeout, procfs::ticks_per_second()),
        }
    }

    /// CPU counts as progress only when the worker's processes, children included, used
    /// more than `percent` of one core over a window (`CPU_WINDOW`, at most half the
    /// stall timeout); 0 keeps any CPU time as progress.
    pub fn with_busy_cpu_percent(mut self, percent: f64) -> Liveness {
        self.cpu = CpuWindow::new(percent, self.stall_timeout, procfs::ticks_per_second());
        self
    }

    pub fn output(&mut self) {
        let now = Instant::now();
        self.last_output = Some(now);
        self.last_activity = now;
    }

    /// `Some(reason)` when the worker has stalled.
    pub fn check(&mut self, thread: &Thread, pid: u32) -> Option<String> {
        self.check_at(Instant::now(), thread, || procfs::worker_cpu_ticks(pid))
    }

    /// [`Liveness::check`] at `now`, with `cpu_ticks` reading the CPU time of the
    /// worker's processes.
    fn check_at(
        &mut self,
        now: Instant,
        thread: &Thread,
        cpu_ticks: impl FnOnce() -> u64,
    ) -> Option<String> {
        if thread.updated_at != self.thread_updated_at {
            self.thread_updated_at = thread.updated_at;
            self.last_activity = now;
        }
        if thread.status == ThreadStatus::Blocked {
            self.last_activity = now;
            return None;
        }
        if self.last_output.is_none()
            && now.saturating_duration_since(self.started) >= self.first_output_timeout
        {
            return Some(format!(
                "no output at all in the first {}",
                humantime::format_duration(self.first_output_timeout)
            ));
        }
        let silent = now.saturating_duration_since(self.last_activity);
        // CPU is read only once the worker has been quiet for half the timeout: scanning
        // /proc costs more than the clocks above. No stall is declared before a whole
        // window of readings shows no progress; the window is at most half the timeout,
        // so it is complete by the time the timeout is reached.
        if silent >= self.stall_timeout / 2 {
            match self.cpu.observe(now, cpu_ticks) {
                None => return None,
                Some(true) => {
                    self.last_activity = now;
                    return None;
                }
                Some(false) => {}
            }
        } else {
            self.cpu.clear();
        }
        (silent >= self.stall_timeout).then(|| {
            let timeout = humantime::format_duration(self.stall_timeout);
            if self.cpu.threshold > 0.0 {
                format!(
                    "no output, inbox activity or CPU use above {}% of a core for {timeout}",
                    self.cpu.threshold
                )
            } else {
                format!("no output, CPU or inbox activity for {timeout}")
            }
        })
    }
}

/// The worker's CPU readings over the last window, and whether its use over a whole
/// window was progress.
struct CpuWindow {
    /// Percent of one core; at or below it, CPU use is idle noise. 0: any tick counts.
    threshold: f64,
    /// The span a verdict needs; with threshold 0, none: each reading is compared with
    /// the one before (any tick since is progress).
    window: Duration,
    /// Readings closer together than this are not taken (the last verdict stands):
    /// a busy database wakes the checks far more often than once a second.
    spacing: Duration,
    ticks_per_second: u64,
    /// (when, CPU ticks): the newest reading at least a window old, and all after it.
    readings: VecDeque<(Instant, u64)>,
    verdict: Option<bool>,
}

impl CpuWindow {
    fn new(threshold: f64, stall_timeout: Duration, ticks_per_second: u64) -> CpuWindow {
        let window = if threshold > 0.0 {
            CPU_WINDOW.min(stall_timeout / 2)
        } else {
            Duration::ZERO
        };
        CpuWindow {
            threshold,
            window,
            spacing: window / 10,
            ticks_per_second: ticks_per_second.max(1),
            readings: VecDeque::new(),
            verdict: None,
        }
    }

    fn clear(&mut self) {
        self.readings.clear();
        self.verdict = None;
    }

    /// Takes a reading at `at` (unless the last one is closer than the spacing) and
    /// says whether the worker's CPU use over the window ending then was above the
    /// threshold: `Some(true)` progress, `Some(false)` idle, `None` not yet a whole
    /// window of readings.
    fn observe(&mut self, at: Instant, cpu_ticks: impl FnOnce() -> u64) -> Option<bool> {
        if let Some(&(last, _)) = self.readings.back()
            && at.saturating_duration_since(last) < self.spacing
        {
            return self.verdict;
        }
        let ticks = cpu_ticks();
        // The anchor is the newest earlier reading at least a window old; those before
        // it are no longer needed.
        while self.readings.len() >= 2
            && at.saturating_duration_since(self.readings[1].0) >= self.window
        {
            self.readings.pop_front();
        }
        self.verdict = match self.readings.front() {
            Some(&(then, before)) if at.saturating_duration_since(then) >= self.window => {
                // A drop (a process reaped outside the worker's) counts as no use.
                Some(self.busy(
                    ticks.saturating_sub(before),
                    at.saturating_duration_since(then),
                ))
            }
            _ => None,
        };
        self.readings.push_back((at, ticks));
        self.verdict
    }

    /// Whether `used` ticks over `span` are more than the threshold's share of a core.
    fn busy(&self, used: u64, span: Duration) -> bool {
        if self.threshold <= 0.0 {
            return used > 0;
        }
        let core_ticks = span.as_secs_f64() * self.ticks_per_second as f64;
        core_ticks > 0.0 && used as f64 * 100.0 > self.threshold * core_ticks
    }

    /// The share of one core, in percent, over the current window (for the tests).
    #[cfg(test)]
    fn share(&self) -> Option<f64> {
        let (&(first, before), &(last, after)) = (self.readings.front()?, self.readings.back()?);
        let span = last.saturating_duration_since(first).as_secs_f64();
        (span > 0.0).then(|| {
            after.saturating_sub(before) as f64 * 100.0 / (span * self.ticks_per_second as f64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Priority;

    const SECOND: Duration = Duration::from_secs(1);

    fn thread(status: ThreadStatus, updated_at: i64) -> Thread {
        Thread {
            thread_id: "r/t/attempt-1".into(),
            run_id: Some("r".into()),
            task_id: Some("t".into()),
            subject: "t".into(),
            created_by: "leader".into(),
            assigned_to: "worker".into(),
            status,
            priority: Priority::Normal,
            created_at: 0,
            updated_at,
        }
    }

    /// Feeds one reading a second, `per_second[i]` ticks in second `i`, from `t0`;
    /// returns the verdicts.
    fn feed(window: &mut CpuWindow, t0: Instant, per_second: &[u64]) -> Vec<Option<bool>> {
        let mut total = 0;
        let mut verdicts = vec![window.observe(t0, || 0)];
        for (i, ticks) in per_second.iter().enumerate() {
            total += ticks;
            verdicts.push(window.observe(t0 + SECOND * (i as u32 + 1), || total));
        }
        verdicts
    }

    /// The ticks a second of a Claude Code waiting on a dead stream (measured, see
    /// docs/stall-measurements.md): one tick in about 40 % of the seconds, now and then 3.
    const CLAUDE_WAITING: [u64; 30] = [
        3, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0,
    ];

    #[test]
    fn idle_ticks_are_not_progress_over_a_window() {
        let t0 = Instant::now();
        let mut window = CpuWindow::new(5.0, Duration::from_secs(900), 100);
        assert_eq!(window.window, CPU_WINDOW);
        let verdicts = feed(&mut window, t0, &CLAUDE_WAITING);
        // No verdict before a whole window (10 s) of readings, idle after it.
        assert!(verdicts[..10].iter().all(Option::is_none), "{verdicts:?}");
        assert!(
            verdicts[10..].iter().all(|v| *v == Some(false)),
            "{verdicts:?}"
        );
        // The window holds the anchor and the readings after it, no more.
        assert_eq!(window.readings.len(), 11);
        let share = window.share().unwrap();
        assert!((share - 0.5).abs() < 1e-9, "{share}");
    }

    #[test]
    fn the_same_ticks_are_progress_with_threshold_zero() {
        let t0 = Instant::now();
        let mut window = CpuWindow::new(0.0, Duration::from_secs(900), 100);
        let verdicts = feed(&mut window, t0, &CLAUDE_WAITING);
        // The old rule: each reading against the one before, any tick is progress.
        assert_eq!(verdicts[0], None);
        for (i, ticks) in CLAUDE_WAITING.iter().enumerate() {
            assert_eq!(verdicts[i + 1], Some(*ticks > 0), "second {i}");
        }
        assert_eq!(window.readings.len(), 2);
    }

    #[test]
    fn a_busy_second_counts_only_as_its_share_of_the_window() {
        let t0 = Instant::now();
        let mut window = CpuWindow::new(5.0, Duration::from_secs(900), 100);
        // 40 ticks in one second is 40 % of a core then, 4 % over the 10 s window.
        let mut ticks = vec![0; 9];
        ticks.push(40);
        ticks.push(0);
        let verdicts = feed(&mut window, t0, &ticks);
        assert_eq!(verdicts[10], Some(false));
        assert_eq!(verdicts[11], Some(false));
        // 51 ticks in 10 s is 5.1 %: above a 5 % threshold; 50 is not.
        let mut window = CpuWindow::new(5.0, Duration::from_secs(900), 100);
        assert_eq!(
            feed(&mut window, t0, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 51])[10],
            Some(true)
        );
        let mut window = CpuWindow::new(5.0, Duration::from_secs(900), 100);
        assert_eq!(
            feed(&mut window, t0, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 50])[10],
            Some(false)
        );
    }

    #[test]
    fn a_child_computing_is_progress_until_a_window_after_it_stops() {
        let t0 = Instant::now();
        let mut window = CpuWindow::new(5.0, Duration::from_secs(900), 100);
        // A tool command using a core for 3 s, then nothing.
        let mut ticks = vec![0; 10];
        ticks.extend([100, 100, 100]);
        ticks.extend([0; 12]);
        let verdicts = feed(&mut window, t0, &ticks);
        assert_eq!(verdicts[10], Some(false));
        // Busy from its first second (10 %) until its last second leaves the window.
        assert!(
            verdicts[11..=22].iter().all(|v| *v == Some(true)),
            "{verdicts:?}"
        );
        assert!(
            verdicts[23..].iter().all(|v| *v == Some(false)),
            "{verdicts:?}"
        );
    }

    #[test]
    fn uneven_readings_are_averaged_over_their_real_span() {
        let t0 = Instant::now();
        let mut window = CpuWindow::new(5.0, Duration::from_secs(900), 100);
        assert_eq!(window.observe(t0, || 1000), None);
        // 9.9 s later: not yet a whole window.
        assert_eq!(
            window.observe(t0 + Duration::from_millis(9900), || 1050),
            None
        );
        // At 20 s the anchor is the 9.9 s reading (the newest a window old): 10 ticks
        // over 10.1 s, 1 %.
        assert_eq!(window.observe(t0 + 20 * SECOND, || 1060), Some(false));
        assert_eq!(window.readings.len(), 2);
        // A reading 0.5 s later is closer than the spacing (1 s): not taken.
        let mut read = false;
        assert_eq!(
            window.observe(t0 + Duration::from_millis(20_500), || {
                read = true;
                0
            }),
            Some(false)
        );
        assert!(!read);
        // From the 9.9 s reading (the newest a window old) to 21 s: 150 ticks over
        // 11.1 s, 13.5 %.
        assert_eq!(window.observe(t0 + 21 * SECOND, || 1200), Some(true));
        assert_eq!(window.readings.len(), 3);
        // Fewer ticks than before (a process reaped outside the worker's) is no use.
        assert_eq!(window.observe(t0 + 40 * SECOND, || 0), Some(false));
    }

    #[test]
    fn the_window_is_at_most_half_a_short_stall_timeout() {
        let window = CpuWindow::new(5.0, Duration::from_secs(4), 100);
        assert_eq!(window.window, 2 * SECOND);
        assert_eq!(window.spacing, Duration::from_millis(200));
        let window = CpuWindow::new(0.0, Duration::from_secs(4), 100);
        assert_eq!(window.window, Duration::ZERO);
        assert_eq!(window.spacing, Duration::ZERO);
    }

    /// Runs a `Liveness` with a 60 s stall timeout and a 5 % threshold, one check a
    /// second, the worker having printed at 0 and then ticking `per_second`; returns the
    /// second of the stall and its reason.
    fn stall_second(threshold: f64, per_second: impl Fn(u64) -> u64) -> Option<(u64, String)> {
        let mut live = Liveness::new(Duration::from_secs(60), Duration::from_secs(60))
            .with_busy_cpu_percent(threshold);
        live.cpu.ticks_per_second = 100;
        let t0 = live.started;
        live.last_output = Some(t0);
        live.thread_updated_at = 1;
        let working = thread(ThreadStatus::InProgress, 1);
        let mut total = 0;
        for second in 1..=300 {
            total += per_second(second);
            if let Some(reason) = live.check_at(t0 + SECOND * second as u32, &working, || total) {
                return Some((second, reason));
            }
        }
        None
    }

    #[test]
    fn a_worker_ticking_like_a_waiting_claude_stalls_on_time() {
        let claude = |s: u64| CLAUDE_WAITING[s as usize % CLAUDE_WAITING.len()];
        let (second, reason) = stall_second(5.0, claude).expect("a stall");
        // The first check with the timeout passed (CPU read from 30 s, a whole window
        // by 40 s).
        assert_eq!(second, 60);
        assert_eq!(
            reason,
            "no output, inbox activity or CPU use above 5% of a core for 1m"
        );
        // With threshold 0 its ticks are progress: it never stalls.
        assert_eq!(stall_second(0.0, claude), None);
    }

    #[test]
    fn a_worker_computing_now_and_then_is_not_stalled() {
        // A tool command using a core for 2 s every 30 s: each burst is 20 % of its
        // window, and no 60 s passes without one.
        let bursts = |s: u64| if s % 30 < 2 { 100 } else { 0 };
        assert_eq!(stall_second(5.0, bursts), None);
        // Once the bursts end (the last at 180 s and 181 s), the stall comes a timeout
        // after the check whose window saw the last one (180 s).
        let ends = |s: u64| if s < 200 && s % 30 < 2 { 100 } else { 0 };
        assert_eq!(stall_second(5.0, ends).map(|(second, _)| second), Some(240));
    }

    #[test]
    fn a_blocked_thread_never_stalls_and_inbox_activity_is_progress() {
        let mut live = Liveness::new(Duration::from_secs(60), Duration::from_secs(60))
            .with_busy_cpu_percent(5.0);
        let t0 = live.started;
        live.last_output = Some(t0);
        let blocked = thread(ThreadStatus::Blocked, 1);
        for second in 1..=600u32 {
            assert_eq!(live.check_at(t0 + SECOND * second, &blocked, || 0), None);
        }
        // Answered at 601 s (the thread changed): the timeout counts from there, and
        // again from the next update.
        let answered = thread(ThreadStatus::InProgress, 2);
        for second in 601..=659u32 {
            assert_eq!(live.check_at(t0 + SECOND * second, &answered, || 0), None);
        }
        let updated = thread(ThreadStatus::InProgress, 3);
        assert_eq!(live.check_at(t0 + SECOND * 660, &updated, || 0), None);
        for second in 661..=719u32 {
            assert_eq!(live.check_at(t0 + SECOND * second, &updated, || 0), None);
        }
        assert!(live.check_at(t0 + SECOND * 720, &updated, || 0).is_some());
    }

    #[test]
    fn the_first_output_deadline_applies_alone() {
        let mut live = Liveness::new(Duration::from_secs(3600), Duration::from_secs(30))
            .with_busy_cpu_percent(5.0);
        let t0 = live.started;
        let working = thread(ThreadStatus::InProgress, 1);
        // Computing hard, but printing nothing.
        let mut total = 0;
        for second in 1..30u32 {
            total += 100;
            assert_eq!(
                live.check_at(t0 + SECOND * second, &working, || total),
                None
            );
        }
        let reason = live.check_at(t0 + SECOND * 30, &working, || total + 100);
        assert_eq!(reason.as_deref(), Some("no output at all in the first 30s"));
    }
}
