//! The standby supervisor `orch up` keeps on PostgreSQL (`orch supervise --standby`,
//! src/orchestration/standby.rs): an attempt is handed to it, it leaves when `orch up`
//! ends or is killed, and none is kept on SQLite. `orch supervise --standby` on its own
//! reads one line and leaves on end of input.

use crate::common::{Env, ORCH};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The pids of the `orch supervise --standby` processes whose cwd is `repo`.
fn standbys_in(repo: &Path) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_standby = args.contains(&&b"supervise"[..]) && args.contains(&&b"--standby"[..]);
        let zombie = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'))
        });
        if is_standby
            && !zombie
            && std::fs::read_link(entry.path().join("cwd")).ok().as_deref() == Some(repo)
        {
            found.push(pid);
        }
    }
    found
}

fn write_plan(env: &Env, body: &str, tasks: usize) -> PathBuf {
    let plan = env.path().join("plan.toml");
    let mut text =
        "[run]\nid = \"r\"\n[defaults]\nworker = \"shell\"\nexecution_mode = \"analysis\"\n"
            .to_string();
    for i in 0..tasks {
        let deps = if i == 0 {
            String::new()
        } else {
            format!("\"t{}\"", i - 1)
        };
        text.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\ndepends_on = [{deps}]\nbody = \"{body}\"\n"
        ));
    }
    std::fs::write(&plan, text).unwrap();
    plan
}

fn supervisor_logs(env: &Env) -> String {
    let logs = env.orch(&["attempts", "--run", "r"]).data()["attempts"].clone();
    let mut text = String::new();
    for attempt in logs.as_array().unwrap() {
        let log = PathBuf::from(attempt["supervision"]["log_path"].as_str().unwrap());
        text += &std::fs::read_to_string(log.with_extension("supervisor.log")).unwrap_or_default();
    }
    text
}

/// On PostgreSQL the first ready task goes to the standby `orch up` started before it
/// dispatched anything, every task ends well, and no standby outlives `orch up`. On
/// SQLite none is kept.
#[test]
fn orch_up_hands_attempts_to_a_standby_on_postgresql_only() {
    let env = Env::new();
    let repo = env.repo();
    let plan = write_plan(&env, "echo ok", 3);
    let out = env.raw(
        ORCH,
        &[
            "--db",
            env.db.to_str().unwrap(),
            "up",
            "--plan",
            plan.to_str().unwrap(),
        ],
        &repo,
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("run r done"), "{}", out.stdout);
    let logs = supervisor_logs(&env);
    let handed = logs.matches("standby=true").count();
    if env.is_pg() {
        assert!(handed >= 1, "no attempt went to a standby:\n{logs}");
    } else {
        assert_eq!(handed, 0, "{logs}");
        assert_eq!(logs.matches("standby=false").count(), 3, "{logs}");
    }
    crate::common::wait_until("the standby to leave after orch up", 10, || {
        standbys_in(&repo).is_empty()
    });
}

/// `kill -9` of `orch up`: the supervisor of its attempt (on PostgreSQL, the standby it
/// was handed to) supervises on, as any supervisor outlives `orch up`, and on
/// PostgreSQL the standby still waiting leaves.
#[test]
fn a_waiting_standby_leaves_when_orch_up_is_killed() {
    let env = Env::new();
    let repo = env.repo();
    let plan = write_plan(&env, "sleep 30", 1);
    let mut up = env
        .command(ORCH)
        .args([
            "--db",
            env.db.to_str().unwrap(),
            "up",
            "--plan",
            plan.to_str().unwrap(),
        ])
        .current_dir(&repo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let supervisor = || {
        let out = env.orch(&["attempts", "--run", "r"]);
        (out.code == 0)
            .then(|| out.data()["attempts"][0]["supervision"]["worker_pid"].as_u64())
            .flatten()
            .and_then(|_| out.data()["attempts"][0]["supervision"]["supervisor_pid"].as_u64())
            .map(|pid| pid as u32)
    };
    crate::common::wait_until("the worker to start", 20, || supervisor().is_some());
    let supervisor = supervisor().unwrap();
    if env.is_pg() {
        // The task's supervisor (the first standby) and a new one waiting.
        crate::common::wait_until("a waiting standby", 20, || standbys_in(&repo).len() == 2);
        assert!(standbys_in(&repo).contains(&supervisor));
    } else {
        assert!(standbys_in(&repo).is_empty());
    }
    up.kill().unwrap();
    up.wait().unwrap();
    if env.is_pg() {
        crate::common::wait_until("the waiting standby to leave", 10, || {
            standbys_in(&repo) == vec![supervisor]
        });
    }
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|s| !s.trim_start().starts_with('Z'))
        })
    };
    assert!(alive(supervisor), "the supervisor died with orch up");
    // Stopped as a leader would stop it.
    let out = env.orch(&["cancel", "--run", "r", "--task", "t0"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    crate::common::wait_until("the supervisor to stop its worker and end", 20, || {
        !alive(supervisor)
    });
}

/// A waiting standby holds no lock: its warm-up's write is rolled back before it waits.
/// (On PostgreSQL a dropped transaction's rollback waited for the connection's next
/// statement, and the write lock with it: every other writer waited for the standby's
/// attempt.)
#[test]
fn a_waiting_standby_holds_up_no_writer() {
    let env = Env::new();
    let mut standby = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "supervise", "--standby"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(standby.stderr.take().unwrap()),
        &mut said,
    )
    .unwrap();
    assert!(said.contains("waiting for an attempt"), "{said}");
    let mut write = env
        .command(ORCH)
        .args([
            "--db",
            env.db.to_str().unwrap(),
            "run",
            "init",
            "--run",
            "r",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut ended = None;
    crate::common::wait_until("a write beside a waiting standby", 30, || {
        ended = write.try_wait().unwrap();
        ended.is_some()
    });
    assert!(ended.unwrap().success());
    drop(standby.stdin.take());
    assert!(standby.wait().unwrap().success());
}

/// `orch supervise --standby` leaves on end of input, and refuses a line that is not
/// `THREAD<TAB>LOG`.
#[test]
fn supervise_standby_reads_one_line() {
    let env = Env::new();
    let run = |input: &str| {
        let mut child = env
            .command(ORCH)
            .args([
                "--db",
                env.db.to_str().unwrap(),
                "--json",
                "supervise",
                "--standby",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        crate::common::finish(child)
    };
    let out = run("");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.data()["attempt"].is_null(), "{}", out.stdout);
    let out = run("no tab here\n");
    let message = out.error(30, "invalid_input");
    assert!(message.contains("THREAD<TAB>LOG"), "{message}");
}
