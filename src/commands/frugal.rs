//! What the leader's replies leave out (issue 12, "frugal by default"): bodies in list
//! verbs unless `--bodies`, and the records around a question or an answer, kept to
//! their ids and statuses. One rule for every verb: a text left out is replaced by its
//! size, `<key>_bytes` (absent when the text was empty).

use super::rows::{AttemptIds, MessageRow, TaskIds, TaskRow};
use crate::model::{Attempt, Message, Task};
use serde_json::Value;

/// Removes the text `key` of `object`, putting `<key>_bytes` in its place when the
/// text was not empty (for JSON the database rendered; records print through
/// [`super::rows`], which follows the same rule).
pub fn elide(object: &mut Value, key: &str) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if let Some(Value::String(text)) = map.remove(key)
        && !text.is_empty()
    {
        map.insert(format!("{key}_bytes"), text.len().into());
    }
}

/// A task as a list prints it, its body left out unless `bodies`.
pub fn task(task: &Task, bodies: bool) -> TaskRow<'_> {
    TaskRow::new(task, bodies)
}

/// A message as a list prints it, its body left out unless `bodies`.
pub fn message(message: &Message, bodies: bool) -> MessageRow<'_> {
    MessageRow::new(message, bodies)
}

/// The task around a question or an answer: its ids and status.
pub fn task_ids(task: &Task) -> TaskIds<'_> {
    TaskIds::new(task)
}

/// The attempt around a question: its ids and status.
pub fn attempt_ids(attempt: &Attempt) -> AttemptIds<'_> {
    AttemptIds::new(attempt)
}

/// What a question asks: `payload_json.question` when the worker gave one, else the
/// summary; and its options (`payload_json.options`), each as the worker gave it.
pub fn question_text(question: &Message) -> (String, Vec<String>) {
    let payload = &question.payload_json;
    let text = payload["question"]
        .as_str()
        .filter(|q| !q.trim().is_empty())
        .unwrap_or(&question.summary)
        .to_string();
    let options = payload["options"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| match o {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    (text, options)
}

/// A question as one line's end: `TEXT [options: a | b]`.
pub fn question_line(question: &Message) -> String {
    let (text, options) = question_text(question);
    let mut line = crate::output::clip(&text, 200);
    if !options.is_empty() {
        line.push_str(&format!(" [options: {}]", options.join(" | ")));
    }
    line
}
