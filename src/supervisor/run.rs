//! The supervision of one attempt, from start to end (see the module doc of [`super`]):
//! [`supervise`] takes the attempt over and launches its worker ([`super::launch`]),
//! runs it ([`super::attempt_run`]), and ends it here: what it left (`work`), the
//! classification of its end, the branch pushed when pushing is on (`push`), the thread
//! finished for the worker, the end recorded, the checks and the retry policy.

use super::attempt_run::{AttemptRun, Inputs, Ran, StopReason, StopSignals};
use super::launch::{self, Prepared};
use super::output::FinalResult;
use super::work::Work;
use crate::error::Result;
use crate::model::{Attempt, AttemptOutcome, ThreadStatus};
use crate::process::pty;
use crate::redact::Redactor;
use crate::store::{AttemptEnd, EndDetails, MessageInput, Report, Store};
use serde_json::json;

/// The lease the supervisor holds on the worker's behalf, renewed while it runs.
pub(super) const LEASE_MS: i64 = 60 * 60 * 1000;

/// Runs the attempt whose thread is `thread_id` to its end, applies the retry policy,
/// and marks the attempt settled. `signals`: the stop signals' handlers, when the
/// caller installed them already (a standby supervisor, while it waited).
///
/// While it runs, it sends the run's notifications too (`[notify]`, [`crate::notify`]),
/// and those left when it ends (its own give-up among them).
pub async fn supervise(store: &Store, thread_id: &str, signals: Option<StopSignals>) -> Result<()> {
    let mut notifier = None;
    let result = supervise_attempt(store, thread_id, signals, &mut notifier).await;
    // On an error the attempt stays unsettled: `orch up` finds it and recovers it.
    let settled = match &result {
        Ok(()) => store.mark_settled(thread_id).await,
        Err(_) => Ok(()),
    };
    if let Some(notifier) = notifier {
        notifier.finish().await;
    }
    settled?;
    result
}

async fn supervise_attempt(
    store: &Store,
    thread_id: &str,
    signals: Option<StopSignals>,
    notifier: &mut Option<crate::notify::Follower>,
) -> Result<()> {
    // A supervisor told to stop (SIGTERM, SIGINT, SIGHUP) stops its worker first. The
    // handlers go in before anything else: a signal that came between the worker's start
    // and their installation killed the supervisor outright, leaving the attempt without
    // an end and the worker to the terminal's hang-up (seen once in CI; reproduced by
    // widening that window). The launcher starts the supervisor with these signals
    // blocked, so one from its very first moments waits here too; one that comes before
    // the worker starts is acted on as soon as it runs.
    let signals = match signals {
        Some(signals) => signals,
        None => StopSignals::install()?,
    };
    let Some((attempt, me, planned)) = launch::take_over(store, thread_id).await? else {
        return Ok(());
    };
    *notifier = crate::notify::follow_attempt(store, &attempt);
    let agent = attempt.assigned_to.clone();
    let Some(prepared) = launch::prepare(store, thread_id, &attempt, planned).await? else {
        return Ok(());
    };
    if !launch::claim_thread(store, thread_id, &agent).await? {
        return Ok(());
    }
    let Some(mut launched) = launch::start_worker(store, thread_id, &agent, &prepared, me).await?
    else {
        return Ok(());
    };
    let changes = store.change_detector_listening_later().await?;
    let inputs = Inputs::new(&mut launched.worker, launched.output, signals, changes);
    let adapter = &prepared.plan.worker.adapter;
    let worker = (launched.worker, launched.pump);
    let run = AttemptRun::new(store, thread_id, &agent, me.pid, adapter, worker);
    let ran = run.run(inputs).await?;
    // The database was dropped (or refuses this role now) while it ran: there is
    // nowhere to record the end. The worktree stays, and the log has the output.
    if ran.stop == Some(StopReason::DatabaseGone) {
        let why = store.database_gone().unwrap_or("the database is gone");
        return Err(crate::error::Error::internal(format!(
            "{why}; attempt {thread_id}: its worker is stopped and nothing recorded"
        )));
    }
    // Taken over while it ran (or while this process was frozen): the attempt is the
    // other host's; nothing of this end is recorded, nor its work collected.
    if ran.stop == Some(StopReason::Fenced) || !store.fence_holds().await? {
        return Err(crate::error::Error::invalid_state(format!(
            "fenced: attempt {thread_id} was taken over by another host; its worker is stopped and nothing recorded"
        )));
    }
    conclude(store, &attempt, &prepared, ran).await
}

/// Ends a run attempt: reads what it left, classifies and records its end, finishes
/// its thread if the worker did not, then runs the checks and the retry policy.
async fn conclude(store: &Store, attempt: &Attempt, prepared: &Prepared, ran: Ran) -> Result<()> {
    let (thread_id, agent) = (attempt.thread_id.as_str(), attempt.assigned_to.as_str());
    let format = prepared.plan.worker.adapter.output;
    let redactor = &prepared.redactor;
    let work = Work::collect(attempt, &ran.findings);
    let ending = Ending {
        exit: &ran.exit,
        findings: &ran.findings,
        stop: ran.stop,
        work: &work,
        branch: attempt.workspace.branch_name.as_deref().unwrap_or(""),
        format,
    };
    let mut end = classify(store, thread_id, &ending, ran.leaked, ran.tail).await?;
    end.work = work.to_json();
    post_work_note(store, attempt, &work, redactor, &end.work).await;
    super::push::push_work(store, attempt, &work, redactor).await;
    redactor.redact_string(&mut end.details.reason);
    redactor.redact_string(&mut end.details.output_tail);
    finish_thread(store, thread_id, agent, &end, &ran.findings, format).await;
    store.record_attempt_end(thread_id, &end).await?;
    tracing::info!(outcome = %end.outcome, reason = %end.details.reason, "attempt ended");
    let handover = crate::orchestration::after_attempt::Handover {
        last_message: ran.findings.last_agent_message.clone(),
        tail: end.details.output_tail.clone(),
        repo: None,
    };
    crate::orchestration::after_attempt::settle(store, thread_id, handover).await
}

/// What orch did or saw in the attempt's work (an autocommit, refused tool calls), as a
/// note on the thread.
async fn post_work_note(
    store: &Store,
    attempt: &Attempt,
    work: &Work,
    redactor: &Redactor,
    payload: &serde_json::Value,
) {
    let Some(note) = work.note(attempt.workspace.branch_name.as_deref().unwrap_or("")) else {
        return;
    };
    post_note(store, attempt, redactor, &note, payload.clone()).await;
}

/// Posts orch's `note` about the attempt (redacted; its first line the summary) on its
/// thread as an output message; a failure is logged.
pub(super) async fn post_note(
    store: &Store,
    attempt: &Attempt,
    redactor: &Redactor,
    note: &str,
    payload: serde_json::Value,
) {
    let note = redactor.redact_str(note).into_owned();
    let summary = note.lines().next().unwrap_or("");
    let (thread, from) = (&attempt.thread_id, &attempt.assigned_to);
    if let Err(e) = store
        .post_output(thread, from, summary, &note, payload)
        .await
    {
        tracing::warn!(error = %e, "cannot post orch's note on the thread");
    }
}

/// The worker's final message, if it gave one: a successful result, else its last agent
/// message; for plain-text workers, the last line they printed.
fn final_message(
    findings: &super::output::Findings,
    format: crate::adapter::parse::OutputFormat,
) -> Option<String> {
    match &findings.final_result {
        Some(FinalResult {
            text,
            is_error: false,
        }) if !text.trim().is_empty() => return Some(text.clone()),
        Some(FinalResult { is_error: true, .. }) => return None,
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

/// What the end of an attempt is judged from.
struct Ending<'a> {
    exit: &'a pty::ExitStatus,
    findings: &'a super::output::Findings,
    stop: Option<StopReason>,
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
    let clean_exit = exit.code == Some(0);
    let final_error = findings
        .final_result
        .as_ref()
        .filter(|r| r.is_error)
        .map(|r| r.text.clone());
    let reported_done = thread.status == ThreadStatus::Done;
    let finished = reported_done
        || (clean_exit
            && final_error.is_none()
            && final_message(findings, ending.format).is_some());
    let shortfall = ending.work.shortfall(reported_done, ending.branch);
    use AttemptOutcome as O;
    let (outcome, reason, reset_at) = if matches!(ending.stop, Some(StopReason::Signal)) {
        (
            O::Cancelled,
            "the supervisor was stopped, and stopped its worker".to_string(),
            None,
        )
    } else if matches!(ending.stop, Some(StopReason::Cancelled))
        || thread.status == ThreadStatus::Cancelled
    {
        (
            O::Cancelled,
            "the leader cancelled the attempt".to_string(),
            None,
        )
    } else if finished && shortfall.is_none() {
        (O::Succeeded, String::new(), None)
    } else if let Some(message) = &findings.auth_failed {
        (O::AuthFailed, message.clone(), None)
    } else if let Some(limit) = &findings.rate_limited {
        (O::RateLimited, limit.message.clone(), limit.reset_at)
    } else if let Some(StopReason::Stalled(reason)) = &ending.stop {
        (O::Stalled, reason.clone(), None)
    } else if let Some(shortfall) = shortfall.filter(|_| finished) {
        (O::Failed, shortfall, None)
    } else if thread.status == ThreadStatus::Failed {
        (O::Failed, "the worker reported failure".to_string(), None)
    } else {
        (O::Failed, exit_failure(exit, final_error, findings), None)
    };
    Ok(AttemptEnd {
        outcome,
        details: EndDetails {
            exit_code: exit.code.map(i64::from),
            exit_signal: exit.signal.map(i64::from),
            reason,
            output_tail: tail,
            reset_at,
            leaked,
        },
        work: serde_json::Value::Null,
    })
}

/// Why an attempt failed when nothing more specific is known: how the worker exited,
/// with its last error (or, after a clean exit, the missing final message).
fn exit_failure(
    exit: &pty::ExitStatus,
    final_error: Option<String>,
    findings: &super::output::Findings,
) -> String {
    let exit_text = match (exit.code, exit.signal) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".to_string(),
    };
    let detail = final_error
        .or_else(|| findings.errors.last().cloned())
        .unwrap_or_else(|| {
            if exit.code == Some(0) {
                "no final message".to_string()
            } else {
                String::new()
            }
        });
    if detail.is_empty() {
        exit_text
    } else {
        format!("{exit_text}: {detail}")
    }
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
    let (status, summary, content) = if end.outcome == AttemptOutcome::Succeeded {
        let text = final_message(findings, format).unwrap_or_default();
        let content = MessageInput {
            body: text.clone(),
            payload: json!({"outcome": end.outcome, "exit_code": end.details.exit_code}),
            artifacts: Vec::new(),
        };
        (ThreadStatus::Done, String::new(), content)
    } else {
        let mut body = end.details.reason.clone();
        if !end.details.output_tail.is_empty() {
            body.push_str("\n\noutput tail:\n");
            body.push_str(&end.details.output_tail);
        }
        let content = MessageInput {
            body,
            payload: json!({
                "outcome": end.outcome,
                "exit_code": end.details.exit_code,
                "signal": end.details.exit_signal,
                "reset_at": end.details.reset_at.map(crate::time::rfc3339),
            }),
            artifacts: Vec::new(),
        };
        let summary = format!(
            "{}: {}",
            end.outcome,
            end.details.reason.lines().next().unwrap_or("")
        );
        (ThreadStatus::Failed, summary, content)
    };
    let report = Report {
        thread_id,
        agent,
        status,
        summary: &summary,
        content: &content,
    };
    // A thread left open would keep its task running for good (the attempt is recorded
    // ended all the same): a report that met a lost connection is made again.
    let mut tries = 0;
    let result = loop {
        let lost = crate::store::connections_lost();
        match finish_as(store, report).await {
            Err(e) if crate::store::connections_lost() != lost && tries < 3 => {
                tracing::info!(error = %e, "finishing the thread met a lost connection; again");
                tries += 1;
            }
            other => break other,
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot finish the thread");
    }
}

/// Finishes as the worker; when its lease lapsed, takes it back for the last word.
pub(crate) async fn finish_as(store: &Store, report: Report<'_>) -> Result<()> {
    match store.report(report).await {
        Err(e) if e.code == crate::error::ErrorCode::InvalidState => {
            store
                .claim(report.thread_id, report.agent, LEASE_MS)
                .await?;
            store.report(report).await.map(|_| ())
        }
        other => other.map(|_| ()),
    }
}

/// Records an attempt that ended before a worker ran (it cannot start, or was closed).
pub(super) async fn end_without_worker(
    store: &Store,
    thread_id: &str,
    agent: &str,
    outcome: AttemptOutcome,
    reason: &str,
) -> Result<()> {
    let reason = crate::redact::process().redact_str(reason).into_owned();
    let end = AttemptEnd::new(outcome, reason);
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
    crate::orchestration::after_attempt::settle(store, thread_id, Default::default()).await
}
