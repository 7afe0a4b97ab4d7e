//! Contention: `orch up` runs a plan while leader processes loop over `status`, `ready`,
//! `blocked` + `answer` and `wait`, and the workers write progress through `inbox`.
//! Every command must succeed (no `database is locked`), and every message written
//! must be there at the end.

use crate::common::{Env, ORCH};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

const RUN: &str = "busy";
const PROGRESS_PER_TASK: u64 = 3;

#[derive(Debug, Default)]
pub struct Report {
    pub tasks: usize,
    pub leaders: usize,
    pub seconds: f64,
    pub leader_commands: u64,
    pub answers_sent: u64,
    /// Refused answers for a question another leader answered first (expected).
    pub answers_refused: u64,
    pub locked_failures: u64,
    pub other_failures: Vec<String>,
    pub progress_expected: u64,
    pub progress_found: u64,
    pub answers_found: u64,
    pub questions: u64,
    pub tasks_not_done: usize,
    pub integrity: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.locked_failures == 0
            && self.other_failures.is_empty()
            && self.progress_found == self.progress_expected
            && self.answers_found == self.answers_sent
            && self.tasks_not_done == 0
            && self.integrity.is_empty()
    }
}

fn plan(tasks: usize) -> String {
    let mut plan = format!(
        "[run]\nid = \"{RUN}\"\ngoal = \"contention\"\n[defaults]\nworker = \"cx\"\n[workers.cx]\nadapter = \"codex\"\nmax_attempts = 1\n"
    );
    for i in 0..tasks {
        let ask = if i % 5 == 2 {
            format!("ask what should task {i} do?\n")
        } else {
            String::new()
        };
        plan.push_str(&format!(
            "[[tasks]]\nid = \"t{i:03}\"\nbody = \"\"\"\nprogress {PROGRESS_PER_TASK}\n{ask}chaos 5 20\n\"\"\"\n"
        ));
    }
    plan
}

struct Tally {
    commands: AtomicU64,
    answers: AtomicU64,
    refused: AtomicU64,
    locked: AtomicU64,
    other: Mutex<Vec<String>>,
}

fn orch_json(env: &Env, args: &[&str]) -> (i32, Value, String) {
    let out = env
        .command(ORCH)
        .arg("--db")
        .arg(&env.db)
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run orch");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        format!("{stdout}{stderr}"),
    )
}

fn note(tally: &Tally, what: &str, code: i32, text: &str) {
    let lower = text.to_lowercase();
    if lower.contains("locked") || lower.contains("busy") {
        tally.locked.fetch_add(1, Ordering::Relaxed);
    }
    tally
        .other
        .lock()
        .unwrap()
        .push(format!("{what} exited {code}: {}", text.trim()));
}

fn leader(env: &Env, id: usize, done: &AtomicBool, tally: &Tally) {
    let mut after_event: Option<i64> = None;
    while !done.load(Ordering::Relaxed) {
        for verb in [["status", "--run", RUN], ["ready", "--run", RUN]] {
            let (code, _, text) = orch_json(env, &verb);
            tally.commands.fetch_add(1, Ordering::Relaxed);
            if code != 0 {
                note(tally, verb[0], code, &text);
            }
        }
        let (code, blocked, text) = orch_json(env, &["blocked", "--run", RUN]);
        tally.commands.fetch_add(1, Ordering::Relaxed);
        if code != 0 {
            note(tally, "blocked", code, &text);
        }
        for item in blocked["data"]["tasks"].as_array().into_iter().flatten() {
            let task = item["task"]["task_id"].as_str().unwrap_or("").to_string();
            let attempt = item["attempt"]["attempt_no"]
                .as_i64()
                .unwrap_or(1)
                .to_string();
            let body = format!("answer from leader {id}");
            let (code, _, text) = orch_json(
                env,
                &[
                    "answer",
                    "--run",
                    RUN,
                    "--task",
                    &task,
                    "--attempt",
                    &attempt,
                    "--body",
                    &body,
                ],
            );
            tally.commands.fetch_add(1, Ordering::Relaxed);
            match code {
                0 => {
                    tally.answers.fetch_add(1, Ordering::Relaxed);
                }
                // Another leader answered first: the task is no longer blocked.
                30 if text.contains("invalid_state") => {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                }
                _ => note(tally, "answer", code, &text),
            }
        }
        let mut args = vec!["wait", "--run", RUN, "--timeout-seconds", "1"];
        let after = after_event.map(|e| e.to_string());
        if let Some(after) = &after {
            args.extend(["--after-event", after]);
        }
        let (code, woke, text) = orch_json(env, &args);
        tally.commands.fetch_add(1, Ordering::Relaxed);
        match code {
            0 => after_event = woke["data"]["next_event_id"].as_i64().or(after_event),
            10 => {}
            _ => note(tally, "wait", code, &text),
        }
    }
}

pub fn run(tasks: usize, leaders: usize) -> Report {
    let started = Instant::now();
    let env = Env::with_fake_agents();
    let repo = env.repo();
    let plan_path = env.path().join("plan.toml");
    std::fs::write(&plan_path, plan(tasks)).unwrap();
    // The run exists before the leaders start polling it.
    env.orch(&["plan", "apply", "--file", plan_path.to_str().unwrap()])
        .data();
    let tally = Tally {
        commands: AtomicU64::new(0),
        answers: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        locked: AtomicU64::new(0),
        other: Mutex::new(Vec::new()),
    };
    let done = AtomicBool::new(false);
    let up_status = std::thread::scope(|scope| {
        for id in 0..leaders {
            let (env, done, tally) = (&env, &done, &tally);
            scope.spawn(move || leader(env, id, done, tally));
        }
        let status = env
            .command(ORCH)
            .current_dir(&repo)
            .arg("--db")
            .arg(&env.db)
            .args(["up", "--run", RUN, "--concurrency", "8"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("orch up");
        done.store(true, Ordering::Relaxed);
        status
    });
    let mut report = Report {
        tasks,
        leaders,
        seconds: started.elapsed().as_secs_f64(),
        leader_commands: tally.commands.load(Ordering::Relaxed),
        answers_sent: tally.answers.load(Ordering::Relaxed),
        answers_refused: tally.refused.load(Ordering::Relaxed),
        locked_failures: tally.locked.load(Ordering::Relaxed),
        other_failures: tally.other.into_inner().unwrap(),
        ..Report::default()
    };
    if !up_status.status.success() {
        report.other_failures.push(format!(
            "orch up exited {}: {}",
            up_status.status,
            String::from_utf8_lossy(&up_status.stderr)
        ));
    }
    // Count what the workers and leaders wrote.
    let status = env.orch(&["status", "--run", RUN]);
    let mut threads: BTreeMap<String, String> = BTreeMap::new();
    for task in status.data()["tasks"].as_array().into_iter().flatten() {
        if task["status"] != "done" {
            report.tasks_not_done += 1;
        }
        if let Some(thread) = task["latest_attempt"]["thread_id"].as_str() {
            threads.insert(
                thread.to_string(),
                task["task_id"].as_str().unwrap_or("").into(),
            );
        }
    }
    for thread in threads.keys() {
        let shown = env.inbox(None, &["show", "--thread", thread]);
        let messages = shown.data()["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        report.progress_expected += PROGRESS_PER_TASK;
        for m in &messages {
            let summary = m["summary"].as_str().unwrap_or("");
            match m["kind"].as_str().unwrap_or("") {
                "progress" if summary.starts_with("progress ") => report.progress_found += 1,
                "question" => report.questions += 1,
                "answer" => report.answers_found += 1,
                _ => {}
            }
        }
    }
    report.integrity = crate::chaos::integrity(&env.db);
    report
}
