//! Many processes at once on one database: concurrent writers, and blocking waiters
//! resumed from their cursors.

use crate::common::{Env, INBOX, finish, spawn};
use std::collections::HashSet;

#[test]
fn eight_processes_write_200_messages_each_to_one_thread() {
    let env = Env::new();
    let thread = env
        .inbox(
            Some("leader"),
            &["send", "--to", "worker", "--subject", "busy thread"],
        )
        .data()["thread"]["thread_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Each writer is a shell loop of 200 real `inbox reply` processes.
    let script = format!(
        "i=0; while [ $i -lt 200 ]; do \"{INBOX}\" --db \"$DB\" --json reply --from \"w$W\" --thread \"{thread}\" --kind answer --body \"w$W-$i\" >/dev/null || exit 1; i=$((i+1)); done"
    );
    let children: Vec<_> = (0..8)
        .map(|w| {
            env.command("sh")
                .arg("-c")
                .arg(&script)
                .env("DB", &env.db)
                .env("W", w.to_string())
                .spawn()
                .expect("spawn writer")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer failed");
    }
    let shown = env
        .inbox(None, &["show", "--thread", &thread])
        .data()
        .clone();
    let bodies: HashSet<String> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "answer")
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies.len(), 1600);
    for w in 0..8 {
        for i in 0..200 {
            assert!(bodies.contains(&format!("w{w}-{i}")), "missing w{w}-{i}");
        }
    }
}

#[test]
fn watch_resumed_from_next_event_id_sees_every_event_exactly_once() {
    let env = Env::new();
    let start = env
        .inbox(
            Some("leader"),
            &["send", "--to", "worker", "--subject", "s"],
        )
        .data()["thread"]["thread_id"]
        .as_str()
        .unwrap()
        .to_string();
    let first_event = {
        // Cursor before the burst: the newest event so far.
        let out = env.inbox(
            Some("worker"),
            &["watch", "--after-event", "0", "--timeout-seconds", "5"],
        );
        out.data()["next_event_id"].as_i64().unwrap()
    };
    // A writer adds 30 messages while the reader keeps resuming from next_event_id.
    let writer = env
        .command("sh")
        .arg("-c")
        .arg(format!(
            "i=0; while [ $i -lt 30 ]; do \"{INBOX}\" --db \"$DB\" --json reply --from leader --to worker --thread \"{start}\" --body \"m$i\" >/dev/null || exit 1; i=$((i+1)); done"
        ))
        .env("DB", &env.db)
        .spawn()
        .unwrap();
    let mut cursor = first_event;
    let mut seen = Vec::new();
    while seen.len() < 30 {
        let out = env.inbox(
            Some("worker"),
            &[
                "watch",
                "--after-event",
                &cursor.to_string(),
                "--timeout-seconds",
                "20",
            ],
        );
        let data = out.data();
        let id = data["next_event_id"].as_i64().unwrap();
        assert_eq!(id, data["event"]["event_id"].as_i64().unwrap());
        assert!(id > cursor, "cursor went backwards");
        seen.push(data["message"]["body"].as_str().unwrap().to_string());
        cursor = id;
    }
    let mut writer = writer;
    assert!(writer.wait().unwrap().success());
    let expected: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected, "every event exactly once, in order");
    // Nothing more: the next watch times out with exit 10.
    env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            &cursor.to_string(),
            "--timeout-seconds",
            "1",
        ],
    )
    .error(10, "no_matching_work");
}

#[test]
fn wait_resumed_from_next_event_id_sees_every_run_event_exactly_once() {
    let env = Env::new();
    env.run_with_tasks("r", &[]);
    let mut cursor = 0;
    let mut seen = Vec::new();
    // Events written before and while we wait.
    for i in 0..5 {
        env.orch(&["task", "add", "--run", "r", "--task", &format!("t{i}")])
            .data();
    }
    let adder = env
        .command("sh")
        .arg("-c")
        .arg(format!(
            "i=5; while [ $i -lt 15 ]; do \"{}\" --db \"$DB\" --json task add --run r --task t$i >/dev/null || exit 1; i=$((i+1)); done",
            crate::common::ORCH
        ))
        .env("DB", &env.db)
        .spawn()
        .unwrap();
    while seen.len() < 15 {
        let out = env.orch(&[
            "wait",
            "--run",
            "r",
            "--for",
            "task_added",
            "--after-event",
            &cursor.to_string(),
            "--timeout-seconds",
            "20",
        ]);
        let data = out.data();
        cursor = data["next_event_id"].as_i64().unwrap();
        seen.push(data["event"]["task_id"].as_str().unwrap().to_string());
    }
    let mut adder = adder;
    assert!(adder.wait().unwrap().success());
    let expected: Vec<String> = (0..15).map(|i| format!("t{i}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_waiter_started_before_the_write_wakes() {
    let env = Env::new();
    let thread = env
        .inbox(
            Some("leader"),
            &["send", "--to", "worker", "--subject", "q"],
        )
        .data()["thread"]["thread_id"]
        .as_str()
        .unwrap()
        .to_string();
    let waiter = spawn(
        &env,
        INBOX,
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "20"],
        Some("worker"),
    );
    // Give the waiter time to take its "now" cursor, then answer.
    std::thread::sleep(std::time::Duration::from_millis(500));
    env.inbox(
        Some("leader"),
        &[
            "reply", "--thread", &thread, "--to", "worker", "--body", "go",
        ],
    )
    .data();
    let out = finish(waiter);
    assert_eq!(out.data()["message"]["body"], "go");
    assert_eq!(out.data()["woke"], true);
}

#[test]
fn eight_processes_opening_a_fresh_database_at_once_all_succeed() {
    let env = Env::new();
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.command(crate::common::ORCH)
                .args(["--db"])
                .arg(&env.db)
                .args(["--json", "run", "init", "--run", &format!("r{i}")])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = finish(child);
        out.data();
    }
    for i in 0..8 {
        env.orch(&["run", "show", "--run", &format!("r{i}")]).data();
    }
}

#[test]
fn a_file_that_is_not_a_database_is_internal_error_50() {
    let env = Env::new();
    if env.is_pg() {
        // PostgreSQL's counterpart: a server that does not answer.
        let message = env
            .raw(
                crate::common::ORCH,
                &[
                    "--db",
                    "postgres://root:secret@127.0.0.1:1/none",
                    "--json",
                    "run",
                    "show",
                    "--run",
                    "r",
                ],
                env.path(),
                &[],
            )
            .error(50, "internal_error");
        assert!(
            message.contains("cannot connect to database postgres://root:***@127.0.0.1:1/none"),
            "{message}"
        );
        assert!(!message.contains("secret"), "{message}");
        return;
    }
    std::fs::write(
        &env.db,
        "this is not an SQLite database, just text that is long enough to be read as a header",
    )
    .unwrap();
    let message = env
        .orch(&["run", "show", "--run", "r"])
        .error(50, "internal_error");
    assert!(message.contains("database"), "{message}");
    // Nothing was overwritten.
    assert!(
        std::fs::read_to_string(&env.db)
            .unwrap()
            .starts_with("this is not")
    );
}

/// Six leaders dispatch the same ready code task at the same moment, for four tasks,
/// then six retry each failed task at once: each time exactly one wins, the others are
/// refused with `invalid_state`, and exactly the winners' worktrees exist — no second
/// attempt, no half-made or stray worktree (the per-task dispatch lock and the store's
/// state check together).
#[test]
fn leaders_racing_to_dispatch_or_retry_one_task_make_one_attempt() {
    let env = Env::new();
    let repo = env.repo();
    let tasks = ["a", "b", "c", "d"];
    env.run_with_tasks("r", &tasks);
    let repo_arg = format!("--repo-path={}", repo.display());
    let race = |verb: &[&str], task: &str| -> Vec<crate::common::Out> {
        let children: Vec<_> = (0..6)
            .map(|_| {
                let mut cmd = env.command(crate::common::ORCH);
                cmd.arg("--db").arg(&env.db).arg("--json").args(verb);
                cmd.args(["--run", "r", "--task", task]);
                cmd.stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children.into_iter().map(finish).collect()
    };
    let winners = |outs: &[crate::common::Out], what: &str| {
        let won = outs.iter().filter(|o| o.code == 0).count();
        assert_eq!(won, 1, "{what}: {outs:#?}");
        for out in outs.iter().filter(|o| o.code != 0) {
            out.error(30, "invalid_state");
        }
    };
    for task in tasks {
        let outs = race(&["dispatch", "--execution-mode", "code", &repo_arg], task);
        winners(&outs, &format!("dispatch {task}"));
    }
    for task in tasks {
        let thread = format!("r/{task}/attempt-1");
        env.inbox(Some("worker-a"), &["claim", "--thread", &thread])
            .data();
        env.inbox(
            Some("worker-a"),
            &["fail", "--thread", &thread, "--summary", "no"],
        )
        .data();
    }
    env.orch(&["reconcile", "--run", "r"]).data();
    for task in tasks {
        let outs = race(&["retry"], task);
        winners(&outs, &format!("retry {task}"));
    }
    let mut expected: Vec<String> = Vec::new();
    for task in tasks {
        let attempts = env.attempts("r", task);
        assert_eq!(attempts.len(), 2, "{task}: {attempts:#?}");
        for (i, row) in attempts.iter().enumerate() {
            assert_eq!(row["attempt"]["attempt_no"], i as i64 + 1);
            let path = row["attempt"]["worktree_path"].as_str().unwrap();
            assert!(std::path::Path::new(path).is_dir(), "{path}");
            expected.push(std::fs::canonicalize(path).unwrap().display().to_string());
        }
    }
    // git knows exactly those worktrees (besides the repository itself), and nothing
    // else lies under the worktree root.
    let listed = env.git(&repo, &["worktree", "list", "--porcelain"]);
    let mut listed: Vec<String> = listed
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .map(|p| std::fs::canonicalize(p).unwrap().display().to_string())
        .filter(|p| *p != std::fs::canonicalize(&repo).unwrap().display().to_string())
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    for task in tasks {
        let dir = repo.join(".orch/worktrees/r").join(task);
        let mut entries: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        entries.sort();
        assert_eq!(entries, ["attempt-1", "attempt-2"], "{}", dir.display());
    }
}
