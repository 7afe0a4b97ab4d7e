//! `--request-id ID`: a verb that changes something, retried, prints its first reply
//! and exit code again and does nothing more (issue 12). Here: taking the id out of a
//! parsed verb with the digest of its arguments, looking up an earlier call of the id
//! (waiting while it is under way), claiming the id, running the verb and recording its
//! reply. The rows are the store's (`store::requests`).
//!
//! Two ways to claim, by verb ([`Claim`]): verbs that change the database in one
//! transaction (`run init`, `task add`, `dep add`, `plan apply`, `answer`, `cancel`)
//! claim the id in that transaction, so a call that changed anything is always known
//! to have been made; the others (`dispatch`, `launch`, `retry`, `reassign`, `cleanup`
//! make worktrees, start processes, write several times) claim it up front, and a second
//! call with the id waits while the first is under way. docs/contract-decisions.md has
//! the rules.

use crate::cli::RequestArgs;
use crate::cli::orch::{DepCommand, OrchCommand, PlanCommand, RunCommand, TaskCommand};
use crate::commands::{Ctx, orch};
use crate::error::{Error, ErrorCode, Result};
use crate::output::{self, Reply, Style};
use crate::store::{ClaimOutcome, Owner, RecordedReply, RequestKey};
use std::time::Duration;

/// The longest request id accepted, in bytes.
const MAX_ID_LEN: usize = 200;

/// How a waiting call checks that the call it waits for is still alive.
const OWNER_CHECK_EVERY: Duration = Duration::from_secs(1);

/// When a verb's claim on its id is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// In the verb's one write transaction, with its changes.
    WithFirstWrite,
    /// Before the verb runs, in a transaction of its own: its effects span several
    /// transactions, git or processes.
    UpFront,
}

/// A call made with `--request-id`.
#[derive(Debug, Clone)]
pub struct Request {
    key: RequestKey,
    claim: Claim,
}

/// Takes `--request-id` out of a parsed verb: the request, when the verb has one. The
/// digest covers the verb and its parsed arguments (so not their order on the command
/// line, nor `--json` and `--db`, which are not the verb's), and the caller's identity.
pub fn take(command: &mut OrchCommand, agent: Option<&str>) -> Option<Request> {
    let (verb, claim, args) = request_args(command)?;
    let request_id = args.request_id.take()?;
    let agent = agent.filter(|a| !a.is_empty());
    let args_digest = digest(&format!("{command:?}\nagent: {agent:?}"));
    Some(Request {
        key: RequestKey {
            request_id,
            verb: verb.to_string(),
            args_digest,
        },
        claim,
    })
}

/// The verbs that take `--request-id`: their name and how they claim it.
fn request_args(command: &mut OrchCommand) -> Option<(&'static str, Claim, &mut RequestArgs)> {
    use Claim::{UpFront, WithFirstWrite};
    use OrchCommand as C;
    Some(match command {
        C::Run(RunCommand::Init(a)) => ("run init", WithFirstWrite, &mut a.request),
        C::Task(TaskCommand::Add(a)) => ("task add", WithFirstWrite, &mut a.request),
        C::Dep(DepCommand::Add(a)) => ("dep add", WithFirstWrite, &mut a.request),
        C::Plan(PlanCommand::Apply(a)) => ("plan apply", WithFirstWrite, &mut a.request),
        C::Answer(a) => ("answer", WithFirstWrite, &mut a.request),
        C::Cancel(a) => ("cancel", WithFirstWrite, &mut a.request),
        C::Dispatch(a) => ("dispatch", UpFront, &mut a.request),
        C::Launch(a) => ("launch", UpFront, &mut a.request),
        C::Retry(a) => ("retry", UpFront, &mut a.request),
        C::Reassign(a) => ("reassign", UpFront, &mut a.request),
        C::Cleanup(a) => ("cleanup", UpFront, &mut a.request),
        _ => return None,
    })
}

/// FNV-1a, 128 bits, in hex: stable across builds and platforms (the digest is stored).
fn digest(text: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    let hash = text.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    });
    format!("{hash:032x}")
}

/// Runs `command` as the call `request`: the first call's reply if the id was used
/// with the same arguments, else the verb, its reply recorded.
pub async fn run(ctx: &Ctx, request: Request, command: OrchCommand) -> Result<Reply> {
    Ok(match answer(ctx, request, command).await? {
        Answer::Fresh(reply) => reply,
        Answer::Recorded(reply) => replay(ctx.style, &reply),
    })
}

/// What a call with an id came to: the verb's own reply (a failure a retry may fare
/// better with, not recorded), or a recorded reply, this call's or an earlier one's.
pub enum Answer {
    Fresh(Reply),
    Recorded(RecordedReply),
}

/// [`run`] without printing: for `orch mcp`, where stdout is the protocol.
pub async fn answer(ctx: &Ctx, request: Request, command: OrchCommand) -> Result<Answer> {
    check_id(&request.key.request_id)?;
    let (pid, start) = crate::process::procfs::this_process();
    let owner = Owner { pid, start };
    loop {
        if let Some(reply) = earlier_reply(ctx, &request).await? {
            return Ok(Answer::Recorded(reply));
        }
        // Nothing is recorded for the id: make the call. `None` when another call with
        // the id got there first (this one changed nothing): look again.
        if let Some(answer) = make(ctx, &request, owner, command.clone()).await? {
            return Ok(answer);
        }
    }
}

fn check_id(id: &str) -> Result<()> {
    let problem = if id.trim().is_empty() {
        "is empty"
    } else if id.len() > MAX_ID_LEN {
        "is longer than 200 bytes"
    } else if id.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(Error::invalid_input(format!(
        "--request-id {id:?} {problem}"
    )))
}

/// The reply of an earlier call with the request's id, waiting while that call is
/// under way; `None` when no call has used the id.
async fn earlier_reply(ctx: &Ctx, request: &Request) -> Result<Option<RecordedReply>> {
    let id = &request.key.request_id;
    let mut detector = None;
    loop {
        let Some(stored) = ctx.store.request(id).await? else {
            return Ok(None);
        };
        if stored.key != request.key {
            let what = if stored.key.verb == request.key.verb {
                format!("orch {} with other arguments", stored.key.verb)
            } else {
                format!("orch {}", stored.key.verb)
            };
            return Err(Error::invalid_input(format!(
                "request id {id:?} was already used by another call ({what}); a retry must repeat its call exactly, and a new call needs a new id"
            )));
        }
        if let Some(reply) = stored.reply {
            return Ok(Some(reply));
        }
        let Owner { pid, start } = stored.owner;
        if !crate::process::procfs::is_same_process(pid, start) {
            return Err(Error::invalid_state(format!(
                "request id {id:?} (orch {}) was interrupted: the process that made the call (pid {pid}) ended before it recorded its reply, and what it changed stands; see orch status, and use a new id for a new call",
                stored.key.verb
            )));
        }
        let detector = match &mut detector {
            Some(detector) => detector,
            None => detector.insert(ctx.store.change_detector().await?),
        };
        let until = tokio::time::Instant::now() + OWNER_CHECK_EVERY;
        detector.wait(Some(until)).await?;
    }
}

/// Claims the id, runs the verb and records its reply; `None` when another call with
/// the id holds it (this call then changed nothing).
async fn make(
    ctx: &Ctx,
    request: &Request,
    owner: Owner,
    command: OrchCommand,
) -> Result<Option<Answer>> {
    let store = &ctx.store;
    let key = &request.key;
    match request.claim {
        Claim::UpFront => {
            if !store.claim_request(key, owner).await? {
                return Ok(None);
            }
        }
        Claim::WithFirstWrite => store.claim_request_with_next_write(key, owner),
    }
    let writes = store.committed_writes();
    let result = orch::run(ctx, command).await;
    let changed = match request.claim {
        Claim::UpFront => store.committed_writes() > writes,
        Claim::WithFirstWrite => match store.request_claim_outcome() {
            ClaimOutcome::Lost => return Ok(None),
            outcome => outcome == ClaimOutcome::Claimed,
        },
    };
    let recorded = match &result {
        Ok(reply) => recorded_success(reply),
        Err(err) if changed || replayed(err.code) => recorded_failure(err),
        Err(_) => {
            // Nothing changed and a retry may fare better: the id stays free.
            if request.claim == Claim::UpFront
                && let Err(e) = store.drop_request_claim(&key.request_id, owner).await
            {
                tracing::warn!(
                    "cannot withdraw the claim on request {}: {e}",
                    key.request_id
                );
            }
            return result.map(|r| Some(Answer::Fresh(r)));
        }
    };
    match store.record_request(key, owner, &recorded).await {
        Ok(true) => Ok(Some(Answer::Recorded(recorded))),
        // Another call with the id holds it, and this one changed nothing: its reply
        // is the one.
        Ok(false) if !changed => Ok(None),
        Ok(false) => result.map(|r| Some(Answer::Fresh(r))),
        Err(e) => {
            tracing::warn!("cannot record the reply of request {}: {e}", key.request_id);
            result.map(|r| Some(Answer::Fresh(r)))
        }
    }
}

/// Failures recorded (and so replayed) even when the call changed nothing: those a
/// retry would meet again. A timeout, a lease conflict or an internal error (a locked
/// database, a failed spawn) may not recur, so such a call is made again.
fn replayed(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidInput | ErrorCode::InvalidState | ErrorCode::NotFound
    )
}

fn recorded_success(reply: &Reply) -> RecordedReply {
    RecordedReply {
        exit_code: reply.exit,
        ok: true,
        json: output::success_json(reply),
        text: output::success_text(reply),
    }
}

fn recorded_failure(err: &Error) -> RecordedReply {
    RecordedReply {
        exit_code: err.code.exit_code(),
        ok: false,
        json: output::failure_json(err),
        text: output::failure_text(err),
    }
}

/// Prints a recorded reply as the verb printed it; the reply carries its exit code.
fn replay(style: Style, reply: &RecordedReply) -> Reply {
    if style.json {
        output::write_stdout(&reply.json, reply.exit_code);
    } else if reply.ok {
        output::write_stdout(&reply.text, reply.exit_code);
    } else {
        output::write_stderr(&reply.text);
    }
    Reply {
        exit: reply.exit_code,
        ..Reply::streamed("request")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::orch::OrchCli;
    use clap::Parser;

    /// The request of `orch <line>` (words split on spaces).
    fn parse(line: &str, agent: Option<&str>) -> Option<Request> {
        let argv = std::iter::once("orch").chain(line.split_whitespace());
        let mut cli = OrchCli::try_parse_from(argv).unwrap();
        take(&mut cli.command, agent)
    }

    #[test]
    fn the_digest_covers_the_parsed_arguments_and_the_caller() {
        let a = parse("task add --run r --task t --request-id q", None).unwrap();
        let b = parse("task add --request-id q --task t --run r", None).unwrap();
        assert_eq!(a.key, b.key, "argument order does not matter");
        assert_eq!(a.key.verb, "task add");
        assert_eq!(a.claim, Claim::WithFirstWrite);
        let defaulted = parse(
            "task add --run r --task t --priority normal --request-id q",
            None,
        )
        .unwrap();
        assert_eq!(
            a.key, defaulted.key,
            "a default spelled out is the same call"
        );
        let other = parse("task add --run r --task u --request-id q", None).unwrap();
        assert_ne!(a.key.args_digest, other.key.args_digest);
        let someone = parse("task add --run r --task t --request-id q", Some("lead-2")).unwrap();
        assert_ne!(a.key.args_digest, someone.key.args_digest);
        assert!(parse("task add --run r --task t", None).is_none());
    }

    #[test]
    fn the_digest_is_stable() {
        // Stored digests must keep their meaning from one build to the next.
        assert_eq!(digest(""), "6c62272e07bb014262b821756295c58d");
        assert_eq!(digest("a"), "d228cb696f1a8caf78912b704e4a8964");
    }

    #[test]
    fn only_verbs_that_change_something_take_the_flag() {
        let refused =
            OrchCli::try_parse_from(["orch", "status", "--run", "r", "--request-id", "q"]);
        assert!(refused.is_err());
        let dispatch = parse(
            "dispatch --run r --task t --execution-mode analysis --request-id q",
            None,
        )
        .unwrap();
        assert_eq!(dispatch.claim, Claim::UpFront);
    }

    #[tokio::test]
    async fn a_claim_left_by_a_dead_process_is_interrupted_and_other_arguments_are_refused() {
        let store = crate::store::Store::open_in_memory().await.unwrap();
        let dispatch = |to: &str| {
            let line = format!(
                "dispatch --run r --task t --execution-mode analysis --to {to} --request-id q"
            );
            parse(&line, None).unwrap()
        };
        let request = dispatch("a");
        let dead = Owner {
            pid: u32::MAX,
            start: 1,
        };
        assert!(store.claim_request(&request.key, dead).await.unwrap());
        let ctx = Ctx {
            store,
            agent: None,
            style: Style {
                json: true,
                color: false,
            },
        };
        let err = earlier_reply(&ctx, &request).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidState);
        assert!(err.message.contains("was interrupted"), "{}", err.message);
        let err = earlier_reply(&ctx, &dispatch("b")).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains(r#""q""#), "{}", err.message);
        // Once recorded, the reply is what a retry gets.
        let reply = recorded_failure(&Error::not_found("no such task"));
        assert!(
            ctx.store
                .record_request(&request.key, dead, &reply)
                .await
                .unwrap()
        );
        assert_eq!(earlier_reply(&ctx, &request).await.unwrap(), Some(reply));
    }

    #[test]
    fn bad_ids_are_refused() {
        assert!(check_id("dispatch-t1-1").is_ok());
        assert!(check_id("550e8400-e29b-41d4-a716-446655440000").is_ok());
        for bad in ["", "  ", "a\nb", &"x".repeat(201)] {
            let err = check_id(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput, "{bad:?}");
        }
    }
}
