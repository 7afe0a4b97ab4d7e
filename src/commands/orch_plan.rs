//! Planning verbs: `run init|show`, `task add`, `dep add`, `plan apply`, `ready`.

use super::{Ctx, read_body_args, render, to_json};
use crate::cli::orch::{DepCommand, PlanCommand, RunCommand, TaskCommand};
use crate::error::{Error, Result};
use crate::ids::validate_id;
use crate::model::Priority;
use crate::output::Reply;
use crate::plan::{checks_from_acceptance, merge_checks};
use crate::store::{CheckSpec, NewRun, NewTask};
use serde_json::{Value, json};

pub async fn run(ctx: &Ctx, command: RunCommand) -> Result<Reply> {
    match command {
        RunCommand::Init { run, goal, summary } => {
            validate_id("run id", &run)?;
            let run = ctx
                .store
                .create_run(&NewRun {
                    run_id: run,
                    goal,
                    summary,
                    config: None,
                })
                .await?;
            let human = format!("created run {}", run.run_id);
            Ok(Reply::new("init", json!({"run": run}), human))
        }
        RunCommand::Show { run } => {
            let run = ctx.store.run(&run).await?;
            let human = render::run_line(&ctx.style, &run);
            Ok(Reply::new("show", json!({"run": run}), human))
        }
    }
}

pub async fn task(ctx: &Ctx, command: TaskCommand) -> Result<Reply> {
    let TaskCommand::Add {
        run,
        task,
        title,
        summary,
        body,
        default_to,
        execution_mode,
        acceptance_json,
        required_check,
        priority,
    } = command;
    validate_id("task id", &task)?;
    let priority = Priority::parse(&priority).ok_or_else(|| {
        Error::invalid_input(format!(
            "--priority {priority:?} is not one of {}",
            Priority::choices()
        ))
    })?;
    let acceptance = match acceptance_json.as_deref().filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => Some(v),
            Ok(_) => {
                return Err(Error::invalid_input(
                    "--acceptance-json must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(Error::invalid_input(format!(
                    "--acceptance-json is not valid JSON: {e}"
                )));
            }
        },
    };
    let mut checks: Vec<CheckSpec> = required_check
        .into_iter()
        .filter(|c| !c.trim().is_empty())
        .map(|name| CheckSpec {
            name,
            command: None,
        })
        .collect();
    checks.dedup_by(|a, b| a.name == b.name);
    if let Some(a) = &acceptance {
        merge_checks(&mut checks, checks_from_acceptance(a, "--acceptance-json")?);
    }
    let new = NewTask {
        task_id: task,
        title,
        summary,
        body: read_body_args(&body)?.unwrap_or_default(),
        default_to: default_to.unwrap_or_default(),
        execution_mode: execution_mode
            .as_deref()
            .and_then(crate::model::ExecutionMode::parse),
        acceptance,
        checks,
        priority,
    };
    let task = ctx.store.add_task(&run, &new).await?;
    let human = format!("added task {} ({})", task.task_id, task.status);
    Ok(Reply::new("add", json!({"task": task}), human))
}

pub async fn dep(ctx: &Ctx, command: DepCommand) -> Result<Reply> {
    let DepCommand::Add {
        run,
        task,
        depends_on,
    } = command;
    let (task, created) = ctx.store.add_dep(&run, &task, &depends_on).await?;
    let human = format!(
        "{} depends on {} ({}; task is {})",
        task.task_id,
        depends_on,
        if created { "added" } else { "already recorded" },
        task.status
    );
    Ok(Reply::new(
        "add",
        json!({"task": task, "depends_on": depends_on, "created": created}),
        human,
    ))
}

pub async fn plan(ctx: &Ctx, command: PlanCommand) -> Result<Reply> {
    let PlanCommand::Apply { run, file } = command;
    let plan = crate::plan::load(&file, run.as_deref())?;
    let outcome = ctx.store.apply_plan(&plan).await?;
    let run = outcome
        .run
        .clone()
        .ok_or_else(|| Error::internal("plan apply returned no run"))?;
    let human = format!(
        "{} run {}: {} task(s) added, {} unchanged, {} dependencies\n{}",
        if outcome.run_created {
            "created"
        } else {
            "extended"
        },
        run.run_id,
        outcome.created.len(),
        outcome.unchanged.len(),
        outcome.edges_created,
        render::run_line(&ctx.style, &run)
    );
    Ok(Reply::new(
        "apply",
        json!({
            "run": to_json(&run),
            "run_created": outcome.run_created,
            "tasks_created": outcome.created,
            "tasks_unchanged": outcome.unchanged,
            "edges_created": outcome.edges_created,
        }),
        human,
    ))
}

pub async fn ready(ctx: &Ctx, run: &str) -> Result<Reply> {
    let tasks = ctx.store.ready(run).await?;
    let human = if ctx.style.json {
        String::new()
    } else {
        render::tasks(&ctx.style, &tasks)
    };
    #[derive(serde::Serialize)]
    struct Ready<'a> {
        run_id: &'a str,
        tasks: &'a [crate::model::Task],
    }
    Ok(Reply::new(
        "ready",
        Ready {
            run_id: run,
            tasks: &tasks,
        },
        human,
    ))
}
