//! The scripted leader of issue 12 (docs/BENCHMARKS.md, "Scripted leader"): a leader that
//! follows the skill's loop drives the 20-task run of `benches/leader-run.sh` (three
//! questions, two flaky tasks, 600-byte bodies, the brief in argv) to done, on the command
//! line reading at most 5 KB of orch output, through `orch mcp` at most 8 KB of tool
//! results, answering every question exactly once. The command-line leader is the script
//! itself; the MCP leader is the example's (`examples/leader_mcp`), run here in-process.

use super::*;

#[path = "../../../examples/leader_mcp/leader.rs"]
mod leader;

/// The bars.
const CLI_MAX_BYTES: usize = 5 * 1024;
const MCP_MAX_BYTES: usize = 8 * 1024;

/// Every task of the run is done, three questions were asked and each has exactly one
/// answer, and the worker that asked used it (its result says what it went with).
fn assert_done_and_answered_once(env: &Env) {
    let run = status(env, leader::RUN);
    assert_eq!(run["run"]["status"], "done", "{run}");
    assert_eq!(run["run"]["counts"]["done"], 20, "{run}");
    let threads = env.inbox(None, &["list", "--run", leader::RUN, "--limit", "1000"]);
    let mut asked = Vec::new();
    for thread in ids(&threads.data()["threads"], "thread_id") {
        let shown = env.inbox(None, &["show", "--thread", &thread]);
        let messages = shown.data()["messages"].as_array().unwrap().clone();
        let of = |kind: &str| messages.iter().filter(|m| m["kind"] == kind).count();
        if of("question") == 0 {
            continue;
        }
        assert_eq!(of("question"), 1, "{thread}: {messages:#?}");
        assert_eq!(of("answer"), 1, "{thread}: {messages:#?}");
        let result = messages.iter().find(|m| m["kind"] == "result").unwrap();
        assert!(
            text(&result["summary"]).starts_with("went with "),
            "{result}"
        );
        asked.push(thread);
    }
    asked.sort();
    assert_eq!(
        asked,
        ["lr/t04/attempt-1", "lr/t08/attempt-1", "lr/t13/attempt-1"]
    );
    for flaky in ["t05", "t16"] {
        assert_eq!(env.attempts(leader::RUN, flaky).len(), 2, "{flaky}");
    }
}

#[test]
fn the_scripted_leader_reads_under_5_kb_on_the_command_line() {
    let env = Env::new();
    let out = env
        .command("sh")
        .arg(leader::script())
        .arg(ORCH)
        .env("LEADER_RUN_DIR", env.path())
        .env("LEADER_RUN_DB", &env.db)
        .output()
        .expect("run benches/leader-run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // `| total | CALLS | BYTES |`
    let total = stdout
        .lines()
        .find_map(|l| l.strip_prefix("| total | "))
        .unwrap_or_else(|| panic!("no total in {stdout}"));
    let bytes: usize = total
        .trim_end_matches(" |")
        .split(" | ")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes <= CLI_MAX_BYTES, "{bytes} bytes read:\n{stdout}");
    assert!(bytes > 0, "{stdout}");
    // Three questions, three answers, each named by its message id.
    let answers = stdout
        .lines()
        .filter(|l| l.starts_with("orch answer "))
        .count();
    assert_eq!(answers, 3, "{stdout}");
    assert_done_and_answered_once(&env);
}

#[test]
fn the_scripted_leader_reads_under_8_kb_through_mcp() {
    let env = Env::new();
    leader::setup(env.path()).expect("the scenario");
    let command = || {
        let mut command = env.command(ORCH);
        command.env("ORCH_DB", &env.db);
        command
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let calls = match runtime.block_on(leader::drive(&command, env.path())) {
        Ok(calls) => calls,
        Err((e, calls)) => panic!("{e}\n{}", leader::transcript(&calls, true)),
    };
    let bytes: usize = calls.iter().map(leader::Call::bytes).sum();
    let transcript = leader::transcript(&calls, true);
    assert!(
        bytes <= MCP_MAX_BYTES,
        "{bytes} bytes read:\n{}\n{transcript}",
        leader::table(&calls)
    );
    assert!(calls.iter().all(|c| !c.is_error), "{transcript}");
    let answers: Vec<&leader::Call> = calls.iter().filter(|c| c.tool == "answer").collect();
    assert_eq!(answers.len(), 3, "{transcript}");
    assert_done_and_answered_once(&env);
    let checked = leader::verify(std::path::Path::new(ORCH), &env.db);
    assert!(checked.is_ok(), "{checked:?}");
}
