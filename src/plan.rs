//! Plan files (`orch plan apply`, `orch up --plan`): a run, its tasks with their
//! dependencies, default worker and execution mode, worker profiles and named checks,
//! in TOML or JSON. Parsing is strict (unknown keys are errors that name the key), and
//! produces the store's [`PlanInput`] so the whole file is applied in one transaction.

use crate::error::{Error, Result};
use crate::model::{ExecutionMode, Priority};
use crate::store::{CheckSpec, NewRun, NewTask, PlanInput, PlanTask};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    #[serde(default)]
    run: RunSection,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    workers: BTreeMap<String, WorkerProfile>,
    #[serde(default)]
    checks: BTreeMap<String, NamedCheck>,
    #[serde(default)]
    tasks: Vec<TaskEntry>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RunSection {
    id: Option<String>,
    #[serde(default)]
    goal: String,
    #[serde(default)]
    summary: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Defaults {
    worker: Option<String>,
    execution_mode: Option<String>,
    priority: Option<String>,
}

/// A worker profile: an adapter with its model, extra arguments, fallbacks and limits.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkerProfile {
    pub adapter: Option<String>,
    pub model: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub fallback: Vec<String>,
    pub max_attempts: Option<u32>,
    pub max_concurrent: Option<u32>,
    /// What the worker may do: `default` (what its execution mode needs), `full`, or
    /// `read-only` (the adapter's `permissions` levels).
    pub permissions: Option<crate::adapter::PermissionChoice>,
    /// Overrides the adapter's `stall_timeout` (humantime, e.g. "20m").
    pub stall_timeout: Option<String>,
    /// Extra environment variables for this profile's workers (over the adapter's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// More variables copied from the caller's environment (names or `PREFIX*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_env: Vec<String>,
    /// More variables whose values are secrets (names or `PREFIX*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env: Vec<String>,
}

/// A named check: the command orch runs in the worktree after the worker is done.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamedCheck {
    pub run: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskEntry {
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    body: String,
    #[serde(alias = "to", alias = "default_to")]
    worker: Option<String>,
    #[serde(alias = "mode")]
    execution_mode: Option<String>,
    priority: Option<String>,
    #[serde(default, alias = "deps")]
    depends_on: Vec<String>,
    acceptance: Option<Value>,
    #[serde(default)]
    checks: Vec<CheckEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CheckEntry {
    Name(String),
    Inline { name: String, run: Option<String> },
}

/// Reads and validates a plan file. `run_flag` is `--run`; the file's `[run] id` must
/// agree with it when both are given.
pub fn load(path: &Path, run_flag: Option<&str>) -> Result<PlanInput> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::invalid_input(format!("cannot read plan file {}: {e}", path.display()))
    })?;
    parse(&text, path, run_flag)
}

/// Parses plan text; JSON when the file ends in `.json` or the text starts with `{`.
pub fn parse(text: &str, path: &Path, run_flag: Option<&str>) -> Result<PlanInput> {
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    let file: PlanFile = if is_json {
        serde_json::from_str(text)
            .map_err(|e| Error::invalid_input(format!("plan file {}: {e}", path.display())))?
    } else {
        toml::from_str(text).map_err(|e| {
            Error::invalid_input(format!(
                "plan file {}: {}",
                path.display(),
                e.to_string().trim_end()
            ))
        })?
    };
    build(file, run_flag)
}

fn build(file: PlanFile, run_flag: Option<&str>) -> Result<PlanInput> {
    let run_id = run_id(run_flag, file.run.id.as_deref())?;
    let default_mode = file
        .defaults
        .execution_mode
        .as_deref()
        .map(|m| parse_mode(m, "defaults.execution_mode"))
        .transpose()?;
    let default_priority = file
        .defaults
        .priority
        .as_deref()
        .map(|p| parse_priority(p, "defaults.priority"))
        .transpose()?
        .unwrap_or(Priority::Normal);
    check_fallbacks(&file.workers)?;
    let mut tasks = Vec::with_capacity(file.tasks.len());
    for entry in file.tasks {
        let context = format!("task {:?}", entry.id);
        let execution_mode = match entry.execution_mode.as_deref() {
            Some(m) => Some(parse_mode(m, &format!("{context} execution_mode"))?),
            None => default_mode,
        };
        let priority = match entry.priority.as_deref() {
            Some(p) => parse_priority(p, &format!("{context} priority"))?,
            None => default_priority,
        };
        let mut checks = task_checks(entry.checks, &file.checks);
        if let Some(acceptance) = &entry.acceptance {
            merge_checks(&mut checks, checks_from_acceptance(acceptance, &context)?);
        }
        tasks.push(PlanTask {
            task: NewTask {
                task_id: entry.id,
                title: entry.title,
                summary: entry.summary,
                body: entry.body,
                default_to: entry
                    .worker
                    .or_else(|| file.defaults.worker.clone())
                    .unwrap_or_default(),
                execution_mode,
                acceptance: entry.acceptance,
                checks,
                priority,
            },
            depends_on: entry.depends_on,
        });
    }
    let config = if file.workers.is_empty() && file.checks.is_empty() {
        None
    } else {
        Some(serde_json::json!({"workers": file.workers, "checks": file.checks}))
    };
    Ok(PlanInput {
        run: NewRun {
            run_id,
            goal: file.run.goal,
            summary: file.run.summary,
            config,
        },
        tasks,
    })
}

/// The run id: `--run`, else the file's `[run] id`; both given, they must agree.
fn run_id(run_flag: Option<&str>, in_file: Option<&str>) -> Result<String> {
    let run_id = match (run_flag, in_file) {
        (Some(flag), Some(id)) if flag != id => {
            return Err(Error::invalid_input(format!(
                "--run {flag:?} disagrees with the plan's run id {id:?}"
            )));
        }
        (Some(flag), _) => flag.to_string(),
        (None, Some(id)) => id.to_string(),
        (None, None) => {
            return Err(Error::invalid_input(
                "the plan names no run: pass --run or set [run] id in the file",
            ));
        }
    };
    crate::ids::validate_id("run id", &run_id)?;
    Ok(run_id)
}

/// No worker profile may list itself as its fallback.
fn check_fallbacks(workers: &BTreeMap<String, WorkerProfile>) -> Result<()> {
    for (name, profile) in workers {
        if profile.fallback.iter().any(|fallback| fallback == name) {
            return Err(Error::invalid_input(format!(
                "worker profile {name:?} lists itself as a fallback"
            )));
        }
    }
    Ok(())
}

/// A task's checks, by name or inline; a named check's command comes from `[checks]`
/// unless the entry gives its own.
fn task_checks(entries: Vec<CheckEntry>, named: &BTreeMap<String, NamedCheck>) -> Vec<CheckSpec> {
    let command_of = |name: &str| named.get(name).map(|c| c.run.clone());
    entries
        .into_iter()
        .map(|check| match check {
            CheckEntry::Name(name) => CheckSpec {
                command: command_of(&name),
                name,
            },
            CheckEntry::Inline { name, run } => CheckSpec {
                command: run.or_else(|| command_of(&name)),
                name,
            },
        })
        .collect()
}

fn parse_mode(text: &str, what: &str) -> Result<ExecutionMode> {
    ExecutionMode::parse(text).ok_or_else(|| {
        Error::invalid_input(format!(
            "{what} {text:?} is not one of {}",
            ExecutionMode::choices()
        ))
    })
}

fn parse_priority(text: &str, what: &str) -> Result<Priority> {
    Priority::parse(text).ok_or_else(|| {
        Error::invalid_input(format!(
            "{what} {text:?} is not one of {}",
            Priority::choices()
        ))
    })
}

/// The checks an acceptance object names: `{"checks": [{"name": .., "run": ..} | "name"]}`.
pub fn checks_from_acceptance(acceptance: &Value, context: &str) -> Result<Vec<CheckSpec>> {
    let Some(list) = acceptance.get("checks") else {
        return Ok(Vec::new());
    };
    let Some(items) = list.as_array() else {
        return Err(Error::invalid_input(format!(
            "{context}: acceptance \"checks\" must be an array"
        )));
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(name) => Ok(CheckSpec {
                name: name.clone(),
                command: None,
            }),
            Value::Object(obj) => {
                let name = obj.get("name").and_then(Value::as_str).ok_or_else(|| {
                    Error::invalid_input(format!(
                        "{context}: each acceptance check needs a \"name\" string"
                    ))
                })?;
                let command = match obj.get("run") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(run)) => Some(run.clone()),
                    Some(_) => {
                        return Err(Error::invalid_input(format!(
                            "{context}: acceptance check {name:?} has a \"run\" that is not a string"
                        )));
                    }
                };
                Ok(CheckSpec {
                    name: name.to_string(),
                    command,
                })
            }
            _ => Err(Error::invalid_input(format!(
                "{context}: acceptance checks are names or {{\"name\", \"run\"}} objects"
            ))),
        })
        .collect()
}

/// Adds checks not yet present (by name); a later one fills a missing command.
pub fn merge_checks(into: &mut Vec<CheckSpec>, more: Vec<CheckSpec>) {
    for check in more {
        match into.iter_mut().find(|c| c.name == check.name) {
            Some(existing) => {
                if existing.command.is_none() {
                    existing.command = check.command;
                }
            }
            None => into.push(check),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_toml_plan() {
        let plan = parse(
            r#"
            [run]
            id = "demo"
            goal = "ship it"
            [defaults]
            worker = "shell"
            execution_mode = "analysis"
            [checks.test]
            run = "cargo test"
            [[tasks]]
            id = "a"
            title = "first"
            [[tasks]]
            id = "b"
            depends_on = ["a"]
            mode = "code"
            checks = ["test", { name = "lint", run = "true" }]
            "#,
            Path::new("plan.toml"),
            None,
        )
        .unwrap();
        assert_eq!(plan.run.run_id, "demo");
        assert_eq!(plan.tasks.len(), 2);
        assert_eq!(plan.tasks[0].task.default_to, "shell");
        assert_eq!(
            plan.tasks[0].task.execution_mode,
            Some(ExecutionMode::Analysis)
        );
        assert_eq!(plan.tasks[1].task.execution_mode, Some(ExecutionMode::Code));
        assert_eq!(plan.tasks[1].depends_on, vec!["a"]);
        assert_eq!(
            plan.tasks[1].task.checks[0].command.as_deref(),
            Some("cargo test")
        );
        assert_eq!(
            plan.tasks[1].task.checks[1].command.as_deref(),
            Some("true")
        );
    }

    #[test]
    fn refuses_unknown_keys_and_bad_modes() {
        for (text, named) in [
            ("[[tasks]]\nid = \"a\"\ntitel = \"x\"\n", "titel"),
            ("[[tasks]]\nid = \"a\"\nmode = \"write\"\n", "write"),
        ] {
            let err = parse(text, Path::new("p.toml"), Some("r")).unwrap_err();
            assert!(err.message.contains(named), "{}", err.message);
        }
    }

    #[test]
    fn run_id_must_agree() {
        let err = parse("[run]\nid = \"x\"\n", Path::new("p.toml"), Some("y")).unwrap_err();
        assert!(err.message.contains("disagrees"));
        let err = parse("", Path::new("p.toml"), None).unwrap_err();
        assert!(err.message.contains("names no run"));
    }
}
