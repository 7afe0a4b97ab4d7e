//! The real `claude` and `codex` as the leader over MCP: orch registered with each CLI by
//! the very lines README.md documents (read from it here, the database path filled in),
//! then one headless run in which the mock provider's model calls orch's `status` and
//! `cancel` tools. Proven on orch's side: the run's data came back to the model as the
//! tool result, the task is cancelled, and the call's `request_id` is recorded.

use super::{Cli, Real, nothing_left_running};
use crate::common::{Env, ORCH, Out, wait_until};
use serde_json::{Value, json};
use std::path::PathBuf;

const README: &str = include_str!("../../../README.md");
const SKILL_REFERENCE: &str = include_str!("../../../skills/orch/reference/mcp.md");

/// The documentation's placeholder for the database.
const DOCUMENTED_DB: &str = "/path/to/repo/.orch/coord.db";

const TASK: &str = "mcp-proof";
const REQUEST_ID: &str = "lead-1";
const FINAL: &str = "Cancelled mcp-proof over MCP.";

#[test]
#[ignore = "needs the real agent CLIs (ORCH_REAL_CLI_BIN): run .ci/real-clis"]
fn claude_leads_over_mcp() {
    leads_over_mcp(Cli::Claude);
}

#[test]
#[ignore = "needs the real agent CLIs (ORCH_REAL_CLI_BIN): run .ci/real-clis"]
fn codex_leads_over_mcp() {
    leads_over_mcp(Cli::Codex);
}

fn leads_over_mcp(cli: Cli) {
    let cancel = json!({"run": "r", "task": TASK, "reason": "the leader says stop",
        "request_id": REQUEST_ID});
    // How each CLI names an MCP tool: Claude `mcp__<server>__<tool>`; codex offers the
    // server's tools in a namespace `mcp__<server>`.
    let call = |tool: &str, arguments: Value| match cli {
        Cli::Claude => json!({"call": format!("mcp__orch__{tool}"), "arguments": arguments}),
        Cli::Codex | Cli::Opencode => {
            json!({"call": tool, "namespace": "mcp__orch", "arguments": arguments})
        }
    };
    let mut real = Real::new(
        cli,
        json!([
            call("status", json!({"run": "r"})),
            call("cancel", cancel),
            {"text": FINAL},
        ]),
    );
    orch_on_path(&mut real);
    real.task(TASK, cli.adapter(), "Nothing: the leader cancels it.");
    let out = match cli {
        Cli::Claude => claude_leader(&real),
        Cli::Codex => codex_leader(&real),
        Cli::Opencode => panic!("no opencode leader: its MCP registration is not documented"),
    };
    assert_eq!(out.code, 0, "{out:#?}\n{:#?}", real.mock.requests());
    assert!(out.stdout.contains(FINAL), "{out:#?}");

    // The model got orch's answers as the tool results.
    let requests = real.mock.requests();
    let last = requests
        .iter()
        .rfind(|r| r["served"]["text"] == FINAL)
        .unwrap_or_else(|| panic!("the final answer was never served: {requests:#?}"));
    let results: Vec<Value> = last["tool_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| tool_json(r.as_str().unwrap()))
        .collect();
    assert_eq!(results.len(), 2, "{requests:#?}");
    assert_eq!(results[0]["run"]["run_id"], "r", "{:#}", results[0]);
    assert_eq!(results[0]["tasks"][0]["task_id"], TASK, "{:#}", results[0]);
    assert_eq!(
        results[0]["tasks"][0]["status"], "ready",
        "{:#}",
        results[0]
    );
    assert_eq!(
        results[1]["task"]["status"], "cancelled",
        "{:#}",
        results[1]
    );

    // orch did it: the task is cancelled, and the request id is taken (another cancel
    // under it is refused by name).
    assert_eq!(real.env.task_row("r", TASK)["status"], "cancelled");
    let other = real.env.orch(&[
        "cancel",
        "--run",
        "r",
        "--task",
        TASK,
        "--reason",
        "another reason",
        "--request-id",
        REQUEST_ID,
    ]);
    let message = other.error(30, "invalid_input");
    assert!(message.contains(REQUEST_ID), "{message}");
    wait_until("the CLI's orch mcp to exit", 10, || {
        nothing_left_running(real.env.path()).is_empty()
    });
}

/// `orch` first on PATH, as the documented lines name it.
fn orch_on_path(real: &mut Real) {
    let bin = real.env.path().join("leader-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(ORCH, bin.join("orch")).unwrap();
    let clis = real.env.path_prefix.take().expect("the CLIs' directory");
    real.env.path_prefix = Some(PathBuf::from(
        std::env::join_paths([bin, clis]).expect("a PATH"),
    ));
}

/// A documented snippet: README.md's lines from the one starting with `first` to the
/// one before `until`, the database path filled in. The skill's reference says the same.
fn documented(first: &str, until: &str, env: &Env) -> String {
    let start = README
        .find(first)
        .unwrap_or_else(|| panic!("README.md has no {first:?}"));
    let len = README[start..].find(until).expect("the snippet's end");
    let snippet = &README[start..start + len];
    assert!(
        SKILL_REFERENCE.contains(snippet),
        "skills/orch/reference/mcp.md differs from README.md on:\n{snippet}"
    );
    snippet.replace(DOCUMENTED_DB, &env.db.display().to_string())
}

/// `claude mcp add …` as documented (into the test's `CLAUDE_CONFIG_DIR`), its health
/// check, then `claude -p` with orch's tools allowed.
fn claude_leader(real: &Real) -> Out {
    let add = documented("claude mcp add orch", "\n", &real.env);
    let words: Vec<&str> = add.split_whitespace().collect();
    let added = real.env.raw(words[0], &words[1..], &real.repo, &[]);
    assert_eq!(added.code, 0, "{added:#?}");
    let listed = real.env.raw("claude", &["mcp", "list"], &real.repo, &[]);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("orch:") && l.contains("Connected")),
        "{listed:#?}"
    );
    real.env.raw(
        "claude",
        &[
            "-p",
            "Show run r, then cancel its task.",
            "--allowedTools",
            "mcp__orch",
        ],
        &real.repo,
        &[],
    )
}

/// The documented `[mcp_servers.orch]` table in the test's `CODEX_HOME`, read back by
/// `codex mcp get`, then `codex exec`.
fn codex_leader(real: &Real) -> Out {
    let table = documented("[mcp_servers.orch]", "```", &real.env);
    let home = real.env.path().join("codex-home");
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    std::fs::write(home.join("config.toml"), format!("{config}\n{table}")).unwrap();
    let got = real
        .env
        .raw("codex", &["mcp", "get", "orch"], &real.repo, &[]);
    assert_eq!(got.code, 0, "{got:#?}");
    for line in ["enabled: true", "command: orch", "tool_timeout_sec: 330"] {
        assert!(got.stdout.contains(line), "{line}: {got:#?}");
    }
    real.env.raw(
        "codex",
        &["exec", "Show run r, then cancel its task."],
        &real.repo,
        &[],
    )
}

/// A tool result's JSON (codex puts a wall time and `Output:` before it).
#[track_caller]
fn tool_json(text: &str) -> Value {
    let start = text.find('{').unwrap_or_else(|| panic!("no JSON: {text}"));
    serde_json::from_str(&text[start..]).unwrap_or_else(|e| panic!("{e}: {text}"))
}
