//! What a notification says: the event's own fields (as `orch wait` prints an event),
//! its friendly name, the question for a question, and a short `text` a person can act
//! on (what happened, and the command that answers or explains it).

use super::NotifyEvent;
use crate::model::{Event, Message};
use serde_json::{Value, json};

/// The most of a question's body a notification's text carries.
const MAX_BODY: usize = 1000;

/// The JSON sent for `event`: `text`, `event` (the name in `[notify] events`), the event's
/// fields (`event_id`, `event_type`, `run_id`, `task_id`, `thread_id`, `message_id`,
/// `summary`, `payload`, `created_at`), and for a question, `question` (`message_id`,
/// `summary`, `body`, `payload`).
pub fn notification(event: &Event, kind: NotifyEvent, question: Option<&Message>) -> Value {
    let mut out = json!({
        "text": text(event, kind, question),
        "event": kind.name(),
    });
    if let (Some(out), Ok(Value::Object(fields))) =
        (out.as_object_mut(), serde_json::to_value(event))
    {
        out.extend(fields);
        if let Some(q) = question {
            out.insert(
                "question".into(),
                json!({
                    "message_id": q.message_id,
                    "summary": q.summary,
                    "body": q.body,
                    "payload": q.payload_json,
                }),
            );
        }
    }
    out
}

/// The one message a person reads: what happened, then what to run.
fn text(event: &Event, kind: NotifyEvent, question: Option<&Message>) -> String {
    let run = event.subject.run_id.as_deref().unwrap_or("");
    let task = event.subject.task_id.as_deref().unwrap_or("");
    match kind {
        NotifyEvent::Question => {
            let asked = question.map_or(event.summary.as_str(), |q| q.summary.as_str());
            let mut text = format!("orch: task {task} of run {run} asks: {asked}");
            if let Some(body) = question
                .map(|q| q.body.trim())
                .filter(|b| !b.is_empty() && *b != asked)
            {
                text.push('\n');
                text.push_str(&clip(body, MAX_BODY));
            }
            let exactly =
                question.map_or(String::new(), |q| format!(" --question {}", q.message_id));
            text.push_str(&format!(
                "\nanswer: orch answer --run {run} --task {task}{exactly} --body '...'"
            ));
            text
        }
        NotifyEvent::GivenUp => {
            let attempt = event.payload["attempt_no"]
                .as_i64()
                .map_or(String::new(), |n| format!(" after attempt {n}"));
            format!(
                "orch: task {task} of run {run} was given up{attempt}: {}\nsee: orch attempts --run {run} --task {task}",
                event.summary
            )
        }
        NotifyEvent::RunFinished => format!(
            "orch: run {run} finished: {}\nsee: orch status --run {run}",
            event.summary
        ),
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The body for a Slack-compatible webhook: the notification with `&`, `<` and `>` in
/// its `text` escaped, as Slack's message format asks.
pub(super) fn slack_body(notification: &Value) -> Value {
    let mut body = notification.clone();
    if let Some(text) = body["text"].as_str() {
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        body["text"] = Value::String(escaped);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventSubject, MessageKind};

    fn event(event_type: &str, summary: &str, payload: Value) -> Event {
        Event {
            event_id: 7,
            event_type: event_type.into(),
            subject: EventSubject {
                run_id: Some("r".into()),
                task_id: Some("t".into()),
                thread_id: Some("r/t/attempt-1".into()),
                message_id: None,
            },
            summary: summary.into(),
            payload,
            created_at: 0,
        }
    }

    #[test]
    fn a_question_names_the_task_the_question_and_how_to_answer() {
        let question = Message {
            message_id: 3,
            thread_id: "r/t/attempt-1".into(),
            from_agent: "w".into(),
            to_agent: "leader".into(),
            kind: MessageKind::Question,
            summary: "JSON or text?".into(),
            body: "The API can return <either>.".into(),
            payload_json: json!({}),
            created_at: 0,
            artifacts: Vec::new(),
        };
        let e = event("task_blocked", "JSON or text?", json!({"message_id": 3}));
        let n = notification(&e, NotifyEvent::Question, Some(&question));
        let text = n["text"].as_str().unwrap();
        assert!(
            text.starts_with("orch: task t of run r asks: JSON or text?\n"),
            "{text}"
        );
        assert!(text.contains("orch answer --run r --task t"), "{text}");
        assert_eq!(n["event"], "question");
        assert_eq!(n["event_type"], "task_blocked");
        assert_eq!(n["task_id"], "t");
        assert_eq!(n["question"]["message_id"], 3);
        let slack = slack_body(&n);
        assert!(slack["text"].as_str().unwrap().contains("&lt;either&gt;"));
    }

    #[test]
    fn a_give_up_says_why_and_after_which_attempt() {
        let e = event("task_given_up", "failed twice", json!({"attempt_no": 2}));
        let n = notification(&e, NotifyEvent::GivenUp, None);
        assert_eq!(
            n["text"],
            "orch: task t of run r was given up after attempt 2: failed twice\nsee: orch attempts --run r --task t"
        );
        assert!(n.get("question").is_none());
    }

    #[test]
    fn clip_cuts_on_a_character_boundary() {
        assert_eq!(clip("héllo", 2), "h…");
        assert_eq!(clip("short", 10), "short");
    }
}
