//! `orch up`: runs a plan to its end (see [`crate::up`]), printing one line per event
//! (`--json`: one JSON object per event) and a summary at the end. Ctrl-C once stops
//! launching and waits for running workers; twice stops them.

use super::Ctx;
use crate::error::{Error, Result};
use crate::model::{Event, RunStatus};
use crate::output::{Reply, write_stdout};
use crate::up::{self, UpOptions};
use std::path::PathBuf;

pub async fn run(
    ctx: &Ctx,
    run: Option<String>,
    plan: Option<PathBuf>,
    concurrency: usize,
) -> Result<Reply> {
    let run_id = match &plan {
        Some(file) => {
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
            run.run_id
        }
        None => run.ok_or_else(|| Error::invalid_input("orch up needs --run or --plan"))?,
    };
    ctx.store.run(&run_id).await?;
    if concurrency == 0 {
        return Err(Error::invalid_input("--concurrency must be at least 1"));
    }
    let (tx, rx) = tokio::sync::watch::channel(0u8);
    let store = ctx.store.clone();
    let run_for_signal = run_id.clone();
    tokio::spawn(async move {
        let mut presses = 0u8;
        while tokio::signal::ctrl_c().await.is_ok() {
            presses += 1;
            let _ = tx.send(presses);
            if presses == 1 {
                eprintln!(
                    "orch up: stopping launches; waiting for running workers (Ctrl-C again to stop them)"
                );
            } else {
                eprintln!("orch up: stopping running workers");
                stop_supervisors(&store, &run_for_signal).await;
            }
        }
    });
    let started = std::time::Instant::now();
    let json = ctx.style.json;
    let style = ctx.style;
    // On a terminal, a live board instead of event lines.
    let board = !json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    if board {
        let store = ctx.store.clone();
        let run_id = run_id.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(text) =
                    super::board::render(&store, &run_id, &style, super::board::width()).await
                {
                    super::board::draw(&text);
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        });
    }
    let repo = std::env::current_dir().unwrap_or_default();
    let repo = crate::paths::worktree_top(&repo).unwrap_or(repo);
    let result = up::run(
        &ctx.store,
        UpOptions {
            run_id: run_id.clone(),
            concurrency,
            repo,
            stop: rx,
        },
        |event| {
            if !board {
                print_event(event, json, &style)
            }
        },
        |notice| {
            if json {
                write_stdout(&format!("{}\n", serde_json::json!({"notice": notice})), 0);
            } else {
                write_stdout(&format!("note: {notice}\n"), 0);
            }
        },
    )
    .await?;
    if board
        && let Ok(text) =
            super::board::render(&ctx.store, &run_id, &style, super::board::width()).await
    {
        super::board::draw(&text);
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

async fn stop_supervisors(store: &crate::store::Store, run_id: &str) {
    let Ok(attempts) = store.attempts(run_id, None).await else {
        return;
    };
    for attempt in attempts {
        if let Ok((_, sup)) = store.attempt_by_thread(&attempt.thread_id).await
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

pub fn print_event(event: &Event, json: bool, style: &crate::output::Style) {
    if json {
        write_stdout(
            &format!("{}\n", serde_json::to_string(event).unwrap_or_default()),
            0,
        );
        return;
    }
    let time = crate::time::rfc3339(event.created_at);
    let clock = time.get(11..19).unwrap_or("");
    let what = event
        .event_type
        .trim_start_matches("task_")
        .trim_start_matches("attempt_");
    let word = match event.event_type.as_str() {
        "task_done" => style.status("done"),
        "task_failed" | "attempt_lost" | "task_given_up" => style.status("failed"),
        "task_blocked" => style.status("blocked"),
        "attempt_rate_limited" | "task_parked" => style.status("rate_limited"),
        _ => what.to_string(),
    };
    let summary = crate::output::clip(&event.summary, 90);
    write_stdout(
        &format!(
            "{} {:<14} {:<20} {}\n",
            style.dim(clock),
            word,
            event.task_id.as_deref().unwrap_or(""),
            summary
        ),
        0,
    );
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
            let reason = match ctx.store.attempt(run_id, &task.task_id, None).await {
                Ok(a) => ctx
                    .store
                    .attempt_by_thread(&a.thread_id)
                    .await
                    .map(|(_, s)| {
                        let outcome = s.outcome.map_or("", crate::model::AttemptOutcome::as_str);
                        format!("{outcome}: {}", s.reason)
                    })
                    .unwrap_or_default(),
                Err(_) => String::new(),
            };
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

fn summary_text(summary: &serde_json::Value, style: &crate::output::Style) -> String {
    let s = &summary["summary"];
    let run = &s["run"];
    let c = &run["counts"];
    let mut out = format!(
        "\nrun {} {} in {:.1} s: {} of {} tasks done, {} failed, {} cancelled; {} attempts",
        run["run_id"].as_str().unwrap_or(""),
        style.status(run["status"].as_str().unwrap_or("")),
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

/// `orch watch --run R`: the board (terminal) or the events (pipe) until the run ends.
pub async fn watch(ctx: &Ctx, run_id: &str) -> Result<Reply> {
    ctx.store.run(run_id).await?;
    let board = !ctx.style.json && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut detector = ctx.store.change_detector().await?;
    let mut cursor = 0i64;
    loop {
        if board {
            let text =
                super::board::render(&ctx.store, run_id, &ctx.style, super::board::width()).await?;
            super::board::draw(&text);
        } else {
            for event in ctx.store.events_after(run_id, cursor, 1000).await? {
                cursor = event.event_id;
                print_event(&event, ctx.style.json, &ctx.style);
            }
        }
        let run = ctx.store.run(run_id).await?;
        let active = run.counts.dispatched
            + run.counts.running
            + run.counts.blocked
            + run.counts.verifying
            + run.counts.ready;
        if matches!(run.status, RunStatus::Done | RunStatus::Cancelled)
            || (run.status == RunStatus::Failed && active == 0)
        {
            break;
        }
        detector
            .wait(Some(
                tokio::time::Instant::now() + std::time::Duration::from_millis(500),
            ))
            .await?;
    }
    Ok(Reply::streamed("watch"))
}
