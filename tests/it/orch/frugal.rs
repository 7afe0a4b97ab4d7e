//! Frugal by default (issue 12): replies never print a body twice, never a brief inside
//! argv, list verbs leave bodies out unless `--bodies`, and `orch up` on a pipe prints a
//! line per dispatch, attempt end, question and give-up only.

use super::*;
use crate::common::{Out, add_task, wait_for_end};

/// A body longer than argv shows in full: a comment pads it.
fn long(script: &str) -> String {
    format!("{script}\n# {}\n", "pad ".repeat(40))
}

/// A worker whose adapter takes both the body (the script) and the brief in argv.
fn brief_adapter(repo: &Path) {
    let dir = repo.join(".orch/adapters");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("shbrief.toml"),
        "name = \"shbrief\"\ncommand = [\"sh\", \"-c\", \"{body}\", \"worker\", \"{prompt}\"]\nprompt = \"arg\"\noutput = \"text\"\n",
    )
    .unwrap();
}

fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// `orch ARGS` without `--json`, from the environment's directory.
fn plain(env: &Env, args: &[&str]) -> Out {
    let db = env.db.to_str().unwrap().to_string();
    let mut all = vec!["--db", db.as_str()];
    all.extend_from_slice(args);
    env.raw(ORCH, &all, env.path(), &[])
}

#[test]
fn dispatch_prints_the_body_once_and_the_brief_by_its_size_while_the_worker_gets_both() {
    let env = Env::new();
    let repo = env.repo();
    brief_adapter(&repo);
    env.orch(&["run", "init", "--run", "r"]).data();
    let body = long("echo \"brief-bytes=$(printf %s \"$1\" | wc -c | tr -d ' ')\"");
    add_task(&env, "r", "t", "shbrief", &body);
    let out = env.dispatch_launch(&repo, "r", "t", "analysis", &[]);
    let data = out.data().clone();
    // The body once: in the task message (what the worker got); the task points at it.
    assert_eq!(
        occurrences(&out.stdout, "brief-bytes="),
        1,
        "{}",
        out.stdout
    );
    assert_eq!(data["message"]["body"], body.as_str());
    assert_eq!(data["task"]["body_same_as"], "message.body");
    assert!(data["task"].get("body").is_none(), "{data:#}");
    // The contract's fields are all there.
    assert_eq!(data["task"]["status"], "dispatched");
    assert_eq!(data["attempt"]["attempt_no"], 1);
    assert_eq!(data["thread"]["thread_id"], "r/t/attempt-1");
    assert_eq!(data["message"]["kind"], "task");
    // argv: the body and the brief by their sizes, never their text.
    let argv: Vec<String> = data["launch"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(argv[..2], ["sh", "-c"]);
    assert_eq!(argv[2], format!("<body: {} bytes>", body.len()));
    let size: usize = argv[4]
        .strip_prefix("<brief: ")
        .and_then(|s| s.strip_suffix(" bytes>"))
        .unwrap_or_else(|| panic!("no brief placeholder: {argv:?}"))
        .parse()
        .unwrap();
    assert!(size > 200, "{argv:?}");
    // The supervisor ran the real argv: the script ran and saw the whole brief.
    let end = wait_for_end(&env, "r", "t");
    assert_eq!(end["supervision"]["outcome"], "succeeded", "{end:#}");
    let log = std::fs::read_to_string(text(&data["launch"]["log_path"])).unwrap();
    assert!(log.contains(&format!("brief-bytes={size}")), "{log}");
    // The attempt_launched event records the short argv too.
    let events = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "attempt_launched",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    let recorded = events.data()["event"]["payload"]["argv"].to_string();
    assert!(recorded.contains("<brief: "), "{recorded}");
    assert!(!recorded.contains("pad pad"), "{recorded}");
}

#[test]
fn retry_prints_the_body_once_and_a_new_body_beside_the_task_one() {
    let env = Env::new();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "worker-a", &long("the task's instructions"));
    let thread = env.dispatch_analysis("r", "t");
    work_fail(&env, "worker-a", &thread);
    let out = env.orch(&["retry", "--run", "r", "--task", "t"]);
    let data = out.data();
    let body = text(&data["message"]["body"]);
    assert!(!body.is_empty());
    assert_eq!(
        occurrences(&out.stdout, &serde_json::to_string(&body).unwrap()),
        1
    );
    assert_eq!(data["task"]["body_same_as"], "message.body");
    assert_eq!(data["previous_attempt"]["attempt_no"], 1);
    // With --body the two differ: both are printed, each once.
    let thread = text(&data["attempt"]["thread_id"]);
    work_fail(&env, "worker-a", &thread);
    let out = env.orch(&["retry", "--run", "r", "--task", "t", "--body", "a new body"]);
    assert_eq!(out.data()["message"]["body"], "a new body");
    assert_eq!(out.data()["task"]["body"], body.as_str());
    assert!(out.data()["task"].get("body_same_as").is_none());
}

/// A run with `t1` blocked on a question whose body is long, and `t2` ready.
fn blocked_run(env: &Env) -> (String, String) {
    env.orch(&["run", "init", "--run", "r"]).data();
    let task_body = long("the task's instructions");
    for task in ["t1", "t2"] {
        add_task(env, "r", task, "worker-a", &task_body);
    }
    let thread = env.dispatch_analysis("r", "t1");
    claim(env, "worker-a", &thread);
    let question_body = long("the details of the question");
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "blocked",
            "--summary",
            "Which format?",
            "--body",
            &question_body,
            "--payload-json",
            r#"{"question": "JSON or text?", "options": ["json", "text"]}"#,
        ],
    )
    .data();
    (task_body, question_body)
}

#[test]
fn list_verbs_leave_bodies_out_unless_asked() {
    let env = Env::new();
    let (task_body, question_body) = blocked_run(&env);
    // ready
    let out = env.orch(&["ready", "--run", "r"]);
    let t2 = &out.data()["tasks"][0];
    assert_eq!(t2["task_id"], "t2");
    assert!(t2.get("body").is_none(), "{t2}");
    assert_eq!(t2["body_bytes"], task_body.len());
    assert!(!out.stdout.contains("pad pad"), "{}", out.stdout);
    let out = env.orch(&["ready", "--run", "r", "--bodies"]);
    assert_eq!(out.data()["tasks"][0]["body"], task_body.as_str());
    // blocked: the question's text, options and id stay; ids and statuses around it.
    let out = env.orch(&["blocked", "--run", "r"]);
    assert!(!out.stdout.contains("pad pad"), "{}", out.stdout);
    let item = &out.data()["tasks"][0];
    assert_eq!(item["task"]["task_id"], "t1");
    assert_eq!(item["task"]["status"], "blocked");
    assert!(item["task"].get("body").is_none(), "{item}");
    assert_eq!(item["attempt"]["attempt_no"], 1);
    assert_eq!(item["attempt"]["thread_id"], "r/t1/attempt-1");
    let question = &item["question"];
    assert!(question["message_id"].as_i64().unwrap() > 0);
    assert_eq!(question["summary"], "Which format?");
    assert_eq!(question["payload_json"]["question"], "JSON or text?");
    assert_eq!(question["payload_json"]["options"][1], "text");
    assert!(question.get("body").is_none(), "{question}");
    assert_eq!(question["body_bytes"], question_body.len());
    let out = env.orch(&["blocked", "--run", "r", "--bodies"]);
    assert_eq!(
        out.data()["tasks"][0]["question"]["body"],
        question_body.as_str()
    );
    // status: rows carry no task body; the question's body only with --bodies.
    let out = env.orch(&["status", "--run", "r"]);
    assert!(!out.stdout.contains("pad pad"), "{}", out.stdout);
    let row = &out.data()["tasks"][0];
    assert_eq!(row["blocked_question"]["body_bytes"], question_body.len());
    assert_eq!(
        row["blocked_question"]["payload_json"]["options"][0],
        "json"
    );
    let out = env.orch(&["status", "--run", "r", "--bodies"]);
    assert_eq!(
        out.data()["tasks"][0]["blocked_question"]["body"],
        question_body.as_str()
    );
}

#[test]
fn blocked_and_answer_in_plain_text_are_one_complete_line() {
    let env = Env::new();
    blocked_run(&env);
    let out = plain(&env, &["blocked", "--run", "r"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(
        lines[0].starts_with("t1 (attempt 1, worker-a) --question "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(": JSON or text? [options: json | text]"),
        "{}",
        lines[0]
    );
    let id = lines[0]
        .split("--question ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap();
    let out = plain(
        &env,
        &[
            "answer",
            "--run",
            "r",
            "--task",
            "t1",
            "--question",
            id,
            "--body",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout
            .starts_with(&format!("answered question {id} of t1 attempt 1 (message ")),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), 1);
}

#[test]
fn answer_keeps_ids_and_statuses_not_the_task_and_attempt() {
    let env = Env::new();
    blocked_run(&env);
    let out = env.orch(&["answer", "--run", "r", "--task", "t1", "--body", "json"]);
    assert!(!out.stdout.contains("pad pad"), "{}", out.stdout);
    let data = out.data();
    assert_eq!(data["task"]["task_id"], "t1");
    assert!(data["task"]["status"].is_string());
    assert_eq!(data["attempt_no"], 1);
    assert_eq!(data["thread"]["thread_id"], "r/t1/attempt-1");
    assert_eq!(data["message"]["kind"], "answer");
    assert!(data["message"]["message_id"].as_i64().unwrap() > 0);
    assert_eq!(data["message"]["body_bytes"], 4);
}

#[test]
fn up_on_a_pipe_prints_one_line_per_dispatch_and_end() {
    let env = Env::new();
    let repo = env.repo();
    brief_adapter(&repo);
    for (run, json) in [("plain", false), ("json", true)] {
        env.orch(&["run", "init", "--run", run]).data();
        for task in ["a", "b"] {
            env.orch(&[
                "task",
                "add",
                "--run",
                run,
                "--task",
                task,
                "--default-to",
                "shbrief",
                "--execution-mode",
                "analysis",
                "--body",
                &long("true"),
            ])
            .data();
        }
        let db = env.db.to_str().unwrap();
        let mut args = vec!["--db", db];
        if json {
            args.push("--json");
        }
        args.extend(["up", "--run", run]);
        let out = env.raw(ORCH, &args, &repo, &[]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        assert!(!out.stdout.contains("pad pad"), "{}", out.stdout);
        assert!(!out.stdout.contains("argv"), "{}", out.stdout);
        if json {
            let lines: Vec<Value> = out
                .stdout
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let (summary, events) = lines.split_last().unwrap();
            assert!(summary["summary"].is_object(), "{summary}");
            let types: Vec<&str> = events
                .iter()
                .map(|e| e["event_type"].as_str().unwrap())
                .collect();
            assert_eq!(types.iter().filter(|t| **t == "task_dispatched").count(), 2);
            assert_eq!(types.iter().filter(|t| **t == "attempt_exited").count(), 2);
            assert_eq!(types.len(), 4, "{types:?}");
            assert!(events.iter().all(|e| e.get("payload").is_none()));
        } else {
            // Two dispatches, two ends, then the summary (after a blank line).
            let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
            assert_eq!(lines.len(), 5, "{}", out.stdout);
            assert_eq!(
                lines.iter().filter(|l| l.contains(" dispatched ")).count(),
                2
            );
            assert_eq!(lines.iter().filter(|l| l.contains(" exited ")).count(), 2);
            assert!(
                lines[4].starts_with(&format!("run {run} done")),
                "{}",
                out.stdout
            );
        }
    }
}
