//! Rate limits as the real CLIs show them (issue 10): cooldowns belong to the account (the
//! worker profile), not to the CLI, and a limit that does not clear after its resets is
//! given up instead of waited for forever.

use crate::common::{Env, ORCH, Out};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// `orch up ARGS` from `repo`, killed (and the test failed) if it runs longer than
/// `secs`: a dispatcher that waits for a cooldown years away must not hang the suite.
fn up_within(env: &Env, repo: &Path, args: &[&str], secs: u64) -> Out {
    let mut cmd = env.command(ORCH);
    cmd.current_dir(repo)
        .arg("--db")
        .arg(&env.db)
        .arg("up")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn orch up");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("poll orch up").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("orch up output");
            panic!(
                "orch up still running after {secs} s:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("orch up output");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        json: Value::Null,
    }
}

/// The first event of `kind` in the run, if any within `secs` seconds.
fn event(env: &Env, kind: &str, secs: u64) -> Option<Value> {
    let out = env.orch(&[
        "wait",
        "--run",
        "r",
        "--for",
        kind,
        "--after-event",
        "0",
        "--timeout-seconds",
        &secs.to_string(),
    ]);
    (out.code == 0).then(|| out.json["data"]["event"].clone())
}

fn ms(v: &Value) -> i64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

/// Two accounts of Claude Code: `claude-a` is limited until a reset years away, and the
/// task goes at once to `claude-b`, the same CLI on the other account. Before cooldowns
/// were per profile, the adapter `claude` cooled down as a whole: `claude-b` had to wait
/// for `claude-a`'s reset, and the task was parked (here, with no wait allowed, given up).
#[test]
fn a_second_account_of_the_same_cli_takes_over_at_once_while_the_first_cools_down() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    std::fs::write(
        repo.join(".orch/config.toml"),
        "[workers.claude-a]\nadapter = \"claude\"\nfallback = [\"claude-b\"]\n\
         [workers.claude-b]\nadapter = \"claude\"\n",
    )
    .unwrap();
    // The fake plays claude for both profiles; only claude-a's account is limited (the
    // fake's rate-limit event announces a reset on 2030-01-01).
    let plan = env.path().join("plan.toml");
    std::fs::write(
        &plan,
        "[run]\nid = \"r\"\n[defaults]\nworker = \"claude-a\"\n\
         [[tasks]]\nid = \"t1\"\nbody = \"as claude-a: ratelimit You've hit your session limit · resets Jan 30, 2030, 11:30am\\nsay t1 done\"\n\
         [[tasks]]\nid = \"t2\"\ndepends_on = [\"t1\"]\nbody = \"as claude-a: ratelimit\\nsay t2 done\"\n",
    )
    .unwrap();
    let out = up_within(
        &env,
        &repo,
        &["--plan", plan.to_str().unwrap(), "--concurrency", "1"],
        120,
    );
    let t1 = env.attempts("r", "t1");
    assert_eq!(out.code, 0, "{}\n{}\n{t1:#?}", out.stdout, out.stderr);
    assert_eq!(t1.len(), 2, "{t1:#?}");
    assert_eq!(t1[0]["attempt"]["assigned_to"], "claude-a");
    assert_eq!(t1[0]["supervision"]["adapter"], "claude");
    assert_eq!(t1[0]["supervision"]["outcome"], "rate_limited");
    assert_eq!(
        t1[0]["supervision"]["reset_at"], "2030-01-01T00:00:00.000Z",
        "{t1:#?}"
    );
    assert_eq!(t1[1]["attempt"]["assigned_to"], "claude-b");
    assert_eq!(t1[1]["supervision"]["adapter"], "claude");
    assert_eq!(t1[1]["supervision"]["outcome"], "succeeded", "{t1:#?}");
    let handed_over_after =
        ms(&t1[1]["attempt"]["created_at"]) - ms(&t1[0]["supervision"]["ended_at"]);
    assert!(
        handed_over_after < 30_000,
        "handed over {handed_over_after} ms after the limit"
    );
    let reassigned = event(&env, "task_reassigned", 5).expect("a task_reassigned event");
    assert_eq!(reassigned["payload"]["from"], "claude-a");
    assert_eq!(reassigned["payload"]["to"], "claude-b");
    assert!(
        event(&env, "task_parked", 1).is_none(),
        "the task was parked"
    );
    // t2's default worker is claude-a, still cooling down: orch up dispatches it to
    // claude-b at once (its script would be limited again on claude-a).
    let t2 = env.attempts("r", "t2");
    assert_eq!(t2.len(), 1, "{t2:#?}");
    assert_eq!(t2[0]["attempt"]["assigned_to"], "claude-b");
    assert_eq!(t2[0]["supervision"]["outcome"], "succeeded", "{t2:#?}");
    assert_eq!(
        env.orch(&["status", "--run", "r"]).data()["run"]["status"],
        "done"
    );
}

/// A limit that is back right after each reset (a CLI whose announced reset is wrong):
/// parked twice, then given up on the third limit in a row, naming the worker, instead
/// of waiting again and again.
#[test]
fn a_limit_that_does_not_clear_after_three_resets_is_given_up() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch/adapters")).unwrap();
    std::fs::write(
        repo.join(".orch/adapters/limited.toml"),
        "name = \"limited\"\ncommand = [\"sh\", \"-c\", \"{body}\"]\noutput = \"text\"\nrate_limit_patterns = [\"(?i)usage limit\"]\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
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
        "echo \"You've hit your usage limit. Please retry in 1s.\"; exit 1",
    ])
    .data();
    env.dispatch_launch(&repo, "r", "t", "analysis", &[("ORCH_MAX_PARK", "1m")])
        .data();
    let given_up = event(&env, "task_given_up", 60).expect("the task was not given up");
    let reason = given_up["summary"].as_str().unwrap_or_default();
    assert!(
        reason.contains("the rate limit of limited did not clear after 3 resets"),
        "{given_up:#}"
    );
    let list = env.attempts("r", "t");
    assert_eq!(list.len(), 3, "{list:#?}");
    for attempt in &list {
        assert_eq!(
            attempt["supervision"]["outcome"], "rate_limited",
            "{list:#?}"
        );
    }
    // Each retry waited for the reset its predecessor announced.
    for pair in list.windows(2) {
        assert!(
            ms(&pair[1]["attempt"]["created_at"]) >= ms(&pair[0]["supervision"]["reset_at"]),
            "{list:#?}"
        );
    }
    // Given up: no fourth attempt comes.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(env.attempts("r", "t").len(), 3);
    assert_eq!(env.task_row("r", "t")["status"], "failed");
}
