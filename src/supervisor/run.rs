//! The supervision loop of one attempt (see the module doc of [`super`]).

use super::liveness::Liveness;
use super::output::OutputPump;
use super::plan_launch;
use crate::adapter::parse::Parser;
use crate::brief::BriefContext;
use crate::config::Workers;
use crate::error::{Error, IoContext, Result};
use crate::model::ThreadStatus;
use crate::process::{group, procfs, pty};
use crate::store::{AttemptEnd, FinishKind, MessageInput, Store};
use crate::time::now_ms;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tokio::time::{Instant, interval, sleep_until};

/// The lease the supervisor holds on the worker's behalf, renewed while it runs.
const LEASE_MS: i64 = 60 * 60 * 1000;
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
/// it) before the holders are killed.
const LEAK_TIMEOUT: Duration = Duration::from_millis(500);

/// Runs the attempt whose thread is `thread_id` to its end, applies the retry policy,
/// and marks the attempt settled.
pub async fn supervise(store: &Store, thread_id: &str) -> Result<()> {
    let result = supervise_attempt(store, thread_id).await;
    // On an error the attempt stays unsettled: `orch up` finds it and recovers it.
    if result.is_ok() {
        store.mark_settled(thread_id).await?;
    }
    result
}

async fn supervise_attempt(store: &Store, thread_id: &str) -> Result<()> {
    // A supervisor told to stop (SIGTERM, SIGINT, SIGHUP) stops its worker first. The
    // handlers go in before anything else: a signal that came between the worker's start
    // and their installation killed the supervisor outright, leaving the attempt without
    // an end and the worker to the terminal's hang-up (seen once in CI; reproduced by
    // widening that window). The launcher starts the supervisor with these signals
    // blocked, so one from its very first moments waits here too; one that comes before
    // the worker starts is acted on as soon as it runs.
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate()).doing("cannot handle SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).doing("cannot handle SIGINT")?;
    let mut sighup = signal(SignalKind::hangup()).doing("cannot handle SIGHUP")?;
    crate::process::detach::unblock_stop_signals().doing("cannot unblock the stop signals")?;
    let (attempt, supervision) = store.attempt_by_thread(thread_id).await?;
    if !supervision.outcome.is_empty() {
        tracing::info!(outcome = %supervision.outcome, "attempt already ended; nothing to do");
        return Ok(());
    }
    let me = std::process::id();
    let my_start = procfs::stat(me).map(|s| s.start_time).unwrap_or(0);
    if let Some((other, other_start)) = store.claim_supervision(thread_id, me, my_start).await? {
        // Another supervisor holds the attempt (alive, or dead and left for `orch up`
        // to recover): never a second worker for one attempt.
        tracing::warn!(
            other,
            alive = procfs::is_same_process(other, other_start),
            "another supervisor holds this attempt; leaving"
        );
        return Ok(());
    }
    let task = store.task(&attempt.run_id, &attempt.task_id).await?;
    let run_config = store.run_config(&attempt.run_id).await?;
    let repo = (!attempt.repo_path.is_empty()).then(|| Path::new(&attempt.repo_path));
    let agent = attempt.assigned_to.clone();
    let context = BriefContext {
        previous: Some(store.brief_note(thread_id).await?).filter(|n| !n.is_empty()),
        resume_session: Some(store.resume_session(thread_id).await?).filter(|s| !s.is_empty()),
        worker_note: None,
    };
    let plan = match Workers::load(repo, &run_config)
        .map_err(Error::from)
        .and_then(|workers| plan_launch(store, &task, &attempt, &workers, &context))
    {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!(error = %e, "cannot plan the launch");
            return end_without_worker(store, thread_id, &agent, "spawn_failed", &e.message).await;
        }
    };
    // From here on, nothing this process writes (its diagnostics, the checks' output)
    // carries the worker's secrets.
    let redactor = plan.redactor();
    crate::redact::install(redactor.clone());
    let argv_shown = plan.redacted_argv();
    if let Some(dir) = plan.log_path.parent() {
        crate::paths::ensure_private_dir(dir)?;
    }
    write_private(&plan.prompt_path, plan.prompt.as_bytes())?;
    store
        .record_supervisor(
            thread_id,
            me,
            my_start,
            &plan.worker.profile,
            &plan.worker.adapter.name,
            &plan.log_path.display().to_string(),
        )
        .await?;
    // Claim on the worker's behalf, so a plain command counts as claimed.
    if let Err(e) = store.claim(thread_id, &agent, LEASE_MS).await {
        tracing::warn!(error = %e, "cannot claim the thread");
        let thread = store.thread(thread_id).await?;
        if thread.status.is_terminal() {
            return end_without_worker(
                store,
                thread_id,
                &agent,
                "cancelled",
                "the thread was closed before the worker started",
            )
            .await;
        }
    }
    let spec = pty::SpawnSpec {
        argv: plan.argv.clone(),
        cwd: plan.cwd.clone(),
        env: plan.env.clone(),
        stdin_text: plan.stdin_text.clone(),
    };
    let adapter = plan.worker.adapter.clone();
    let parser = Parser::new(
        adapter.output,
        adapter.rate_limit_regexes(),
        adapter.auth_failure_regexes(),
    );
    let mut pump = OutputPump::new(&plan.log_path, adapter.output, parser, redactor.clone())
        .at(&plan.log_path)?;
    let (mut worker, mut rx) = match pty::spawn(&spec) {
        Ok(started) => started,
        Err(error) => {
            let message = error.to_string();
            tracing::error!(%message, "spawn failed");
            let _ = pump.chunk(format!("orch: {message}\n").as_bytes(), now_ms());
            let _ = pump.finish(now_ms());
            return end_without_worker(store, thread_id, &agent, "spawn_failed", &message).await;
        }
    };
    let (pid, worker_start, tty) = (worker.pid, worker.start_time, worker.tty.clone());
    tracing::info!(pid, argv = ?argv_shown, cwd = %plan.cwd.display(), "worker started");
    store
        .record_worker(
            thread_id,
            pid,
            worker_start,
            json!({
                "adapter": adapter.name,
                "profile": plan.worker.profile,
                "argv": argv_shown,
                "pid": pid,
                "supervisor_pid": me,
                "log_path": plan.log_path.display().to_string(),
            }),
        )
        .await?;

    let (exit_tx, mut exit_rx) = tokio::sync::oneshot::channel();
    if let Some(waiter) = worker.take_waiter() {
        tokio::task::spawn_blocking(move || {
            let _ = exit_tx.send(waiter.wait());
        });
    }
    let mut exit: Option<pty::ExitStatus> = None;
    let mut exited_at: Option<Instant> = None;
    let mut output_open = true;
    let mut holders_killed = false;
    let mut leaked = false;
    let mut cancel_requested = false;
    let mut liveness = Liveness::new(adapter.stall_timeout(), adapter.first_output_timeout())
        .with_busy_cpu_percent(adapter.busy_cpu_percent());
    // A definite finding (a rate limit, an auth failure) while the CLI still runs: it
    // is given a moment to exit by itself, then stopped, so the policy can move on
    // instead of waiting out the CLI's own retries.
    let mut finding_deadline: Option<Instant> = None;
    let mut stopped_for_finding = false;
    let mut stalled: Option<String> = None;
    let mut flush_tick = interval(FLUSH_EVERY);
    let mut posting: Option<tokio::task::JoinHandle<()>> = None;
    let mut detector = store.change_detector().await?;
    // A fixed deadline, so other branches winning the select cannot postpone the check.
    let control_every = CONTROL_EVERY
        .min(adapter.stall_timeout() / 4)
        .min(adapter.first_output_timeout() / 4)
        .max(Duration::from_millis(50));
    let mut next_control = Instant::now() + control_every;
    let mut renew_tick = interval(RENEW_EVERY);
    renew_tick.reset();
    let mut stopped_by_signal = false;
    loop {
        if exit.is_some() && !output_open {
            break;
        }
        let leak_deadline = exited_at.map(|t| t + LEAK_TIMEOUT);
        let idle_deadline = pump.idle_deadline().map(Instant::from_std);
        tokio::select! {
            chunk = rx.recv(), if output_open => match chunk {
                Some(bytes) => {
                    liveness.output();
                    pump.chunk(&bytes, now_ms()).at(&plan.log_path)?;
                    if finding_deadline.is_none() && exit.is_none() && !cancel_requested
                        && pump.findings.definite().is_some()
                    {
                        finding_deadline = Some(Instant::now() + FINDING_GRACE);
                    }
                }
                None => output_open = false,
            },
            _ = sleep_until(finding_deadline.unwrap_or_else(Instant::now)), if finding_deadline.is_some() && exit.is_none() && !cancel_requested => {
                cancel_requested = true;
                stopped_for_finding = true;
                tracing::info!(finding = ?pump.findings.definite(), "the CLI reported a definite failure and keeps running; stopping it");
                let grace = adapter.term_grace().min(FINDING_GRACE);
                tokio::spawn(async move { group::terminate(pid, pid, grace).await });
            }
            _ = sleep_until(idle_deadline.unwrap_or_else(Instant::now)), if idle_deadline.is_some() => {
                // A partial line the worker left hanging (a prompt, a progress bar).
                pump.idle(now_ms()).at(&plan.log_path)?;
            }
            status = &mut exit_rx, if exit.is_none() => {
                exit = Some(status.unwrap_or(pty::ExitStatus { code: None, signal: None }));
                exited_at = Some(Instant::now());
                tracing::info!(?exit, "worker exited");
            }
            _ = sleep_until(leak_deadline.unwrap_or_else(Instant::now)), if leak_deadline.is_some() && output_open && !holders_killed => {
                // The worker is gone but its terminal is still open: a descendant that
                // left the session keeps it. Kill whoever holds it.
                holders_killed = true;
                if let Some(tty) = &tty {
                    let killed = group::kill_terminal_holders(tty, me);
                    if !killed.is_empty() {
                        leaked = true;
                        tracing::warn!(?killed, "killed processes still holding the worker's terminal");
                    }
                }
                group::terminate(pid, pid, Duration::ZERO).await;
            }
            _ = sleep_until(leak_deadline.map(|t| t + Duration::from_secs(3)).unwrap_or_else(Instant::now)), if leak_deadline.is_some() && output_open && holders_killed => {
                tracing::warn!("the terminal did not close; giving up on the remaining output");
                output_open = false;
            }
            _ = flush_tick.tick() => {
                // Posted in the background: the output keeps being read (and logged)
                // while the database is busy. One post at a time, in order.
                if posting.as_ref().is_none_or(|p| p.is_finished()) {
                    posting = Some(tokio::spawn(post_batch(
                        store.clone(),
                        thread_id.to_string(),
                        agent.clone(),
                        take_batch(&mut pump),
                    )));
                }
            }
            _ = detector.wait(Some(next_control)), if !cancel_requested && exit.is_none() => {
                next_control = Instant::now() + control_every;
                if let Ok(thread) = store.thread(thread_id).await {
                    if thread.status == ThreadStatus::Cancelled {
                        cancel_requested = true;
                        tracing::info!("the thread was cancelled; stopping the worker");
                        let grace = adapter.term_grace();
                        tokio::spawn(async move { group::terminate(pid, pid, grace).await });
                    } else if let Some(reason) = liveness.check(&thread, pid) {
                        cancel_requested = true;
                        tracing::warn!(%reason, "the worker stalled; stopping it");
                        stalled = Some(reason);
                        let grace = adapter.term_grace();
                        tokio::spawn(async move { group::terminate(pid, pid, grace).await });
                    }
                }
            }
            _ = async {
                tokio::select! {
                    _ = sigterm.recv() => {}
                    _ = sigint.recv() => {}
                    _ = sighup.recv() => {}
                }
            }, if !cancel_requested && exit.is_none() => {
                cancel_requested = true;
                stopped_by_signal = true;
                tracing::info!("the supervisor was told to stop; stopping the worker");
                let grace = adapter.term_grace();
                tokio::spawn(async move { group::terminate(pid, pid, grace).await });
            }
            _ = renew_tick.tick(), if exit.is_none() => {
                if let Err(e) = store.renew(thread_id, &agent, LEASE_MS).await {
                    tracing::debug!(error = %e, "lease not renewed");
                }
            }
        }
    }
    // Whatever the worker left in its process group or session goes with it.
    let leftovers = group::live_group_members(pid);
    if !leftovers.is_empty() || !procfs::session_members(pid).is_empty() {
        tracing::info!(?leftovers, "stopping what the worker left running");
        group::terminate(pid, pid, Duration::from_millis(200)).await;
    }
    // And so does whatever left the session and the terminal but still carries the
    // attempt in its environment (a daemonized descendant).
    let escaped = group::kill_attempt_leftovers(thread_id, &super::db_for_workers(store), me);
    if !escaped.is_empty() {
        leaked = true;
        tracing::warn!(
            ?escaped,
            "killed descendants that left the worker's session"
        );
    }
    // Only now, with the output read to its end, may the terminal go.
    drop(worker);
    let now = now_ms();
    pump.finish(now).at(&plan.log_path)?;
    if let Some(posting) = posting.take() {
        let _ = posting.await;
    }
    post_batch(
        store.clone(),
        thread_id.to_string(),
        agent.clone(),
        take_batch(&mut pump),
    )
    .await;
    let exit = exit.unwrap_or(pty::ExitStatus {
        code: None,
        signal: None,
    });
    let mut findings = pump.findings.clone();
    findings.last_text_line = pump.last_line();
    let work = super::work::Work::collect(&attempt, &findings);
    let stop = if stopped_by_signal {
        Stop::Signal
    } else if let Some(reason) = stalled {
        Stop::Stalled(reason)
    } else if stopped_for_finding {
        Stop::Finding
    } else if cancel_requested {
        Stop::Cancelled
    } else {
        Stop::None
    };
    let mut end = classify(
        store,
        thread_id,
        &Ending {
            exit: &exit,
            findings: &findings,
            stop,
            work: &work,
            branch: &attempt.branch_name,
            format: adapter.output,
        },
        leaked,
        pump.tail(),
    )
    .await?;
    end.work = work.to_json();
    if let Some(note) = work.note(&attempt.branch_name) {
        let note = redactor.redact_str(&note).into_owned();
        if let Err(e) = store
            .post_output(
                thread_id,
                &agent,
                note.lines().next().unwrap_or(""),
                &note,
                end.work.clone(),
            )
            .await
        {
            tracing::warn!(error = %e, "cannot post the work note");
        }
    }
    redactor.redact_string(&mut end.reason);
    redactor.redact_string(&mut end.output_tail);
    finish_thread(store, thread_id, &agent, &end, &findings, adapter.output).await;
    store.record_attempt_end(thread_id, &end).await?;
    tracing::info!(outcome = %end.outcome, reason = %end.reason, "attempt ended");
    let mut handover = super::next::Handover {
        last_message: findings.last_agent_message.clone(),
        tail: end.output_tail.clone(),
    };
    if end.outcome == "succeeded" {
        let (attempt, _) = store.attempt_by_thread(thread_id).await?;
        if let Some(failure) = super::checks::run_checks(store, &attempt).await? {
            // The work was done but does not pass: the policy sends it back, with the
            // check's output in the next brief.
            handover.tail = redactor.redact_str(&failure).into_owned();
            return super::next::apply_policy_after_check(store, thread_id, &handover).await;
        }
    }
    super::next::apply_policy(store, thread_id, &handover).await
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .at(path)?;
    file.write_all(bytes).at(path)?;
    Ok(())
}

/// Posts pending parsed output as one message, and session facts when they changed.
/// What a flush posts: the batch of parsed output, and the session and usage if they
/// changed.
struct Batch {
    output: Option<(String, String, serde_json::Value)>,
    session: Option<(Option<String>, Option<serde_json::Value>, Option<f64>)>,
}

fn take_batch(pump: &mut OutputPump) -> Batch {
    let _ = pump.flush_files();
    let output = pump.take_batch();
    let session = std::mem::take(&mut pump.session_dirty).then(|| {
        let f = &pump.findings;
        (f.session_id.clone(), f.usage.clone(), f.cost_usd)
    });
    Batch { output, session }
}

async fn post_batch(store: Store, thread_id: String, agent: String, batch: Batch) {
    if let Some((summary, body, payload)) = batch.output
        && let Err(e) = store
            .post_output(&thread_id, &agent, &summary, &body, payload)
            .await
    {
        tracing::warn!(error = %e, "cannot post output");
    }
    if let Some((session_id, usage, cost)) = batch.session
        && let Err(e) = store
            .record_session(&thread_id, session_id.as_deref(), usage.as_ref(), cost)
            .await
    {
        tracing::warn!(error = %e, "cannot record the session");
    }
}

/// The worker's final message, if it gave one: a successful result, else its last agent
/// message; for plain-text workers, the last line they printed.
fn final_message(
    findings: &super::output::Findings,
    format: crate::adapter::parse::OutputFormat,
) -> Option<String> {
    match &findings.final_result {
        Some((text, false)) if !text.trim().is_empty() => return Some(text.clone()),
        Some((_, true)) => return None,
        _ => {}
    }
    if let Some(m) = findings
        .last_agent_message
        .clone()
        .filter(|m| !m.trim().is_empty())
    {
        return Some(m);
    }
    (format == crate::adapter::parse::OutputFormat::Text).then(|| {
        findings
            .last_text_line
            .clone()
            .unwrap_or_else(|| "(no output)".into())
    })
}

/// Why the supervisor stopped the worker, if it did.
enum Stop {
    None,
    /// The leader cancelled the attempt.
    Cancelled,
    /// The supervisor itself was told to stop.
    Signal,
    /// No progress for the stall timeout (the reason says which clock).
    Stalled(String),
    /// The CLI reported a rate limit or an auth failure and kept running.
    Finding,
}

/// What the end of an attempt is judged from.
struct Ending<'a> {
    exit: &'a pty::ExitStatus,
    findings: &'a super::output::Findings,
    stop: Stop,
    work: &'a super::work::Work,
    branch: &'a str,
    format: crate::adapter::parse::OutputFormat,
}

/// The attempt's outcome. In order: stopped by the leader or a signal → `cancelled`;
/// done (`inbox done`, or a clean exit with a final message and no error) with its work
/// delivered → `succeeded`; an auth failure, then a rate limit the CLI reported →
/// `auth_failed`, `rate_limited` (whatever stopped the worker: a stall never hides
/// them); stopped for a stall → `stalled`; otherwise `failed` with the reason.
async fn classify(
    store: &Store,
    thread_id: &str,
    ending: &Ending<'_>,
    leaked: bool,
    tail: String,
) -> Result<AttemptEnd> {
    let (exit, findings) = (ending.exit, ending.findings);
    let thread = store.thread(thread_id).await?;
    let exit_text = match (exit.code, exit.signal) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".to_string(),
    };
    let clean_exit = exit.code == Some(0);
    let final_error = findings
        .final_result
        .as_ref()
        .filter(|(_, e)| *e)
        .map(|(t, _)| t.clone());
    let reported_done = thread.status == ThreadStatus::Done;
    let finished = reported_done
        || (clean_exit
            && final_error.is_none()
            && final_message(findings, ending.format).is_some());
    let shortfall = ending.work.shortfall(reported_done, ending.branch);
    let (outcome, reason, reset_at) = if matches!(ending.stop, Stop::Signal) {
        (
            "cancelled",
            "the supervisor was stopped, and stopped its worker".to_string(),
            None,
        )
    } else if matches!(ending.stop, Stop::Cancelled) || thread.status == ThreadStatus::Cancelled {
        (
            "cancelled",
            "the leader cancelled the attempt".to_string(),
            None,
        )
    } else if finished && shortfall.is_none() {
        ("succeeded", String::new(), None)
    } else if let Some(message) = &findings.auth_failed {
        ("auth_failed", message.clone(), None)
    } else if let Some((message, reset)) = &findings.rate_limited {
        ("rate_limited", message.clone(), *reset)
    } else if let Stop::Stalled(reason) = &ending.stop {
        ("stalled", reason.clone(), None)
    } else if let Some(shortfall) = shortfall.filter(|_| finished) {
        ("failed", shortfall, None)
    } else if thread.status == ThreadStatus::Failed {
        ("failed", "the worker reported failure".to_string(), None)
    } else {
        let detail = final_error
            .or_else(|| findings.errors.last().cloned())
            .unwrap_or_else(|| {
                if clean_exit {
                    "no final message".to_string()
                } else {
                    String::new()
                }
            });
        let reason = if detail.is_empty() {
            exit_text.clone()
        } else {
            format!("{exit_text}: {detail}")
        };
        ("failed", reason, None)
    };
    Ok(AttemptEnd {
        outcome: outcome.to_string(),
        exit_code: exit.code,
        exit_signal: exit.signal,
        reason,
        output_tail: tail,
        reset_at,
        leaked,
        work: serde_json::Value::Null,
    })
}

/// Finishes the thread when the worker did not: `done` with its final message, or
/// `failed` with the reason and the output tail.
async fn finish_thread(
    store: &Store,
    thread_id: &str,
    agent: &str,
    end: &AttemptEnd,
    findings: &super::output::Findings,
    format: crate::adapter::parse::OutputFormat,
) {
    let Ok(thread) = store.thread(thread_id).await else {
        return;
    };
    if thread.status.is_terminal() {
        return;
    }
    let result = if end.outcome == "succeeded" {
        let text = final_message(findings, format).unwrap_or_default();
        let content = MessageInput {
            body: text.clone(),
            payload: json!({"outcome": end.outcome, "exit_code": end.exit_code}),
            artifacts: Vec::new(),
        };
        finish_as(store, thread_id, agent, FinishKind::Done, "", &content).await
    } else {
        let mut body = end.reason.clone();
        if !end.output_tail.is_empty() {
            body.push_str("\n\noutput tail:\n");
            body.push_str(&end.output_tail);
        }
        let content = MessageInput {
            body,
            payload: json!({
                "outcome": end.outcome,
                "exit_code": end.exit_code,
                "signal": end.exit_signal,
                "reset_at": end.reset_at.map(crate::time::rfc3339),
            }),
            artifacts: Vec::new(),
        };
        let summary = format!(
            "{}: {}",
            end.outcome,
            end.reason.lines().next().unwrap_or("")
        );
        finish_as(
            store,
            thread_id,
            agent,
            FinishKind::Failed,
            &summary,
            &content,
        )
        .await
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot finish the thread");
    }
}

/// Finishes as the worker; when its lease lapsed, takes it back for the last word.
pub(crate) async fn finish_as(
    store: &Store,
    thread_id: &str,
    agent: &str,
    how: FinishKind,
    summary: &str,
    content: &MessageInput,
) -> Result<()> {
    match store.finish(thread_id, agent, how, summary, content).await {
        Err(e) if e.code == crate::error::ErrorCode::InvalidState => {
            store.claim(thread_id, agent, LEASE_MS).await?;
            store
                .finish(thread_id, agent, how, summary, content)
                .await
                .map(|_| ())
        }
        other => other.map(|_| ()),
    }
}

/// Records an attempt that ended before a worker ran (it cannot start, or was closed).
async fn end_without_worker(
    store: &Store,
    thread_id: &str,
    agent: &str,
    outcome: &str,
    reason: &str,
) -> Result<()> {
    let end = AttemptEnd {
        outcome: outcome.to_string(),
        reason: crate::redact::process().redact_str(reason).into_owned(),
        ..AttemptEnd::default()
    };
    let findings = super::output::Findings::default();
    finish_thread(
        store,
        thread_id,
        agent,
        &end,
        &findings,
        crate::adapter::parse::OutputFormat::Text,
    )
    .await;
    store.record_attempt_end(thread_id, &end).await?;
    super::next::apply_policy(store, thread_id, &super::next::Handover::default()).await
}
