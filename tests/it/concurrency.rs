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
