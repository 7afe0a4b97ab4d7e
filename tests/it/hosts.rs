//! One run across several hosts (issue 13), on one database (SQLite here, PostgreSQL
//! in the suite's PostgreSQL pass): two `orch up` as
//! hosts `a` and `b`, each from its own clone of the repository, drain a run together;
//! a host killed outright and frozen (standing in for one that vanished) has its
//! attempts taken over once its heartbeat lapses, and its supervisors, woken later,
//! are fenced: they write nothing and exit. Three hosts, each with its own clone and
//! state directory and one shared bare remote, drain 300 tasks (code tasks among them)
//! while one of them is killed outright with everything it started ([`three_hosts`]).

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
    env.with_store(async |store| {
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
    // (A worker is under way once it wrote where it runs: its pid is recorded as it
    // starts, and a busy machine may freeze it before its first line.)
    let mut frozen = Vec::new();
    wait_until("host a's workers", 60, || {
        frozen = attempts(&env)
            .into_iter()
            .filter(|r| {
                let s = &r["supervision"];
                let task = r["attempt"]["task_id"].as_str().unwrap();
                let ran = std::fs::read_to_string(env.path().join(format!("ran-{task}")));
                s["host"] == "a"
                    && s["outcome"] == ""
                    && s["worker_pid"].is_i64()
                    && ran.is_ok_and(|r| r == "host-a\n")
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

/// Three hosts, 300 tasks, one host killed outright mid-run (issue 13): hosts a, b and
/// c each run `orch up` from their own clone of the shared bare remote, with their own
/// state directory, on one database; once 60 attempts ended, c's `orch up`, its
/// supervisors and their workers are SIGKILLed. Every task is done exactly once, no two
/// attempts of a task ran at once, c's unsettled attempts are taken over and retried on
/// a or b, nothing of c's runs on, and the code tasks' branches are on the remote.
mod three_hosts {
    use super::{HEARTBEAT_MS, alive, attempts};
    use crate::common::{Env, ORCH, wait_until};
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use serde_json::Value;
    use std::collections::{BTreeMap, HashMap};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Stdio};

    const TASKS: usize = 300;
    /// Every tenth task is a code task: it leaves a file its supervisor commits, and its
    /// branch is pushed to the shared remote.
    const CODE_EVERY: usize = 10;
    /// A host silent this long is dead (generous: two cores run 12 workers here).
    const LAPSE_MS: &str = "3000";

    fn is_code(i: usize) -> bool {
        i.is_multiple_of(CODE_EVERY)
    }

    /// The plan: each task's worker appends `THREAD HOST start NS PWD` to `dir/ran-tN`,
    /// naps (0.3 s; 3 s on host c, so that c is killed with workers surely under way),
    /// (a code task) leaves `code-tN.txt`, and appends `THREAD HOST end NS`.
    fn plan(dir: &Path) -> PathBuf {
        let mut plan = String::from("[run]\nid = \"hosts\"\n[defaults]\nworker = \"shell\"\n");
        for i in 0..TASKS {
            let ran = dir.join(format!("ran-t{i}"));
            let ran = ran.display();
            let (mode, work) = if is_code(i) {
                ("code", format!("echo t{i} > code-t{i}.txt\n"))
            } else {
                ("analysis", String::new())
            };
            plan.push_str(&format!(
                "[[tasks]]\nid = \"t{i}\"\nexecution_mode = \"{mode}\"\nbody = \"\"\"\n\
                 echo \"$ORCH_THREAD $ORCH_HOST start $(date +%s%N) $PWD\" >> \"{ran}\"\n\
                 case \"$ORCH_HOST\" in c) sleep 3 ;; *) sleep 0.3 ;; esac\n{work}\
                 echo \"$ORCH_THREAD $ORCH_HOST end $(date +%s%N)\" >> \"{ran}\"\n\
                 echo done t{i}\n\"\"\"\n"
            ));
        }
        let path = dir.join("hosts.toml");
        std::fs::write(&path, plan).unwrap();
        path
    }

    /// The bare `TMP/remote.git`, `origin` of `TMP/repo` with `main` on it (on
    /// PostgreSQL `Env::repo` made it already).
    fn shared_remote(env: &Env, repo: &Path) -> PathBuf {
        let remote = env.path().join("remote.git");
        if !env.is_pg() {
            let arg = remote.to_str().unwrap();
            env.git(env.path(), &["init", "-q", "--bare", "-b", "main", arg]);
            env.git(repo, &["remote", "add", "origin", arg]);
            env.git(repo, &["push", "-q", "origin", "main"]);
        }
        remote
    }

    /// Host `host`'s clone of the shared remote, `TMP/host-NAME` (its `origin`), with
    /// `.orch/` excluded; on SQLite its `.orch/config.toml` turns pushing on (PostgreSQL
    /// requires it anyway).
    fn clone_for(env: &Env, remote: &Path, host: &str) -> PathBuf {
        let clone = env.path().join(format!("host-{host}"));
        let (from, to) = (remote.to_str().unwrap(), clone.to_str().unwrap());
        env.git(env.path(), &["clone", "-q", from, to]);
        let exclude = clone.join(".git/info/exclude");
        let mut text = std::fs::read_to_string(&exclude).unwrap_or_default();
        text.push_str("/.orch/\n");
        std::fs::write(&exclude, text).unwrap();
        if !env.is_pg() {
            std::fs::create_dir_all(clone.join(".orch")).unwrap();
            std::fs::write(
                clone.join(".orch/config.toml"),
                "[remote]\nname = \"origin\"\n",
            )
            .unwrap();
        }
        clone
    }

    /// Host `host`'s state directory, `TMP/state-NAME` (on SQLite the state lives beside
    /// the database whatever it says).
    fn state_dir(env: &Env, host: &str) -> PathBuf {
        let dir = env.path().join(format!("state-{host}"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `orch up --run hosts --host NAME --concurrency 4` from the host's clone, with the
    /// host's state directory and `ORCH_HOST` (so every process it starts carries it),
    /// its output to `TMP/up-NAME.log`.
    fn start_up(env: &Env, clone: &Path, host: &str) -> Child {
        let log = std::fs::File::create(env.path().join(format!("up-{host}.log"))).unwrap();
        env.command(ORCH)
            .args(["--db", env.db.to_str().unwrap(), "up", "--run", "hosts"])
            .args(["--host", host, "--concurrency", "4"])
            .env("ORCH_HOST", host)
            .env("ORCH_STATE_DIR", state_dir(env, host))
            .env("ORCH_HOST_HEARTBEAT_MS", HEARTBEAT_MS)
            .env("ORCH_HOST_LAPSE_MS", LAPSE_MS)
            .current_dir(clone)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap()
    }

    fn finished(env: &Env, mut child: Child, host: &str) {
        let status = child.wait().unwrap();
        let log =
            std::fs::read_to_string(env.path().join(format!("up-{host}.log"))).unwrap_or_default();
        let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
        assert!(status.success(), "orch up of host {host}: {status}\n{tail}");
    }

    /// The live processes (not zombies) of this environment started as `host`: every
    /// process `orch up --host` starts carries `ORCH_HOST` (its supervisors, their
    /// workers and what those run, git), and the environment's HOME.
    fn processes_of(env: &Env, host: &str) -> Vec<Pid> {
        let want_host = format!("ORCH_HOST={host}");
        let want_home = format!("HOME={}", env.path().join("home").display());
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
            let has = |want: &str| vars.contains(&want.as_bytes());
            if has(&want_host) && has(&want_home) && alive(Pid::from_raw(pid)) {
                found.push(Pid::from_raw(pid));
            }
        }
        found
    }

    /// SIGKILL to `up` and to every process it started, until none is left (a process
    /// forked while the others were killed is found on the next pass).
    fn kill_host(env: &Env, up: &mut Child, host: &str) -> Vec<Pid> {
        kill(Pid::from_raw(up.id() as i32), Signal::SIGKILL).unwrap();
        let mut killed = Vec::new();
        let mut quiet = 0;
        while quiet < 3 {
            let found = processes_of(env, host);
            if found.is_empty() {
                quiet += 1;
            } else {
                quiet = 0;
            }
            for pid in found {
                let _ = kill(pid, Signal::SIGKILL);
                killed.push(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        up.wait().unwrap();
        killed.sort_by_key(|pid| pid.as_raw());
        killed.dedup();
        killed
    }

    /// What a worker wrote to `ran-tN`: per attempt thread, its host, when it started
    /// and ended (ns; `None`: killed before), and the directory it ran in.
    #[derive(Debug)]
    struct Ran {
        host: String,
        start: u128,
        end: Option<u128>,
        pwd: String,
    }

    fn ran(env: &Env, task: &str) -> BTreeMap<String, Ran> {
        let text = std::fs::read_to_string(env.path().join(format!("ran-{task}")))
            .unwrap_or_else(|e| panic!("ran-{task}: {e}"));
        let mut runs: BTreeMap<String, Ran> = BTreeMap::new();
        for line in text.lines() {
            let words: Vec<&str> = line.splitn(5, ' ').collect();
            let (thread, host, what, ns) = (words[0], words[1], words[2], words[3]);
            let ns: u128 = ns.parse().unwrap_or_else(|_| panic!("{task}: {line:?}"));
            match what {
                "start" => {
                    let run = Ran {
                        host: host.to_string(),
                        start: ns,
                        end: None,
                        pwd: words[4].to_string(),
                    };
                    let before = runs.insert(thread.to_string(), run);
                    assert!(before.is_none(), "{thread} started twice:\n{text}");
                }
                "end" => {
                    let run = runs.get_mut(thread).unwrap();
                    assert!(run.end.is_none() && run.host == host, "{text}");
                    run.end = Some(ns);
                }
                _ => panic!("{task}: {line:?}"),
            }
        }
        runs
    }

    /// When the worker of attempt `thread` of `task` wrote its start line, if it did.
    fn started_ns(env: &Env, task: &str, thread: &str) -> Option<u128> {
        let text = std::fs::read_to_string(env.path().join(format!("ran-{task}"))).ok()?;
        text.lines().find_map(|line| {
            let words: Vec<&str> = line.splitn(5, ' ').collect();
            (words.len() == 5 && words[0] == thread && words[2] == "start")
                .then(|| words[3].parse().ok())
                .flatten()
        })
    }

    fn now_ns() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    #[test]
    fn three_hosts_drain_300_tasks_and_a_host_killed_outright_is_taken_over() {
        let env = Env::new();
        let repo = env.repo();
        let remote = shared_remote(&env, &repo);
        let plan = plan(env.path());
        env.orch(&["plan", "apply", "--file", plan.to_str().unwrap()])
            .data();
        let clones: HashMap<&str, PathBuf> = ["a", "b", "c"]
            .into_iter()
            .map(|h| (h, clone_for(&env, &remote, h)))
            .collect();
        let up_a = start_up(&env, &clones["a"], "a");
        let up_b = start_up(&env, &clones["b"], "b");
        let mut up_c = start_up(&env, &clones["c"], "c");
        // 60 attempts ended, some of them host c's, and host c has workers under way
        // that started less than 1.5 s ago (they nap 3 s): they still run when c is killed
        // just after, however slow this machine is.
        wait_until("60 attempts ended and host c at work", 60, || {
            let all = attempts(&env);
            let now = now_ns();
            let ended = |r: &&Value| r["supervision"]["outcome"] != "";
            let of_c = |r: &&Value| r["supervision"]["host"] == "c";
            let fresh = |r: &&Value| {
                let (task, thread) = (&r["attempt"]["task_id"], &r["attempt"]["thread_id"]);
                started_ns(&env, task.as_str().unwrap(), thread.as_str().unwrap())
                    .is_some_and(|start| now.saturating_sub(start) < 1_500_000_000)
            };
            let at_work = all
                .iter()
                .filter(|r| of_c(r) && !ended(r) && fresh(r))
                .count();
            all.iter().filter(ended).count() >= 60
                && all.iter().filter(ended).filter(of_c).count() >= 5
                && at_work >= 2
        });
        let killed = kill_host(&env, &mut up_c, "c");
        let killed_at = now_ns();
        if killed.is_empty() {
            let of_c: Vec<Value> = attempts(&env)
                .into_iter()
                .filter(|r| r["supervision"]["host"] == "c")
                .collect();
            let log = std::fs::read_to_string(env.path().join("up-c.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "host c had started nothing: its attempts {of_c:#?}\nup-c.log, last lines first:\n{}",
                tail.join("\n")
            );
        }
        finished(&env, up_a, "a");
        finished(&env, up_b, "b");

        let status = env.orch(&["status", "--run", "hosts"]).data().clone();
        assert_eq!(status["run"]["status"], "done", "{status:#}");
        // Nothing host c started runs any more, nor did anything start as c after.
        assert_eq!(processes_of(&env, "c"), [], "host c's processes left");
        let all = attempts(&env);
        let mut per_task: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for record in &all {
            let task = record["attempt"]["task_id"].as_str().unwrap().to_string();
            per_task.entry(task).or_default().push(record);
        }
        assert_eq!(per_task.len(), TASKS, "every task has attempts");
        let top = std::fs::canonicalize(env.path()).unwrap();
        let (mut taken_lost, mut taken_ended) = (0, 0);
        let mut succeeded_on: HashMap<String, usize> = HashMap::new();
        for i in 0..TASKS {
            let task = format!("t{i}");
            let records = &per_task[&task];
            // Attempt numbers 1, 2, ... without a gap or a duplicate.
            let numbers: Vec<i64> = records
                .iter()
                .map(|r| r["attempt"]["attempt_no"].as_i64().unwrap())
                .collect();
            assert_eq!(
                numbers,
                (1..=records.len() as i64).collect::<Vec<_>>(),
                "{task}: {records:#?}"
            );
            let succeeded: Vec<&&Value> = records
                .iter()
                .filter(|r| r["supervision"]["outcome"] == "succeeded")
                .collect();
            assert_eq!(succeeded.len(), 1, "{task} done once: {records:#?}");
            let runs = ran(&env, &task);
            for (k, record) in records.iter().enumerate() {
                let (attempt, sup) = (&record["attempt"], &record["supervision"]);
                let thread = attempt["thread_id"].as_str().unwrap();
                let host = sup["host"].as_str().unwrap();
                let last = k + 1 == records.len();
                match sup.get("taken_by") {
                    None => {
                        // Ended by its own host: succeeded, the task's last attempt.
                        assert!(
                            last && sup["outcome"] == "succeeded",
                            "{task}: {records:#?}"
                        );
                    }
                    Some(by) => {
                        // Host c's, taken over by a live host once c fell silent.
                        let by = by.as_str().unwrap();
                        assert_eq!(host, "c", "{task}: {record:#}");
                        assert!(by == "a" || by == "b", "{task}: {record:#}");
                        if sup["outcome"] == "lost" {
                            taken_lost += 1;
                            assert_eq!(
                                sup["reason"],
                                format!(
                                    "its host c stopped sending heartbeats; host {by} took it over"
                                ),
                                "{record:#}"
                            );
                            // Its retry ran on a live host.
                            let next = &records[k + 1]["supervision"];
                            assert!(next["host"] == "a" || next["host"] == "b", "{records:#?}");
                        } else {
                            // Ended before c died, settled by the taker: nothing to retry.
                            taken_ended += 1;
                            assert!(
                                last && sup["outcome"] == "succeeded",
                                "{task}: {records:#?}"
                            );
                        }
                    }
                }
                // The worker ran at most once, as its attempt's host, in that host's clone.
                let Some(run) = runs.get(thread) else {
                    assert!(sup["outcome"] == "lost", "{thread} never ran: {records:#?}");
                    continue;
                };
                assert_eq!(run.host, host, "{thread}: {run:?}");
                let clone = top.join(format!("host-{host}"));
                assert!(
                    run.pwd == clone.display().to_string()
                        || run
                            .pwd
                            .starts_with(&format!("{}/.orch/worktrees/", clone.display())),
                    "{thread} ran in {} as host {host}",
                    run.pwd
                );
                if sup["outcome"] == "succeeded" {
                    assert!(run.end.is_some(), "{thread}: {run:?}");
                    *succeeded_on.entry(host.to_string()).or_default() += 1;
                }
            }
            // No two attempts of the task ran at once (a killed worker of c ran until
            // it was killed at the latest).
            let spans: Vec<(&String, u128, u128)> = runs
                .iter()
                .map(|(thread, run)| {
                    assert!(
                        run.end.is_some() || run.host == "c",
                        "{thread} never ended: {run:?}"
                    );
                    (thread, run.start, run.end.unwrap_or(killed_at))
                })
                .collect();
            for (x, (tx, sx, ex)) in spans.iter().enumerate() {
                for (ty, sy, ey) in &spans[x + 1..] {
                    assert!(ex < sy || ey < sx, "{tx} and {ty} overlapped: {runs:#?}");
                }
            }
            // A code task's branch is on the shared remote with its commit and file.
            if is_code(i) {
                let record = succeeded[0];
                let push = &record["push"];
                let branch = record["attempt"]["branch_name"].as_str().unwrap();
                assert_eq!(push["state"], "pushed", "{record:#}");
                assert_eq!(push["branch"], branch, "{record:#}");
                let commit = push["commit"].as_str().unwrap();
                let on_remote = env.git(&remote, &["rev-parse", &format!("refs/heads/{branch}")]);
                assert_eq!(on_remote, commit, "{record:#}");
                let file = env.git(&remote, &["show", &format!("{commit}:code-{task}.txt")]);
                assert_eq!(file, task);
            }
        }
        eprintln!(
            "host c killed ({} processes); its attempts taken over: {taken_lost} lost and retried, \
             {taken_ended} ended before; succeeded per host: {succeeded_on:?}",
            killed.len()
        );
        assert!(
            taken_lost + taken_ended > 0,
            "host c left no attempt to take over"
        );
        assert!(
            ["a", "b", "c"]
                .iter()
                .all(|h| succeeded_on.contains_key(*h)),
            "{succeeded_on:?}"
        );
        // Every attempt host c left unsettled was taken over: none is left with it, and
        // its recorded supervisors and workers are gone.
        for record in all.iter().filter(|r| r["supervision"]["host"] == "c") {
            let sup = &record["supervision"];
            for which in ["supervisor_pid", "worker_pid"] {
                if let Some(pid) = sup[which].as_i64() {
                    let start = sup[which.replace("pid", "start")].as_i64().unwrap_or(0);
                    assert!(
                        !orch::process::procfs::is_same_process(pid as u32, start as u64),
                        "{record:#}"
                    );
                }
            }
        }

        // From host a's clone, with its state directory: every host's attempts, with
        // their host.
        let from_a = |args: &[&str]| {
            let mut all_args = vec!["--db", env.db.to_str().unwrap()];
            all_args.extend_from_slice(args);
            let state = state_dir(&env, "a");
            env.raw(
                ORCH,
                &all_args,
                &clones["a"],
                &[("ORCH_STATE_DIR", state.to_str().unwrap())],
            )
        };
        let json = from_a(&["--json", "attempts", "--run", "hosts"]);
        assert_eq!(json.data()["attempts"], Value::Array(all.clone()));
        let plain = from_a(&["attempts", "--run", "hosts"]);
        assert_eq!(plain.code, 0, "{plain:#?}");
        let lines: Vec<&str> = plain
            .stdout
            .lines()
            .filter(|l| !l.starts_with(' '))
            .collect();
        assert_eq!(lines.len(), all.len(), "{}", plain.stdout);
        for (line, record) in lines.iter().zip(&all) {
            let sup = &record["supervision"];
            let on = match sup.get("taken_by") {
                Some(by) => format!(
                    " on {} (taken over by {}) ",
                    sup["host"].as_str().unwrap(),
                    by.as_str().unwrap()
                ),
                None => format!(" on {} ", sup["host"].as_str().unwrap()),
            };
            let head = format!(
                "{} attempt {} ",
                record["attempt"]["task_id"].as_str().unwrap(),
                record["attempt"]["attempt_no"]
            );
            assert!(
                line.starts_with(&head) && line.contains(&on),
                "{line:?} for {record:#}"
            );
        }
        let status = from_a(&["--json", "status", "--run", "hosts"]);
        let status = status.data();
        for row in status["tasks"].as_array().unwrap() {
            let task = row["task_id"].as_str().unwrap();
            let last = per_task[task].last().unwrap();
            assert_eq!(row["status"], "done", "{row:#}");
            assert_eq!(
                row["latest_attempt"]["host"], last["supervision"]["host"],
                "{row:#}"
            );
        }
        let table = from_a(&["status", "--run", "hosts"]);
        for host in ["a", "b", "c"] {
            assert!(
                table.stdout.contains(&format!("shell @{host}")),
                "{}",
                table.stdout
            );
        }
    }
}

/// Host names are unique among the machines sharing a database (pids are checked on
/// the host that recorded them): a second machine's `orch up` under the name of a live
/// host is refused, with a message that says what to do, and the live host goes on
/// undisturbed. (Two machines are simulated by `ORCH_MACHINE_ID`, which otherwise
/// defaults to the kernel's boot id, and on PostgreSQL by the clones' own state
/// directories.)
#[test]
fn a_second_machine_under_a_live_hosts_name_is_refused() {
    let env = Env::new();
    let repo = env.repo();
    let plan = plan(env.path(), 2, 10);
    env.orch(&["plan", "apply", "--file", plan.to_str().unwrap()])
        .data();
    let (clone_a, clone_b) = (clone_for(&env, &repo, "a"), clone_for(&env, &repo, "b"));
    let first = start_up(&env, &clone_a, "same", "5000");
    wait_until("the first orch up to dispatch", 60, || {
        !attempts(&env).is_empty()
    });
    let second = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "up", "--run", "hosts"])
        .args(["--host", "same"])
        .env("ORCH_MACHINE_ID", "another-machine")
        .env("ORCH_STATE_DIR", env.path().join("state-b"))
        .env("ORCH_HOST_HEARTBEAT_MS", HEARTBEAT_MS)
        .env("ORCH_HOST_LAPSE_MS", "5000")
        .current_dir(&clone_b)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&second.stdout),
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(second.status.code(), Some(30), "{said}");
    if env.is_pg() {
        assert!(
            said.contains("host name \"same\" is taken") && said.contains("--host NAME"),
            "{said}"
        );
    } else {
        // SQLite: one machine, whose state directory (beside the database) holds the
        // run's lock for that host name; the lock refuses it first.
        assert!(
            said.contains("another orch up is running run \"hosts\" on host same"),
            "{said}"
        );
    }
    finished(first, "same");
    let status = env.orch(&["status", "--run", "hosts"]).data().clone();
    assert_eq!(status["run"]["status"], "done", "{status:#}");
    for task in ["t0", "t1"] {
        let ran = std::fs::read_to_string(env.path().join(format!("ran-{task}"))).unwrap();
        assert_eq!(
            ran, "host-a\n",
            "{task} ran once, in the first host's clone"
        );
    }
}
