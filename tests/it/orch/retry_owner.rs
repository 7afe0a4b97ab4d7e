//! One retry owner (issue 12): a leader's `retry`/`reassign` and the supervisor's retry
//! ladder never both make the next attempt — whoever comes second is told which attempt
//! exists, and the ladder never gives up a task the leader took over; an attempt the
//! leader made while `orch up` runs is launched by it; `retry --launch` and `reassign
//! --launch` start the worker; `--body` is what the next worker is given (for `shell`,
//! what runs).

use super::text;
use crate::common::{Env, ORCH, Out, add_task, wait_for_end};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// A repository whose worker `sh` is the `shell` adapter with `max_attempts` attempts.
fn repo_with_sh(env: &Env, max_attempts: u32) -> PathBuf {
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    std::fs::write(
        repo.join(".orch/config.toml"),
        format!("[workers.sh]\nadapter = \"shell\"\nmax_attempts = {max_attempts}\n"),
    )
    .unwrap();
    // The configuration is not work: the repository stays clean.
    std::fs::write(repo.join(".git/info/exclude"), ".orch/\n").unwrap();
    repo
}

/// `orch up --run r` from `repo` in the background, with `envs`.
fn start_up(env: &Env, repo: &Path, envs: &[(&str, &str)]) -> Child {
    let mut cmd = env.command(ORCH);
    cmd.current_dir(repo)
        .args(["--db", env.db.to_str().unwrap(), "up", "--run", "r"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn orch up")
}

/// Waits (at most 60 s) for `orch up` to end by itself; fails with its output if it
/// does not (a task stuck `dispatched` keeps it waiting forever).
fn up_ends(mut up: Child) -> Out {
    let deadline = Instant::now() + Duration::from_secs(60);
    while up.try_wait().expect("poll orch up").is_none() {
        if Instant::now() > deadline {
            let _ = up.kill();
            let out = up.wait_with_output().unwrap();
            panic!(
                "orch up never ended:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = up.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: Value::Null,
    }
}

/// The first event of `kind` in run `r` (waiting up to `secs`), if any.
fn event(env: &Env, kind: &str, secs: u64) -> Option<Value> {
    let secs = secs.to_string();
    let out = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        kind,
        "--after-event",
        "0",
        "--timeout-seconds",
        &secs,
    ]);
    (out.code == 0).then(|| out.data()["event"].clone())
}

/// Every event of `kind` in run `r`, oldest first.
fn events(env: &Env, kind: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut after = 0;
    loop {
        let out = env.orch(&[
            "wait",
            "--run",
            "r",
            "--for",
            kind,
            "--after-event",
            &after.to_string(),
            "--timeout-seconds",
            "1",
        ]);
        if out.code != 0 {
            return found;
        }
        after = out.data()["next_event_id"].as_i64().unwrap();
        found.push(out.data()["event"].clone());
    }
}

fn retry(env: &Env, repo: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--db", env.db.to_str().unwrap(), "--json", "retry"];
    all.extend_from_slice(&["--run", "r", "--task", "t"]);
    all.extend_from_slice(args);
    env.raw(ORCH, &all, repo, &[])
}

/// The thread that made `attempt` (`leader`, or `orch` for the retry ladder).
fn created_by(env: &Env, attempt: &Value) -> String {
    let thread = text(&attempt["attempt"]["thread_id"]);
    text(&env.inbox(None, &["show", "--thread", &thread]).data()["thread"]["created_by"])
}

/// The supervisor log of attempt `n` of task `t`.
fn supervisor_log(env: &Env, n: u32) -> String {
    let path = env
        .path()
        .join(format!("logs/r/t/attempt-{n}.supervisor.log"));
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A failing task under `orch up` whose worker may retry it twice; the leader retries
/// it too, as soon as it sees the failure. Exactly one attempt 2 is made, by whoever
/// came first; the other is told.
fn race(mode: &str) {
    let env = Env::new();
    let repo = repo_with_sh(&env, 2);
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "sh",
        "--execution-mode",
        mode,
        "--body",
        "if [ \"$ORCH_ATTEMPT\" = 1 ]; then echo broken; exit 1; fi; echo fixed > fixed.txt",
    ])
    .data();
    let up = start_up(&env, &repo, &[]);
    // The leader retries as soon as it sees the failure; the ladder does the same.
    event(&env, "task_failed", 60).expect("attempt 1 never failed");
    let leader = retry(&env, &repo, &[]);
    let out = up_ends(up);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let attempts = env.attempts("r", "t");
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let second = &attempts[1];
    if leader.code == 0 {
        // The leader came first: its attempt ran (launched by orch up).
        assert_eq!(leader.data()["attempt"]["attempt_no"], 2);
        assert_eq!(created_by(&env, second), "leader");
    } else {
        // The ladder came first: the leader is told which attempt exists.
        let message = leader.error(30, "invalid_state");
        let thread = text(&second["attempt"]["thread_id"]);
        assert!(
            message.contains("attempt 2") && message.contains(&thread),
            "{message}"
        );
        assert_eq!(created_by(&env, second), "orch");
    }
    assert_eq!(second["supervision"]["outcome"], "succeeded");
    assert_eq!(env.task_row("r", "t")["status"], "done");
    assert!(events(&env, "task_given_up").is_empty());
    assert_eq!(events(&env, "task_retried").len(), 1);
    if mode == "code" {
        // The loser's worktree was taken back: one branch per attempt made.
        let branches = env.git(&repo, &["branch", "--list", "orch/*"]);
        assert_eq!(branches.lines().count(), 2, "{branches}");
    }
}

#[test]
fn a_leader_retry_racing_the_ladder_makes_exactly_one_attempt() {
    race("analysis");
}

#[test]
fn a_leader_retry_racing_the_ladder_in_code_mode_leaves_one_worktree() {
    race("code");
}

#[test]
fn a_leader_who_retries_first_keeps_the_task_and_orch_up_launches_its_attempt() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".git/info")).unwrap();
    std::fs::write(repo.join(".git/info/exclude"), ".orch/\n").unwrap();
    std::fs::create_dir_all(repo.join(".orch/adapters")).unwrap();
    std::fs::write(
        repo.join(".orch/adapters/limited.toml"),
        "name = \"limited\"\ncommand = [\"sh\", \"-c\", \"{body}\"]\noutput = \"text\"\nrate_limit_patterns = [\"(?i)usage limit\"]\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    // Attempt 1 hits a limit that resets in a while: the ladder parks the task, waiting.
    add_task(
        &env,
        "r",
        "t",
        "limited",
        "if [ \"$ORCH_ATTEMPT\" = 1 ]; then echo \"You've hit your usage limit. Please retry in 5s.\"; exit 1; fi; echo second attempt ran",
    );
    let up = start_up(&env, &repo, &[("ORCH_MAX_PARK", "1m")]);
    event(&env, "task_parked", 60).expect("the task was never parked");
    // The leader does not wait: it retries now, without --launch.
    let leader = retry(&env, &repo, &[]);
    assert_eq!(leader.data()["attempt"]["attempt_no"], 2);
    let out = up_ends(up);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // orch up launched the leader's attempt; the ladder, waking, made none of its own.
    let attempts = env.attempts("r", "t");
    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    assert_eq!(created_by(&env, &attempts[1]), "leader");
    assert_eq!(attempts[1]["supervision"]["outcome"], "succeeded");
    assert_eq!(env.task_row("r", "t")["status"], "done");
    assert_eq!(events(&env, "task_retried").len(), 1);
    assert!(events(&env, "task_given_up").is_empty());
    let log = supervisor_log(&env, 1);
    assert!(
        log.contains("the leader took over")
            && log.contains("the retry ladder leaves the task to the leader"),
        "{log}"
    );
}

#[test]
fn a_leader_who_comes_after_the_ladder_is_told_which_attempt_exists() {
    let env = Env::new();
    let repo = repo_with_sh(&env, 2);
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(
        &env,
        "r",
        "t",
        "sh",
        "if [ \"$ORCH_ATTEMPT\" = 1 ]; then exit 1; fi; echo fixed",
    );
    env.launch(&repo, "r", "t", "analysis");
    // The ladder retried attempt 1 by itself.
    crate::common::wait_until("the ladder's attempt 2", 60, || {
        env.attempts("r", "t").len() == 2
    });
    let attempts = env.attempts("r", "t");
    let thread = text(&attempts[1]["attempt"]["thread_id"]);
    for (verb, extra) in [
        ("retry", vec![]),
        ("reassign", vec!["--to", "shell", "--attempt", "1"]),
    ] {
        let mut args = vec![verb, "--run", "r", "--task", "t"];
        args.extend(extra);
        let message = env.orch(&args).error(30, "invalid_state");
        assert!(
            message.contains("attempt 2 (thread ")
                && message.contains(&thread)
                && message.contains("started by the retry ladder"),
            "{verb}: {message}"
        );
    }
    wait_for_end(&env, "r", "t");
    assert_eq!(env.attempts("r", "t").len(), 2);
    assert_eq!(env.task_row("r", "t")["status"], "done");
}

/// A task whose one attempt (of `sh`, no retries) failed and was given up.
fn given_up(env: &Env, body: &str) -> PathBuf {
    let repo = repo_with_sh(env, 1);
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(env, "r", "t", "sh", body);
    env.launch(&repo, "r", "t", "analysis");
    assert_eq!(
        wait_for_end(env, "r", "t")["supervision"]["outcome"],
        "failed"
    );
    event(env, "task_given_up", 30).expect("the ladder did not give up");
    repo
}

#[test]
fn retry_launch_runs_the_worker_to_done() {
    let env = Env::new();
    let repo = given_up(
        &env,
        "if [ \"$ORCH_ATTEMPT\" = 1 ]; then exit 1; fi; echo fixed",
    );
    let out = retry(&env, &repo, &["--launch"]);
    let data = out.data();
    assert_eq!(data["attempt"]["attempt_no"], 2);
    let launch = &data["launch"];
    assert_eq!(launch["adapter"], "shell");
    assert_eq!(launch["profile"], "sh");
    assert!(launch["supervisor_pid"].as_u64().unwrap() > 0);
    assert!(text(&launch["log_path"]).ends_with("attempt-2.log"));
    assert!(launch["argv"].is_array());
    let end = wait_for_end(&env, "r", "t");
    assert_eq!(end["attempt"]["attempt_no"], 2);
    assert_eq!(end["supervision"]["outcome"], "succeeded");
    assert_eq!(env.task_row("r", "t")["status"], "done");
}

#[test]
fn retry_body_is_what_a_shell_worker_runs_and_the_brief_says_so() {
    let env = Env::new();
    let repo = given_up(&env, "echo the old body; exit 1");
    let out = retry(
        &env,
        &repo,
        &["--launch", "--body", "echo the new body ran"],
    );
    let argv = out.data()["launch"]["argv"].to_string();
    assert!(argv.contains("the new body ran"), "{argv}");
    let end = wait_for_end(&env, "r", "t");
    assert_eq!(end["supervision"]["outcome"], "succeeded", "{end:#}");
    let log = std::fs::read_to_string(text(&out.data()["launch"]["log_path"])).unwrap();
    assert!(log.contains("the new body ran"), "{log}");
    assert!(!log.contains("the old body"), "{log}");
    // The brief carries the new body and says the leader replaced it.
    let brief = text(&env.orch(&["brief", "--run", "r", "--task", "t"]).data()["brief"]);
    assert!(brief.contains("echo the new body ran"), "{brief}");
    assert!(
        brief.contains("the leader replaced the task's body"),
        "{brief}"
    );
    let first = text(
        &env.orch(&["brief", "--run", "r", "--task", "t", "--attempt", "1"])
            .data()["brief"],
    );
    assert!(!first.contains("replaced"), "{first}");
}

#[test]
fn reassign_launch_moves_a_running_task_to_a_new_worker() {
    let env = Env::new();
    let repo = repo_with_sh(&env, 1);
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "sh", "sleep 60");
    env.launch(&repo, "r", "t", "analysis");
    crate::common::wait_until("attempt 1 running", 30, || {
        env.task_row("r", "t")["status"] == "running"
    });
    let out = env.raw(
        ORCH,
        &[
            "--db",
            env.db.to_str().unwrap(),
            "--json",
            "reassign",
            "--run",
            "r",
            "--task",
            "t",
            "--to",
            "shell",
            "--attempt",
            "1",
            "--launch",
            "--body",
            "echo moved",
        ],
        &repo,
        &[],
    );
    let data = out.data();
    assert_eq!(data["attempt"]["attempt_no"], 2);
    assert_eq!(data["launch"]["adapter"], "shell");
    let end = wait_for_end(&env, "r", "t");
    assert_eq!(end["attempt"]["attempt_no"], 2);
    assert_eq!(end["supervision"]["outcome"], "succeeded");
    assert_eq!(env.task_row("r", "t")["status"], "done");
    // The first worker was stopped (its supervisor records that in its own time).
    crate::common::wait_until("attempt 1 recorded cancelled", 30, || {
        env.attempts("r", "t")[0]["supervision"]["outcome"] == "cancelled"
    });
}
