//! Safe to retry (issue 12): `--request-id` on every verb that changes something makes a
//! retried call print its first reply and exit code and do nothing more; the same id
//! with other arguments is refused. Without an id, an identical `task add` is a no-op
//! that says so, and a refused `dispatch` names the attempt that exists.

use super::*;
use crate::common::{Out, add_task, words};

/// What a run holds: tasks, attempts, threads and events (every message is written
/// with its event, so events count messages too).
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    tasks: usize,
    attempts: usize,
    threads: usize,
    events: usize,
}

fn counts(env: &Env, run: &str) -> Counts {
    env.with_store(async |store| {
        let filter = orch::store::ThreadFilter {
            run_id: Some(run.to_string()),
            ..Default::default()
        };
        Counts {
            tasks: store.tasks(run).await.unwrap().len(),
            attempts: store.attempts(run, None).await.unwrap().len(),
            threads: store.list_threads(&filter).await.unwrap().len(),
            events: store.events_after(run, 0, 1_000_000).await.unwrap().len(),
        }
    })
}

/// `orch --db DB ARGS` without `--json`: the human reply.
fn plain(env: &Env, args: &[&str]) -> Out {
    let db = env.db.to_str().unwrap().to_string();
    let mut all = vec!["--db", db.as_str()];
    all.extend_from_slice(args);
    env.raw(ORCH, &all, env.path(), &[])
}

/// The same call made again prints the same bytes with the same exit code.
#[track_caller]
fn assert_replayed(first: &Out, again: &Out) {
    assert_eq!(again.code, first.code, "{again:#?}");
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(again.stderr, first.stderr);
}

const DISPATCH: &[&str] = &[
    "dispatch",
    "--run",
    "r",
    "--task",
    "t1",
    "--execution-mode",
    "analysis",
    "--request-id",
    "d-1",
];

#[test]
fn a_retried_dispatch_replays_its_reply_and_makes_nothing() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1", "t2"]);
    let first = env.orch(DISPATCH);
    assert_eq!(first.data()["attempt"]["attempt_no"], 1);
    let before = counts(&env, "r");
    assert_eq!(before.attempts, 1);
    let again = env.orch(DISPATCH);
    assert_replayed(&first, &again);
    // The digest is over the parsed arguments, not their order.
    let reordered = env.orch(&words(
        "dispatch --request-id d-1 --execution-mode analysis --task t1 --run r",
    ));
    assert_replayed(&first, &reordered);
    // --json is not part of the call: without it, the first call's human reply.
    let human = plain(&env, DISPATCH);
    assert_eq!(human.code, 0, "{human:#?}");
    assert_eq!(human.stdout, "dispatched t1 attempt 1 to worker-a\n");
    assert_eq!(counts(&env, "r"), before);

    // The same id with other arguments, or for another verb, is refused by name.
    let mut other = DISPATCH.to_vec();
    other.extend(["--to", "worker-b"]);
    let message = env.orch(&other).error(30, "invalid_input");
    assert!(message.contains(r#"request id "d-1""#), "{message}");
    assert!(
        message.contains("orch dispatch with other arguments"),
        "{message}"
    );
    let message = env
        .orch(&words("cancel --run r --task t2 --request-id d-1"))
        .error(30, "invalid_input");
    assert!(message.contains("(orch dispatch)"), "{message}");
    assert_eq!(env.task_row("r", "t2")["status"], "ready");
    assert_eq!(counts(&env, "r"), before);
}

#[test]
fn a_second_dispatch_without_an_id_names_the_attempt_that_exists() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    let message = env
        .orch(&words(
            "dispatch --run r --task t1 --execution-mode analysis",
        ))
        .error(30, "invalid_state");
    assert_eq!(
        message,
        format!(
            "task \"t1\" is dispatched on attempt 1 (thread {thread}, assigned to worker-a, pending, started by leader); dispatch needs it ready"
        )
    );
    claim(&env, "worker-a", &thread);
    let message = env
        .orch(&words(
            "dispatch --run r --task t1 --execution-mode analysis",
        ))
        .error(30, "invalid_state");
    assert!(
        message.contains("on attempt 1 (thread r/t1/attempt-1, assigned to worker-a, claimed,"),
        "{message}"
    );
    assert_eq!(counts(&env, "r").attempts, 1);
}

#[test]
fn concurrent_calls_with_one_id_make_one_attempt_and_print_one_reply() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let children: Vec<_> = (0..4).map(|_| spawn(&env, ORCH, DISPATCH, None)).collect();
    let outs: Vec<Out> = children.into_iter().map(finish).collect();
    outs[0].data();
    for out in &outs[1..] {
        assert_replayed(&outs[0], out);
    }
    assert_eq!(counts(&env, "r").attempts, 1);
    // The same for a verb that claims its id with its one write.
    let add = [
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t9",
        "--title",
        "nine",
        "--request-id",
        "a-9",
    ];
    let events = counts(&env, "r").events;
    let children: Vec<_> = (0..4).map(|_| spawn(&env, ORCH, &add, None)).collect();
    let outs: Vec<Out> = children.into_iter().map(finish).collect();
    assert_eq!(outs[0].data()["created"], true);
    for out in &outs[1..] {
        assert_replayed(&outs[0], out);
    }
    assert_eq!(counts(&env, "r").events, events + 1);
}

#[test]
fn a_retried_answer_is_delivered_once() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let thread = env.dispatch_analysis("r", "t1");
    claim(&env, "worker-a", &thread);
    ask(&env, "worker-a", &thread, "A or B?");
    let answer = [
        "answer",
        "--run",
        "r",
        "--task",
        "t1",
        "--body",
        "B",
        "--request-id",
        "ans-1",
    ];
    let messages = |env: &Env| {
        env.inbox(None, &["show", "--thread", &thread]).data()["messages"]
            .as_array()
            .unwrap()
            .len()
    };
    // First call without --json: the retry prints the same human text.
    let first = plain(&env, &answer);
    assert_eq!(first.code, 0, "{first:#?}");
    assert!(
        first.stdout.starts_with("answered t1 attempt 1 (message "),
        "{first:#?}"
    );
    let before = (counts(&env, "r"), messages(&env));
    assert_replayed(&first, &plain(&env, &answer));
    // With --json, the JSON document of that same first call.
    let json = env.orch(&answer);
    assert_eq!(json.data()["message"]["kind"], "answer");
    assert_eq!(json.data()["message"]["summary"], "B");
    assert_replayed(&json, &env.orch(&answer));
    assert_eq!((counts(&env, "r"), messages(&env)), before);
    // Another agent with the same id is another call.
    let mut as_other = vec!["--agent", "lead-2"];
    as_other.extend(answer);
    env.orch(&as_other).error(30, "invalid_input");
    assert_eq!((counts(&env, "r"), messages(&env)), before);
}

#[test]
fn a_failed_call_replays_its_failure() {
    let env = Env::new();
    env.run_with_tasks("r", &["t1"]);
    let dispatch_later = [
        "dispatch",
        "--run",
        "r",
        "--task",
        "later",
        "--execution-mode",
        "analysis",
        "--request-id",
        "f-1",
    ];
    let first = env.orch(&dispatch_later);
    first.error(40, "not_found");
    let human = plain(&env, &dispatch_later);
    assert_eq!(human.code, 40);
    assert_eq!(
        human.stderr,
        "error: task \"later\" not found in run \"r\"\n"
    );
    // The task exists now, but the call with this id failed: it fails the same way.
    add_task(&env, "r", "later", "worker-a", "do it later");
    let before = counts(&env, "r");
    assert_replayed(&first, &env.orch(&dispatch_later));
    assert_eq!(counts(&env, "r"), before);
    // A new id is a new call.
    let mut fresh = dispatch_later.to_vec();
    fresh[8] = "f-2";
    assert_eq!(env.orch(&fresh).data()["attempt"]["attempt_no"], 1);
}

#[test]
fn a_repeated_task_add_is_a_no_op_that_says_so() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    let add = [
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--title",
        "the title",
        "--body",
        "the body",
        "--default-to",
        "worker-a",
        "--required-check",
        "lint",
    ];
    let first = env.orch(&add);
    assert_eq!(first.data()["created"], true);
    let before = counts(&env, "r");
    let again = env.orch(&add);
    assert_eq!(again.data()["created"], false);
    assert_eq!(again.data()["task"], first.data()["task"]);
    let human = plain(&env, &add);
    assert_eq!(human.code, 0, "{human:#?}");
    assert_eq!(human.stdout, "task t exists, unchanged\n");
    assert_eq!(counts(&env, "r"), before);
    // With other fields, the same task id is refused, naming what differs.
    let mut changed = add.to_vec();
    changed[7] = "another title";
    changed[9] = "another body";
    let message = env.orch(&changed).error(30, "invalid_state");
    assert_eq!(
        message,
        r#"task "t" already exists in run "r" with a different title and body; give the new task another id"#
    );
    let mut fewer = add.to_vec();
    fewer.truncate(12);
    let message = env.orch(&fewer).error(30, "invalid_state");
    assert!(
        message.contains("with a different set of checks"),
        "{message}"
    );
    assert_eq!(counts(&env, "r"), before);

    // With an id: the retry replays the first reply (`created: true`), and the same id
    // with another title is another call.
    let mut with_id = add.to_vec();
    with_id[5] = "u";
    with_id.extend(["--request-id", "add-u"]);
    let first = env.orch(&with_id);
    assert_eq!(first.data()["created"], true);
    assert_replayed(&first, &env.orch(&with_id));
    with_id[7] = "another title";
    let message = env.orch(&with_id).error(30, "invalid_input");
    assert!(message.contains(r#""add-u""#), "{message}");
    assert_eq!(counts(&env, "r").tasks, 2);
}

#[test]
fn every_verb_that_changes_something_takes_a_request_id_and_no_read_does() {
    let env = Env::new();
    let plan = write(
        &env,
        "plan.toml",
        "[run]\nid = \"p\"\n\n[[tasks]]\nid = \"a\"\nworker = \"worker-a\"\n",
    );
    let plan = plan.to_str().unwrap();
    let changing: &[&[&str]] = &[
        &["run", "init", "--run", "r"],
        &words("task add --run r --task a --default-to worker-a"),
        &words("task add --run r --task b --default-to worker-a"),
        &words("dep add --run r --task b --depends-on a"),
        &["plan", "apply", "--file", plan],
        &words("dispatch --run r --task a --execution-mode analysis"),
        &["answer", "--run", "r", "--task", "a", "--body", "yes"],
        &["launch", "--run", "r", "--task", "b"],
        &["retry", "--run", "r", "--task", "a"],
        &["reassign", "--run", "r", "--task", "a", "--to", "worker-b"],
        &["cancel", "--run", "r", "--task", "b"],
        &["cleanup", "--run", "r", "--all-completed"],
    ];
    for (i, args) in changing.iter().enumerate() {
        let id = format!("every-{i}");
        let mut with_id = args.to_vec();
        with_id.extend(["--request-id", id.as_str()]);
        let first = env.orch(&with_id);
        // Accepted by the parser: a success, or the verb's own refusal (never clap's).
        let message = first.json["error"]["message"].as_str().unwrap_or("");
        assert!(
            first.json["ok"] == true || !message.contains("--request-id"),
            "{args:?}: {first:#?}"
        );
        assert_replayed(&first, &env.orch(&with_id));
    }
    let reads: &[&[&str]] = &[
        &["run", "show", "--run", "r"],
        &["status", "--run", "r"],
        &["ready", "--run", "r"],
        &["blocked", "--run", "r"],
        &["attempts", "--run", "r"],
        &["wait", "--run", "r", "--timeout-seconds", "1"],
        &["verify", "status", "--run", "r", "--task", "a"],
    ];
    for args in reads {
        let mut with_id = args.to_vec();
        with_id.extend(["--request-id", "read"]);
        let message = env.orch(&with_id).error(30, "invalid_input");
        assert!(message.contains("--request-id"), "{args:?}: {message}");
    }
}
