//! Requests: the replies of calls made with `--request-id`, so that a retried call
//! prints its first reply again and does nothing more (migration 0011).
//!
//! A row is first a *claim* (the id, the verb, the digest of its arguments and the
//! process making the call) and then a *reply* (exit code and the texts printed). A claim
//! is written either in a transaction of its own before the call
//! ([`Store::claim_request`], for verbs whose effects span several transactions) or in
//! the same transaction as the call's first change ([`Store::claim_request_with_next_write`]:
//! [`Store::write`] carries it), so a call that changed anything is always known to have
//! been made. [`Store::record_request`] then writes the reply.

use super::{Db, Row, Store, args, execute, sql};
use crate::error::{Error, Result};

/// What names one call: its id, its verb and the digest of its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub request_id: String,
    /// `dispatch`, `task add`, ...
    pub verb: String,
    pub args_digest: String,
}

/// The process making a call: its pid and its start time (clock ticks after boot), so
/// that a live owner is told from a dead one whose pid was reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub start: u64,
}

/// A call's reply as it was printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedReply {
    pub exit_code: u8,
    /// True when the call succeeded: its text went to stdout (else to stderr).
    pub ok: bool,
    /// The JSON document printed with `--json`, newline included.
    pub json: String,
    /// What was printed without `--json`.
    pub text: String,
}

/// A request as stored: a claim, with its reply once recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    pub key: RequestKey,
    pub owner: Owner,
    pub reply: Option<RecordedReply>,
}

/// Where the claim handed to [`Store::claim_request_with_next_write`] ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// No write committed: nothing was claimed (and nothing changed).
    NotWritten,
    /// Committed with the call's first change.
    Claimed,
    /// Another call holds the id: the write that would have carried the claim was
    /// refused and rolled back.
    Lost,
}

/// The claim a write is to carry, and how many writes this store has committed.
#[derive(Debug, Default)]
pub(crate) struct RequestSlot {
    pending: Option<(RequestKey, Owner)>,
    outcome: Option<ClaimOutcome>,
    writes: u64,
}

impl RequestSlot {
    /// The claim the next write carries, if any.
    pub(super) fn take_pending(&mut self) -> Option<(RequestKey, Owner)> {
        self.pending.take()
    }

    /// After a write: `Ok` committed it (with the claim, if it carried one); `lost`
    /// when the claim found the id taken; any other failure rolled the claim back, so
    /// the next write carries it again.
    pub(super) fn settle(&mut self, claim: Option<(RequestKey, Owner)>, ok: bool, lost: bool) {
        if ok {
            self.writes += 1;
        }
        let Some(claim) = claim else { return };
        if ok {
            self.outcome = Some(ClaimOutcome::Claimed);
        } else if lost {
            self.outcome = Some(ClaimOutcome::Lost);
        } else {
            self.pending = Some(claim);
        }
    }
}

/// Inserts `claim` inside a write's transaction; false when the id is taken.
pub(super) async fn insert_claim(
    conn: &mut Db<'_>,
    (key, owner): &(RequestKey, Owner),
    now: i64,
) -> Result<bool> {
    let inserted = execute(
        conn,
        sql!("INSERT INTO requests (request_id, verb, args_digest, owner_pid, owner_start, created_at)
              VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING"),
        args![
            &key.request_id,
            &key.verb,
            &key.args_digest,
            owner.pid as i64,
            owner.start as i64,
            now
        ],
    )
    .await?;
    Ok(inserted == 1)
}

/// The error of a write whose claim found the id taken (the caller looks again).
pub(super) fn claim_taken(request_id: &str) -> Error {
    Error::invalid_state(format!(
        "request id {request_id:?} is being used by another call at the same time; nothing was done"
    ))
}

fn stored(row: &Row) -> Result<StoredRequest> {
    let exit_code: Option<i64> = row.try_get("exit_code")?;
    let reply = match exit_code {
        None => None,
        Some(code) => Some(RecordedReply {
            exit_code: u8::try_from(code).unwrap_or(crate::error::exit_code::INTERNAL),
            ok: row.try_get::<Option<i64>>("ok")?.unwrap_or(0) != 0,
            json: row
                .try_get::<Option<String>>("reply_json")?
                .unwrap_or_default(),
            text: row
                .try_get::<Option<String>>("reply_text")?
                .unwrap_or_default(),
        }),
    };
    Ok(StoredRequest {
        key: RequestKey {
            request_id: row.try_get("request_id")?,
            verb: row.try_get("verb")?,
            args_digest: row.try_get("args_digest")?,
        },
        owner: Owner {
            pid: u32::try_from(row.try_get::<i64>("owner_pid")?).unwrap_or(0),
            start: u64::try_from(row.try_get::<i64>("owner_start")?).unwrap_or(0),
        },
        reply,
    })
}

impl Store {
    /// The request of this id, if any call used it.
    pub async fn request(&self, request_id: &str) -> Result<Option<StoredRequest>> {
        self.read_record(
            sql!(
                "SELECT request_id, verb, args_digest, owner_pid, owner_start, exit_code, ok,
                        reply_json, reply_text
                 FROM requests WHERE request_id = $1"
            ),
            args![request_id],
            stored,
        )
        .await
    }

    /// Claims the id for a call, in a transaction of its own; false when it is taken.
    pub async fn claim_request(&self, key: &RequestKey, owner: Owner) -> Result<bool> {
        let claim = (key.clone(), owner);
        self.write(async |tx, now| insert_claim(tx, &claim, now).await)
            .await
    }

    /// Has the next write of this store claim the id in its own transaction: the claim
    /// commits with the call's first change or not at all. [`Store::request_claim_outcome`]
    /// says where it ended up.
    pub fn claim_request_with_next_write(&self, key: &RequestKey, owner: Owner) {
        let mut slot = self.request_slot();
        slot.pending = Some((key.clone(), owner));
        slot.outcome = None;
    }

    /// Where the claim of [`Store::claim_request_with_next_write`] ended up; a claim no
    /// write carried is withdrawn.
    pub fn request_claim_outcome(&self) -> ClaimOutcome {
        let mut slot = self.request_slot();
        slot.pending = None;
        slot.outcome.take().unwrap_or(ClaimOutcome::NotWritten)
    }

    /// How many write transactions this store has committed (a call that committed none
    /// changed nothing in the database).
    pub fn committed_writes(&self) -> u64 {
        self.request_slot().writes
    }

    /// Records the reply of the call `key` made by `owner`: completes its claim, or
    /// inserts the whole row when it made none. False, changing nothing, when the id
    /// belongs to another call (another owner, other arguments, or a reply already).
    pub async fn record_request(
        &self,
        key: &RequestKey,
        owner: Owner,
        reply: &RecordedReply,
    ) -> Result<bool> {
        let claim = (key.clone(), owner);
        let written = self
            .write(async |tx, now| {
                // A call that made no claim makes it now; then the reply completes the
                // claim if it is this call's and has no reply yet.
                insert_claim(tx, &claim, now).await?;
                execute(
                    tx,
                    sql!("UPDATE requests SET exit_code = $1, ok = $2, reply_json = $3, reply_text = $4,
                                 finished_at = $5
                          WHERE request_id = $6 AND exit_code IS NULL AND owner_pid = $7 AND owner_start = $8
                            AND verb = $9 AND args_digest = $10"),
                    args![
                        reply.exit_code as i64,
                        reply.ok as i64,
                        &reply.json,
                        &reply.text,
                        now,
                        &key.request_id,
                        owner.pid as i64,
                        owner.start as i64,
                        &key.verb,
                        &key.args_digest
                    ],
                )
                .await
            })
            .await?;
        Ok(written == 1)
    }

    /// Withdraws `owner`'s claim on the id while it has no reply (a call that failed
    /// before changing anything, in a way a retry may not meet again).
    pub async fn drop_request_claim(&self, request_id: &str, owner: Owner) -> Result<()> {
        self.write_statement(
            sql!(
                "DELETE FROM requests WHERE request_id = $1 AND owner_pid = $2 AND owner_start = $3
                      AND exit_code IS NULL"
            ),
            |_| args![request_id, owner.pid as i64, owner.start as i64],
        )
        .await
    }

    pub(super) fn request_slot(&self) -> std::sync::MutexGuard<'_, RequestSlot> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{store_with, task};

    fn key(id: &str, digest: &str) -> RequestKey {
        RequestKey {
            request_id: id.to_string(),
            verb: "task add".to_string(),
            args_digest: digest.to_string(),
        }
    }

    const ME: Owner = Owner { pid: 7, start: 70 };
    const OTHER: Owner = Owner { pid: 8, start: 80 };

    /// Whether `owner`'s reply to `key` was recorded.
    async fn record(store: &Store, key: &RequestKey, owner: Owner, reply: RecordedReply) -> bool {
        store.record_request(key, owner, &reply).await.unwrap()
    }

    fn reply(exit_code: u8, text: &str) -> RecordedReply {
        RecordedReply {
            exit_code,
            ok: exit_code == 0,
            json: format!("{{\"ok\":{}}}\n", exit_code == 0),
            text: text.to_string(),
        }
    }

    #[tokio::test]
    async fn a_claim_then_its_reply_and_nobody_elses() {
        let store = store_with(&[]).await;
        let k = key("q1", "d1");
        assert_eq!(store.request("q1").await.unwrap(), None);
        assert!(store.claim_request(&k, ME).await.unwrap());
        assert!(!store.claim_request(&k, OTHER).await.unwrap());
        let claimed = store.request("q1").await.unwrap().unwrap();
        assert_eq!(
            (claimed.key, claimed.owner, claimed.reply),
            (k.clone(), ME, None)
        );
        // Another process, or the same one with other arguments, cannot complete it.
        assert!(!record(&store, &k, OTHER, reply(0, "x")).await);
        let other_args = key("q1", "d2");
        assert!(!record(&store, &other_args, ME, reply(0, "x")).await);
        assert!(record(&store, &k, ME, reply(0, "done\n")).await);
        let done = store.request("q1").await.unwrap().unwrap();
        assert_eq!(done.reply, Some(reply(0, "done\n")));
        // A reply is written once.
        assert!(!record(&store, &k, ME, reply(30, "again")).await);
        store.drop_request_claim("q1", ME).await.unwrap();
        assert_eq!(
            store.request("q1").await.unwrap().unwrap().reply,
            Some(reply(0, "done\n"))
        );
    }

    #[tokio::test]
    async fn a_reply_without_a_claim_inserts_the_whole_row_and_a_claim_can_be_withdrawn() {
        let store = store_with(&[]).await;
        let k = key("q2", "d");
        assert!(record(&store, &k, ME, reply(30, "error: no\n")).await);
        let row = store.request("q2").await.unwrap().unwrap();
        assert!(!row.reply.unwrap().ok);
        let k3 = key("q3", "d");
        assert!(store.claim_request(&k3, ME).await.unwrap());
        store.drop_request_claim("q3", OTHER).await.unwrap();
        assert!(store.request("q3").await.unwrap().is_some());
        store.drop_request_claim("q3", ME).await.unwrap();
        assert_eq!(store.request("q3").await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_claim_rides_on_the_first_write_and_is_rolled_back_with_it() {
        let store = store_with(&["a"]).await;
        let k = key("q4", "d");
        // A refused write rolls the claim back and leaves it for the next write.
        store.claim_request_with_next_write(&k, ME);
        let refused = store.add_task("r", &task("a")).await;
        assert!(refused.is_ok(), "an identical task add is a no-op");
        assert_eq!(store.request_claim_outcome(), ClaimOutcome::Claimed);
        assert!(store.request("q4").await.unwrap().is_some());

        let k5 = key("q5", "d");
        store.claim_request_with_next_write(&k5, ME);
        let mut changed = task("a");
        changed.title = "another".into();
        store.add_task("r", &changed).await.unwrap_err();
        assert_eq!(store.request("q5").await.unwrap(), None);
        assert_eq!(store.request_claim_outcome(), ClaimOutcome::NotWritten);

        // An id another call holds: the write is refused and nothing lands.
        let before = store.committed_writes();
        store.claim_request_with_next_write(&k, OTHER);
        let err = store.add_task("r", &task("b")).await.unwrap_err();
        assert!(err.message.contains("q4"), "{}", err.message);
        assert_eq!(store.request_claim_outcome(), ClaimOutcome::Lost);
        assert!(store.task("r", "b").await.is_err());
        assert_eq!(store.committed_writes(), before);
        store.add_task("r", &task("b")).await.unwrap();
        assert_eq!(store.committed_writes(), before + 1);
    }
}
