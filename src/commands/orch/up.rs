//! `orch up`: runs a plan to its end (see [`crate::orchestration::scheduler`]), printing one line per
//! dispatch, attempt end, question and give-up (`--json`: one compact JSON object per
//! such event; on a terminal, the live board) and a summary at the end. Ctrl-C once stops launching and waits for running workers; twice stops them.

use crate::commands::render::print_event;
use crate::commands::{Ctx, board};
use crate::error::{Error, Result};
use crate::model::RunStatus;
use crate::orchestration::presence;
use crate::orchestration::scheduler::{self as up, UpOptions};
use crate::output::{Reply, Style, write_stdout};
use crate::store::Store;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// The run (default: the plan's [run] id).
    #[arg(long)]
    pub run: Option<String>,
    /// Apply this plan file first (re-applying an applied plan changes nothing).
    #[arg(long, value_name = "PLAN")]
    pub plan: Option<PathBuf>,
    /// Workers running at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Run in the background: returns once the new `orch up` runs the run (so `orch next`
    /// leaves the ready tasks to it), printing its pid and log (`logs/RUN/up.log`).
    #[arg(long)]
    pub detach: bool,
    /// The name this host runs the run as, beside other hosts' `orch up` on the same
    /// database (default: the machine's hostname). Its attempts carry it; a host whose
    /// heartbeat lapses has its unsettled attempts taken over by the others.
    #[arg(long, env = "ORCH_HOST", value_name = "NAME")]
    pub host: Option<String>,
}

pub async fn run(ctx: &Ctx, args: UpArgs) -> Result<Reply> {
    if let Some(host) = &args.host {
        crate::orchestration::hosts::set_this_host(host)?;
    }
    let run_id = run_to_bring_up(ctx, args.run, args.plan.as_ref()).await?;
    ctx.store.run(&run_id).await?;
    if args.concurrency == 0 {
        return Err(Error::invalid_input("--concurrency must be at least 1"));
    }
    if args.detach {
        let up = presence::start_detached(&ctx.store, &run_id, args.concurrency).await?;
        let human = format!(
            "orch up runs {} in the background (pid {}; log {})",
            up.run_id,
            up.pid,
            up.log_path.display()
        );
        return Ok(Reply::new("up", serde_json::json!(up), human));
    }
    let repo = std::env::current_dir().unwrap_or_default();
    let repo = crate::paths::worktree_top(&repo).unwrap_or(repo);
    // A bad [notify] is refused before anything runs.
    let notifier = crate::notify::follow_run(&ctx.store, &run_id, &repo)?;
    let stop = stop_on_ctrl_c(ctx.store.clone(), run_id.clone());
    let started = std::time::Instant::now();
    let json = ctx.style.json;
    let style = ctx.style;
    // On a terminal, a live board instead of event lines.
    let board = !json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if board {
        keep_drawing_board(ctx.store.clone(), run_id.clone(), style);
    }
    let options = UpOptions {
        run_id: run_id.clone(),
        concurrency: args.concurrency,
        repo,
        stop,
    };
    let on_event = |event: &crate::model::Event| {
        if !board && leader_event(&event.event_type) {
            match json {
                true => write_stdout(&format!("{}\n", compact(event)), 0),
                false => print_event(event, false, &style),
            }
        }
    };
    let result = up::run(&ctx.store, options, on_event, |notice| {
        print_notice(notice, json)
    })
    .await;
    if let Some(notifier) = notifier {
        notifier.finish().await;
    }
    let result = result?;
    if board && let Ok(text) = board::render(&ctx.store, &run_id, &style, board::width()).await {
        board::draw(&text);
    }
    let summary = summary(ctx, &run_id, started.elapsed()).await?;
    if json {
        write_stdout(&format!("{summary}\n"), 0);
    } else {
        write_stdout(&summary_text(&summary, &style), 0);
    }
    let mut reply = Reply::streamed("up");
    reply.exit = match result.status {
        RunStatus::Done => 0,
        _ if result.interrupted => 130,
        _ => 1,
    };
    Ok(reply)
}

/// The events `orch up` prints off a terminal (issue 12): what a leader reading its
/// output acts on. Every event stays in the store (`orch watch` and `wait` see them all).
fn leader_event(event_type: &str) -> bool {
    matches!(
        event_type,
        "task_dispatched" | "attempt_exited" | "attempt_lost" | "task_blocked" | "task_given_up"
    )
}

/// An event as `orch up --json` prints it: without its payload (the ids and the
/// summary say what happened; `orch attempts` has the details).
fn compact(event: &crate::model::Event) -> serde_json::Value {
    let mut value = serde_json::json!(event);
    if let Some(map) = value.as_object_mut() {
        map.remove("payload");
        map.retain(|_, v| !v.is_null());
    }
    value
}

/// Why a failed task failed, in a few words: its last attempt's outcome and reason, or
/// the completion check that failed after its worker succeeded.
async fn failure_reason(store: &Store, run_id: &str, task_id: &str) -> String {
    let Ok(attempt) = store.attempt(run_id, task_id, None).await else {
        return String::new();
    };
    let Ok((_, supervision)) = store.attempt_by_thread(&attempt.thread_id).await else {
        return String::new();
    };
    if supervision.outcome == Some(crate::model::AttemptOutcome::Succeeded)
        && let Ok((_, gate)) = store.gate(run_id, task_id).await
        && let Some(check) = gate
            .checks
            .iter()
            .find(|c| c.status == crate::model::CheckStatus::Failed)
    {
        return format!("check {} failed", check.name);
    }
    let outcome = supervision
        .outcome
        .map_or("", crate::model::AttemptOutcome::as_str);
    format!("{outcome}: {}", supervision.end.reason)
}

/// The run `--run` names, or the one `--plan` creates or extends (applied first).
async fn run_to_bring_up(ctx: &Ctx, run: Option<String>, plan: Option<&PathBuf>) -> Result<String> {
    let Some(file) = plan else {
        return run.ok_or_else(|| Error::invalid_input("orch up needs --run or --plan"));
    };
    let plan = crate::plan::load(file, run.as_deref())?;
    let outcome = ctx.store.apply_plan(&plan).await?;
    let run = outcome
        .run
        .ok_or_else(|| Error::internal("plan apply returned no run"))?;
    if !ctx.style.json {
        write_stdout(
            &format!(
                "plan {}: {} task(s) added, {} already there\n",
                run.run_id,
                outcome.created.len(),
                outcome.unchanged.len()
            ),
            0,
        );
    }
    Ok(run.run_id)
}

/// Counts Ctrl-C presses into the returned channel: the first stops launches, the
/// second also stops the running workers' supervisors.
fn stop_on_ctrl_c(store: Store, run_id: String) -> tokio::sync::watch::Receiver<u8> {
    let (tx, rx) = tokio::sync::watch::channel(0u8);
    let interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    // Started detached (`--detach`), this process has the stop signals blocked until
    // its handler is in: it is now.
    let _ = crate::process::detach::unblock_stop_signals();
    tokio::spawn(async move {
        let Ok(mut interrupts) = interrupts else {
            // No handler: nothing stops `up` but its end (the sender stays open).
            return std::future::pending().await;
        };
        let mut presses = 0u8;
        while interrupts.recv().await.is_some() {
            presses += 1;
            let _ = tx.send(presses);
            if presses == 1 {
                eprintln!(
                    "orch up: stopping launches; waiting for running workers (Ctrl-C again to stop them)"
                );
            } else {
                eprintln!("orch up: stopping running workers");
                stop_supervisors(&store, &run_id).await;
            }
        }
    });
    rx
}

/// Redraws the board every half second, for as long as `up` runs.
fn keep_drawing_board(store: Store, run_id: String, style: Style) {
    tokio::spawn(async move {
        loop {
            if let Ok(text) = board::render(&store, &run_id, &style, board::width()).await {
                board::draw(&text);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    });
}

fn print_notice(notice: &str, json: bool) {
    if json {
        write_stdout(&format!("{}\n", serde_json::json!({"notice": notice})), 0);
    } else {
        write_stdout(&format!("note: {notice}\n"), 0);
    }
}

/// Stops this host's running supervisors (another host's pids mean nothing here).
async fn stop_supervisors(store: &Store, run_id: &str) {
    let Ok(attempts) = store.attempts(run_id, None).await else {
        return;
    };
    let here = crate::orchestration::hosts::this_host();
    for attempt in attempts {
        if let Ok((_, sup)) = store.attempt_by_thread(&attempt.thread_id).await
            && sup.taken_by.is_none()
            && sup.host.as_deref().is_none_or(|h| h == here)
            && let (Some(pid), Some(start), true) = (
                sup.supervisor_pid,
                sup.supervisor_start,
                sup.outcome.is_none(),
            )
        {
            crate::process::detach::stop_if_same(pid as u32, start as u64);
        }
    }
}

async fn summary(ctx: &Ctx, run_id: &str, took: std::time::Duration) -> Result<serde_json::Value> {
    let run = ctx.store.run(run_id).await?;
    let attempts = ctx.store.attempts(run_id, None).await?;
    let mut failed = Vec::new();
    let mut cost = 0.0;
    let mut tokens = 0u64;
    for attempt in &attempts {
        let (_, sup) = ctx.store.attempt_by_thread(&attempt.thread_id).await?;
        cost += sup.cost_usd.unwrap_or(0.0);
        tokens += sup.usage["input_tokens"].as_u64().unwrap_or(0)
            + sup.usage["output_tokens"].as_u64().unwrap_or(0);
    }
    for task in ctx.store.tasks(run_id).await? {
        if task.status == crate::model::TaskStatus::Failed {
            let reason = failure_reason(&ctx.store, run_id, &task.task_id).await;
            failed.push(serde_json::json!({"task_id": task.task_id, "reason": reason}));
        }
    }
    Ok(serde_json::json!({
        "summary": {
            "run": run,
            "attempts": attempts.len(),
            "failed": failed,
            "seconds": took.as_secs_f64(),
            "tokens": tokens,
            "cost_usd": cost,
        }
    }))
}

fn summary_text(summary: &serde_json::Value, style: &Style) -> String {
    let s = &summary["summary"];
    let run = &s["run"];
    let c = &run["counts"];
    let mut out = format!(
        "\nrun {} {} in {:.1} s: {} of {} tasks done, {} failed, {} cancelled; {} attempts",
        run["run_id"].as_str().unwrap_or(""),
        run["status"]
            .as_str()
            .and_then(crate::model::RunStatus::parse)
            .map_or_else(String::new, |status| style.status(status)),
        s["seconds"].as_f64().unwrap_or(0.0),
        c["done"],
        c["total"],
        c["failed"],
        c["cancelled"],
        s["attempts"]
    );
    if s["tokens"].as_u64().unwrap_or(0) > 0 {
        out.push_str(&format!(", {} tokens", s["tokens"]));
    }
    if s["cost_usd"].as_f64().unwrap_or(0.0) > 0.0 {
        out.push_str(&format!(", ${:.4}", s["cost_usd"].as_f64().unwrap_or(0.0)));
    }
    out.push('\n');
    for f in s["failed"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  failed {}: {}\n",
            f["task_id"].as_str().unwrap_or(""),
            f["reason"].as_str().unwrap_or("")
        ));
    }
    out
}
