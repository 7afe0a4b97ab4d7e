//! `orch task add`: adds a task to a run, with the checks its acceptance criteria and
//! `--required-check` name. Repeating a task exactly is a no-op (`data.created: false`).

use crate::cli::{BodyArgs, RequestArgs};
use crate::commands::{Ctx, read_body_args};
use crate::error::{Error, Result};
use crate::ids::validate_id;
use crate::model::{ExecutionMode, Priority};
use crate::output::Reply;
use crate::plan::{checks_from_acceptance, merge_checks};
use crate::store::{CheckSpec, NewTask};
use clap::Args;
use serde_json::{Value, json};

#[derive(Debug, Clone, Args)]
pub struct TaskAddArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: String,
    #[arg(long, default_value = "")]
    pub title: String,
    #[arg(long, default_value = "")]
    pub summary: String,
    #[command(flatten)]
    pub body: BodyArgs,
    /// The worker `dispatch` and `up` use by default.
    #[arg(long, value_name = "WORKER")]
    pub default_to: Option<String>,
    /// analysis|code: the mode `up` dispatches with.
    #[arg(long, value_enum)]
    pub execution_mode: Option<ExecutionMode>,
    /// Acceptance criteria, a JSON object; {"checks": [{"name", "run"}]} adds checks.
    #[arg(long, value_name = "JSON")]
    pub acceptance_json: Option<String>,
    /// A check that must pass before the task is done (repeatable).
    #[arg(long, value_name = "NAME")]
    pub required_check: Vec<String>,
    /// low|normal|high|urgent.
    #[arg(long, value_enum, default_value_t = Priority::Normal)]
    pub priority: Priority,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: TaskAddArgs) -> Result<Reply> {
    validate_id("task id", &args.task)?;
    let acceptance = acceptance(args.acceptance_json.as_deref())?;
    let mut checks: Vec<CheckSpec> = args
        .required_check
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
        task_id: args.task,
        title: args.title,
        summary: args.summary,
        body: read_body_args(&args.body)?.unwrap_or_default(),
        default_to: args.default_to.unwrap_or_default(),
        execution_mode: args.execution_mode,
        acceptance,
        checks,
        priority: args.priority,
    };
    let (task, created) = ctx.store.add_task(&args.run, &new).await?;
    let human = if created {
        format!("added task {} ({})", task.task_id, task.status)
    } else {
        format!("task {} exists, unchanged", task.task_id)
    };
    Ok(Reply::new(
        "add",
        json!({"task": task, "created": created}),
        human,
    ))
}

/// `--acceptance-json`: a JSON object, or nothing when empty.
fn acceptance(text: Option<&str>) -> Result<Option<Value>> {
    match text.filter(|t| !t.trim().is_empty()) {
        None => Ok(None),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => Ok(Some(v)),
            Ok(_) => Err(Error::invalid_input(
                "--acceptance-json must be a JSON object",
            )),
            Err(e) => Err(Error::invalid_input(format!(
                "--acceptance-json is not valid JSON: {e}"
            ))),
        },
    }
}
