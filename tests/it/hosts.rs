//! One run across several hosts (issue 13), on one database (SQLite here, PostgreSQL
//! in the suite's PostgreSQL pass): two `orch up` as
//! hosts `a` and `b`, each from its own clone of the repository, drain a run together;
//! a host killed outright and frozen (standing in for one that vanished) has its
//! attempts taken over once its heartbeat lapses, and its supervisors, woken later,
//! are fenced: they write nothing and exit.

use crate::common::{Env, ORCH, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// Heartbeats every 200 ms; a host silent for this long is dead.
const HEARTBEAT_MS: &str = "200";

/// A plan of `n` shell tasks: each writes the name of the directory it ran in (its
/// host's clone) to `dir/ran-tN`, sleeps `naps` times 0.2 s (a worker
/// stopped and continued naps on), and says done.
fn plan(dir: &Path, n: usize, naps: usize) -> PathBuf {
    let mut plan = String::from("[run]\nid = \"hosts\"\n[defaults]\nworker = \"shell\"\n");
    for i in 0..n {
        plan.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\nbody = \"\"\"\nbasename \"$PWD\" >> \"{}/ran-t{i}\"\nfor n in $(seq {naps}); do sleep 0.2; done\necho done t{i}\n\"\"\"\n",
            dir.display()
        ));
    }
    let path = dir.join("hosts.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

/// A clone of the repository for one host: `TMP/host-NAME`.
fn clone_for(env: &Env, repo: &Path, host: &str) -> PathBuf {
    let clone = env.path().join(format!("host-{host}"));
    env.git(
        env.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    clone
}

/// `orch up --run hosts --host NAME` from the host's clone, in the background.
fn start_up(env: &Env, clone: &Path, host: &str, lapse_ms: &str) -> Child {
    env.command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "up", "--run", "hosts"])
        .args(["--host", host, "--concurrency", "3"])
        .env("ORCH_HOST_HEARTBEAT_MS", HEARTBEAT_MS)
        .env("ORCH_HOST_LAPSE_MS", lapse_ms)
        .current_dir(clone)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn attempts(env: &Env) -> Vec<Value> {
    env.orch(&["attempts", "--run", "hosts"]).data()["attempts"]
        .as_array()
        .unwrap()
        .clone()
}

fn finished(child: Child, host: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "orch up of host {host}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_hosts_drain_a_run_each_task_once_each_attempt_with_the_host_that_ran_it() {
    let env = Env::new();
    let repo = env.repo();
    let plan = plan(env.path(), 30, 1);
    env.orch(&["plan", "apply", "--file", plan.to_str().unwrap()])
        .data();
    let (clone_a, clone_b) = (clone_for(&env, &repo, "a"), clone_for(&env, &repo, "b"));
    let up_a = start_up(&env, &clone_a, "a", "5000");
    let up_b = start_up(&env, &clone_b, "b", "5000");
    finished(up_a, "a");
    finished(up_b, "b");
    let status = env.orch(&["status", "--run", "hosts"]).data().clone();
    assert_eq!(status["run"]["status"], "done", "{status:#}");
    let attempts = attempts(&env);
    assert_eq!(attempts.len(), 30, "one attempt per task: {attempts:#?}");
    let mut per_host = std::collections::HashMap::new();
    for record in &attempts {
        let (attempt, supervision) = (&record["attempt"], &record["supervision"]);
        let task = attempt["task_id"].as_str().unwrap();
        assert_eq!(supervision["outcome"], "succeeded", "{record:#}");
        assert_eq!(supervision["epoch"], 1, "claimed once: {record:#}");
        assert!(supervision.get("taken_by").is_none(), "{record:#}");
        let host = supervision["host"].as_str().unwrap();
        // It ran once, in the clone of the host the attempt names.
        let ran = std::fs::read_to_string(env.path().join(format!("ran-{task}"))).unwrap();
        assert_eq!(ran, format!("host-{host}\n"), "{task} ran: {ran:?}");
        *per_host.entry(host.to_string()).or_insert(0) += 1;
    }
    assert_eq!(per_host.len(), 2, "both hosts ran tasks: {per_host:?}");
    // `orch status` names the host of each task's latest attempt; the plain texts name
    // it too (the attempts are on other hosts than this machine's).
    for row in status["tasks"].as_array().unwrap() {
        let host = row["latest_attempt"]["host"].as_str().unwrap();
        assert!(host == "a" || host == "b", "{row:#}");
    }
    let plain = env.orch_raw_logs(&["attempts", "--run", "hosts"]);
    assert!(
        plain
            .lines()
            .all(|l| l.contains(" on a ") || l.contains(" on b ")),
        "{plain}"
    );
    let table = env.orch_raw_logs(&["status", "--run", "hosts"]);
    assert!(
        table.contains("shell @a") && table.contains("shell @b"),
        "{table}"
    );
    // Both withdrew.
    let next = env.orch(&["next", "--run", "hosts"]).data().clone();
    assert!(
        next["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["kind"] == "run_finished"),
        "{next:#}"
    );
}

/// The pid of a supervisor or worker recorded on an attempt.
fn pid_of(record: &Value, which: &str) -> Pid {
    Pid::from_raw(record["supervision"][which].as_i64().unwrap() as i32)
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: Pid) -> bool {
    orch::process::procfs::stat(pid.as_raw() as u32).is_some_and(|s| s.state != 'Z')
}

/// What the store holds of an attempt that could change: its supervision, its thread's
/// status and last update, and the events of its thread.
fn snapshot(env: &Env, thread: &str) -> (String, String, Vec<i64>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = orch::store::Store::open_at(&env.location()).await.unwrap();
        let (_, sup) = store.attempt_by_thread(thread).await.unwrap();
        let th = store.thread(thread).await.unwrap();
        let events: Vec<i64> = store
            .events_after("hosts", 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.subject.thread_id.as_deref() == Some(thread))
            .map(|e| e.event_id)
            .collect();
        store.close().await;
        (
            serde_json::to_string(&sup).unwrap(),
            format!("{} {}", th.status, th.updated_at),
            events,
        )
    })
}

#[test]
fn a_vanished_host_is_taken_over_and_its_late_supervisors_write_nothing() {
    let env = Env::new();
    let repo = env.repo();
    let plan = plan(env.path(), 20, 15);
    env.orch(&["plan", "apply", "--file", plan.to_str().unwrap()])
        .data();
    let (clone_a, clone_b) = (clone_for(&env, &repo, "a"), clone_for(&env, &repo, "b"));
    let mut up_a = start_up(&env, &clone_a, "a", "2000");
    // Host a's workers are under way (launched, not ended): it vanishes.
    let mut frozen = Vec::new();
    wait_until("host a's workers", 60, || {
        frozen = attempts(&env)
            .into_iter()
            .filter(|r| {
                let s = &r["supervision"];
                s["host"] == "a" && s["outcome"] == "" && s["worker_pid"].is_i64()
            })
            .collect();
        frozen.len() >= 2
    });
    let up_b = start_up(&env, &clone_b, "b", "2000");
    up_a.kill().unwrap();
    up_a.wait().unwrap();
    for record in &frozen {
        kill(pid_of(record, "supervisor_pid"), Signal::SIGSTOP).unwrap();
        let worker = pid_of(record, "worker_pid");
        let _ = kill(Pid::from_raw(-worker.as_raw()), Signal::SIGSTOP);
    }
    // Host b takes a's unsettled attempts over once a's heartbeat lapsed, and the run
    // completes.
    finished(up_b, "b");
    let status = env.orch(&["status", "--run", "hosts"]).data().clone();
    assert_eq!(status["run"]["status"], "done", "{status:#}");
    let threads: Vec<String> = frozen
        .iter()
        .map(|r| r["attempt"]["thread_id"].as_str().unwrap().to_string())
        .collect();
    for thread in &threads {
        let (_, record) = attempts(&env)
            .into_iter()
            .map(|r| (r["attempt"]["thread_id"].clone(), r))
            .find(|(t, _)| t == thread.as_str())
            .unwrap();
        let sup = &record["supervision"];
        assert_eq!(sup["host"], "a", "{record:#}");
        assert_eq!(sup["taken_by"], "b", "{record:#}");
        assert_eq!(sup["outcome"], "lost", "{record:#}");
        assert_eq!(
            sup["reason"], "its host a stopped sending heartbeats; host b took it over",
            "{record:#}"
        );
        assert_eq!(sup["epoch"], 2, "{record:#}");
        // Its retry ran on host b, in b's clone.
        let task = record["attempt"]["task_id"].as_str().unwrap();
        let retry = env.attempts("hosts", task);
        let retry = retry.last().unwrap();
        assert_eq!(retry["attempt"]["attempt_no"], 2, "{retry:#}");
        assert_eq!(retry["supervision"]["host"], "b", "{retry:#}");
        assert_eq!(retry["supervision"]["outcome"], "succeeded", "{retry:#}");
        let ran = std::fs::read_to_string(env.path().join(format!("ran-{task}"))).unwrap();
        assert_eq!(ran, "host-a\nhost-b\n", "{task}");
    }
    // Every task ended done; those of the taken attempts on a retry by host b.
    for record in attempts(&env) {
        let sup = &record["supervision"];
        assert!(
            sup["outcome"] == "succeeded" || sup["taken_by"] == "b",
            "{record:#}"
        );
    }
    // Host a's supervisors wake up: fenced, they write nothing and exit.
    let before: Vec<_> = threads.iter().map(|t| snapshot(&env, t)).collect();
    let last_event = env.orch(&["next", "--run", "hosts"]).data()["next_event_id"].clone();
    for record in &frozen {
        let worker = pid_of(record, "worker_pid");
        let _ = kill(Pid::from_raw(-worker.as_raw()), Signal::SIGCONT);
        kill(pid_of(record, "supervisor_pid"), Signal::SIGCONT).unwrap();
    }
    wait_until("the fenced supervisors to exit", 30, || {
        frozen
            .iter()
            .all(|r| !alive(pid_of(r, "supervisor_pid")) && !alive(pid_of(r, "worker_pid")))
    });
    let after: Vec<_> = threads.iter().map(|t| snapshot(&env, t)).collect();
    assert_eq!(after, before, "a fenced supervisor wrote");
    let next = env.orch(&["next", "--run", "hosts"]).data().clone();
    assert_eq!(
        next["next_event_id"], last_event,
        "events after the wake-up: {next:#}"
    );
    for record in &frozen {
        let log = record["supervision"]["log_path"].as_str().unwrap();
        let said =
            std::fs::read_to_string(format!("{}.supervisor.log", log.trim_end_matches(".log")))
                .unwrap_or_default();
        // It stopped its worker, or found it ended (a sleep woken past its deadline
        // ends at once), and recorded nothing.
        assert!(said.contains("nothing recorded"), "{said}");
    }
}
