//! The compact form of a tool's result: the verb's JSON data with null and empty fields
//! left out, and a long text that already appeared earlier in the same result (a task's
//! body again in its message) replaced by where it appeared (`"(same as task.body)"`).
//! A leader pays for every byte it reads; none of this loses anything. A tool that makes
//! an attempt (`retry`, `reassign`) returns only what the leader acts on next
//! ([`made_attempt`]): the records' ids and statuses, as `answer` does on the command line.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Texts at least this long are said once per result.
const REPEAT_MIN_CHARS: usize = 64;

/// `value` without empty fields or repeated long texts.
pub fn compact(value: Value) -> Value {
    let mut seen = HashMap::new();
    walk(value, String::new(), &mut seen).unwrap_or(Value::Object(Map::new()))
}

/// The value at `path`, or `None` for a field to leave out.
fn walk(value: Value, path: String, seen: &mut HashMap<String, String>) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) if text.chars().count() >= REPEAT_MIN_CHARS => {
            if let Some(first) = seen.get(&text) {
                return Some(Value::String(format!("(same as {first})")));
            }
            seen.insert(text.clone(), path);
            Some(Value::String(text))
        }
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => {
            let items = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| walk(item, format!("{path}[{i}]"), seen).unwrap_or(Value::Null))
                .collect();
            Some(Value::Array(items))
        }
        Value::Object(fields) => {
            let mut kept = Map::new();
            for (key, field) in fields {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if let Some(field) = walk(field, at, seen) {
                    kept.insert(key, field);
                }
            }
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        other => Some(other),
    }
}

/// The fields of a made attempt's result the leader acts on; the rest (the bodies it
/// wrote itself, the records' other fields) it reads with `status` or `attempts`.
const MADE_ATTEMPT_FIELDS: &[(&str, &[&str])] = &[
    ("task", &["run_id", "task_id", "status", "current_attempt"]),
    (
        "attempt",
        &[
            "attempt_no",
            "thread_id",
            "assigned_to",
            "status",
            "worktree_path",
            "branch_name",
        ],
    ),
    ("previous_attempt", &["attempt_no", "status"]),
    ("message", &["message_id"]),
    (
        "launch",
        &["adapter", "profile", "supervisor_pid", "log_path"],
    ),
];

/// The result of a verb that made an attempt (retry, reassign), kept to
/// [`MADE_ATTEMPT_FIELDS`], with the size of the body the worker got
/// (`message.body_bytes`).
pub fn made_attempt(data: Value) -> Value {
    let mut kept = Map::new();
    for (record, fields) in MADE_ATTEMPT_FIELDS {
        let Some(Value::Object(full)) = data.get(*record) else {
            continue;
        };
        let mut picked: Map<String, Value> = fields
            .iter()
            .filter_map(|f| full.get(*f).map(|v| (f.to_string(), v.clone())))
            .collect();
        if *record == "message"
            && let Some(Value::String(body)) = full.get("body")
        {
            picked.insert("body_bytes".into(), body.len().into());
        }
        kept.insert(record.to_string(), Value::Object(picked));
    }
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_fields_are_left_out_and_values_kept() {
        let data = json!({
            "task": {"id": "t", "title": "", "acceptance": null, "deps": [], "n": 0, "ok": false},
            "usage": {},
            "rows": [null, {"a": ""}, 1],
        });
        assert_eq!(
            compact(data),
            json!({"task": {"id": "t", "n": 0, "ok": false}, "rows": [null, null, 1]})
        );
    }

    #[test]
    fn a_long_text_is_said_once() {
        let body = "b".repeat(REPEAT_MIN_CHARS);
        let data = json!({
            "task": {"body": body},
            "message": {"body": body, "summary": "short"},
            "short": ["x", "x"],
        });
        // Fields are visited in key order: the message comes first.
        assert_eq!(
            compact(data),
            json!({
                "message": {"body": body, "summary": "short"},
                "task": {"body": "(same as message.body)"},
                "short": ["x", "x"],
            })
        );
        let rows = compact(json!({"rows": [{"body": body}, {"body": body}]}));
        assert_eq!(rows["rows"][1]["body"], "(same as rows[0].body)");
    }

    #[test]
    fn a_made_attempt_keeps_ids_statuses_and_the_body_size() {
        let body = "b".repeat(600);
        let data = json!({
            "task": {"run_id": "r", "task_id": "t", "status": "dispatched", "current_attempt": 2, "body_same_as": "message.body"},
            "attempt": {"attempt_no": 2, "thread_id": "r/t/attempt-2", "assigned_to": "w", "status": "pending", "base_commit": "abc"},
            "thread": {"thread_id": "r/t/attempt-2"},
            "message": {"message_id": 7, "body": body},
            "previous_attempt": {"attempt_no": 1, "status": "failed", "supervision": {}},
        });
        assert_eq!(
            made_attempt(data),
            json!({
                "task": {"run_id": "r", "task_id": "t", "status": "dispatched", "current_attempt": 2},
                "attempt": {"attempt_no": 2, "thread_id": "r/t/attempt-2", "assigned_to": "w", "status": "pending"},
                "previous_attempt": {"attempt_no": 1, "status": "failed"},
                "message": {"message_id": 7, "body_bytes": 600},
            })
        );
    }
}
