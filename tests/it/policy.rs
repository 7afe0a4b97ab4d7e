//! The retry policy applied by supervisors (issue 4): retries with a note in the next
//! brief, reassignment to a fallback on a rate limit, cooldowns that every process sees.

use crate::common::{Env, ORCH};
use serde_json::Value;
use std::time::{Duration, Instant};

fn attempts(env: &Env, run: &str, task: &str) -> Vec<Value> {
    env.attempts(run, task)
}

/// Waits (bounded) until the task is done or failed with `n` attempts ended.
fn wait_for_attempts(env: &Env, run: &str, task: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = attempts(env, run, task);
        let ended = list
            .iter()
            .filter(|a| {
                !a["supervision"]["outcome"]
                    .as_str()
                    .unwrap_or("")
                    .is_empty()
            })
            .count();
        if ended >= n {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{n} attempts did not end: {list:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn launch(env: &Env, repo: &std::path::Path, task: &str) {
    env.launch(repo, "r", task, "analysis");
}

#[test]
fn a_failed_attempt_is_retried_with_the_failure_in_the_next_brief() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    // Fails the first time (leaves a marker in orch's own directory), succeeds after.
    let body = "if [ -f .orch/flaky-marker ]; then echo second time lucky; else mkdir -p .orch && touch .orch/flaky-marker; echo something broke; exit 3; fi";
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "flaky",
        "--default-to",
        "shell",
        "--body",
        body,
    ])
    .data();
    launch(&env, &repo, "flaky");
    let list = wait_for_attempts(&env, "r", "flaky", 2);
    assert_eq!(list[0]["supervision"]["outcome"], "failed");
    assert_eq!(list[1]["supervision"]["outcome"], "succeeded", "{list:#?}");
    let status = env.orch(&["status", "--run", "r"]);
    assert_eq!(status.data()["tasks"][0]["status"], "done");
    let brief = env
        .orch(&["brief", "--run", "r", "--task", "flaky", "--attempt", "2"])
        .data()["brief"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        brief.contains("Attempt 1 (shell) ended failed: exited with code 3"),
        "{brief}"
    );
    assert!(brief.contains("something broke"), "{brief}");
    let events = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_retried",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    assert_eq!(events.data()["event"]["payload"]["previous_attempt"], 1);
}

#[test]
fn a_rate_limited_codex_profile_is_reassigned_to_its_claude_fallback() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    std::fs::write(
        repo.join(".orch/config.toml"),
        "[workers.cx]\nadapter = \"codex\"\nfallback = [\"cl\"]\n[workers.cl]\nadapter = \"claude\"\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    // The fake plays whichever CLI it runs as: codex hits its limit, claude finishes.
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "cx",
        "--body",
        "ratelimit You've hit your usage limit. Try again at Aug 8th, 2031 12:30 PM.",
    ])
    .data();
    launch(&env, &repo, "t");
    let list = wait_for_attempts(&env, "r", "t", 2);
    assert_eq!(list[0]["supervision"]["outcome"], "rate_limited");
    // Stated to the minute: the end of 12:30, plus 5 s.
    assert_eq!(
        list[0]["supervision"]["reset_at"],
        "2031-08-08T12:31:05.000Z"
    );
    // Handed to the claude profile, whose fake rate-limits too (the script is the same),
    // but claude's limit is its own: the task ends failed with nothing left free.
    assert_eq!(list[1]["attempt"]["assigned_to"], "cl");
    assert_eq!(list[1]["supervision"]["adapter"], "claude");
    let ts = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_millisecond()
    };
    eprintln!(
        "reassigned {} ms after the rate limit was recorded",
        ts(&list[1]["attempt"]["created_at"]) - ts(&list[0]["supervision"]["ended_at"])
    );
    let reassigned = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_reassigned",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    assert_eq!(reassigned.data()["event"]["payload"]["to"], "cl");
    // codex is cooling down until its reset, as every process sees.
    let cooling = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "attempt_rate_limited",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    assert_eq!(
        cooling.data()["event"]["payload"]["reset_at"],
        "2031-08-08T12:31:05.000Z"
    );
}

#[test]
fn a_cooling_adapter_is_not_used_again_before_its_reset_even_across_orch_up_restarts() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    std::fs::write(
        repo.join(".orch/config.toml"),
        "[workers.cx]\nadapter = \"codex\"\nfallback = [\"cl\"]\n[workers.cl]\nadapter = \"claude\"\n",
    )
    .unwrap();
    let plan = env.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[run]\nid = \"r\"\n[defaults]\nworker = \"cx\"\n\
         [[tasks]]\nid = \"t1\"\nbody = \"as codex: ratelimit You've hit your usage limit. Try again at Aug 8th, 2031 12:30 PM.\\nsay t1 done\"\n\
         [[tasks]]\nid = \"t2\"\ndepends_on = [\"t1\"]\nbody = \"say t2 done\"\n",
    )
    .unwrap();
    let out = env.raw(
        ORCH,
        &[
            "--db",
            env.db.to_str().unwrap(),
            "up",
            "--plan",
            plan.to_str().unwrap(),
            "--concurrency",
            "1",
        ],
        &repo,
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let t1 = attempts(&env, "r", "t1");
    assert_eq!(t1[0]["supervision"]["adapter"], "codex");
    assert_eq!(t1[0]["supervision"]["outcome"], "rate_limited");
    assert_eq!(t1[1]["supervision"]["adapter"], "claude");
    // t2's default worker is the codex profile, but codex is cooling: its fallback runs it.
    let t2 = attempts(&env, "r", "t2");
    assert_eq!(t2.len(), 1);
    assert_eq!(t2[0]["attempt"]["assigned_to"], "cl");
    // A new orch up (a new task on the codex profile) still keeps off codex.
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t3",
        "--default-to",
        "cx",
        "--body",
        "say t3 done",
    ])
    .data();
    let out = env.raw(
        ORCH,
        &["--db", env.db.to_str().unwrap(), "up", "--run", "r"],
        &repo,
        &[],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        attempts(&env, "r", "t3")[0]["supervision"]["adapter"],
        "claude"
    );
}

#[test]
fn with_no_fallback_a_rate_limited_task_parks_and_resumes_after_the_reset() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch/adapters")).unwrap();
    std::fs::write(
        repo.join(".orch/adapters/limited.toml"),
        "name = \"limited\"\ncommand = [\"sh\", \"-c\", \"{body}\"]\noutput = \"text\"\nrate_limit_patterns = [\"(?i)usage limit\"]\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    let body = "if [ \"$ORCH_ATTEMPT\" = 1 ]; then echo \"You've hit your usage limit. Please retry in 2s.\"; exit 1; else echo resumed after the reset; fi";
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "limited",
        "--body",
        body,
    ])
    .data();
    env.dispatch_launch(&repo, "r", "t", "analysis", &[("ORCH_MAX_PARK", "1m")])
        .data();
    let list = wait_for_attempts(&env, "r", "t", 2);
    assert_eq!(list[0]["supervision"]["outcome"], "rate_limited");
    assert_eq!(list[1]["supervision"]["outcome"], "succeeded", "{list:#?}");
    let parked = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        "task_parked",
        "--after-event",
        "0",
        "--timeout-seconds",
        "5",
    ]);
    let reset = list[0]["supervision"]["reset_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(parked.data()["event"]["payload"]["until"], reset.as_str());
    // The second attempt started after the reset, not before.
    let started = list[1]["attempt"]["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        started >= reset,
        "resumed at {started}, before the reset {reset}"
    );
}

#[test]
fn a_parked_codex_task_resumes_its_session_after_the_reset() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "codex",
        "--body",
        "ratelimit You've hit your usage limit. Please retry in 2s.",
    ])
    .data();
    env.dispatch_launch(&repo, "r", "t", "analysis", &[("ORCH_MAX_PARK", "1m")])
        .data();
    let list = wait_for_attempts(&env, "r", "t", 2);
    assert_eq!(
        list[0]["supervision"]["outcome"], "rate_limited",
        "{list:#?}"
    );
    let session = list[0]["supervision"]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!session.is_empty());
    // The second attempt ran `codex exec resume <session> ...`.
    let mut after = 0;
    let argv = loop {
        let out = env.orch(&[
            "wait",
            "--run",
            "r",
            "--for",
            "attempt_launched",
            "--after-event",
            &after.to_string(),
            "--timeout-seconds",
            "5",
        ]);
        let data = out.data().clone();
        after = data["next_event_id"].as_i64().unwrap();
        if data["event"]["thread_id"] == "r/t/attempt-2" {
            break data["event"]["payload"]["argv"].clone();
        }
    };
    assert_eq!(argv[0], "codex");
    assert_eq!(argv[2], "resume", "{argv}");
    let argv: Vec<&str> = argv
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let dashes = argv.iter().position(|a| *a == "--").unwrap();
    assert_eq!(argv[dashes + 1], session.as_str(), "{argv:?}");
    assert_eq!(list[1]["supervision"]["outcome"], "succeeded", "{list:#?}");
}
