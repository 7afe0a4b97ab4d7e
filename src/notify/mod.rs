//! Notifications a person can act on (`[notify]` in `.orch/config.toml`, read by
//! [`crate::config::load_notify`]): for the chosen events (a question asked, a task
//! given up, the run finished) a command is run with the event as JSON on its stdin
//! and/or the event is POSTed to a webhook (Slack-compatible, `text` first).
//!
//! Who sends: every process that follows a run (`orch up`, and each attempt's
//! supervisor) runs a [`Follower`], which claims the run's new events through
//! [`Store::claim_notifications`]: one cursor per run in the database, advanced in the
//! transaction that reads the batch, so each event is sent once whichever process
//! claims it. A notification that fails (a command missing or exiting non-zero, an HTTP
//! error, a timeout) is logged and recorded as a `notify_failed` event; it is not sent
//! again, and nothing else waits for it beyond its `timeout`.

mod message;
mod send;

use crate::config::NotifyConfig;
use crate::model::Event;
use crate::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use message::notification;

/// An event a person can be notified of, by its name in `[notify] events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvent {
    /// `question`: a worker asked a question (`task_blocked`).
    Question,
    /// `given_up`: the retry ladder gave a task up (`task_given_up`).
    GivenUp,
    /// `run_finished`: the run is over (`run_finished`).
    RunFinished,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 3] = [
        NotifyEvent::Question,
        NotifyEvent::GivenUp,
        NotifyEvent::RunFinished,
    ];

    /// Its name in `[notify] events`.
    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::Question => "question",
            NotifyEvent::GivenUp => "given_up",
            NotifyEvent::RunFinished => "run_finished",
        }
    }

    /// The event type it is in the events table.
    pub fn event_type(self) -> &'static str {
        match self {
            NotifyEvent::Question => "task_blocked",
            NotifyEvent::GivenUp => "task_given_up",
            NotifyEvent::RunFinished => "run_finished",
        }
    }

    /// By its name, or by its event type (`task_blocked` is `question`).
    pub fn parse(name: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL
            .into_iter()
            .find(|e| e.name() == name || e.event_type() == name)
    }
}

/// Events claimed per transaction.
const BATCH: i64 = 20;
/// How often a follower looks even when no other process wrote (its own process's
/// writes do not wake its change detector).
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Sends a run's notifications.
pub struct Notifier {
    store: Store,
    run_id: String,
    config: NotifyConfig,
    /// Where the command runs (the repository).
    cwd: PathBuf,
}

impl Notifier {
    pub fn new(store: &Store, run_id: &str, config: NotifyConfig, cwd: PathBuf) -> Notifier {
        Notifier {
            store: store.clone(),
            run_id: run_id.to_string(),
            config,
            cwd,
        }
    }

    /// Claims the run's unsent events and notifies each, until none is left. Never
    /// fails: a problem is logged (and a failed notification recorded).
    pub async fn pass(&self) {
        let types: Vec<&str> = self.config.events.iter().map(|e| e.event_type()).collect();
        loop {
            let claimed = match self
                .store
                .claim_notifications(&self.run_id, &types, BATCH)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, run = %self.run_id, "cannot read events to notify");
                    return;
                }
            };
            if claimed.is_empty() {
                return;
            }
            for event in &claimed {
                self.notify(event).await;
            }
        }
    }

    /// Sends one event to the command and the webhook; records each failure.
    async fn notify(&self, event: &Event) {
        let Some(kind) = NotifyEvent::parse(&event.event_type) else {
            return;
        };
        let question = match (kind, event.payload["message_id"].as_i64()) {
            (NotifyEvent::Question, Some(id)) => self.store.message(id).await.ok(),
            _ => None,
        };
        let mut body = notification(event, kind, question.as_ref());
        // Whatever the worker wrote goes out without the secrets this process knows of.
        crate::redact::process().redact_json(&mut body);
        let limit = self.config.timeout;
        if !self.config.command.is_empty() {
            let sent = send::command(&self.config.command, &body, &self.cwd, limit).await;
            self.record(event, "command", sent).await;
        }
        if let Some(url) = &self.config.webhook {
            let sent = send::webhook(url, &body, limit).await;
            self.record(event, "webhook", sent).await;
        }
    }

    /// Logs a failed notification and records it as a `notify_failed` event.
    async fn record(&self, event: &Event, notifier: &str, sent: Result<(), String>) {
        let Err(problem) = sent else {
            tracing::debug!(event = event.event_id, notifier, "notified");
            return;
        };
        tracing::warn!(event = event.event_id, notifier, %problem, "notification failed");
        let summary = format!(
            "notifying {} (event {}) failed: {problem}",
            event.event_type, event.event_id
        );
        let payload = serde_json::json!({
            "event_id": event.event_id,
            "event_type": event.event_type,
            "notifier": notifier,
            "error": problem,
        });
        if let Err(e) = self
            .store
            .record_notify_failure(event, &summary, payload)
            .await
        {
            tracing::warn!(error = %e, "cannot record the failed notification");
        }
    }
}

/// A [`Notifier`] following its run in the background: a pass whenever another process
/// commits, and every second. [`Follower::finish`] stops it after one last pass.
pub struct Follower {
    notifier: Arc<Notifier>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Follower {
    pub fn start(notifier: Notifier) -> Follower {
        let notifier = Arc::new(notifier);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let follower = notifier.clone();
        let task = tokio::spawn(async move {
            let mut detector = follower.store.change_detector().await.ok();
            loop {
                follower.pass().await;
                let deadline = tokio::time::Instant::now() + LOOK_EVERY;
                let changed = async {
                    match detector.as_mut() {
                        Some(d) => {
                            let _ = d.wait(Some(deadline)).await;
                        }
                        None => tokio::time::sleep_until(deadline).await,
                    }
                };
                tokio::select! {
                    _ = changed => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        Follower {
            notifier,
            stop,
            task,
        }
    }

    /// Stops following after the pass under way, then notifies what is left (what this
    /// process wrote last: a give-up, the run's end).
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.notifier.pass().await;
    }
}

/// The follower of `orch up` on `run_id` in `repo`: `None` without `[notify]`; a bad
/// `[notify]` is an error (`invalid_input`), before anything runs.
pub fn follow_run(
    store: &Store,
    run_id: &str,
    repo: &std::path::Path,
) -> crate::error::Result<Option<Follower>> {
    let Some(config) = crate::config::load_notify(repo)? else {
        return Ok(None);
    };
    let notifier = Notifier::new(store, run_id, config, repo.to_path_buf());
    Ok(Some(Follower::start(notifier)))
}

/// The follower of a supervisor on its attempt's run: `None` without `[notify]`, or
/// with one it cannot read (logged: the supervisor goes on without notifying).
pub fn follow_attempt(store: &Store, attempt: &crate::model::Attempt) -> Option<Follower> {
    let repo = attempt
        .workspace
        .repo_path
        .clone()
        .or_else(|| std::env::current_dir().ok())?;
    match crate::config::load_notify(&repo) {
        Ok(Some(config)) => {
            let notifier = Notifier::new(store, &attempt.run_id, config, repo);
            Some(Follower::start(notifier))
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "not notifying: the [notify] configuration is bad");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notifier of run `r` for the run's end, running `command`.
    fn notifier(store: &Store, command: &[&str], dir: &std::path::Path) -> Notifier {
        let config = NotifyConfig {
            events: vec![NotifyEvent::RunFinished],
            command: command.iter().map(|a| a.to_string()).collect(),
            webhook: None,
            timeout: Duration::from_secs(10),
        };
        Notifier::new(store, "r", config, dir.to_path_buf())
    }

    #[tokio::test]
    async fn the_run_finished_is_sent_once() {
        let store = crate::store::test_store(&[("a", "done")], "").await;
        let dir = tempfile::tempdir().unwrap();
        let script = "cat >> sent.jsonl";
        let notifier = notifier(&store, &["sh", "-c", script], dir.path());
        notifier.pass().await;
        notifier.pass().await;
        let sent = std::fs::read_to_string(dir.path().join("sent.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = sent
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{sent}");
        assert_eq!(lines[0]["event"], "run_finished");
        assert_eq!(
            lines[0]["text"],
            "orch: run r finished: run done: 1 of 1 tasks done\nsee: orch status --run r"
        );
    }

    #[tokio::test]
    async fn a_failed_command_is_recorded_once_and_not_retried() {
        let store = crate::store::test_store(&[("a", "done")], "").await;
        let dir = tempfile::tempdir().unwrap();
        let notifier = notifier(&store, &["sh", "-c", "exit 4"], dir.path());
        notifier.pass().await;
        notifier.pass().await;
        let events = store.events_after("r", 0, 10).await.unwrap();
        let failed: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == "notify_failed")
            .collect();
        assert_eq!(failed.len(), 1);
        // The fold of the notifier's first pass finished the run: its run_finished.
        let finished = events
            .iter()
            .find(|e| e.event_type == "run_finished")
            .unwrap();
        assert_eq!(
            failed[0].summary,
            format!(
                "notifying run_finished (event {}) failed: command \"sh\" exited with code 4",
                finished.event_id
            )
        );
        assert_eq!(failed[0].payload["notifier"], "command");
    }

    #[test]
    fn names_and_event_types_both_parse() {
        for event in NotifyEvent::ALL {
            assert_eq!(NotifyEvent::parse(event.name()), Some(event));
            assert_eq!(NotifyEvent::parse(event.event_type()), Some(event));
        }
        assert_eq!(
            NotifyEvent::parse("task_blocked"),
            Some(NotifyEvent::Question)
        );
        assert_eq!(NotifyEvent::parse("task_failed"), None);
    }
}
