//! Human renderings of records: short tables and lines a person can scan.

use crate::model::{AttemptOutcome, Event, Message, Run, Task, TaskStatus, TaskView, Thread};
use crate::output::{Style, clip, table, write_stdout};
use crate::store::Gate;
use crate::time::rfc3339;

/// A table with one row per item, or `none` when there are no items.
fn table_of<T>(
    items: &[T],
    none: &str,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> String {
    if items.is_empty() {
        return none.into();
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    table(header, &rows)
}

pub fn threads(style: &Style, threads: &[Thread]) -> String {
    table_of(
        threads,
        "no threads",
        &["THREAD", "STATUS", "ASSIGNED", "SUBJECT"],
        |t| {
            vec![
                t.thread_id.clone(),
                style.status(t.status),
                t.assigned_to.clone(),
                clip(&t.subject, 60),
            ]
        },
    )
}

pub fn message_line(style: &Style, m: &Message) -> String {
    let mut line = format!(
        "#{} {} {} {} → {}: {}",
        m.message_id,
        style.dim(&rfc3339(m.created_at)),
        m.kind,
        m.from_agent,
        m.to_agent,
        clip(&m.summary, 100)
    );
    if !m.body.is_empty() && m.body.trim() != m.summary.trim() {
        for l in m.body.lines().take(20) {
            line.push_str("\n    ");
            line.push_str(l);
        }
    }
    if m.payload_json.as_object().is_some_and(|o| !o.is_empty()) {
        line.push_str(&format!(
            "\n    payload: {}",
            clip(&m.payload_json.to_string(), 200)
        ));
    }
    for a in &m.artifacts {
        line.push_str(&format!("\n    artifact: {} ({})", a.path, a.kind));
    }
    line
}

pub fn thread_with_messages(style: &Style, t: &Thread, messages: &[Message]) -> String {
    let mut out = format!(
        "{} [{}] {} — assigned to {}, created by {}\n",
        t.thread_id,
        style.status(t.status),
        t.subject,
        t.assigned_to,
        t.created_by
    );
    for m in messages {
        out.push_str(&message_line(style, m));
        out.push('\n');
    }
    out
}

pub fn tasks(style: &Style, tasks: &[Task]) -> String {
    table_of(
        tasks,
        "no tasks",
        &["TASK", "STATUS", "PRIORITY", "WORKER", "TITLE"],
        |t| {
            let title = if t.title.is_empty() {
                &t.summary
            } else {
                &t.title
            };
            vec![
                t.task_id.clone(),
                style.status(t.status),
                t.priority.to_string(),
                t.default_to.clone(),
                clip(title, 60),
            ]
        },
    )
}

/// A run's task counts by status, the non-zero ones: `2 done, 1 running, 3 ready`.
pub fn counts(run: &Run) -> String {
    let c = &run.counts;
    let mut parts = Vec::new();
    for (n, label) in [
        (c.done, "done"),
        (c.running + c.dispatched, "running"),
        (c.blocked, "blocked"),
        (c.verifying, "verifying"),
        (c.ready, "ready"),
        (c.planned, "planned"),
        (c.failed, "failed"),
        (c.cancelled, "cancelled"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    parts.join(", ")
}

pub fn run_line(style: &Style, run: &Run) -> String {
    let c = &run.counts;
    let parts = counts(run);
    format!(
        "run {} [{}] {} task{}{}{}",
        run.run_id,
        style.status(run.status),
        c.total,
        if c.total == 1 { "" } else { "s" },
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {parts}")
        },
        if run.goal.is_empty() {
            String::new()
        } else {
            format!(" — {}", run.goal)
        }
    )
}

pub fn status(style: &Style, run: &Run, views: &[TaskView]) -> String {
    let mut out = run_line(style, run);
    out.push('\n');
    if views.is_empty() {
        return out;
    }
    let hosts = shows_hosts(
        views
            .iter()
            .map(|v| v.latest_attempt.as_ref().and_then(|a| a.host.as_deref())),
    );
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            let (attempt, mut worker) = match &v.latest_attempt {
                Some(a) => (a.attempt_no.to_string(), a.assigned_to.clone()),
                None => ("-".into(), v.default_to.clone()),
            };
            if let Some(host) = v.latest_attempt.as_ref().and_then(|a| a.host.as_ref())
                && hosts
            {
                worker.push_str(&format!(" @{host}"));
            }
            let latest = match (&v.blocked_question, &v.latest_message) {
                (Some(q), _) => format!("? {}", q["summary"].as_str().unwrap_or("")),
                (None, Some(m)) => format!("{}: {}", m.kind, m.summary),
                (None, None) => String::new(),
            };
            vec![
                v.task_id.clone(),
                style.status(v.status),
                attempt,
                worker,
                clip(&latest, 70),
            ]
        })
        .collect();
    out.push_str(&table(
        &["TASK", "STATUS", "ATTEMPT", "WORKER", "LATEST"],
        &rows,
    ));
    out
}

/// Whether plain text names the hosts of attempts (`hosts`: each attempt's, if known):
/// when one ran on another host than this one. A run on one host prints no host.
pub fn shows_hosts<'a>(hosts: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    let here = crate::orchestration::hosts::this_host();
    hosts.into_iter().flatten().any(|host| host != here)
}

/// The verification gate of a task, one line per check.
pub fn gate(style: &Style, task: &str, gate: &Gate) -> String {
    let mut out = format!(
        "gate of {task} (attempt {}): {}\n",
        gate.attempt_no,
        style.status(gate.status)
    );
    for c in &gate.checks {
        out.push_str(&format!("  {} {}", c.name, style.status(c.status)));
        if !c.details.is_empty() {
            out.push_str(&format!(" — {}", clip(&c.details, 80)));
        }
        out.push('\n');
    }
    out
}

/// Prints one event of a run as it happens (`orch up` and `orch watch` on a pipe): a
/// line for people, or the event as one JSON object.
pub fn print_event(event: &Event, json: bool, style: &Style) {
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
        "task_done" => style.status(TaskStatus::Done),
        "task_failed" | "attempt_lost" | "task_given_up" => style.status(TaskStatus::Failed),
        "task_blocked" => style.status(TaskStatus::Blocked),
        "attempt_rate_limited" | "task_parked" => style.status(AttemptOutcome::RateLimited),
        _ => what.to_string(),
    };
    let summary = crate::output::clip(&event.summary, 90);
    write_stdout(
        &format!(
            "{} {:<14} {:<20} {}\n",
            style.dim(clock),
            word,
            event.subject.task_id.as_deref().unwrap_or(""),
            summary
        ),
        0,
    );
}
