//! Exactly-once answers: `orch answer --question MSG_ID` answers that question only, once,
//! and `orch blocked` prints the id it takes.

use super::*;

/// The worker (holding the lease) asks a question; returns the question's message id.
fn ask_id(env: &Env, agent: &str, thread: &str, question: &str) -> i64 {
    ask(env, agent, thread, question);
    let shown = env.inbox(None, &["show", "--thread", thread]);
    let messages = shown.data()["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    assert_eq!(last["kind"], "question", "{last}");
    last["message_id"].as_i64().unwrap()
}

/// `orch answer --run r --task t --question Q --body BODY`.
fn answer_question(env: &Env, task: &str, question: i64, body: &str) -> crate::common::Out {
    let question = question.to_string();
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        task,
        "--question",
        &question,
        "--body",
        body,
    ])
}

/// The kinds of a thread's messages, oldest first.
fn kinds(env: &Env, thread: &str) -> Vec<String> {
    ids(
        &env.inbox(None, &["show", "--thread", thread]).data()["messages"],
        "kind",
    )
}

/// The bodies of a thread's `answer` messages, oldest first.
fn answers(env: &Env, thread: &str) -> Vec<String> {
    env.inbox(None, &["show", "--thread", thread]).data()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "answer")
        .map(|m| text(&m["body"]))
        .collect()
}

/// A run `r` whose task `t` is blocked on a question; returns its thread and the
/// question's id.
fn blocked_task(env: &Env) -> (String, i64) {
    env.run_with_tasks("r", &["t", "other"]);
    let thread = env.dispatch_analysis("r", "t");
    claim(env, "worker-a", &thread);
    let question = ask_id(env, "worker-a", &thread, "A or B?");
    (thread, question)
}

#[test]
fn blocked_shows_the_question_id_that_answer_takes() {
    let env = Env::new();
    let (thread, question) = blocked_task(&env);
    let out = env.orch(&["blocked", "--run", "r"]);
    let item = &out.data()["tasks"][0];
    assert_eq!(item["question"]["message_id"], question);
    assert_eq!(item["question"]["thread_id"], thread.as_str());
    assert_eq!(item["question"]["summary"], "A or B?");
    // Plain text: the id as the flag that takes it.
    let plain = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "blocked", "--run", "r"])
        .output()
        .unwrap();
    assert!(plain.status.success(), "{plain:?}");
    let plain = String::from_utf8(plain.stdout).unwrap();
    assert!(
        plain.contains(&format!("--question {question}: A or B?")),
        "{plain}"
    );
    assert!(plain.starts_with("t (attempt 1, worker-a)"), "{plain}");
}

#[test]
fn an_answer_sent_twice_is_delivered_once() {
    let env = Env::new();
    let (thread, question) = blocked_task(&env);
    let out = answer_question(&env, "t", question, "A");
    let data = out.data();
    assert_eq!(data["message"]["kind"], "answer");
    // The answer's body is the leader's own text: by its size (issue 12).
    assert_eq!(data["message"]["summary"], "A");
    assert_eq!(data["message"]["body_bytes"], 1);
    assert_eq!(data["message"]["to_agent"], "worker-a");
    assert_eq!(data["thread"]["thread_id"], thread.as_str());
    let before = kinds(&env, &thread);
    let message = answer_question(&env, "t", question, "A").error(30, "invalid_state");
    assert!(
        message.contains(&format!("question {question}")) && message.contains("already answered"),
        "{message}"
    );
    assert_eq!(kinds(&env, &thread), before, "nothing was written");
    assert_eq!(answers(&env, &thread), vec!["A"]);
    // The worker reads the one answer.
    let read = env.inbox(
        Some("worker-a"),
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "5"],
    );
    assert_eq!(read.data()["message"]["body"], "A");
}

#[test]
fn an_answer_resent_after_the_worker_finished_says_it_was_answered() {
    let env = Env::new();
    let (thread, question) = blocked_task(&env);
    let first = answer_question(&env, "t", question, "A");
    let answer = first.data()["message"]["message_id"].as_i64().unwrap();
    env.inbox(
        Some("worker-a"),
        &["done", "--thread", &thread, "--summary", "went with A"],
    )
    .data();
    // Not "no active attempt": the leader learns its first call landed.
    let message = answer_question(&env, "t", question, "A").error(30, "invalid_state");
    assert!(
        message.contains(&format!(
            "question {question} was already answered (message {answer})"
        )),
        "{message}"
    );
    assert_eq!(answers(&env, &thread), vec!["A"]);
    // Unanswered when its worker ended: no longer open, with the attempt's status.
    let thread = env.dispatch_analysis("r", "other");
    claim(&env, "worker-a", &thread);
    let unanswered = ask_id(&env, "worker-a", &thread, "Left open?");
    env.inbox(
        Some("worker-a"),
        &["fail", "--thread", &thread, "--summary", "gave up waiting"],
    )
    .data();
    let message = answer_question(&env, "other", unanswered, "x").error(30, "invalid_state");
    assert!(
        message.contains(&format!("question {unanswered} is no longer open")),
        "{message}"
    );
    assert!(answers(&env, &thread).is_empty());
}

#[test]
fn an_answer_resent_after_the_next_question_does_not_answer_it() {
    let env = Env::new();
    let (thread, first) = blocked_task(&env);
    answer_question(&env, "t", first, "json").data();
    // The worker goes on, then asks its next question.
    env.inbox(
        Some("worker-a"),
        &["update", "--thread", &thread, "--summary", "using json"],
    )
    .data();
    let second = ask_id(&env, "worker-a", &thread, "Which port?");
    // The leader's re-sent first answer is refused: it would answer the second question.
    let message = answer_question(&env, "t", first, "json").error(30, "invalid_state");
    assert!(message.contains("already answered"), "{message}");
    assert_eq!(answers(&env, &thread), vec!["json"]);
    // The worker waiting for the second answer gets nothing yet...
    env.inbox(
        Some("worker-a"),
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "1"],
    )
    .error(10, "no_matching_work");
    // ...and the second question's own answer.
    answer_question(&env, "t", second, "8080").data();
    let read = env.inbox(
        Some("worker-a"),
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "5"],
    );
    assert_eq!(read.data()["message"]["body"], "8080");
    assert_eq!(answers(&env, &thread), vec!["json", "8080"]);
}

#[test]
fn a_question_that_is_no_longer_open_is_refused_and_nothing_is_sent() {
    let env = Env::new();
    let (thread, first) = blocked_task(&env);
    // A newer question, with the first never answered.
    let second = ask_id(&env, "worker-a", &thread, "And C?");
    let before = kinds(&env, &thread);
    let message = answer_question(&env, "t", first, "A").error(30, "invalid_state");
    assert!(
        message.contains("no longer open") && message.contains(&format!("question {second}")),
        "{message}"
    );
    assert_eq!(kinds(&env, &thread), before);
    // The worker went on without an answer: the thread is no longer blocked.
    env.inbox(
        Some("worker-a"),
        &["update", "--thread", &thread, "--summary", "decided alone"],
    )
    .data();
    let before = kinds(&env, &thread);
    let message = answer_question(&env, "t", second, "C").error(30, "invalid_state");
    assert!(message.contains("in_progress"), "{message}");
    assert_eq!(kinds(&env, &thread), before);
    // The task moved to another attempt.
    let third = ask_id(&env, "worker-a", &thread, "Really stuck");
    env.orch(&["reassign", "--run", "r", "--task", "t", "--to", "worker-b"])
        .data();
    let message = answer_question(&env, "t", third, "x").error(30, "invalid_state");
    assert!(
        message.contains("attempt 1") && message.contains("attempt 2"),
        "{message}"
    );
    assert!(answers(&env, &thread).is_empty());
    assert!(answers(&env, "r/t/attempt-2").is_empty());
}

#[test]
fn a_question_id_must_name_a_question_of_that_task() {
    let env = Env::new();
    let (thread, question) = blocked_task(&env);
    answer_question(&env, "t", 999_999, "A").error(40, "not_found");
    // The task message is not a question.
    let task_message =
        env.inbox(None, &["show", "--thread", &thread]).data()["messages"][0]["message_id"]
            .as_i64()
            .unwrap();
    let message = answer_question(&env, "t", task_message, "A").error(30, "invalid_input");
    assert!(message.contains("not a question"), "{message}");
    // Another task's question.
    let other = env.dispatch_analysis("r", "other");
    claim(&env, "worker-a", &other);
    let elsewhere = ask_id(&env, "worker-a", &other, "Elsewhere?");
    let message = answer_question(&env, "t", elsewhere, "A").error(30, "invalid_input");
    assert!(message.contains(&other), "{message}");
    // --attempt must agree with the question's attempt.
    let id = question.to_string();
    env.orch(&[
        "answer",
        "--run",
        "r",
        "--task",
        "t",
        "--question",
        &id,
        "--attempt",
        "2",
        "--body",
        "A",
    ])
    .error(30, "invalid_input");
    assert!(answers(&env, &thread).is_empty());
    assert!(answers(&env, &other).is_empty());
    // Without --question, the contract's answer still goes to the current attempt.
    env.orch(&["answer", "--run", "r", "--task", "t", "--body", "B"])
        .data();
    assert_eq!(answers(&env, &thread), vec!["B"]);
    answer_question(&env, "t", question, "A").error(30, "invalid_state");
}

#[test]
fn two_concurrent_answers_to_one_question_deliver_one() {
    let env = Env::new();
    let (thread, question) = blocked_task(&env);
    let id = question.to_string();
    let args = [
        "answer",
        "--run",
        "r",
        "--task",
        "t",
        "--question",
        &id,
        "--body",
        "A",
    ];
    let children: Vec<_> = (0..4).map(|_| spawn(&env, ORCH, &args, None)).collect();
    let outs: Vec<_> = children.into_iter().map(finish).collect();
    let won: Vec<_> = outs.iter().filter(|o| o.code == 0).collect();
    assert_eq!(won.len(), 1, "{outs:#?}");
    for out in outs.iter().filter(|o| o.code != 0) {
        out.error(30, "invalid_state");
    }
    assert_eq!(answers(&env, &thread), vec!["A"]);
    let read = env.inbox(
        Some("worker-a"),
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "5"],
    );
    assert_eq!(read.data()["message"]["body"], "A");
}
