//! Chaos trials: a 30-task plan under `orch up` with fake agents, `kill -9` of `orch up`
//! and of random supervisors at random moments, `orch up` restarted each time; then
//! every promise is checked: all tasks done, no attempt duplicated or lost, every byte
//! each worker printed in its log, nothing of the run left alive, a sound database,
//! and no worktree orch does not know about.
//!
//! On PostgreSQL (issue 13) the run has two hosts: `orch up --host a` in the trial's
//! repository and `orch up --host b` in a clone of its own (origin: the shared bare
//! remote; its own state directory). One kill of each trial kills host b outright (its
//! `orch up` and everything it started), which host a must take over; b is started
//! again once it has been down for a while. And once per trial the database goes away
//! for two seconds: every connection to it is terminated and new ones are refused,
//! which is what a server restart looks like to orch's processes.

use crate::common::{Env, ORCH};
use crate::procs::{self, Rng};
use nix::sys::signal::Signal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TASKS: usize = 30;
const RUN: &str = "chaos";

/// On PostgreSQL, both hosts beat every 200 ms, and a host silent for 1.5 s is dead.
const HEARTBEAT_MS: &str = "200";
const LAPSE_MS: &str = "1500";
/// How long host b stays dead at least before it is started again: until host a has
/// taken over every attempt b's killed supervisors held, or at most [`HOST_DOWN_MAX`].
const HOST_DOWN: Duration = Duration::from_secs(3);
const HOST_DOWN_MAX: Duration = Duration::from_secs(20);
/// How long the database refuses connections in an outage.
const OUTAGE: Duration = Duration::from_secs(2);

/// What one trial found. Every list empty and every count zero is a pass.
#[derive(Debug, Default)]
pub struct Trial {
    pub seed: u64,
    pub seconds: f64,
    pub up_kills: u32,
    pub supervisor_kills: u32,
    /// Host b killed with everything it started (PostgreSQL only).
    pub host_kills: u32,
    /// Attempts a host took over from another whose heartbeat lapsed.
    pub taken_over: usize,
    /// Database outages (PostgreSQL only), and the connections they cut.
    pub outages: u32,
    pub connections_cut: u64,
    pub attempts: usize,
    pub up_failure: Option<String>,
    pub tasks_not_done: Vec<String>,
    pub attempts_duplicated: Vec<String>,
    pub attempts_lost: Vec<String>,
    pub bytes_checked: u64,
    pub bytes_lost: u64,
    /// Bytes a worker wrote in the instant its supervisor was killed, before it read
    /// them (they die with the terminal; see docs/RELIABILITY.md).
    pub bytes_in_flight_at_kill: u64,
    pub log_mismatches: Vec<String>,
    pub processes_left: Vec<String>,
    pub integrity: Vec<String>,
    pub stray_worktrees: Vec<String>,
}

impl Trial {
    pub fn passed(&self) -> bool {
        self.up_failure.is_none()
            && self.tasks_not_done.is_empty()
            && self.attempts_duplicated.is_empty()
            && self.attempts_lost.is_empty()
            && self.bytes_lost == 0
            && self.log_mismatches.is_empty()
            && self.processes_left.is_empty()
            && self.integrity.is_empty()
            && self.stray_worktrees.is_empty()
    }
}

/// The plan: four chains with cross links, the three agent formats, tasks that fail
/// their first attempt, codex rate limits (handed to the fallback), and code tasks that
/// commit in their worktrees.
fn plan(rng: &mut Rng, lines: (u64, u64)) -> String {
    let mut plan = format!(
        "[run]\nid = \"{RUN}\"\ngoal = \"survive kill -9\"\n\n[defaults]\nworker = \"cx\"\nexecution_mode = \"analysis\"\n\n\
         [workers.cx]\nadapter = \"codex\"\nfallback = [\"cl\"]\n\
         [workers.cl]\nadapter = \"claude\"\nfallback = [\"cu\"]\n\
         [workers.cu]\nadapter = \"cursor\"\nfallback = [\"cl\"]\n"
    );
    for i in 0..TASKS {
        let mut deps = Vec::new();
        if i >= 4 {
            deps.push(format!("\"t{:02}\"", i - 4));
        }
        if i % 5 == 0 && i > 0 {
            deps.push(format!("\"t{:02}\"", i - 1));
        }
        let worker = ["cx", "cl", "cu"][i % 3];
        let mut script = Vec::new();
        if i % 10 == 3 {
            script.push("failfirst".to_string());
        }
        if i % 10 == 7 && i >= 20 {
            script.push("as codex: ratelimit".to_string());
        }
        let code = i % 6 == 5;
        if code {
            script.push(format!(
                "run echo {i} > f{i}.txt && git add f{i}.txt && git commit -q -m t{i}"
            ));
        }
        script.push(format!(
            "chaos {} {}",
            rng.range(lines.0, lines.1),
            rng.range(15, 60)
        ));
        plan.push_str(&format!(
            "\n[[tasks]]\nid = \"t{i:02}\"\ntitle = \"chaos task {i}\"\nworker = \"{worker}\"\n{}depends_on = [{}]\nbody = \"\"\"\n{}\n\"\"\"\n",
            if code { "execution_mode = \"code\"\n" } else { "" },
            deps.join(", "),
            script.join("\n")
        ));
    }
    plan
}

/// A named host of a trial on PostgreSQL: its name, the prefix of its `orch up`'s
/// output files, and its state directory.
struct Host<'a> {
    name: &'a str,
    tag: &'a str,
    state: &'a Path,
}

/// `orch up --plan` in `repo` (on PostgreSQL as `host`), its output in `up-[TAG]N.out`
/// and `.err`.
fn start_up(env: &Env, repo: &Path, plan: &Path, host: Option<&Host>, round: u32) -> Child {
    let tag = host.map_or("", |h| h.tag);
    let out = std::fs::File::create(env.path().join(format!("up-{tag}{round}.out"))).unwrap();
    let err = std::fs::File::create(env.path().join(format!("up-{tag}{round}.err"))).unwrap();
    let mut command = env.command(ORCH);
    command
        .current_dir(repo)
        .arg("--db")
        .arg(&env.db)
        .args(["up", "--plan"])
        .arg(plan)
        .args(["--concurrency", "4"]);
    if let Some(host) = host {
        command
            .args(["--host", host.name])
            .env("ORCH_HOST_HEARTBEAT_MS", HEARTBEAT_MS)
            .env("ORCH_HOST_LAPSE_MS", LAPSE_MS)
            .env("ORCH_STATE_DIR", host.state);
    }
    command
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start orch up")
}

/// Host b of a trial on PostgreSQL: a clone of the shared remote, a state directory of
/// its own (its `journal/` the trial's, so the workers' record is in one place), and
/// its `orch up` when it is alive.
struct HostB {
    clone: PathBuf,
    state: PathBuf,
    up: Option<Child>,
    round: u32,
    killed_at: Option<Instant>,
    /// The attempts whose supervisors died with the host, for host a to take over.
    orphaned: Vec<String>,
}

impl HostB {
    fn new(env: &Env) -> HostB {
        let clone = env.path().join("host-b");
        let state = env.path().join("host-b-state");
        let remote = env.path().join("remote.git");
        env.git(
            env.path(),
            &[
                "clone",
                "-q",
                remote.to_str().unwrap(),
                clone.to_str().unwrap(),
            ],
        );
        std::fs::create_dir_all(&state).unwrap();
        std::os::unix::fs::symlink(env.path().join("journal"), state.join("journal")).unwrap();
        HostB {
            clone,
            state,
            up: None,
            round: 0,
            killed_at: None,
            orphaned: Vec::new(),
        }
    }

    fn host(&self) -> Host<'_> {
        Host {
            name: "b",
            tag: "b-",
            state: &self.state,
        }
    }

    fn start(&mut self, env: &Env, plan: &Path) {
        self.up = Some(start_up(
            env,
            &self.clone,
            plan,
            Some(&self.host()),
            self.round,
        ));
        self.killed_at = None;
    }

    /// Whether its `orch up` runs.
    fn alive(&mut self) -> bool {
        self.up
            .as_mut()
            .is_some_and(|up| matches!(up.try_wait(), Ok(None)))
    }

    /// Starts it again once it has been dead for [`HOST_DOWN`] and host a has taken its
    /// orphaned attempts over (or for [`HOST_DOWN_MAX`]).
    fn restart_if_due(&mut self, env: &Env, plan: &Path) {
        let Some(at) = self.killed_at else {
            return;
        };
        let taken = || {
            let data = env.orch(&["attempts", "--run", RUN]).data().clone();
            self.orphaned.iter().all(|thread| {
                data["attempts"].as_array().into_iter().flatten().any(|a| {
                    a["attempt"]["thread_id"] == thread.as_str()
                        && a["supervision"]["taken_by"].is_string()
                })
            })
        };
        if at.elapsed() >= HOST_DOWN_MAX || (at.elapsed() >= HOST_DOWN && taken()) {
            self.round += 1;
            self.start(env, plan);
        }
    }

    /// `kill -9` of the host: its `orch up`, its supervisors and their workers, all
    /// frozen first so that none sees another die and reacts (a supervisor recording
    /// its worker's end), as none does when a machine dies. Returns the attempt threads
    /// of the supervisors killed.
    fn kill(&mut self) -> Vec<String> {
        let Some(mut up) = self.up.take() else {
            return Vec::new();
        };
        procs::signal(up.id(), Signal::SIGSTOP);
        let mut frozen: BTreeMap<u32, procs::Proc> = BTreeMap::new();
        loop {
            let new: Vec<procs::Proc> = procs::of_host(&self.state, &self.clone)
                .into_iter()
                .filter(|p| !frozen.contains_key(&p.pid))
                .collect();
            if new.is_empty() {
                break;
            }
            for p in new {
                procs::signal(p.pid, Signal::SIGSTOP);
                frozen.insert(p.pid, p);
            }
        }
        let _ = up.kill();
        let _ = up.wait();
        for pid in frozen.keys() {
            procs::kill9(*pid);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = procs::of_host(&self.state, &self.clone);
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            procs::kill_all(&left);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.killed_at = Some(Instant::now());
        let threads: Vec<String> = frozen.values().filter_map(procs::supervised).collect();
        self.orphaned.extend(threads.iter().cloned());
        threads
    }
}

/// A database outage, as a PostgreSQL restart looks to orch's processes, without
/// restarting the server other tests share: over an admin connection, the trial's
/// database refuses new connections (`ALLOW_CONNECTIONS false`), every connection to
/// it is terminated (`pg_terminate_backend`), and after `length` connections are
/// allowed again. Returns how many connections were cut.
fn outage(env: &Env, length: Duration) -> Result<u64, String> {
    use sqlx::Connection;
    let server = crate::common::pg_server().ok_or("no PostgreSQL server")?;
    let url = env.db.display().to_string();
    let name = url
        .rsplit('/')
        .next()
        .and_then(|n| n.split('?').next())
        .unwrap_or_default()
        .to_string();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("not a scratch database: {url}"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .map_err(|e| format!("admin connection: {e}"))?;
        let allow = |yes: bool| {
            // A name of letters, digits and `_` (checked above): safe to splice.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS {yes}"
            )))
        };
        allow(false)
            .execute(&mut admin)
            .await
            .map_err(|e| format!("refusing connections: {e}"))?;
        let cut: Result<i64, String> = sqlx::query_scalar(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .map_err(|e| format!("terminating connections: {e}"));
        tokio::time::sleep(length).await;
        allow(true)
            .execute(&mut admin)
            .await
            .map_err(|e| format!("allowing connections again: {e}"))?;
        let _ = admin.close().await;
        cut.map(|n| n as u64)
    })
}

fn wait_child(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One trial: `kills` random kills, then `orch up` to the end (at most `limit_secs`).
pub fn trial(seed: u64, kills: u32, lines: (u64, u64), limit_secs: u64) -> Trial {
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let mut t = Trial {
        seed,
        ..Trial::default()
    };
    let env = Env::with_fake_agents();
    let repo = env.repo();
    std::fs::create_dir_all(env.path().join("journal")).unwrap();
    let plan_path = env.path().join("plan.toml");
    std::fs::write(&plan_path, plan(&mut rng, lines)).unwrap();

    // On PostgreSQL: hosts a (this repository) and b, one kill slot that kills host b,
    // and one after which the database goes away for a while.
    let pg = env.is_pg();
    let host_a = Host {
        name: "a",
        tag: "",
        state: env.path(),
    };
    let host_a = pg.then_some(&host_a);
    let mut host_b = pg.then(|| HostB::new(&env));
    let (host_kill_at, outage_at) = match pg {
        true => {
            // In different slots (when there are two), so host b meets the outage alive.
            let kills = u64::from(kills);
            let host_kill_at = rng.range(0, kills);
            let outage_at = (host_kill_at + 1 + rng.range(0, kills.saturating_sub(1))) % kills;
            (host_kill_at, outage_at)
        }
        false => (u64::MAX, u64::MAX),
    };

    let mut round = 0;
    let mut up = start_up(&env, &repo, &plan_path, host_a, round);
    if let Some(b) = &mut host_b {
        b.start(&env, &plan_path);
    }
    let mut killed_threads: BTreeSet<String> = BTreeSet::new();
    for slot in 0..u64::from(kills) {
        std::thread::sleep(Duration::from_millis(rng.range(200, 3000)));
        if matches!(up.try_wait(), Ok(Some(_))) {
            break;
        }
        // The outage comes first in its slot, with every process of the run alive.
        if slot == outage_at {
            match outage(&env, OUTAGE) {
                Ok(cut) => {
                    t.outages += 1;
                    t.connections_cut += cut;
                }
                Err(e) => t.log_mismatches.push(format!("outage: {e}")),
            }
        }
        let mut kill_host = false;
        if let Some(b) = &mut host_b {
            b.restart_if_due(&env, &plan_path);
            kill_host = slot == host_kill_at && b.alive();
        }
        match &mut host_b {
            Some(b) if kill_host => {
                killed_threads.extend(b.kill());
                t.host_kills += 1;
            }
            _ => {
                let roll = rng.range(0, 100);
                let supervisors = procs::supervisors(&env.db);
                if roll < 45 || supervisors.is_empty() || roll >= 90 {
                    let _ = up.kill();
                    let _ = up.wait();
                    t.up_kills += 1;
                }
                if (45..100).contains(&roll) && !supervisors.is_empty() {
                    let (pid, thread) =
                        &supervisors[rng.range(0, supervisors.len() as u64) as usize];
                    procs::kill9(*pid);
                    killed_threads.insert(thread.clone());
                    t.supervisor_kills += 1;
                }
            }
        }
        if matches!(up.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(rng.range(0, 800)));
            round += 1;
            up = start_up(&env, &repo, &plan_path, host_a, round);
        }
    }
    match wait_child(&mut up, limit_secs) {
        Some(status) if status.success() => {}
        Some(status) => {
            let err = std::fs::read_to_string(env.path().join(format!("up-{round}.err")))
                .unwrap_or_default();
            let out = std::fs::read_to_string(env.path().join(format!("up-{round}.out")))
                .unwrap_or_default();
            t.up_failure = Some(format!(
                "orch up exited {status}: {}{}",
                tail(&out),
                tail(&err)
            ));
        }
        None => {
            let _ = up.kill();
            let _ = up.wait();
            t.up_failure = Some(format!("orch up did not finish in {limit_secs} s"));
        }
    }
    // A host killed and not started again yet comes back once, as a real one does: what
    // its kill left in its clone (a half-made worktree) is its `orch up`'s to clear.
    if let Some(b) = &mut host_b
        && b.up.is_none()
    {
        b.round += 1;
        b.start(&env, &plan_path);
    }
    // Host b, when it runs, ends with the run too.
    if let Some(b) = &mut host_b
        && let Some(mut up_b) = b.up.take()
    {
        let failure = match wait_child(&mut up_b, 60) {
            Some(status) if status.success() => None,
            Some(status) => {
                let read = |ext: &str| {
                    std::fs::read_to_string(env.path().join(format!("up-b-{}.{ext}", b.round)))
                        .unwrap_or_default()
                };
                Some(format!(
                    "orch up of host b exited {status}: {}{}",
                    tail(&read("out")),
                    tail(&read("err"))
                ))
            }
            None => {
                let _ = up_b.kill();
                let _ = up_b.wait();
                Some("orch up of host b did not end with the run".to_string())
            }
        };
        if let Some(failure) = failure {
            t.up_failure = Some(match t.up_failure.take() {
                Some(first) => format!("{first}\n{failure}"),
                None => failure,
            });
        }
    }

    // Nothing of the run may be left alive (supervisors finish their last writes
    // after the run is done: give them a moment).
    let left = procs::wait_gone(env.path(), 10.0);
    t.processes_left = left
        .iter()
        .map(|p| format!("{} {}", p.pid, p.cmdline))
        .collect();
    procs::kill_all(&left);

    check_tasks(&env, &mut t);
    let attempts = check_attempts(&env, &mut t);
    check_bytes(&env, &attempts, &killed_threads, &mut t);
    // Every attempt host b's killed supervisors held was host a's to take over (or had
    // ended before the kill).
    for thread in host_b.iter().flat_map(|b| &b.orphaned) {
        if let Some(a) = attempts.iter().find(|a| &a.thread == thread)
            && a.outcome == "lost"
            && a.taken_by != "a"
        {
            t.attempts_lost.push(format!(
                "{thread}: its host b was killed, and host a did not take it over"
            ));
        }
    }
    let mut clones = vec![repo.clone()];
    clones.extend(host_b.as_ref().map(|b| b.clone.clone()));
    check_worktrees(&env, &clones, &attempts, &mut t);
    t.integrity = integrity(&env.db);
    t.seconds = started.elapsed().as_secs_f64();
    if !t.passed() {
        // Keep the workspace of a failed trial for a post-mortem.
        let kept = env.path().to_path_buf();
        std::mem::forget(env);
        eprintln!("trial {seed}: workspace kept at {}", kept.display());
    }
    t
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

fn check_tasks(env: &Env, t: &mut Trial) {
    let status = env.orch(&["status", "--run", RUN]);
    let data = status.data();
    for task in data["tasks"].as_array().into_iter().flatten() {
        if task["status"] != "done" {
            t.tasks_not_done.push(format!(
                "{} {} ({})",
                task["task_id"].as_str().unwrap_or("?"),
                task["status"].as_str().unwrap_or("?"),
                task["latest_message"]["summary"].as_str().unwrap_or("")
            ));
        }
    }
    let count = data["tasks"].as_array().map_or(0, |a| a.len());
    if count != TASKS {
        t.tasks_not_done
            .push(format!("{count} tasks in the run, {TASKS} planned"));
    }
}

/// One attempt as the database records it.
pub struct AttemptRow {
    pub task: String,
    pub attempt_no: i64,
    pub thread: String,
    pub outcome: String,
    pub worktree: String,
    /// The host that ran it, and the one that took it over, if one did.
    pub host: String,
    pub taken_by: String,
}

/// Attempts numbered 1..n per task, every one settled, the last one succeeded; each
/// worker started at most once; worker lifetimes of one task never overlap; no worker
/// ran for an attempt the database does not know.
fn check_attempts(env: &Env, t: &mut Trial) -> Vec<AttemptRow> {
    let data = env.orch(&["attempts", "--run", RUN]).data().clone();
    let mut rows = Vec::new();
    for a in data["attempts"].as_array().into_iter().flatten() {
        rows.push(AttemptRow {
            task: a["attempt"]["task_id"].as_str().unwrap_or("").to_string(),
            attempt_no: a["attempt"]["attempt_no"].as_i64().unwrap_or(0),
            thread: a["attempt"]["thread_id"].as_str().unwrap_or("").to_string(),
            outcome: a["supervision"]["outcome"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            worktree: a["attempt"]["worktree_path"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            host: a["supervision"]["host"].as_str().unwrap_or("").to_string(),
            taken_by: a["supervision"]["taken_by"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        });
    }
    t.attempts = rows.len();
    t.taken_over = rows.iter().filter(|r| !r.taken_by.is_empty()).count();
    for r in rows.iter().filter(|r| !r.taken_by.is_empty()) {
        eprintln!(
            "trial {}: {} of host {} taken over by host {}",
            t.seed, r.thread, r.host, r.taken_by
        );
    }
    let mut by_task: BTreeMap<&str, Vec<&AttemptRow>> = BTreeMap::new();
    for r in &rows {
        by_task.entry(&r.task).or_default().push(r);
    }
    for (task, list) in &by_task {
        let numbers: Vec<i64> = list.iter().map(|r| r.attempt_no).collect();
        let expected: Vec<i64> = (1..=list.len() as i64).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        if sorted != expected {
            t.attempts_duplicated
                .push(format!("{task}: attempt numbers {numbers:?}"));
        }
        for r in list {
            if r.outcome.is_empty() {
                t.attempts_lost
                    .push(format!("{}: never settled (no outcome)", r.thread));
            }
        }
        if let Some(last) = list.iter().max_by_key(|r| r.attempt_no)
            && last.outcome != "succeeded"
        {
            t.attempts_lost
                .push(format!("{task}: last attempt {}", last.outcome));
        }
    }
    // The workers' own record.
    let known: BTreeSet<String> = rows.iter().map(|r| r.thread.replace('/', "__")).collect();
    let journal = env.path().join("journal");
    let mut spans: BTreeMap<String, Vec<(u128, u128, String)>> = BTreeMap::new();
    for entry in std::fs::read_dir(&journal).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(thread) = name.strip_suffix(".runs") else {
            continue;
        };
        if !known.contains(thread) {
            t.attempts_lost.push(format!(
                "{thread}: a worker ran for an attempt orch does not know"
            ));
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let starts: Vec<u128> = field(&text, "start");
        let ends: Vec<u128> = field(&text, "end");
        if starts.len() > 1 {
            t.attempts_duplicated.push(format!(
                "{thread}: its worker started {} times",
                starts.len()
            ));
        }
        // A worker killed as it began (a host kill) may have written no start: its
        // journal's creation is the bound then.
        let Some(start) = starts.first().copied().or_else(|| mtime_ms(&entry.path())) else {
            continue;
        };
        // A worker killed with its supervisor wrote no end: its last output is a bound.
        let end = ends
            .first()
            .copied()
            .unwrap_or_else(|| mtime_ms(&journal.join(format!("{thread}.out"))).unwrap_or(start));
        if let Some(task) = thread.split("__").nth(1) {
            spans
                .entry(task.to_string())
                .or_default()
                .push((start, end, thread.to_string()));
        }
    }
    for (task, mut list) in spans {
        list.sort();
        for pair in list.windows(2) {
            if pair[1].0 < pair[0].1 {
                t.attempts_duplicated.push(format!(
                    "{task}: workers of {} and {} ran at the same time",
                    pair[0].2, pair[1].2
                ));
            }
        }
    }
    rows
}

fn field(text: &str, what: &str) -> Vec<u128> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some(what))
                .then(|| words.nth(1).and_then(|ms| ms.parse().ok()))
                .flatten()
        })
        .collect()
}

fn mtime_ms(path: &Path) -> Option<u128> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(
        modified
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis(),
    )
}

/// Every byte each worker printed is in its log: the log (with the terminal's `\r\n`
/// read as `\n`) equals the worker's journal. A worker whose supervisor was killed
/// loses at most what was in flight: its log must be a prefix of the journal.
fn check_bytes(env: &Env, attempts: &[AttemptRow], killed: &BTreeSet<String>, t: &mut Trial) {
    for a in attempts {
        let journal_path = env
            .path()
            .join("journal")
            .join(format!("{}.out", a.thread.replace('/', "__")));
        let Ok(journal) = std::fs::read(&journal_path) else {
            continue;
        };
        let out = env
            .command(ORCH)
            .arg("--db")
            .arg(&env.db)
            .args([
                "logs",
                "--raw",
                "--run",
                RUN,
                "--task",
                &a.task,
                "--attempt",
            ])
            .arg(a.attempt_no.to_string())
            .output()
            .expect("orch logs");
        let log = normalize(&out.stdout);
        t.bytes_checked += journal.len() as u64;
        if log == journal {
            continue;
        }
        let common = log
            .iter()
            .zip(journal.iter())
            .take_while(|(x, y)| x == y)
            .count();
        let missing = journal.len().saturating_sub(common) as u64;
        let is_prefix = common == log.len();
        if killed.contains(&a.thread) && is_prefix {
            t.bytes_in_flight_at_kill += missing;
            continue;
        }
        t.bytes_lost += missing;
        t.log_mismatches.push(format!(
            "{}: log {} bytes, worker printed {} bytes, first difference at {common}{}",
            a.thread,
            log.len(),
            journal.len(),
            if killed.contains(&a.thread) {
                " (supervisor killed)"
            } else {
                ""
            }
        ));
    }
}

fn normalize(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Every worktree git knows in each host's clone (but the clone's main one) belongs to
/// an attempt orch recorded, and every code attempt's worktree exists.
fn check_worktrees(env: &Env, clones: &[PathBuf], attempts: &[AttemptRow], t: &mut Trial) {
    let recorded: BTreeSet<PathBuf> = attempts
        .iter()
        .filter(|a| !a.worktree.is_empty())
        .map(|a| canonical(Path::new(&a.worktree)))
        .collect();
    for repo in clones {
        let listed = env.git(repo, &["worktree", "list", "--porcelain"]);
        let main = canonical(repo);
        for line in listed.lines() {
            if let Some(path) = line.strip_prefix("worktree ") {
                let path = canonical(Path::new(path));
                if path != main && !recorded.contains(&path) {
                    t.stray_worktrees.push(path.display().to_string());
                }
            }
        }
    }
    for path in &recorded {
        if !path.exists() {
            t.stray_worktrees
                .push(format!("{} recorded but missing", path.display()));
        }
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

pub fn integrity(db: &Path) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let location = orch::store::Location::parse(&db.display().to_string());
    rt.block_on(orch::store::Store::integrity_problems_at(&location))
        .unwrap_or_else(|e| vec![format!("cannot open: {e}")])
}
