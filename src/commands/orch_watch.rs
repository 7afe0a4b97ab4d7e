//! Verbs that follow and steer a run: `reconcile`, `wait`, `status`, `blocked`,
//! `answer`, `cancel`, `brief`, `verify status|record`.

use super::{Ctx, csv, deadline, message_input, render, to_json};
use crate::brief::{BriefContext, render as render_brief};
use crate::cli::orch::{OrchCommand, VerifyCommand};
use crate::error::{Error, Result};
use crate::output::{Reply, clip};
use crate::store::{EventFilter, Gate};
use serde_json::json;

pub async fn run(ctx: &Ctx, command: OrchCommand) -> Result<Reply> {
    let store = &ctx.store;
    match command {
        OrchCommand::Reconcile { run } => {
            let changes = store.reconcile(&run).await?;
            let run = store.run(&run).await?;
            let mut human: String = changes
                .iter()
                .map(|c| format!("{} → {}\n", c.task_id, ctx.style.status(c.status.as_str())))
                .collect();
            if changes.is_empty() {
                human.push_str("nothing to reconcile\n");
            }
            human.push_str(&render::run_line(&ctx.style, &run));
            Ok(Reply::new(
                "reconcile",
                json!({"updated_tasks": changes, "run": run}),
                human,
            ))
        }
        OrchCommand::Wait {
            run,
            for_types,
            after_event,
            timeout_seconds,
        } => {
            wait(
                ctx,
                &run,
                for_types.as_deref(),
                after_event,
                timeout_seconds,
            )
            .await
        }
        OrchCommand::Status { run } => {
            let view = store.status_view(&run).await?;
            let human = if ctx.style.json {
                String::new()
            } else {
                render::status(&ctx.style, &view.run, &view.tasks()?)
            };
            let data = view.into_json_parts()?;
            Ok(Reply::raw("status", data, human))
        }
        OrchCommand::Blocked { run } => {
            let blocked = store.blocked(&run).await?;
            let mut human = String::new();
            let items: Vec<_> = blocked
                .iter()
                .map(|(task, attempt, question)| {
                    human.push_str(&format!(
                        "{} (attempt {}, {}): {}\n",
                        task.task_id,
                        attempt.attempt_no,
                        attempt.assigned_to,
                        question
                            .as_ref()
                            .map(|q| clip(&q.summary, 100))
                            .unwrap_or_default()
                    ));
                    json!({"task": task, "attempt": attempt, "question": question})
                })
                .collect();
            if items.is_empty() {
                human.push_str("no blocked tasks\n");
            }
            Ok(Reply::new("blocked", json!({"tasks": items}), human))
        }
        OrchCommand::Answer {
            run,
            task,
            attempt,
            summary,
            message,
        } => {
            let content = message_input(&message)?;
            let payload_empty = content.payload.as_object().is_none_or(|o| o.is_empty());
            if content.body.trim().is_empty() && payload_empty {
                return Err(Error::invalid_input(
                    "an answer needs --body, --body-file or a non-empty --payload-json",
                ));
            }
            let (task, thread, message) = store
                .answer(
                    &run,
                    &task,
                    attempt,
                    &ctx.leader(),
                    &super::clean_summary(&summary),
                    &content,
                )
                .await?;
            let human = format!("answered {} on {}", task.task_id, thread.thread_id);
            Ok(Reply::new(
                "answer",
                json!({"task": task, "thread": thread, "message": message}),
                human,
            ))
        }
        OrchCommand::Cancel { run, task, reason } => cancel(ctx, &run, task, &reason).await,
        OrchCommand::Brief { run, task, attempt } => {
            let task_record = store.task(&run, &task).await?;
            let attempt = store.attempt(&run, &task, attempt).await?;
            let note = store.brief_note(&attempt.thread_id).await?;
            // The same brief the supervisor gives the worker: with its adapter's rule
            // when the worker is a profile or an adapter orch knows.
            let repo = attempt.repo_path.as_deref();
            let config = store.run_config(&run).await?;
            let worker_note = crate::config::Workers::load(repo, &config)
                .and_then(|w| w.resolve(&attempt.assigned_to))
                .ok()
                .and_then(|w| w.brief_note(attempt.execution_mode));
            let context = BriefContext {
                previous: Some(note).filter(|n| !n.is_empty()),
                worker_note,
                ..BriefContext::default()
            };
            let text = render_brief(&task_record, &attempt, &context);
            Ok(Reply::new(
                "brief",
                json!({"run_id": run, "task_id": task, "attempt_no": attempt.attempt_no, "brief": text}),
                text.clone(),
            ))
        }
        OrchCommand::Verify(VerifyCommand::Status { run, task }) => {
            let (task, gate) = store.gate(&run, &task).await?;
            let human = gate_text(ctx, &task.task_id, &gate);
            Ok(Reply::new(
                "status",
                json!({"task": task, "gate": gate}),
                human,
            ))
        }
        OrchCommand::Verify(VerifyCommand::Record {
            run,
            task,
            check,
            status,
            details,
        }) => {
            let (task, gate) = store
                .record_check(
                    &run,
                    &task,
                    &check,
                    crate::model::CheckStatus::parse(&status)
                        == Some(crate::model::CheckStatus::Passed),
                    &details,
                    &ctx.leader(),
                )
                .await?;
            let human = format!(
                "{}\ntask {} is {}",
                gate_text(ctx, &task.task_id, &gate),
                task.task_id,
                task.status
            );
            Ok(Reply::new(
                "record",
                json!({"task": task, "gate": gate}),
                human,
            ))
        }
        other => Err(Error::internal(format!("not a watch verb: {other:?}"))),
    }
}

async fn cancel(ctx: &Ctx, run: &str, task: Option<String>, reason: &str) -> Result<Reply> {
    let store = &ctx.store;
    match task {
        Some(task) => {
            let (task, attempt) = store.cancel_task(run, &task, &ctx.leader(), reason).await?;
            let human = format!("cancelled {}", task.task_id);
            Ok(Reply::new(
                "cancel",
                json!({"task": task, "attempt": attempt}),
                human,
            ))
        }
        None => {
            let cancelled = store.cancel_run(run, &ctx.leader(), reason).await?;
            let run = store.run(run).await?;
            let human = format!(
                "cancelled run {} ({} task{})",
                run.run_id,
                cancelled.len(),
                if cancelled.len() == 1 { "" } else { "s" }
            );
            let tasks: Vec<_> = cancelled
                .iter()
                .map(|(task_id, attempt)| json!({"task_id": task_id, "attempt": attempt}))
                .collect();
            Ok(Reply::new(
                "cancel",
                json!({"run": run, "cancelled_tasks": tasks}),
                human,
            ))
        }
    }
}

fn gate_text(ctx: &Ctx, task: &str, gate: &Gate) -> String {
    let mut out = format!(
        "gate of {task} (attempt {}): {}\n",
        gate.attempt_no,
        ctx.style.status(gate.status.as_str())
    );
    for c in &gate.checks {
        out.push_str(&format!(
            "  {} {}",
            c.name,
            ctx.style.status(c.status.as_str())
        ));
        if !c.details.is_empty() {
            out.push_str(&format!(" — {}", clip(&c.details, 80)));
        }
        out.push('\n');
    }
    out
}

/// `orch wait`: reconciles, then blocks until a matching run event after the cursor,
/// reconciling again whenever another process commits.
async fn wait(
    ctx: &Ctx,
    run: &str,
    for_types: Option<&str>,
    after_event: Option<i64>,
    timeout_seconds: u64,
) -> Result<Reply> {
    let store = &ctx.store;
    store.run(run).await?;
    let filter = EventFilter {
        run_id: Some(run.to_string()),
        types: csv(for_types),
        ..EventFilter::default()
    };
    let deadline = deadline(timeout_seconds);
    let mut detector = store.change_detector().await?;
    let cursor = match after_event {
        Some(n) => n,
        None => store.max_event_id().await?,
    };
    loop {
        if let Some(event) = store.next_event(&filter, cursor).await? {
            let human = format!(
                "event {} {} {}{}",
                event.event_id,
                event.event_type,
                event.task_id.as_deref().unwrap_or(""),
                if event.summary.is_empty() {
                    String::new()
                } else {
                    format!(": {}", clip(&event.summary, 80))
                }
            );
            let next = event.event_id;
            return Ok(Reply::new(
                "wait",
                json!({"woke": true, "event": to_json(&event), "next_event_id": next}),
                human,
            ));
        }
        if !detector.wait(deadline).await? {
            return Err(Error::no_matching_work(format!(
                "no matching event in run {run:?} within {timeout_seconds} s"
            )));
        }
    }
}
