//! Liveness and recovery (issue 4): stalls, busy-but-silent workers, the first-output
//! deadline, a killed supervisor, and a failing completion check.

use crate::common::{Env, ORCH, wait_until};
use serde_json::Value;
use std::path::Path;
use std::time::Instant;

/// The fake-text adapter with a 1 s grace and these keys.
fn fake_text_adapter(repo: &Path, extra: &str) {
    crate::common::fake_text_adapter(repo, &format!("term_grace = \"1s\"\n{extra}"));
}

fn attempts(env: &Env, task: &str) -> Vec<Value> {
    env.attempts("r", task)
}

fn ended(list: &[Value], n: usize) -> bool {
    list.len() >= n
        && list[..n].iter().all(|a| {
            !a["supervision"]["outcome"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        })
}

fn launch(env: &Env, repo: &Path, task: &str) -> Value {
    env.launch(repo, "r", task, "analysis")
}

#[test]
fn a_silent_worker_is_stopped_as_stalled_and_retried() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    fake_text_adapter(&repo, "stall_timeout = \"1s\"\n");
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "fake-text",
        "--body",
        "say hello\nsleep 60",
    ])
    .data();
    let started = Instant::now();
    launch(&env, &repo, "t");
    wait_until("the retry", 30, || attempts(&env, "t").len() >= 2);
    let took = started.elapsed();
    let list = attempts(&env, "t");
    assert_eq!(list[0]["supervision"]["outcome"], "stalled", "{list:#?}");
    assert!(
        list[0]["supervision"]["reason"]
            .as_str()
            .unwrap()
            .contains("no output, CPU or inbox activity for 1s")
    );
    eprintln!("stalled and retried {took:?} after launch (stall timeout 1 s)");
    // The second attempt stalls too; its budget spent, the task is left failed.
    wait_until("the second stall", 30, || ended(&attempts(&env, "t"), 2));
    assert_eq!(attempts(&env, "t")[1]["supervision"]["outcome"], "stalled");
}

#[test]
fn a_worker_silent_but_busy_on_cpu_is_not_stopped() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    fake_text_adapter(&repo, "stall_timeout = \"1s\"\n");
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "fake-text",
        "--body",
        "say thinking\nbusy 4\nsay done thinking",
    ])
    .data();
    launch(&env, &repo, "t");
    wait_until("the end", 30, || ended(&attempts(&env, "t"), 1));
    let list = attempts(&env, "t");
    assert_eq!(list[0]["supervision"]["outcome"], "succeeded", "{list:#?}");
    assert_eq!(list.len(), 1);
}

/// A stall timeout of 4 s and a threshold of 10 % of a core (a 2 s window: half the
/// timeout).
const IDLE_NOISE_ADAPTER: &str = "stall_timeout = \"4s\"\nbusy_cpu_percent = 10\n";

#[test]
fn a_worker_whose_cpu_only_ticks_idly_is_stopped_as_stalled() {
    // It prints once, then only ticks like a runtime waiting on a dead stream (about 3 %
    // of a core); with `busy_cpu_percent = 0` every tick would be progress and it would
    // run its whole minute.
    let env = Env::with_fake_agents();
    let repo = env.repo();
    fake_text_adapter(&repo, IDLE_NOISE_ADAPTER);
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "fake-text",
        "--body",
        "say waiting for the model\ntick 60",
    ])
    .data();
    let started = Instant::now();
    launch(&env, &repo, "t");
    wait_until("the first stall", 30, || ended(&attempts(&env, "t"), 1));
    let took = started.elapsed();
    let list = attempts(&env, "t");
    assert_eq!(list[0]["supervision"]["outcome"], "stalled", "{list:#?}");
    assert_eq!(
        list[0]["supervision"]["reason"],
        "no output, inbox activity or CPU use above 10% of a core for 4s",
        "{list:#?}"
    );
    eprintln!("an idly ticking worker stalled {took:?} after launch (stall timeout 4 s)");
    // The timeout, a check's period, the 1 s grace, and room for a loaded machine.
    assert!(took.as_secs() < 4 + 8, "stalled only after {took:?}");
    wait_until("the second stall", 30, || ended(&attempts(&env, "t"), 2));
    assert_eq!(attempts(&env, "t")[1]["supervision"]["outcome"], "stalled");
}

#[test]
fn a_worker_whose_tool_computes_in_a_session_of_its_own_is_not_stopped() {
    // Silent for 8 s while a child burns a core, in a session of its own as the agent
    // CLIs run their tool commands: progress, although the worker itself only waits.
    let env = Env::with_fake_agents();
    let repo = env.repo();
    fake_text_adapter(&repo, IDLE_NOISE_ADAPTER);
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "fake-text",
        "--body",
        "say running the tests\nrun setsid -w bash -c 'while [ $SECONDS -lt 8 ]; do :; done'\nsay the tests pass",
    ])
    .data();
    launch(&env, &repo, "t");
    wait_until("the end", 40, || ended(&attempts(&env, "t"), 1));
    let list = attempts(&env, "t");
    assert_eq!(list[0]["supervision"]["outcome"], "succeeded", "{list:#?}");
    assert_eq!(list.len(), 1);
}

#[test]
fn a_worker_that_prints_nothing_meets_the_first_output_deadline() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    fake_text_adapter(
        &repo,
        "stall_timeout = \"1h\"\nfirst_output_timeout = \"1s\"\n",
    );
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "fake-text",
        "--body",
        "busy 60",
    ])
    .data();
    launch(&env, &repo, "t");
    wait_until("the first stall", 30, || ended(&attempts(&env, "t"), 1));
    let list = attempts(&env, "t");
    assert_eq!(list[0]["supervision"]["outcome"], "stalled", "{list:#?}");
    assert!(
        list[0]["supervision"]["reason"]
            .as_str()
            .unwrap()
            .contains("no output at all")
    );
    wait_until("the retry to end", 30, || ended(&attempts(&env, "t"), 2));
}

#[test]
fn kill_9_of_a_supervisor_makes_its_attempt_lost_and_retried() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    // The first attempt waits for the second to exist, so it cannot finish on its own.
    env.orch(&["task", "add", "--run", "r", "--task", "t", "--default-to", "shell", "--body",
        "if [ \"$ORCH_ATTEMPT\" = 1 ]; then echo waiting; sleep 300; else echo second attempt done; fi"])
        .data();
    let up = env
        .command(ORCH)
        .args(["--db", env.db.to_str().unwrap(), "up", "--run", "r"])
        .current_dir(&repo)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut record = Value::Null;
    wait_until("the first worker", 30, || {
        let list = attempts(&env, "t");
        record = list.first().cloned().unwrap_or(Value::Null);
        record["supervision"]["worker_pid"].is_i64()
    });
    let supervisor = record["supervision"]["supervisor_pid"].as_i64().unwrap() as i32;
    let worker = record["supervision"]["worker_pid"].as_i64().unwrap() as u32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = up.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let list = attempts(&env, "t");
    assert_eq!(list[0]["supervision"]["outcome"], "lost", "{list:#?}");
    assert_eq!(list[1]["supervision"]["outcome"], "succeeded", "{list:#?}");
    // The first worker went with its supervisor.
    let stat = std::fs::read_to_string(format!("/proc/{worker}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty()
            || stat
                .rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('Z'),
        "worker {worker} still runs"
    );
}

#[test]
fn a_failing_completion_check_sends_the_task_back_with_its_output() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    let check = r#"{"checks":[{"name":"unit","run":"if [ -f .orch/check-ok ]; then echo all green; else mkdir -p .orch && touch .orch/check-ok && echo 'assertion failed: 2 + 2 == 5' && exit 1; fi"}]}"#;
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "shell",
        "--body",
        "echo did the work",
        "--acceptance-json",
        check,
    ])
    .data();
    launch(&env, &repo, "t");
    wait_until("the second attempt", 30, || ended(&attempts(&env, "t"), 2));
    let brief = env
        .orch(&["brief", "--run", "r", "--task", "t", "--attempt", "2"])
        .data()["brief"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        brief.contains("Check unit") && brief.contains("assertion failed: 2 + 2 == 5"),
        "{brief}"
    );
    wait_until("done", 30, || {
        env.orch(&["status", "--run", "r"]).data()["tasks"][0]["status"] == "done"
    });
    let gate = env.orch(&["verify", "status", "--run", "r", "--task", "t"]);
    assert_eq!(gate.data()["gate"]["status"], "passed");
}
