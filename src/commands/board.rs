//! The live board of a run (`orch up` on a terminal, `orch watch`): one row per task with
//! a status glyph, worker, attempt, time in its status and its last output line; a
//! progress bar; the questions waiting for an answer. Redrawn in place.

use crate::error::Result;
use crate::model::{TaskStatus, TaskView};
use crate::output::{Style, clip, table};
use crate::store::Store;

fn glyph(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Planned => "·",
        TaskStatus::Ready => "○",
        TaskStatus::Dispatched | TaskStatus::Running => "▶",
        TaskStatus::Blocked => "?",
        TaskStatus::Verifying => "…",
        TaskStatus::Done => "✓",
        TaskStatus::Failed => "✗",
        TaskStatus::Cancelled => "-",
    }
}

/// The board's text for the run now.
pub async fn render(store: &Store, run_id: &str, style: &Style, width: usize) -> Result<String> {
    let view = store.status_view(run_id).await?;
    let tasks: Vec<TaskView> = view.tasks()?;
    let now = crate::time::now_ms();
    let c = &view.run.counts;
    let bar_width = 30usize;
    let filled = if c.total > 0 {
        (c.done as usize * bar_width) / c.total as usize
    } else {
        0
    };
    let mut out = format!(
        "run {} [{}]  {} {}/{} done",
        view.run.run_id,
        style.status(view.run.status),
        "█".repeat(filled) + &"░".repeat(bar_width - filled),
        c.done,
        c.total
    );
    for (n, label) in [
        (c.running + c.dispatched, "running"),
        (c.blocked, "blocked"),
        (c.failed, "failed"),
    ] {
        if n > 0 {
            out.push_str(&format!(", {n} {label}"));
        }
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let updated = t
                .updated_at
                .parse::<jiff::Timestamp>()
                .map(|ts| ts.as_millisecond())
                .unwrap_or(now);
            let (worker, attempt) = match &t.latest_attempt {
                Some(a) => (a.assigned_to.clone(), a.attempt_no.to_string()),
                None => (t.default_to.clone(), "-".into()),
            };
            let last = t
                .latest_message
                .as_ref()
                .map(|m| m.summary.clone())
                .unwrap_or_default();
            vec![
                format!("{} {}", glyph(t.status), t.task_id),
                style.status(t.status),
                worker,
                attempt,
                crate::time::short_duration(now - updated),
                clip(&last, width.saturating_sub(60).max(20)),
            ]
        })
        .collect();
    out.push_str(&table(
        &["TASK", "STATUS", "WORKER", "#", "FOR", "LAST"],
        &rows,
    ));
    let questions: Vec<String> = tasks
        .iter()
        .filter_map(|t| {
            let q = t.blocked_question.as_ref()?;
            Some(format!(
                "  {} asks: {}",
                t.task_id,
                q["summary"].as_str().unwrap_or("")
            ))
        })
        .collect();
    if !questions.is_empty() {
        out.push_str("\nwaiting for an answer (orch answer --run RUN --task TASK --body ...):\n");
        out.push_str(&questions.join("\n"));
        out.push('\n');
    }
    Ok(out)
}

/// Redraws the board in place on a terminal.
pub fn draw(text: &str) {
    crate::output::write_stdout(&format!("\x1b[H\x1b[2J{text}"), 0);
}

/// The terminal's width, or 120.
pub fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(120)
}
