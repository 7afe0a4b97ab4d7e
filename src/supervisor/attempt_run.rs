//! One running attempt as a state machine, in the style of nextest's executor: the
//! state of the attempt lives in one struct ([`AttemptRun`]), its inputs in another
//! ([`Inputs`]: terminal output, the worker's exit, the thread's changes, the stop
//! signals, the flush and lease ticks), and the loop only waits for the next input and
//! hands it to the one handler for it. Every stop, whatever asked for it, goes through
//! [`AttemptRun::stop`], which records the first reason (the one the end is classified
//! by) and starts the one [`Stopper`]; a stop signal while the worker is being stopped
//! escalates it to SIGKILL at once.

use super::liveness::Liveness;
use super::output::{Findings, OutputPump, ThreadPoster};
use crate::adapter::Adapter;
use crate::error::{IoContext, Result};
use crate::model::ThreadStatus;
use crate::process::group::{self, Members, Stopper};
use crate::process::pty::{self, ExitStatus};
use crate::store::{ChangeDetector, Store};
use crate::time::now_ms;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::oneshot;
use tokio::time::{Instant, Interval, interval, sleep_until};

/// How often the supervisor renews the lease it holds on the worker's behalf.
const RENEW_EVERY: Duration = Duration::from_secs(10 * 60);
/// How often the thread is checked (cancel, liveness) when the database is quiet; any
/// commit by another process (a cancel) wakes the check at once.
const CONTROL_EVERY: Duration = Duration::from_secs(1);
/// How often parsed output is posted to the thread.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long a CLI that reported a definite failure may go on before it is stopped
/// (it usually exits by itself at once), and its grace after SIGTERM.
const FINDING_GRACE: Duration = Duration::from_millis(500);
/// After the worker exits, how long its terminal may stay open (a descendant holding
/// it) before the holders are killed, and how long after that the rest of its output
/// is waited for.
const LEAK_TIMEOUT: Duration = Duration::from_millis(500);
const LAST_OUTPUT_WAIT: Duration = Duration::from_secs(3);
/// The grace of what the worker left running in its group or session when it ended.
const LEFTOVER_GRACE: Duration = Duration::from_millis(200);

/// An exit the waiter could not read.
const UNKNOWN_EXIT: ExitStatus = ExitStatus {
    code: None,
    signal: None,
};

/// Why the supervisor stopped the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StopReason {
    /// The leader cancelled the attempt.
    Cancelled,
    /// The supervisor itself was told to stop.
    Signal,
    /// No progress for the stall timeout (the reason says which clock).
    Stalled(String),
    /// The CLI reported a rate limit or an auth failure and kept running.
    Finding,
    /// Another host took the attempt over (its host's heartbeat lapsed): this
    /// supervisor is fenced and writes nothing more.
    Fenced,
    /// The database is gone for good (dropped, or the server refuses the role now):
    /// nothing of the attempt can be recorded.
    DatabaseGone,
}

/// Where the worker is in its ending.
#[derive(Debug, Clone, Copy)]
enum ExitPhase {
    Running,
    /// It exited at `at`; its terminal may still be open.
    Exited {
        status: ExitStatus,
        at: Instant,
    },
    /// Its terminal outlived it by [`LEAK_TIMEOUT`]: whoever held it was killed.
    HoldersKilled {
        status: ExitStatus,
        at: Instant,
    },
}

impl ExitPhase {
    fn is_running(&self) -> bool {
        matches!(self, ExitPhase::Running)
    }

    fn status(&self) -> Option<ExitStatus> {
        match self {
            ExitPhase::Running => None,
            ExitPhase::Exited { status, .. } | ExitPhase::HoldersKilled { status, .. } => {
                Some(*status)
            }
        }
    }
}

/// The timed inputs: whichever is due first is the next one.
#[derive(Debug, Clone, Copy)]
enum Deadline {
    /// The CLI's moment to exit by itself after a definite finding is over.
    Finding,
    /// A partial line the worker left hanging (a prompt, a progress bar) may go out.
    IdleLine,
    /// The worker is gone but its terminal is still open.
    KillHolders,
    /// The terminal did not close even after its holders were killed.
    GiveUpOutput,
}

/// SIGTERM, SIGINT and SIGHUP to the supervisor: each asks it to stop its worker.
pub struct StopSignals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl StopSignals {
    /// Installs the handlers, then unblocks the signals (the launcher starts the
    /// supervisor with them blocked): one that came before is delivered now, and waits
    /// for the loop.
    pub fn install() -> Result<StopSignals> {
        let signals = StopSignals {
            term: signal(SignalKind::terminate()).doing("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).doing("cannot handle SIGINT")?,
            hup: signal(SignalKind::hangup()).doing("cannot handle SIGHUP")?,
        };
        crate::process::detach::unblock_stop_signals().doing("cannot unblock the stop signals")?;
        Ok(signals)
    }

    /// Waits for one of the stop signals.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

/// Where a running attempt's inputs come from.
pub(super) struct Inputs {
    output: pty::OutputRx,
    exit: oneshot::Receiver<ExitStatus>,
    signals: StopSignals,
    changes: ChangeDetector,
    flush_tick: Interval,
    renew_tick: Interval,
}

impl Inputs {
    /// Starts waiting for `worker`'s exit (on a blocking thread).
    pub fn new(
        worker: &mut pty::Worker,
        output: pty::OutputRx,
        signals: StopSignals,
        changes: ChangeDetector,
    ) -> Inputs {
        let (exit_tx, exit) = oneshot::channel();
        if let Some(waiter) = worker.take_waiter() {
            tokio::task::spawn_blocking(move || {
                let _ = exit_tx.send(waiter.wait());
            });
        }
        let mut renew_tick = interval(RENEW_EVERY);
        renew_tick.reset();
        Inputs {
            output,
            exit,
            signals,
            changes,
            flush_tick: interval(FLUSH_EVERY),
            renew_tick,
        }
    }
}

/// How a run ended, for the classification.
pub(super) struct Ran {
    pub exit: ExitStatus,
    pub stop: Option<StopReason>,
    /// A descendant escaped the worker's session and had to be killed.
    pub leaked: bool,
    pub findings: Findings,
    pub tail: String,
}

/// The state of one running attempt.
pub(super) struct AttemptRun<'a> {
    store: &'a Store,
    thread_id: &'a str,
    agent: &'a str,
    /// The supervisor's own pid (never killed as a holder or leftover).
    me: u32,
    /// The terminal stays open until the output is read to its end.
    worker: pty::Worker,
    term_grace: Duration,
    pump: OutputPump,
    poster: ThreadPoster,
    liveness: Liveness,
    control_every: Duration,
    /// A fixed deadline, so other inputs coming first cannot postpone the check.
    next_control: Instant,
    /// Why the worker is being stopped, once it is: the first reason wins.
    stop: Option<StopReason>,
    stopper: Option<Stopper>,
    /// A definite finding (a rate limit, an auth failure) while the CLI still runs: it
    /// is given a moment to exit by itself, then stopped, so the policy can move on
    /// instead of waiting out the CLI's own retries.
    finding_deadline: Option<Instant>,
    exit: ExitPhase,
    output_open: bool,
    leaked: bool,
}

impl<'a> AttemptRun<'a> {
    pub fn new(
        store: &'a Store,
        thread_id: &'a str,
        agent: &'a str,
        me: u32,
        adapter: &Adapter,
        (worker, pump): (pty::Worker, OutputPump),
    ) -> AttemptRun<'a> {
        let control_every = CONTROL_EVERY
            .min(adapter.stall_timeout() / 4)
            .min(adapter.first_output_timeout() / 4)
            .max(Duration::from_millis(50));
        AttemptRun {
            store,
            thread_id,
            agent,
            me,
            worker,
            term_grace: adapter.term_grace(),
            pump,
            poster: ThreadPoster::new(store.clone(), thread_id, agent),
            liveness: Liveness::new(adapter.stall_timeout(), adapter.first_output_timeout())
                .with_busy_cpu_percent(adapter.busy_cpu_percent()),
            control_every,
            next_control: Instant::now() + control_every,
            stop: None,
            stopper: None,
            finding_deadline: None,
            exit: ExitPhase::Running,
            output_open: true,
            leaked: false,
        }
    }

    /// Runs until the worker has exited and its output is read, then sweeps what it
    /// left and closes its output.
    pub async fn run(mut self, mut inputs: Inputs) -> Result<Ran> {
        while self.exit.is_running() || self.output_open {
            let next = self.next_deadline();
            tokio::select! {
                chunk = inputs.output.recv(), if self.output_open => self.on_chunk(chunk)?,
                status = &mut inputs.exit, if self.exit.is_running() => {
                    self.on_exit(status.unwrap_or(UNKNOWN_EXIT))
                }
                _ = sleep_until(next.map_or_else(Instant::now, |(at, _)| at)), if next.is_some() => {
                    if let Some((_, deadline)) = next {
                        self.on_deadline(deadline)?
                    }
                }
                _ = inputs.changes.wait(Some(self.next_control)), if self.watches_thread() => {
                    self.on_control().await
                }
                _ = inputs.signals.recv(), if self.exit.is_running() || self.stop.is_some() => {
                    self.on_stop_signal()
                }
                _ = inputs.flush_tick.tick() => self.poster.flush(&mut self.pump),
                _ = inputs.renew_tick.tick(), if self.exit.is_running() => self.on_renew().await,
            }
        }
        self.close().await
    }

    /// Stops the worker for `reason`: the first reason is the one recorded; later ones
    /// find the stopper already at work.
    fn stop(&mut self, reason: StopReason) {
        if self.stop.is_some() {
            return;
        }
        let mut grace = self.term_grace;
        match &reason {
            StopReason::Cancelled => {
                tracing::info!("the thread was cancelled; stopping the worker")
            }
            StopReason::Signal => {
                tracing::info!("the supervisor was told to stop; stopping the worker")
            }
            StopReason::Stalled(why) => {
                tracing::warn!(reason = %why, "the worker stalled; stopping it")
            }
            StopReason::Fenced => {
                tracing::warn!("the attempt was taken over by another host; stopping the worker")
            }
            StopReason::DatabaseGone => {
                tracing::error!(
                    "the database is gone for good; stopping the worker, as nothing of it can be recorded"
                )
            }
            StopReason::Finding => {
                grace = grace.min(FINDING_GRACE);
                tracing::info!(
                    finding = ?self.pump.findings.definite(),
                    "the CLI reported a definite failure and keeps running; stopping it"
                );
            }
        }
        let pid = self.worker.pid;
        self.stopper = Some(Stopper::start(pid, pid, grace));
        self.stop = Some(reason);
    }

    fn watches_thread(&self) -> bool {
        self.stop.is_none() && self.exit.is_running()
    }

    fn next_deadline(&self) -> Option<(Instant, Deadline)> {
        let finding = self
            .finding_deadline
            .filter(|_| self.watches_thread())
            .map(|at| (at, Deadline::Finding));
        let idle = self
            .pump
            .idle_deadline()
            .map(|at| (Instant::from_std(at), Deadline::IdleLine));
        let leak = match self.exit {
            _ if !self.output_open => None,
            ExitPhase::Running => None,
            ExitPhase::Exited { at, .. } => Some((at + LEAK_TIMEOUT, Deadline::KillHolders)),
            ExitPhase::HoldersKilled { at, .. } => {
                Some((at + LEAK_TIMEOUT + LAST_OUTPUT_WAIT, Deadline::GiveUpOutput))
            }
        };
        [finding, idle, leak]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
    }

    fn on_chunk(&mut self, chunk: Option<Vec<u8>>) -> Result<()> {
        let Some(bytes) = chunk else {
            self.output_open = false;
            return Ok(());
        };
        self.liveness.output();
        self.pump.chunk(&bytes, now_ms()).at(&self.pump.log_path)?;
        if self.finding_deadline.is_none()
            && self.watches_thread()
            && self.pump.findings.definite().is_some()
        {
            self.finding_deadline = Some(Instant::now() + FINDING_GRACE);
        }
        Ok(())
    }

    fn on_exit(&mut self, status: ExitStatus) {
        tracing::info!(exit = ?status, "worker exited");
        self.exit = ExitPhase::Exited {
            status,
            at: Instant::now(),
        };
    }

    fn on_deadline(&mut self, deadline: Deadline) -> Result<()> {
        match deadline {
            Deadline::Finding => self.stop(StopReason::Finding),
            Deadline::IdleLine => self.pump.idle(now_ms()).at(&self.pump.log_path)?,
            Deadline::KillHolders => self.kill_holders(),
            Deadline::GiveUpOutput => {
                tracing::warn!("the terminal did not close; giving up on the remaining output");
                self.output_open = false;
            }
        }
        Ok(())
    }

    /// The worker is gone but its terminal is still open: a descendant that left the
    /// session keeps it. Kills whoever holds it, and what is left of the group.
    fn kill_holders(&mut self) {
        let ExitPhase::Exited { status, at } = self.exit else {
            return;
        };
        self.exit = ExitPhase::HoldersKilled { status, at };
        if let Some(tty) = &self.worker.tty {
            let killed = group::kill_terminal_holders(tty, self.me);
            if !killed.is_empty() {
                self.leaked = true;
                tracing::warn!(
                    ?killed,
                    "killed processes still holding the worker's terminal"
                );
            }
        }
        match &self.stopper {
            Some(stopper) => stopper.escalate(),
            None => {
                let pid = self.worker.pid;
                self.stopper = Some(Stopper::start(pid, pid, Duration::ZERO));
            }
        }
    }

    /// The attempt's state: taken over by another host, its thread cancelled by the
    /// leader, or the worker stalled.
    async fn on_control(&mut self) {
        self.next_control = Instant::now() + self.control_every;
        if !self.store.fence_holds().await.unwrap_or(true) {
            self.stop(StopReason::Fenced);
            return;
        }
        if self.store.database_gone().is_some() {
            self.stop(StopReason::DatabaseGone);
            return;
        }
        let Ok(thread) = self.store.thread(self.thread_id).await else {
            return;
        };
        if thread.status == ThreadStatus::Cancelled {
            self.stop(StopReason::Cancelled);
        } else if let Some(reason) = self.liveness.check(&thread, self.worker.pid) {
            self.stop(StopReason::Stalled(reason));
        }
    }

    /// The first stop signal stops the worker; one more while it is being stopped kills
    /// it (its group and session) at once.
    fn on_stop_signal(&mut self) {
        match (&self.stop, &self.stopper) {
            (Some(_), Some(stopper)) => {
                tracing::warn!("the supervisor was told to stop again; killing the worker now");
                stopper.escalate();
            }
            _ => self.stop(StopReason::Signal),
        }
    }

    async fn on_renew(&mut self) {
        if let Err(e) = self
            .store
            .renew(self.thread_id, self.agent, super::run::LEASE_MS)
            .await
        {
            tracing::debug!(error = %e, "lease not renewed");
        }
    }

    /// Whatever the worker left in its process group or session goes with it, and so
    /// does whatever left the session and the terminal but still carries the attempt in
    /// its environment (a daemonized descendant).
    async fn sweep(&mut self) {
        let pid = self.worker.pid;
        let stopper = match self.stopper.take().filter(|s| !s.is_finished()) {
            Some(stopper) => {
                stopper.hurry(LEFTOVER_GRACE);
                Some(stopper)
            }
            None => {
                let leftovers = Members::of(pid, pid);
                (!leftovers.is_empty()).then(|| {
                    tracing::info!(?leftovers, "stopping what the worker left running");
                    Stopper::start(pid, pid, LEFTOVER_GRACE)
                })
            }
        };
        if let Some(stopper) = stopper {
            stopper.wait().await;
        }
        let db = super::db_for_workers(self.store);
        let escaped = group::kill_attempt_leftovers(self.thread_id, &db, self.me);
        if !escaped.is_empty() {
            self.leaked = true;
            tracing::warn!(
                ?escaped,
                "killed descendants that left the worker's session"
            );
        }
    }

    /// Sweeps, then reads the output to its end and posts the rest of it.
    async fn close(mut self) -> Result<Ran> {
        self.sweep().await;
        let AttemptRun {
            worker,
            mut pump,
            mut poster,
            exit,
            stop,
            leaked,
            ..
        } = self;
        // Only now, with the output read to its end, may the terminal go.
        drop(worker);
        pump.finish(now_ms()).at(&pump.log_path)?;
        poster.finish(&mut pump).await;
        let mut findings = pump.findings.clone();
        findings.last_text_line = pump.last_line();
        Ok(Ran {
            exit: exit.status().unwrap_or(UNKNOWN_EXIT),
            stop,
            leaked,
            findings,
            tail: pump.tail(),
        })
    }
}
