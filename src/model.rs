//! The records orch keeps (runs, tasks, attempts, threads, messages, events) as
//! plain data with their JSON shapes, and the status vocabularies with their rules.
//! No I/O here: the store fills these, the commands print them.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::path::PathBuf;

/// Serializes a Unix-millisecond timestamp as RFC 3339 (every record's `*_at`).
pub(crate) fn ts<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*ms))
}

/// Serializes `None` as `""`: the contract prints an empty string where a record has no
/// such value (an analysis attempt's worktree, an attempt not ended yet).
pub(crate) fn empty_if_none<T: Serialize, S: Serializer>(
    value: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => v.serialize(s),
        None => s.serialize_str(""),
    }
}

/// Reads what [`empty_if_none`] wrote: `""` is `None`.
pub(crate) fn none_if_empty<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    T::deserialize(text.into_deserializer()).map(Some)
}

/// A type's name as words: `ExecutionMode` is "execution mode".
fn words(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
            /// The accepted spellings, for error messages: `a|b|c`.
            pub fn choices() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join("|")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} {text:?}", words(stringify!($name))))
                })
            }
        }
    };
}

string_enum!(
    /// Status of an inbox thread (contract §4).
    ThreadStatus {
        Pending => "pending",
        Claimed => "claimed",
        InProgress => "in_progress",
        Blocked => "blocked",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl ThreadStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ThreadStatus::Done | ThreadStatus::Failed | ThreadStatus::Cancelled
        )
    }
}

string_enum!(
    /// Status of a task (contract §6).
    TaskStatus {
        Planned => "planned",
        Ready => "ready",
        Dispatched => "dispatched",
        Running => "running",
        Blocked => "blocked",
        Verifying => "verifying",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Done | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }

    /// The event emitted when a task enters this status, if any.
    pub fn event_type(self) -> Option<&'static str> {
        Some(match self {
            TaskStatus::Ready => "task_ready",
            TaskStatus::Dispatched => "task_dispatched",
            TaskStatus::Running => "task_running",
            TaskStatus::Blocked => "task_blocked",
            TaskStatus::Verifying => "task_verifying",
            TaskStatus::Done => "task_done",
            TaskStatus::Failed => "task_failed",
            TaskStatus::Cancelled => "task_cancelled",
            TaskStatus::Planned => return None,
        })
    }

    /// Reconcile's mapping from the latest attempt's thread status (contract §6).
    /// `None` means the thread says nothing new (still pending).
    pub fn from_thread(thread: ThreadStatus, has_required_checks: bool) -> Option<TaskStatus> {
        Some(match thread {
            ThreadStatus::Pending => return None,
            ThreadStatus::Claimed | ThreadStatus::InProgress => TaskStatus::Running,
            ThreadStatus::Blocked => TaskStatus::Blocked,
            ThreadStatus::Done if has_required_checks => TaskStatus::Verifying,
            ThreadStatus::Done => TaskStatus::Done,
            ThreadStatus::Failed => TaskStatus::Failed,
            ThreadStatus::Cancelled => TaskStatus::Cancelled,
        })
    }
}

string_enum!(
    /// Kind of an inbox message (contract §4; `output` is ours).
    MessageKind {
        Task => "task",
        Progress => "progress",
        Question => "question",
        Answer => "answer",
        Result => "result",
        Control => "control",
        Event => "event",
        Output => "output",
    }
);

string_enum!(
    /// How an attempt works on the repository.
    ExecutionMode {
        Analysis => "analysis",
        Code => "code",
    }
);

string_enum!(
    /// How an attempt ended (supervisor.md §5); the retry ladder ([`crate::orchestration::ladder`])
    /// decides from it.
    AttemptOutcome {
        Succeeded => "succeeded",
        Failed => "failed",
        Stalled => "stalled",
        Lost => "lost",
        RateLimited => "rate_limited",
        AuthFailed => "auth_failed",
        SpawnFailed => "spawn_failed",
        Cancelled => "cancelled",
    }
);

impl AttemptOutcome {
    /// The event recorded beside `attempt_exited` for this outcome, if any.
    pub fn event_type(self) -> Option<&'static str> {
        match self {
            AttemptOutcome::RateLimited => Some("attempt_rate_limited"),
            AttemptOutcome::Stalled => Some("attempt_stalled"),
            AttemptOutcome::Lost => Some("attempt_lost"),
            AttemptOutcome::Succeeded
            | AttemptOutcome::Failed
            | AttemptOutcome::AuthFailed
            | AttemptOutcome::SpawnFailed
            | AttemptOutcome::Cancelled => None,
        }
    }
}

string_enum!(
    /// The worktree of a code attempt: `created` by dispatch, `cleaned` by cleanup. An
    /// analysis attempt has none (`None`).
    WorkspaceStatus {
        Created => "created",
        Cleaned => "cleaned",
    }
);

string_enum!(
    /// A required check's latest result for the current attempt, and the gate's status
    /// over all of them (`failed` if one failed, `passed` if all passed).
    CheckStatus {
        Pending => "pending",
        Passed => "passed",
        Failed => "failed",
    }
);

string_enum!(
    /// Priority of a thread or a task; `ready` orders by it, highest first.
    Priority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

impl Priority {
    pub fn rank(self) -> i64 {
        match self {
            Priority::Low => 0,
            Priority::Normal => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }
}

string_enum!(
    /// Status of a whole run, derived from its tasks (contract §6).
    RunStatus {
    Active => "active",
    Blocked => "blocked",
    Done => "done",
    Failed => "failed",
    Cancelled => "cancelled",
});

/// Task counts of a run by status.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: i64,
    pub planned: i64,
    pub ready: i64,
    pub dispatched: i64,
    pub running: i64,
    pub blocked: i64,
    pub verifying: i64,
    pub done: i64,
    pub failed: i64,
    pub cancelled: i64,
}

impl TaskCounts {
    pub fn add(&mut self, status: TaskStatus, n: i64) {
        self.total += n;
        let slot = match status {
            TaskStatus::Planned => &mut self.planned,
            TaskStatus::Ready => &mut self.ready,
            TaskStatus::Dispatched => &mut self.dispatched,
            TaskStatus::Running => &mut self.running,
            TaskStatus::Blocked => &mut self.blocked,
            TaskStatus::Verifying => &mut self.verifying,
            TaskStatus::Done => &mut self.done,
            TaskStatus::Failed => &mut self.failed,
            TaskStatus::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }

    /// The run status rule of contract §6: cancelled if the run was cancelled; done
    /// when every task is done or cancelled; failed when a task failed and nothing is
    /// active; blocked when a task is blocked; else active.
    pub fn run_status(&self, run_cancelled: bool) -> RunStatus {
        let active = self.ready + self.dispatched + self.running + self.blocked + self.verifying;
        if run_cancelled {
            RunStatus::Cancelled
        } else if self.total > 0 && self.done + self.cancelled == self.total {
            RunStatus::Done
        } else if self.failed > 0 && active == 0 {
            RunStatus::Failed
        } else if self.blocked > 0 {
            RunStatus::Blocked
        } else {
            RunStatus::Active
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub run_id: String,
    pub goal: String,
    pub summary: String,
    pub status: RunStatus,
    pub counts: TaskCounts,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    #[serde(serialize_with = "ts")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub run_id: String,
    pub task_id: String,
    pub title: String,
    pub summary: String,
    pub body: String,
    pub default_to: String,
    /// The mode `orch up` dispatches with; `None` (printed `""`) when the task sets none.
    #[serde(serialize_with = "empty_if_none", deserialize_with = "none_if_empty")]
    pub execution_mode: Option<ExecutionMode>,
    pub acceptance: Value,
    pub required_checks: Vec<String>,
    pub priority: Priority,
    pub status: TaskStatus,
    pub depends_on: Vec<String>,
    pub current_attempt: i64,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    #[serde(serialize_with = "ts")]
    pub updated_at: i64,
}

/// Where an attempt works: the repository, and in code mode its worktree, branch and
/// base; what is `None` is recorded (and printed) as `""`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Workspace {
    #[serde(serialize_with = "empty_if_none")]
    pub repo_path: Option<PathBuf>,
    /// The worktree's base (code mode).
    #[serde(serialize_with = "empty_if_none")]
    pub base_ref: Option<String>,
    #[serde(serialize_with = "empty_if_none")]
    pub base_commit: Option<String>,
    #[serde(serialize_with = "empty_if_none")]
    pub branch_name: Option<String>,
    #[serde(serialize_with = "empty_if_none")]
    pub worktree_path: Option<PathBuf>,
    /// `None` (analysis), `created`, then `cleaned`.
    #[serde(serialize_with = "empty_if_none")]
    pub workspace_status: Option<WorkspaceStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub run_id: String,
    pub task_id: String,
    pub attempt_no: i64,
    pub thread_id: String,
    pub assigned_to: String,
    pub execution_mode: ExecutionMode,
    /// Mirrors the attempt's thread status.
    pub status: ThreadStatus,
    /// Where it works (its fields print at the attempt's top level).
    #[serde(flatten)]
    pub workspace: Workspace,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    #[serde(serialize_with = "ts")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Thread {
    pub thread_id: String,
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    pub subject: String,
    pub created_by: String,
    pub assigned_to: String,
    pub status: ThreadStatus,
    pub priority: Priority,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    #[serde(serialize_with = "ts")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Artifact {
    pub path: String,
    pub kind: String,
    pub metadata: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub message_id: i64,
    pub thread_id: String,
    pub from_agent: String,
    pub to_agent: String,
    pub kind: MessageKind,
    pub summary: String,
    pub body: String,
    pub payload_json: Value,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
    pub artifacts: Vec<Artifact>,
}

/// What an event is about: its run, task, thread and message, each when it has one.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventSubject {
    pub run_id: Option<String>,
    pub task_id: Option<String>,
    pub thread_id: Option<String>,
    pub message_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub event_id: i64,
    pub event_type: String,
    #[serde(flatten)]
    pub subject: EventSubject,
    pub summary: String,
    pub payload: Value,
    #[serde(serialize_with = "ts")]
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_mapping_follows_the_contract() {
        use TaskStatus as Ta;
        use ThreadStatus as Th;
        let mapping = [
            (Th::Pending, false, None),
            (Th::Claimed, false, Some(Ta::Running)),
            (Th::InProgress, false, Some(Ta::Running)),
            (Th::Blocked, false, Some(Ta::Blocked)),
            (Th::Done, false, Some(Ta::Done)),
            (Th::Done, true, Some(Ta::Verifying)),
            (Th::Failed, true, Some(Ta::Failed)),
            (Th::Cancelled, false, Some(Ta::Cancelled)),
        ];
        for (thread, verifying, task) in mapping {
            assert_eq!(
                TaskStatus::from_thread(thread, verifying),
                task,
                "{thread} (verifying: {verifying})"
            );
        }
    }

    #[test]
    fn none_is_printed_and_read_back_as_an_empty_string() {
        let analysis = AttemptSummary {
            attempt_no: 1,
            thread_id: "r/t/attempt-1".into(),
            status: ThreadStatus::Done,
            assigned_to: "w".into(),
            worktree_path: None,
            workspace_status: None,
            host: None,
        };
        let text = serde_json::to_string(&analysis).unwrap();
        assert!(
            text.contains(r#""worktree_path":"","workspace_status":"""#),
            "{text}"
        );
        let back: AttemptSummary = serde_json::from_str(&text).unwrap();
        assert_eq!(back.worktree_path, None);
        assert_eq!(back.workspace_status, None);
        let code = AttemptSummary {
            worktree_path: Some(PathBuf::from("/w/r/t/attempt-1")),
            workspace_status: Some(WorkspaceStatus::Cleaned),
            ..analysis
        };
        let text = serde_json::to_string(&code).unwrap();
        assert!(
            text.contains(r#""worktree_path":"/w/r/t/attempt-1","workspace_status":"cleaned""#),
            "{text}"
        );
        let back: AttemptSummary = serde_json::from_str(&text).unwrap();
        assert_eq!(back.workspace_status, Some(WorkspaceStatus::Cleaned));
        let corrupt = text.replace(r#""cleaned""#, r#""gone""#);
        assert!(serde_json::from_str::<AttemptSummary>(&corrupt).is_err());
    }

    #[test]
    fn every_outcome_reads_back_from_its_text() {
        for outcome in AttemptOutcome::ALL {
            assert_eq!(AttemptOutcome::parse(outcome.as_str()), Some(*outcome));
        }
        assert_eq!(AttemptOutcome::parse(""), None);
    }

    #[test]
    fn run_status_rule() {
        let mut c = TaskCounts::default();
        assert_eq!(c.run_status(false), RunStatus::Active);
        c.add(TaskStatus::Done, 2);
        assert_eq!(c.run_status(false), RunStatus::Done);
        c.add(TaskStatus::Failed, 1);
        assert_eq!(c.run_status(false), RunStatus::Failed);
        c.add(TaskStatus::Blocked, 1);
        assert_eq!(c.run_status(false), RunStatus::Blocked);
        c.add(TaskStatus::Running, 1);
        assert_eq!(c.run_status(false), RunStatus::Blocked);
        assert_eq!(c.run_status(true), RunStatus::Cancelled);
        let mut d = TaskCounts::default();
        d.add(TaskStatus::Failed, 1);
        d.add(TaskStatus::Ready, 1);
        assert_eq!(d.run_status(false), RunStatus::Active);
    }
}

/// The latest attempt of a task, as `orch status` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AttemptSummary {
    pub attempt_no: i64,
    pub thread_id: String,
    pub status: ThreadStatus,
    pub assigned_to: String,
    #[serde(serialize_with = "empty_if_none", deserialize_with = "none_if_empty")]
    pub worktree_path: Option<PathBuf>,
    /// `None` (printed `""`) for an analysis attempt.
    #[serde(serialize_with = "empty_if_none", deserialize_with = "none_if_empty")]
    pub workspace_status: Option<WorkspaceStatus>,
    /// The host that started its supervisor (`None`, printed `""`, before one was).
    #[serde(
        default,
        serialize_with = "empty_if_none",
        deserialize_with = "none_if_empty"
    )]
    pub host: Option<String>,
}

/// The latest message of a task's attempt thread, as `orch status` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MessageSummary {
    pub message_id: i64,
    pub kind: MessageKind,
    pub summary: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One row of `orch status`: the task's scheduling facts (not its body, which
/// `orch brief` and the task message carry), its latest attempt and message, and the
/// question it is blocked on (a message, as `inbox show` prints it). The database
/// renders these rows as JSON itself (see `store::reconcile`); this type reads them
/// back for the human table.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TaskView {
    pub task_id: String,
    pub title: String,
    pub status: TaskStatus,
    pub priority: Priority,
    pub default_to: String,
    #[serde(serialize_with = "empty_if_none", deserialize_with = "none_if_empty")]
    pub execution_mode: Option<ExecutionMode>,
    pub depends_on: Vec<String>,
    pub required_checks: Vec<String>,
    pub current_attempt: i64,
    /// RFC 3339.
    pub updated_at: String,
    pub latest_attempt: Option<AttemptSummary>,
    pub latest_message: Option<MessageSummary>,
    pub blocked_question: Option<Value>,
}
