//! The worker brief (contract §9): the prompt a worker is launched with. One function,
//! used by `orch brief` and by the supervisor, so what a leader reads is exactly what
//! the worker gets.

use crate::model::{Attempt, ExecutionMode, Task};
use std::fmt::Write;
use std::path::PathBuf;

/// Extra context for a brief beyond the task and attempt.
#[derive(Debug, Clone, Default)]
pub struct BriefContext {
    /// What the previous attempt left behind (failure summary, check output, hand-over).
    pub previous: Option<String>,
    /// The agent session this attempt resumes (the adapter's `resume` argv is used).
    pub resume_session: Option<String>,
    /// A rule from the worker's adapter at its permission level (what it cannot do
    /// itself, e.g. that orch commits for it).
    pub worker_note: Option<String>,
    /// The body the leader gave this attempt in place of the task's (`--body` on
    /// dispatch, retry or reassign): the brief's task, with a note that it was replaced.
    pub body: Option<String>,
}

/// A recorded path as the brief shows it (`""` for none: the fact is left out).
fn shown(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Renders the brief for `attempt` of `task`.
pub fn render(task: &Task, attempt: &Attempt, context: &BriefContext) -> String {
    let mut out = String::new();
    let agent = &attempt.assigned_to;
    let thread = &attempt.thread_id;
    let _ = writeln!(
        out,
        "You are {agent}, a worker agent supervised by orch. You own one task of run {run}; \
         report through the `inbox` command line, on your own thread only.",
        run = task.run_id
    );
    out.push_str("\n## Facts\n");
    let mut fact = |k: &str, v: &str| {
        if !v.is_empty() {
            let _ = writeln!(out, "- {k}: {v}");
        }
    };
    fact("run", &task.run_id);
    fact("task", &task.task_id);
    fact("attempt", &attempt.attempt_no.to_string());
    fact("thread", thread);
    fact("execution mode", attempt.execution_mode.as_str());
    fact("title", &task.title);
    fact("summary", &task.summary);
    if attempt.execution_mode == ExecutionMode::Code {
        fact("worktree", &shown(&attempt.workspace.worktree_path));
        fact(
            "branch",
            attempt.workspace.branch_name.as_deref().unwrap_or(""),
        );
        let commit = attempt.workspace.base_commit.as_deref().unwrap_or("");
        let base = match &attempt.workspace.base_ref {
            Some(base_ref) => format!("{base_ref} ({commit})"),
            None => commit.to_string(),
        };
        fact("base", &base);
    } else {
        fact("repository", &shown(&attempt.workspace.repo_path));
    }
    match context.body.as_deref() {
        Some(body) => {
            let _ = write!(
                out,
                "\n## Task\n{}\n\nNote: the leader replaced the task's body for this attempt; do what the text above says.\n",
                body.trim_end()
            );
        }
        None if !task.body.trim().is_empty() => {
            let _ = write!(out, "\n## Task\n{}\n", task.body.trim_end());
        }
        None => {}
    }
    if !task.acceptance.is_null() || !task.required_checks.is_empty() {
        out.push_str("\n## Acceptance\n");
        if !task.acceptance.is_null() {
            let _ = writeln!(out, "{}", task.acceptance);
        }
        if !task.required_checks.is_empty() {
            let _ = writeln!(
                out,
                "Required checks (run after you report done): {}",
                task.required_checks.join(", ")
            );
        }
    }
    if let Some(previous) = context.previous.as_deref().filter(|p| !p.trim().is_empty()) {
        let _ = write!(
            out,
            "\n## Previous attempt\nThis is attempt {}. What happened before:\n{}\n",
            attempt.attempt_no,
            previous.trim_end()
        );
    }
    workflow_and_rules(&mut out, attempt, context);
    out
}

/// The steps through `inbox` and the rules of the worker's mode and adapter.
fn workflow_and_rules(out: &mut String, attempt: &Attempt, context: &BriefContext) {
    let thread = &attempt.thread_id;
    let _ = write!(
        out,
        "\n## Workflow\n\
         The environment already holds ORCH_DB, ORCH_AGENT and ORCH_THREAD, so these commands need no other flags.\n\
         1. Read the thread: `inbox show --thread {thread}`\n\
         2. Claim it: `inbox claim --thread {thread}`\n\
         3. Report progress as you go: `inbox update --status in_progress --summary \"<what you did>\"`\n\
         4. If you cannot go on without a decision, ask one precise question and wait for the answer:\n   \
            `inbox update --status blocked --summary \"<the question>\" --payload-json '{{\"question\": \"...\"}}'`\n   \
            `inbox wait-reply --thread {thread}` (then continue with the answer)\n\
         5. Finish with a summary of what you did: `inbox done --summary \"<result>\"`,\n   \
            or, if the task cannot be done: `inbox fail --summary \"<why>\"`\n"
    );
    out.push_str("\n## Rules\n");
    out.push_str("- Touch no other thread than yours.\n");
    match attempt.execution_mode {
        ExecutionMode::Code => {
            let _ = writeln!(
                out,
                "- Write only inside your worktree {}; commit your work on its branch before you report done.",
                shown(&attempt.workspace.worktree_path)
            );
        }
        ExecutionMode::Analysis => {
            out.push_str("- This is an analysis task: read, do not modify the repository.\n");
        }
    }
    if let Some(note) = context
        .worker_note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        let _ = writeln!(out, "- {}", note.trim());
    }
    out.push_str("- Do not wait silently: if you are stuck, ask (step 4) rather than stop.\n");
}
