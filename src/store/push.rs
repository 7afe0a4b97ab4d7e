//! Where a code attempt's branch was pushed (issue 13, code on many hosts), in
//! `attempt_pushes`: the remote and branch dispatch chose (`pending`), then what the
//! push at the attempt's end did. No row means pushing was off for the attempt. Also
//! whether this store is shared by several hosts, which makes pushing required.

use super::{Row, Store, args, parse_or_corrupt, rows, sql};
use crate::error::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// What became of an attempt's push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    /// Chosen at dispatch; the attempt has not ended (or ended without its supervisor).
    Pending,
    /// The branch is on the remote at `commit`.
    Pushed,
    /// The push failed; `error` says how. The work is on this host only.
    Failed,
    /// The attempt ended with no commits on its branch: nothing to push.
    NoCommits,
}

impl PushState {
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::Pending => "pending",
            PushState::Pushed => "pushed",
            PushState::Failed => "failed",
            PushState::NoCommits => "no_commits",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            PushState::Pending,
            PushState::Pushed,
            PushState::Failed,
            PushState::NoCommits,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl Serialize for PushState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An attempt's push, as recorded (`push` in `orch attempts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptPush {
    pub remote: String,
    pub branch: String,
    pub state: PushState,
    /// The commit the remote's branch was set to (`pushed` only).
    pub commit: Option<String>,
    /// git's words, redacted (`failed` only).
    pub error: Option<String>,
    #[serde(serialize_with = "crate::model::ts")]
    pub updated_at: i64,
}

/// The push records (with their attempt's thread) that match `$where`.
macro_rules! push_select {
    ($where:literal) => {
        sql!(concat!(
            "SELECT a.thread_id, p.remote, p.branch, p.state, p.pushed_commit, p.error, p.updated_at
             FROM attempt_pushes p JOIN attempts a ON a.id = p.attempt ",
            $where
        ))
    };
}

impl Store {
    /// Whether processes on several hosts may share this store. An SQLite file is one
    /// host's (its locking needs one kernel), so never; a PostgreSQL server is made for
    /// it, which makes pushing code attempts required
    /// ([`crate::remote::push_required`]).
    pub fn spans_hosts(&self) -> bool {
        self.location().spans_hosts()
    }

    /// Records the remote and branch the attempt of `thread_id` will be pushed to
    /// (`pending`), at dispatch. An existing record is left as it is.
    pub async fn record_push_target(
        &self,
        thread_id: &str,
        remote: &str,
        branch: &str,
    ) -> Result<()> {
        self.write_statement(
            sql!(
                "INSERT INTO attempt_pushes (attempt, remote, branch, state, updated_at)
                 SELECT id, $1, $2, $3, $4 FROM attempts WHERE thread_id = $5
                 ON CONFLICT (attempt) DO NOTHING"
            ),
            |now| args![remote, branch, PushState::Pending.as_str(), now, thread_id],
        )
        .await
    }

    /// Records what the push of the attempt of `thread_id` did (replacing `pending`).
    pub async fn record_push(&self, thread_id: &str, push: &AttemptPush) -> Result<()> {
        let commit = push.commit.as_deref().unwrap_or("");
        let error = push.error.as_deref().unwrap_or("");
        self.write_statement(
            sql!("INSERT INTO attempt_pushes (attempt, remote, branch, state, pushed_commit, error, updated_at)
                  SELECT id, $1, $2, $3, $4, $5, $6 FROM attempts WHERE thread_id = $7
                  ON CONFLICT (attempt) DO UPDATE SET remote = excluded.remote,
                      branch = excluded.branch, state = excluded.state,
                      pushed_commit = excluded.pushed_commit, error = excluded.error,
                      updated_at = excluded.updated_at"),
            |now| {
                let (remote, branch, state) = (&push.remote, &push.branch, push.state.as_str());
                args![remote, branch, state, commit, error, now, thread_id]
            },
        )
        .await
    }

    /// The push record of the attempt of `thread_id`; `None` when pushing was off.
    pub async fn attempt_push(&self, thread_id: &str) -> Result<Option<AttemptPush>> {
        let row = self
            .read_optional(push_select!("WHERE a.thread_id = $1"), args![thread_id])
            .await?;
        row.as_ref().map(push_record).transpose()
    }

    /// The push records of every attempt of `run_id` that has one, by thread id.
    pub async fn run_pushes(&self, run_id: &str) -> Result<BTreeMap<String, AttemptPush>> {
        let rows = self
            .read_all(push_select!("WHERE a.run_id = $1"), args![run_id])
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("thread_id")?, push_record(row)?)))
            .collect()
    }
}

/// A row of `attempt_pushes` as its record.
fn push_record(row: &Row) -> Result<AttemptPush> {
    let state: String = row.try_get("state")?;
    Ok(AttemptPush {
        remote: row.try_get("remote")?,
        branch: row.try_get("branch")?,
        state: parse_or_corrupt("push state", &state, PushState::parse)?,
        commit: rows::non_empty(row.try_get("pushed_commit")?),
        error: rows::non_empty(row.try_get("error")?),
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{dispatch, store_with};

    #[tokio::test]
    async fn a_push_is_pending_from_dispatch_then_records_its_result() {
        let store = store_with(&["t"]).await;
        let attempt = dispatch(&store, "t").await;
        let thread = attempt.thread_id.as_str();
        assert_eq!(store.attempt_push(thread).await.unwrap(), None);
        store
            .record_push_target(thread, "origin", "orch/r/t/attempt-1")
            .await
            .unwrap();
        let pending = store.attempt_push(thread).await.unwrap().unwrap();
        assert_eq!(pending.state, PushState::Pending);
        assert_eq!(
            (pending.remote.as_str(), pending.commit.as_deref()),
            ("origin", None)
        );
        // A second target does not replace the first.
        store
            .record_push_target(thread, "other", "b")
            .await
            .unwrap();
        assert_eq!(
            store.attempt_push(thread).await.unwrap().unwrap().remote,
            "origin"
        );
        let failed = AttemptPush {
            state: PushState::Failed,
            error: Some("rejected".into()),
            ..pending.clone()
        };
        store.record_push(thread, &failed).await.unwrap();
        let read = store.attempt_push(thread).await.unwrap().unwrap();
        assert_eq!(
            (read.state, read.error.as_deref()),
            (PushState::Failed, Some("rejected"))
        );
        let pushed = AttemptPush {
            state: PushState::Pushed,
            commit: Some("abc".into()),
            error: None,
            ..pending
        };
        store.record_push(thread, &pushed).await.unwrap();
        let read = store.attempt_push(thread).await.unwrap().unwrap();
        assert_eq!(
            (read.state, read.commit.as_deref(), read.error.as_deref()),
            (PushState::Pushed, Some("abc"), None)
        );
        let by_thread = store.run_pushes("r").await.unwrap();
        assert_eq!(by_thread.get(thread), Some(&read));
        assert_eq!(by_thread.len(), 1);
        let json = serde_json::to_value(&read).unwrap();
        assert_eq!(json["state"], "pushed");
        assert!(
            json["updated_at"].as_str().unwrap().ends_with('Z'),
            "{json}"
        );
    }
}
