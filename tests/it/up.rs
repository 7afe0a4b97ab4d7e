//! `orch up` end to end (issue 4): the bundled demo plan, a DAG respected at a
//! concurrency limit, one `orch up` per run, and a restart after `kill -9`.

use crate::common::{Env, ORCH};
use std::path::Path;
use std::time::{Duration, Instant};

fn up(env: &Env, repo: &Path, args: &[&str]) -> crate::common::Out {
    let mut all = vec!["--db", env.db.to_str().unwrap(), "up"];
    all.extend_from_slice(args);
    env.raw(ORCH, &all, repo, &[])
}

#[test]
fn the_bundled_demo_plan_finishes_green() {
    let env = Env::new();
    let repo = env.repo();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/plan.toml");
    let out = up(&env, &repo, &["--plan", plan.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("run demo done"), "{}", out.stdout);
    let status = env.orch(&["status", "--run", "demo"]);
    assert_eq!(status.data()["run"]["status"], "done");
    // The flaky step took two attempts; the code task committed on its branch.
    let flaky = env
        .orch(&["attempts", "--run", "demo", "--task", "flaky"])
        .data()["attempts"]
        .clone();
    assert_eq!(flaky.as_array().unwrap().len(), 2);
    let log = env.git(
        &repo,
        &["log", "--oneline", "-1", "orch/demo/notes/attempt-1"],
    );
    assert!(log.ends_with("Add release notes"), "{log}");
    // The check ran and passed.
    let gate = env.orch(&["verify", "status", "--run", "demo", "--task", "checked"]);
    assert_eq!(gate.data()["gate"]["status"], "passed");
    // Running it again changes nothing and exits 0 at once.
    let again = up(&env, &repo, &["--plan", plan.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    // In the background it is refused: nothing is left to run, and no process starts.
    let detached = up(&env, &repo, &["--run", "demo", "--detach", "--json"]);
    let refused = detached.error(30, "invalid_state");
    assert!(refused.contains("\"demo\" is done"), "{refused}");
    let hosts = env.orch(&["status", "--run", "demo"]);
    assert_eq!(hosts.data()["run"]["status"], "done");
}

/// A plan of `n` tasks: task i depends on tasks i-1 and i-3 (when they exist); each task
/// records when it started and ended, so the order can be checked afterwards.
fn dag_plan(dir: &Path, n: usize) -> std::path::PathBuf {
    let mut plan = String::from("[run]\nid = \"dag\"\n[defaults]\nworker = \"shell\"\n");
    for i in 0..n {
        let mut deps = Vec::new();
        if i >= 1 {
            deps.push(format!("\"t{}\"", i - 1));
        }
        if i >= 3 {
            deps.push(format!("\"t{}\"", i - 3));
        }
        // Half the tasks have no prerequisite at all, so several run at once.
        if i % 2 == 0 {
            deps.clear();
        }
        plan.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\ndepends_on = [{}]\nbody = \"\"\"\necho start $(date +%s%N) >> \"$ORCH_STATE_DIR/trace-t{i}\"\nsleep 0.2\necho end $(date +%s%N) >> \"$ORCH_STATE_DIR/trace-t{i}\"\necho finished t{i}\n\"\"\"\n",
            deps.join(", ")
        ));
    }
    let path = dir.join("dag.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

fn trace(env: &Env, task: usize) -> (u128, u128) {
    let text = std::fs::read_to_string(env.path().join(format!("trace-t{task}"))).unwrap();
    let mut start = 0;
    let mut end = 0;
    for line in text.lines() {
        let (what, at) = line.split_once(' ').unwrap();
        let at: u128 = at.parse().unwrap();
        match what {
            "start" => start = at,
            _ => end = at,
        }
    }
    (start, end)
}

#[test]
fn a_dag_of_20_tasks_at_concurrency_4_respects_every_dependency() {
    let env = Env::new();
    let repo = env.repo();
    let plan = dag_plan(env.path(), 20);
    let out = up(
        &env,
        &repo,
        &["--plan", plan.to_str().unwrap(), "--concurrency", "4"],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let times: Vec<(u128, u128)> = (0..20).map(|i| trace(&env, i)).collect();
    for i in 0..20usize {
        if i % 2 == 0 {
            continue;
        }
        for dep in [i.checked_sub(1), i.checked_sub(3)].into_iter().flatten() {
            assert!(
                times[dep].1 <= times[i].0,
                "t{i} started before its prerequisite t{dep} ended"
            );
        }
    }
    // Never more than 4 at once.
    let mut points: Vec<(u128, i32)> = times
        .iter()
        .flat_map(|(s, e)| [(*s, 1), (*e, -1)])
        .collect();
    points.sort_by_key(|(t, d)| (*t, *d));
    let mut running = 0;
    let mut most = 0;
    for (_, d) in points {
        running += d;
        most = most.max(running);
    }
    assert!(most <= 4, "{most} tasks ran at once");
    assert!(most >= 2, "tasks never overlapped ({most})");
}

#[test]
fn only_one_orch_up_per_run() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "slow",
        "--default-to",
        "shell",
        "--body",
        "sleep 3; echo ok",
    ])
    .data();
    let first = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "up", "--run", "r"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let second = env.raw(
        ORCH,
        &[
            "--db",
            env.db.to_str().unwrap(),
            "--json",
            "up",
            "--run",
            "r",
        ],
        &repo,
        &[],
    );
    let message = second.error(30, "invalid_state");
    assert!(message.contains("another orch up"), "{message}");
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success());
}

#[test]
fn kill_9_of_orch_up_then_a_new_one_finishes_with_no_duplicate_attempts() {
    let env = Env::new();
    let repo = env.repo();
    let plan = dag_plan(env.path(), 8);
    let mut first = env
        .command(ORCH)
        .args([
            "--db",
            env.db.to_str().unwrap(),
            "up",
            "--plan",
            plan.to_str().unwrap(),
            "--concurrency",
            "2",
        ])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it get some work going, then kill it outright.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = env.orch(&["attempts", "--run", "dag"]);
        if out.code == 0 && out.data()["attempts"].as_array().unwrap().len() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "orch up never dispatched");
        std::thread::sleep(Duration::from_millis(50));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let out = up(&env, &repo, &["--run", "dag", "--concurrency", "2"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let attempts = env.orch(&["attempts", "--run", "dag"]).data()["attempts"].clone();
    let attempts = attempts.as_array().unwrap();
    // Every task ran exactly once: the supervisors outlived orch up and were adopted.
    assert_eq!(attempts.len(), 8, "{attempts:#?}");
    assert!(
        attempts
            .iter()
            .all(|a| a["supervision"]["outcome"] == "succeeded"),
        "{attempts:#?}"
    );
    for i in 0..8 {
        let text = std::fs::read_to_string(env.path().join(format!("trace-t{i}"))).unwrap();
        assert_eq!(
            text.lines().filter(|l| l.starts_with("start")).count(),
            1,
            "t{i} ran twice"
        );
    }
    // No process of the run is left: every supervisor (`orch --db THIS_DB supervise`)
    // has exited once its attempt settled.
    let db = env.db.to_str().unwrap().as_bytes().to_vec();
    crate::common::wait_until("the supervisors to exit", 10, || {
        !std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                cmdline.windows(db.len()).any(|w| w == db.as_slice())
                    && cmdline.windows(9).any(|w| w == b"supervise")
            })
    });
}

#[test]
fn orch_watch_on_a_pipe_prints_the_events_until_the_run_ends() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "w"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "w",
        "--task",
        "t",
        "--default-to",
        "shell",
        "--body",
        "sleep 0.5; echo watched",
    ])
    .data();
    let watcher = env
        .command(ORCH)
        .args([
            "--db",
            env.db.to_str().unwrap(),
            "--json",
            "watch",
            "--run",
            "w",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = up(&env, &repo, &["--run", "w"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let watched = watcher.wait_with_output().unwrap();
    assert!(watched.status.success());
    let types: Vec<String> = String::from_utf8_lossy(&watched.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event_type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for expected in [
        "task_dispatched",
        "attempt_launched",
        "attempt_exited",
        "task_done",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} missing from {types:?}"
        );
    }
}

#[test]
fn orch_up_ends_instead_of_waiting_forever_on_a_task_with_an_unknown_worker() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "ok",
        "--default-to",
        "shell",
        "--body",
        "echo fine",
    ])
    .data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "lost",
        "--default-to",
        "nobody-knows",
        "--body",
        "echo never",
    ])
    .data();
    let out = up(&env, &repo, &["--run", "r"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("unknown worker \"nobody-knows\""),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("nothing left that orch can run"),
        "{}",
        out.stdout
    );
    let status = env.orch(&["status", "--run", "r"]);
    assert_eq!(status.data()["tasks"][0]["status"], "done");
    assert_eq!(status.data()["tasks"][1]["status"], "ready");
}

#[test]
fn ctrl_c_once_stops_launching_and_waits_for_running_workers() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "first",
        "--default-to",
        "shell",
        "--body",
        "sleep 1.5; echo first done",
    ])
    .data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "second",
        "--default-to",
        "shell",
        "--body",
        "echo second done",
    ])
    .data();
    env.orch(&[
        "dep",
        "add",
        "--run",
        "r",
        "--task",
        "second",
        "--depends-on",
        "first",
    ])
    .data();
    let child = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "up", "--run", "r"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::common::wait_until("the first worker", 20, || {
        env.attempts("r", "first")
            .first()
            .is_some_and(|a| a["supervision"]["worker_pid"].is_i64())
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopping launches"));
    // The running worker finished; nothing new was launched.
    let status = env.orch(&["status", "--run", "r"]);
    assert_eq!(status.data()["tasks"][0]["status"], "done");
    assert_eq!(status.data()["tasks"][1]["status"], "ready");
    assert!(env.attempts("r", "second").is_empty());
}

#[test]
fn orch_up_in_a_dirty_repository_ends_with_the_reason_instead_of_hanging() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::write(repo.join("README.md"), "changed but not committed\n").unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "code",
        "--default-to",
        "shell",
        "--execution-mode",
        "code",
        "--body",
        "echo hi",
    ])
    .data();
    let out = up(&env, &repo, &["--run", "r"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("uncommitted changes"), "{}", out.stdout);
    assert!(env.attempts("r", "code").is_empty());
}

/// The supervisor dies after its worker ended the thread but before recording how the
/// attempt ended, so the task's completion check was never run. The next `orch up`
/// records the worker's outcome (succeeded, not lost), runs the check it was owed, and
/// finishes the task with that one attempt.
#[test]
fn a_restarted_orch_up_runs_the_checks_a_dead_supervisor_owed() {
    let env = Env::new();
    let repo = env.repo();
    let check_log = env.path().join("check-runs");
    let plan = env.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            r#"[run]
id = "r"
[defaults]
worker = "shell"
[[tasks]]
id = "t"
checks = [{{ name = "ran", run = "echo ran >> '{}'" }}]
body = """
inbox done --summary "finished early"
sleep 30
"""
"#,
            check_log.display()
        ),
    )
    .unwrap();
    let mut first = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "up", "--plan"])
        .arg(&plan)
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The worker has ended its thread and sleeps; its supervisor waits for it to exit.
    crate::common::wait_until("the worker to end its thread", 20, || {
        let rows = env.orch(&["attempts", "--run", "r", "--task", "t"]);
        rows.code == 0
            && rows.data()["attempts"][0]["supervision"]["supervisor_pid"].is_i64()
            && env
                .orch(&["inbox", "show", "--thread", "r/t/attempt-1"])
                .data()["thread"]["status"]
                == "done"
    });
    let attempts = env.attempts("r", "t");
    let supervisor = attempts[0]["supervision"]["supervisor_pid"]
        .as_i64()
        .unwrap() as i32;
    first.kill().unwrap();
    first.wait().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        !check_log.exists(),
        "the check ran before the supervisor died"
    );

    // A recovery that forgot the check would leave the task verifying and this orch up
    // waiting for it: fail after a minute instead of hanging.
    let mut second = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "up", "--run", "r"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            second.kill().unwrap();
            second.wait().unwrap();
            panic!(
                "the restarted orch up did not finish: {:#}",
                env.task_row("r", "t")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let attempts = env.attempts("r", "t");
    assert_eq!(attempts.len(), 1, "{attempts:#?}");
    let supervision = &attempts[0]["supervision"];
    assert_eq!(supervision["outcome"], "succeeded", "{supervision:#}");
    assert!(
        supervision["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the worker finished") && r.contains("died")),
        "{supervision:#}"
    );
    assert_eq!(std::fs::read_to_string(&check_log).unwrap(), "ran\n");
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "t"]);
    assert_eq!(gate.data()["gate"]["status"], "passed");
    assert_eq!(env.task_row("r", "t")["status"], "done");
}

/// A dispatch killed during `git worktree add` (a host killed outright) leaves a worktree
/// git still lists as locked `initializing`; when its attempt was made elsewhere, this
/// clone never dispatches it again. `orch up` clears those of its run when it starts,
/// branch and all, and leaves every other worktree alone: another run's, and one whose
/// creation finished.
#[test]
fn orch_up_clears_the_half_made_worktrees_of_its_run() {
    let env = Env::new();
    let repo = env.repo();
    let add = |run: &str, task: &str, initializing: bool| {
        let path = format!(".orch/worktrees/{run}/{task}/attempt-1");
        let branch = format!("orch/{run}/{task}/attempt-1");
        env.git(
            &repo,
            &["worktree", "add", "-q", "-b", &branch, &path, "HEAD"],
        );
        if initializing {
            env.git(
                &repo,
                &["worktree", "lock", "--reason", "initializing", &path],
            );
        }
        (repo.join(&path), branch)
    };
    let (half_made, half_branch) = add("r", "x", true);
    let (other_run, _) = add("other", "y", true);
    let (finished, _) = add("r", "z", false);
    let plan = env.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[run]\nid = \"r\"\n[defaults]\nworker = \"shell\"\n[[tasks]]\nid = \"t\"\nbody = \"echo ok\"\n",
    )
    .unwrap();
    let out = up(&env, &repo, &["--plan", plan.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let listed = env.git(&repo, &["worktree", "list", "--porcelain"]);
    let shown = |path: &Path| listed.contains(&format!("worktree {}\n", path.display()));
    assert!(!shown(&half_made) && !half_made.exists(), "{listed}");
    let branches = env.git(&repo, &["branch", "--list", &half_branch]);
    assert!(branches.trim().is_empty(), "{branches}");
    assert!(shown(&other_run) && shown(&finished), "{listed}");
}
