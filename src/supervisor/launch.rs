//! Getting one attempt to a running worker: taking the attempt over (one supervisor per
//! attempt), planning the launch (the prompt written, the worker's secrets redacted from
//! everything this process writes), claiming the thread on the worker's behalf, and
//! starting the worker on its terminal. Each step that ends the attempt before a worker
//! runs records that end itself and answers `None`.

use super::output::OutputPump;
use super::plan_launch;
use super::run::{LEASE_MS, end_without_worker};
use crate::adapter::parse::Parser;
use crate::config::Workers;
use crate::error::{IoContext, Result};
use crate::model::Attempt;
use crate::model::AttemptOutcome::{Cancelled, SpawnFailed};
use crate::process::{procfs, pty};
use crate::redact::Redactor;
use crate::store::{Claim, Store, SupervisorRecord};
use crate::time::now_ms;
use serde_json::json;
use std::path::Path;

/// This supervisor process, as recorded on the attempt.
#[derive(Debug, Clone, Copy)]
pub(super) struct Me {
    pub pid: u32,
    pub start: u64,
}

/// The launch plan, and the redactor of the worker's secrets (installed for the whole
/// process).
pub(super) struct Prepared {
    pub plan: super::LaunchPlan,
    pub redactor: Redactor,
}

/// A started worker: its terminal, its output, and the pump that output goes into.
pub(super) struct Launched {
    pub worker: pty::Worker,
    pub output: pty::OutputRx,
    pub pump: OutputPump,
}

/// The attempt, if it has not ended and no other supervisor holds it (nor another host
/// took it over), with its launch planned. The store is fenced to the epoch claimed:
/// every later write of this process is refused once another claim moves it
/// (`store/fence.rs`). The plan is made from reads before the claim, so the claim
/// records it in the same transaction (on PostgreSQL each transaction is round trips
/// on the way to the worker's start); an attempt that cannot be planned is claimed
/// all the same and ends `spawn_failed` in [`prepare`].
pub(super) async fn take_over(
    store: &Store,
    thread_id: &str,
) -> Result<Option<(Attempt, Me, Planned)>> {
    let (attempt, supervision) = store.attempt_by_thread(thread_id).await?;
    if let Some(outcome) = supervision.outcome {
        tracing::info!(%outcome, "attempt already ended; nothing to do");
        return Ok(None);
    }
    let planned = plan(store, thread_id, &attempt).await?;
    let record = planned.as_ref().ok().map(|plan| SupervisorRecord {
        profile: plan.worker.profile.clone(),
        adapter: plan.worker.adapter.name.clone(),
        log_path: plan.log_path.display().to_string(),
    });
    let pid = std::process::id();
    let me = Me {
        pid,
        start: procfs::stat(pid).map(|s| s.start_time).unwrap_or(0),
    };
    let host = crate::orchestration::hosts::this_host();
    match store
        .claim_supervision_as(thread_id, me.pid, me.start, host, record.as_ref())
        .await?
    {
        Claim::Ours { epoch } => store.fence(thread_id, epoch),
        Claim::Held { pid, start } => {
            // Another supervisor holds the attempt (alive, or dead and left for `orch
            // up` to recover): never a second worker for one attempt.
            tracing::warn!(
                other = pid,
                alive = procfs::is_same_process(pid, start),
                "another supervisor holds this attempt; leaving"
            );
            return Ok(None);
        }
        Claim::TakenOver { by } => {
            tracing::warn!(%by, "another host took this attempt over; leaving");
            return Ok(None);
        }
    }
    Ok(Some((attempt, me, planned)))
}

/// The launch plan, or why there is none (the attempt ends `spawn_failed`).
pub(super) type Planned = std::result::Result<super::LaunchPlan, crate::error::Error>;

/// Plans the launch from what the store holds (reads only).
async fn plan(store: &Store, thread_id: &str, attempt: &Attempt) -> Result<Planned> {
    let (task, brief) = store.launch_inputs(thread_id).await?;
    let repo = attempt.workspace.repo_path.as_deref();
    let context = super::brief_context_of(&brief);
    Ok(Workers::load(repo, &brief.run_config)
        .map_err(crate::error::Error::from)
        .and_then(|workers| plan_launch(store, &task, attempt, &workers, &context)))
}

/// Writes the prompt of the attempt this supervisor claimed, with the worker's secrets
/// redacted from everything this process writes from here on; an attempt that could
/// not be planned ends `spawn_failed`.
pub(super) async fn prepare(
    store: &Store,
    thread_id: &str,
    attempt: &Attempt,
    planned: Planned,
) -> Result<Option<Prepared>> {
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!(error = %e, "cannot plan the launch");
            let agent = &attempt.assigned_to;
            end_without_worker(store, thread_id, agent, SpawnFailed, &e.message).await?;
            return Ok(None);
        }
    };
    // From here on, nothing this process writes (its diagnostics, the checks' output)
    // carries the worker's secrets.
    let redactor = plan.redactor();
    crate::redact::install(redactor.clone());
    if let Some(dir) = plan.log_path.parent() {
        crate::paths::ensure_private_dir(dir)?;
    }
    write_private(&plan.prompt_path, plan.prompt.as_bytes())?;
    Ok(Some(Prepared { plan, redactor }))
}

/// Claims the thread on the worker's behalf, so a plain command counts as claimed; a
/// thread closed before the worker started ends the attempt `cancelled` (false).
pub(super) async fn claim_thread(store: &Store, thread_id: &str, agent: &str) -> Result<bool> {
    let Err(e) = store.claim(thread_id, agent, LEASE_MS).await else {
        return Ok(true);
    };
    tracing::warn!(error = %e, "cannot claim the thread");
    // The claim is the last write, and so the last check of the fence, before the
    // worker starts: one that failed otherwise (it met a lost connection) is no check.
    // A supervisor whose attempt was taken over meanwhile starts no worker.
    if !store.fence_holds().await? {
        return Err(crate::error::Error::invalid_state(format!(
            "fenced: attempt {thread_id} was taken over before its worker started; this supervisor writes nothing more"
        )));
    }
    if !store.thread(thread_id).await?.status.is_terminal() {
        return Ok(true);
    }
    let reason = "the thread was closed before the worker started";
    end_without_worker(store, thread_id, agent, Cancelled, reason).await?;
    Ok(false)
}

/// Starts the worker and records it; a worker that cannot start ends the attempt
/// `spawn_failed`, with the reason in its log.
pub(super) async fn start_worker(
    store: &Store,
    thread_id: &str,
    agent: &str,
    prepared: &Prepared,
    me: Me,
) -> Result<Option<Launched>> {
    let plan = &prepared.plan;
    let spec = pty::SpawnSpec {
        argv: plan.argv.clone(),
        cwd: plan.cwd.clone(),
        env: plan.env.clone(),
        stdin_text: plan.stdin_text.clone(),
    };
    let adapter = &plan.worker.adapter;
    let parser = Parser::new(
        adapter.output,
        adapter.rate_limit_regexes(),
        adapter.auth_failure_regexes(),
    );
    let mut pump = OutputPump::new(
        &plan.log_path,
        adapter.output,
        parser,
        prepared.redactor.clone(),
    )
    .at(&plan.log_path)?;
    let (worker, output) = match pty::spawn(&spec) {
        Ok(started) => started,
        Err(error) => {
            let message = error.to_string();
            tracing::error!(%message, "spawn failed");
            let _ = pump.chunk(format!("orch: {message}\n").as_bytes(), now_ms());
            let _ = pump.finish(now_ms());
            end_without_worker(store, thread_id, agent, SpawnFailed, &message).await?;
            return Ok(None);
        }
    };
    let argv_shown = plan.shown_argv();
    tracing::info!(pid = worker.pid, argv = ?argv_shown, cwd = %plan.cwd.display(), "worker started");
    let record = json!({
        "adapter": adapter.name,
        "profile": plan.worker.profile,
        "argv": argv_shown,
        "pid": worker.pid,
        "supervisor_pid": me.pid,
        "log_path": plan.log_path.display().to_string(),
    });
    store
        .record_worker(thread_id, worker.pid, worker.start_time, record)
        .await?;
    Ok(Some(Launched {
        worker,
        output,
        pump,
    }))
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
