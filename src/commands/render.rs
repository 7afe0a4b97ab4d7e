//! Human renderings of records: short tables and lines a person can scan.

use crate::model::{Message, Run, Task, TaskView, Thread};
use crate::output::{Style, clip, table};
use crate::time::rfc3339;

pub fn threads(style: &Style, threads: &[Thread]) -> String {
    if threads.is_empty() {
        return "no threads".into();
    }
    let rows: Vec<Vec<String>> = threads
        .iter()
        .map(|t| {
            vec![
                t.thread_id.clone(),
                style.status(t.status.as_str()),
                t.assigned_to.clone(),
                clip(&t.subject, 60),
            ]
        })
        .collect();
    table(&["THREAD", "STATUS", "ASSIGNED", "SUBJECT"], &rows)
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
        style.status(t.status.as_str()),
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
    if tasks.is_empty() {
        return "no tasks".into();
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            vec![
                t.task_id.clone(),
                style.status(t.status.as_str()),
                t.priority.to_string(),
                t.default_to.clone(),
                clip(
                    if t.title.is_empty() {
                        &t.summary
                    } else {
                        &t.title
                    },
                    60,
                ),
            ]
        })
        .collect();
    table(&["TASK", "STATUS", "PRIORITY", "WORKER", "TITLE"], &rows)
}

pub fn run_line(style: &Style, run: &Run) -> String {
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
    format!(
        "run {} [{}] {} task{}{}{}",
        run.run_id,
        style.status(run.status.as_str()),
        c.total,
        if c.total == 1 { "" } else { "s" },
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join(", "))
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
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            let (attempt, worker) = match &v.latest_attempt {
                Some(a) => (a.attempt_no.to_string(), a.assigned_to.clone()),
                None => ("-".into(), v.default_to.clone()),
            };
            let latest = match (&v.blocked_question, &v.latest_message) {
                (Some(q), _) => format!("? {}", q["summary"].as_str().unwrap_or("")),
                (None, Some(m)) => format!("{}: {}", m.kind, m.summary),
                (None, None) => String::new(),
            };
            vec![
                v.task_id.clone(),
                style.status(v.status.as_str()),
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
