//! The skills' examples are run for real. Each file, `skills/*/SKILL.md` and every
//! `skills/orch/reference/*.md`, is one `set -e` script in a fresh git repository: its
//! ```sh blocks in order, with the hidden test steps (`<!-- test: CMD -->`) that play
//! the other side. Any `{"ok": false, ...}` fails the test, and each test then checks
//! what the example did. The leader's SKILL.md stays within 4 KB and links every
//! reference file.

use crate::common::{Env, ORCH, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The leader's skill: what an agent reads first, whole.
const ORCH_SKILL: &str = "skills/orch/SKILL.md";
/// Its size limit, front matter included.
const ORCH_SKILL_MAX_BYTES: usize = 4096;
/// The reference files, each tested below.
const REFERENCES: &[&str] = &[
    "adapters.md",
    "checks.md",
    "cleanup.md",
    "manual-dispatch.md",
    "mcp.md",
];

fn source(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The script of a markdown file: its sh blocks and hidden test steps, in order.
fn script_of(markdown: &str) -> String {
    let mut script = String::from("set -eu\n");
    let mut in_block = false;
    for line in markdown.lines() {
        let trimmed = line.trim();
        if in_block {
            if trimmed == "```" {
                in_block = false;
            } else {
                script.push_str(line);
                script.push('\n');
            }
        } else if trimmed == "```sh" {
            in_block = true;
        } else if let Some(step) = trimmed
            .strip_prefix("<!-- test:")
            .and_then(|s| s.strip_suffix("-->"))
        {
            script.push_str(step.trim());
            script.push('\n');
        }
    }
    script
}

/// The last lines of every orch log (`*.log`) under `roots`: what `orch up` and the
/// supervisors said, for a failure's message (the temporary directory goes with the
/// test).
fn log_tails(roots: &[&Path]) -> String {
    let mut logs = Vec::new();
    let mut dirs: Vec<std::path::PathBuf> = roots.iter().map(|r| r.to_path_buf()).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with(".git") {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "log") {
                logs.push(path);
            }
        }
    }
    logs.sort();
    logs.dedup();
    let mut text = String::new();
    for log in logs.iter().take(20) {
        let body = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = body.lines().collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        text.push_str(&format!(
            "--- {} (last {} lines)\n{}\n",
            log.display(),
            tail.len(),
            tail.join("\n")
        ));
    }
    text
}

/// Runs the examples of `file` in `cwd`; returns what they printed.
fn run_examples(env: &Env, file: &str, cwd: &Path, envs: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(source(file)).unwrap();
    let script = script_of(&text);
    assert!(script.lines().count() > 1, "{file} has no example to run");
    let bin_dir = Path::new(ORCH).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = env.command("sh");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(cwd)
        .env("PATH", path);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{file} examples failed ({:?})\nscript:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        out.status,
        log_tails(&[cwd, env.path()])
    );
    // Lines of other protocols (MCP's JSON-RPC) carry no "ok".
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let doc: Value = serde_json::from_str(line).unwrap();
        if let Some(ok) = doc.get("ok") {
            assert_eq!(ok, true, "{file}: a command failed: {line}");
        }
    }
    stdout
}

/// A fresh repository whose database is where the examples put it by default,
/// `.orch/coord.db` (so `env.orch` reads it and the end-of-test checks cover it).
fn fresh_repo(env: &mut Env) -> PathBuf {
    let repo = env.repo();
    env.db = repo.join(".orch/coord.db");
    repo
}

/// The examples of `skills/orch/reference/NAME` run in a fresh repository.
fn run_reference(env: &mut Env, name: &str) -> (PathBuf, String) {
    let repo = fresh_repo(env);
    let stdout = run_examples(env, &format!("skills/orch/reference/{name}"), &repo, &[]);
    (repo, stdout)
}

fn task_statuses(env: &Env, run: &str) -> Vec<(String, String)> {
    let data = env.orch(&["status", "--run", run]).data().clone();
    data["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let field = |k: &str| t[k].as_str().unwrap().to_string();
            (field("task_id"), field("status"))
        })
        .collect()
}

/// The kinds of the messages of a thread, oldest first.
fn message_kinds(env: &Env, thread: &str) -> Vec<String> {
    let out = env.inbox(None, &["show", "--thread", thread]);
    out.data()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_string())
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

#[test]
fn the_orch_skill_fits_in_4_kb_and_links_every_reference_file() {
    let text = std::fs::read_to_string(source(ORCH_SKILL)).unwrap();
    assert!(
        text.len() <= ORCH_SKILL_MAX_BYTES,
        "{ORCH_SKILL} is {} bytes, over {ORCH_SKILL_MAX_BYTES}",
        text.len()
    );
    let mut on_disk: Vec<String> = std::fs::read_dir(source("skills/orch/reference"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk, REFERENCES,
        "every reference file has its test here"
    );
    for name in REFERENCES {
        let link = format!("](reference/{name})");
        assert!(text.contains(&link), "{ORCH_SKILL} does not link {name}");
    }
}

#[test]
fn the_leader_loop_of_the_orch_skill_runs_the_plan_and_answers_once() {
    let mut env = Env::new();
    let repo = fresh_repo(&mut env);
    let stdout = run_examples(&env, ORCH_SKILL, &repo, &[]);
    assert!(
        stdout.contains("question api attempt 1 message ")
            && stdout.contains("answered question ")
            && stdout.contains("finished: run done: 2 of 2 tasks done"),
        "{stdout}"
    );
    assert_eq!(
        task_statuses(&env, "demo"),
        [
            ("api".into(), "done".into()),
            ("docs".into(), "done".into())
        ]
    );
    // The worker asked once and got exactly one answer.
    let kinds = message_kinds(&env, "demo/api/attempt-1");
    assert_eq!(count(&kinds, "question"), 1, "{kinds:?}");
    assert_eq!(count(&kinds, "answer"), 1, "{kinds:?}");
    // The plan, orch up's log and the database live in .orch/, which git ignores.
    assert!(repo.join(".orch/logs/demo/up.log").exists());
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn the_manual_dispatch_reference_runs() {
    let mut env = Env::new();
    let (repo, stdout) = run_reference(&mut env, "manual-dispatch.md");
    assert!(stdout.contains("smoke ok"), "{stdout}");
    assert!(stdout.contains("refused: exit 30"), "{stdout}");
    // The question was answered once by id, and once more by request id (the repeat
    // sent nothing).
    let kinds = message_kinds(&env, "demo/api/attempt-1");
    assert_eq!(count(&kinds, "answer"), 2, "{kinds:?}");
    let api = env.task_row("demo", "api");
    assert_eq!(api["latest_attempt"]["attempt_no"], 3, "{api:#}");
    assert_eq!(api["latest_attempt"]["assigned_to"], "worker-b", "{api:#}");
    let statuses = task_statuses(&env, "demo");
    assert!(statuses.contains(&("docs".into(), "cancelled".into())));
    assert!(statuses.contains(&("smoke".into(), "done".into())));
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn the_checks_reference_runs() {
    let mut env = Env::new();
    let (_, stdout) = run_reference(&mut env, "checks.md");
    assert!(
        stdout.contains("check failed lint attempt 1: clippy"),
        "{stdout}"
    );
    let gate = env.orch(&["verify", "status", "--run", "demo", "--task", "build"]);
    assert_eq!(gate.data()["gate"]["status"], "passed");
    assert_eq!(env.task_row("demo", "review")["status"], "done");
    // The retried lint waits for the leader's check again.
    wait_until("lint attempt 2 to be verifying", 30, || {
        let lint = env.task_row("demo", "lint");
        lint["status"] == "verifying" && lint["latest_attempt"]["attempt_no"] == 2
    });
}

#[test]
fn the_cleanup_reference_runs() {
    let mut env = Env::new();
    let (repo, stdout) = run_reference(&mut env, "cleanup.md");
    assert!(stdout.contains("kept: exit 30"), "{stdout}");
    assert!(stdout.contains("nothing to clean: exit 10"), "{stdout}");
    assert!(repo.join("NOTES.md").exists(), "the merged branch's file");
    for task in ["notes", "scratch", "spike"] {
        let worktree = repo.join(format!(".orch/worktrees/demo/{task}/attempt-1"));
        assert!(!worktree.exists(), "{} is still there", worktree.display());
        let branch = format!("orch/demo/{task}/attempt-1");
        assert_eq!(env.git(&repo, &["branch", "--list", &branch]), branch);
    }
    let salvage = repo.join(".orch/salvage/demo");
    assert!(salvage.join("scratch-1/unmerged.bundle").exists());
    assert!(salvage.join("spike-1/uncommitted.patch").exists());
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn the_adapters_reference_runs() {
    let mut env = Env::new();
    let (_, stdout) = run_reference(&mut env, "adapters.md");
    assert!(stdout.contains("built by b"), "{stdout}");
    let attempts = env.attempts("demo", "build");
    let ends: Vec<(String, String)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"]["assigned_to"].as_str().unwrap().to_string(),
                a["supervision"]["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        [
            ("account-a".into(), "rate_limited".into()),
            ("account-b".into(), "succeeded".into())
        ]
    );
}

#[test]
fn the_mcp_reference_runs() {
    let mut env = Env::new();
    let (_, stdout) = run_reference(&mut env, "mcp.md");
    for tool in ["plan_apply", "next", "answer", "retry", "reassign", "logs"] {
        assert!(stdout.contains(&format!("\"name\":\"{tool}\"")), "{stdout}");
    }
    assert!(stdout.contains("\"kind\":\"ready\""), "{stdout}");
    assert!(stdout.contains("\"task_ids\":[\"api\"]"), "{stdout}");
}

#[test]
fn every_example_of_the_inbox_skill_runs() {
    let env = Env::new();
    env.run_with_tasks("demo", &["api", "other"]);
    let thread = env.dispatch_analysis("demo", "api");
    env.dispatch_analysis("demo", "other");
    // The leader answers the worker's question as soon as it is asked.
    let answerer = env
        .command("sh")
        .arg("-c")
        .arg(format!(
            "\"{ORCH}\" --db \"$DB\" --json wait --run demo --for task_blocked --after-event 0 --timeout-seconds 60 >/dev/null && \
             \"{ORCH}\" --db \"$DB\" --json answer --run demo --task api --body json >/dev/null"
        ))
        .env("DB", &env.db)
        .spawn()
        .unwrap();
    let db = env.db.display().to_string();
    run_examples(
        &env,
        "skills/inbox/SKILL.md",
        env.path(),
        &[
            ("ORCH_DB", &db),
            ("ORCH_AGENT", "worker-a"),
            ("ORCH_THREAD", &thread),
        ],
    );
    let mut answerer = answerer;
    assert!(answerer.wait().unwrap().success());
    let status = env.orch(&["status", "--run", "demo"]);
    assert_eq!(status.data()["tasks"][0]["status"], "done");
    assert_eq!(status.data()["tasks"][1]["status"], "failed");
}
