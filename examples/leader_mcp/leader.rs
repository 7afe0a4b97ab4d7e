//! The scripted leader of `benches/leader-run.sh`, through `orch mcp` (issue 12): the
//! same scenario (the script writes it: `--setup DIR`), the same loop — `plan_apply`,
//! `orch up --detach` run as the leader's shell would (its one line counted), then the `next`
//! tool (waiting) until the run finishes, answering each question with its first option
//! and retrying whatever gave up or failed — and every byte of every tool result it
//! reads counted: the result's text content, which is the compact JSON (its
//! `structuredContent` is the same document).

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The scenario's run id (benches/leader-run.sh).
pub const RUN: &str = "lr";

/// The script that writes and checks the scenario.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/leader-run.sh")
}

/// One tool call the leader made and what it read.
#[derive(Debug, Clone)]
pub struct Call {
    pub tool: String,
    pub arguments: Value,
    /// The result's text: all the leader reads.
    pub text: String,
    pub is_error: bool,
}

impl Call {
    pub fn bytes(&self) -> usize {
        self.text.len()
    }
}

/// Writes the scenario into `dir` (`dir/repo`, `dir/plan.toml`; the database will be
/// `dir/coord.db`, unless the orch command carries its own `ORCH_DB`).
pub fn setup(dir: &Path) -> Result<(), String> {
    let status = std::process::Command::new("sh")
        .arg(script())
        .arg("--setup")
        .arg(dir)
        .status()
        .map_err(|e| format!("run {}: {e}", script().display()))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("the scenario's setup failed: {status}"))
}

/// Checks the finished run with the script's `--verify`: every task done, three
/// questions, each answered exactly once. Returns what it printed.
pub fn verify(orch: &Path, db: &Path) -> Result<String, String> {
    let out = std::process::Command::new("sh")
        .arg(script())
        .arg("--verify")
        .arg(orch)
        .env("ORCH_DB", db)
        .output()
        .map_err(|e| format!("run {}: {e}", script().display()))?;
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    out.status
        .success()
        .then_some(printed.clone())
        .ok_or(printed)
}

type Client = RunningService<RoleClient, ()>;

/// The leader's side of the connection: every call it made.
struct Leader {
    client: Client,
    calls: Vec<Call>,
}

impl Leader {
    async fn call(&mut self, tool: &str, arguments: Value) -> Result<Value, String> {
        let map = arguments.as_object().cloned().unwrap_or_default();
        let result: CallToolResult = self
            .client
            .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map))
            .await
            .map_err(|e| format!("{tool}: {e}"))?;
        let text: String = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        let is_error = result.is_error == Some(true);
        self.calls.push(Call {
            tool: tool.to_string(),
            arguments,
            text: text.clone(),
            is_error,
        });
        if is_error {
            return Err(format!("{tool} failed: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{tool}: not JSON ({e}): {text}"))
    }
}

/// How to start `orch`: the program with its environment (the example: as it is; the
/// test: the test's clean one). The leader adds the arguments and the directory.
pub type OrchCommand<'a> = &'a dyn Fn() -> std::process::Command;

/// `orch --db DIR/coord.db ARGS` in `DIR/repo`, as the leader's host would start it
/// (no `--db` when the command's environment names the database in `ORCH_DB`).
fn orch_command(orch: OrchCommand, dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = orch();
    if !command.get_envs().any(|(name, _)| name == "ORCH_DB") {
        command.arg("--db").arg(dir.join("coord.db"));
    }
    command
        .args(args)
        .current_dir(dir.join("repo"))
        .env("ORCH_AGENT", "leader")
        .stdin(Stdio::null());
    tokio::process::Command::from(command)
}

/// Drives the scenario written in `dir` to its end through `orch mcp`; returns every
/// call, or what went wrong with the calls made so far.
pub async fn drive(orch: OrchCommand<'_>, dir: &Path) -> Result<Vec<Call>, (String, Vec<Call>)> {
    let mut server = orch_command(orch, dir, &["mcp"]);
    server.stderr(Stdio::null());
    let (transport, _) = TokioChildProcess::builder(server)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| (format!("start orch mcp: {e}"), Vec::new()))?;
    let client = ()
        .serve(transport)
        .await
        .map_err(|e| (format!("MCP handshake: {e}"), Vec::new()))?;
    let mut leader = Leader {
        client,
        calls: Vec::new(),
    };
    let outcome = run_loop(&mut leader, orch, dir).await;
    let Leader { client, calls } = leader;
    let closed = client.cancel().await;
    match (outcome, closed) {
        (Err(e), _) => Err((e, calls)),
        (Ok(()), Err(e)) => Err((format!("close the connection: {e}"), calls)),
        (Ok(()), Ok(_)) => Ok(calls),
    }
}

/// `orch up --run lr --detach`, as the leader's shell runs it (there is no `up` tool):
/// recorded as a call of `up (shell)` with what it printed; returns the pid of the
/// `orch up` it started in the background.
async fn start_up(leader: &mut Leader, orch: OrchCommand<'_>, dir: &Path) -> Result<u32, String> {
    let out = orch_command(orch, dir, &["up", "--run", RUN, "--detach"])
        .output()
        .await
        .map_err(|e| format!("start orch up: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    leader.calls.push(Call {
        tool: "up (shell)".to_string(),
        arguments: json!(["up", "--run", RUN, "--detach"]),
        text: text.clone(),
        is_error: !out.status.success(),
    });
    text.split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|pid| pid.parse().ok())
        .ok_or_else(|| format!("orch up --detach: {text}"))
}

/// Waits (bounded) for the `orch up` with `pid` to end with its run.
async fn up_ended(pid: u32) -> Result<(), String> {
    for _ in 0..600 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("orch up (pid {pid}) did not end with its run"))
}

async fn run_loop(leader: &mut Leader, orch: OrchCommand<'_>, dir: &Path) -> Result<(), String> {
    leader
        .call("plan_apply", json!({"file": "../plan.toml"}))
        .await?;
    let mut up = start_up(leader, orch, dir).await?;
    let next = json!({"run": RUN, "wait": true, "timeout_seconds": 300});
    loop {
        let reply = leader.call("next", next.clone()).await?;
        let mut retried = false;
        let mut finished = false;
        for item in reply["items"].as_array().into_iter().flatten() {
            let task = &item["task_id"];
            match item["kind"].as_str().unwrap_or_default() {
                "question" => {
                    let choice = item["options"][0].as_str().unwrap_or("yes");
                    let answer = json!({"run": RUN, "task": task,
                        "question": item["message_id"], "body": choice});
                    leader.call("answer", answer).await?;
                }
                // The retry launches its attempt: the run may have finished failed,
                // and its `orch up` ended with it.
                "gave_up" | "check_failed" | "failed" => {
                    let retry = json!({"run": RUN, "task": task, "launch": true});
                    leader.call("retry", retry).await?;
                    retried = true;
                }
                // Ready tasks no `orch up` runs: the run finished failed and its
                // `orch up` ended with it, and a retry made more work: start it again.
                "ready" => up = start_up(leader, orch, dir).await?,
                // The run's finish comes last; a retry in the same reply undoes it.
                "run_finished" => finished = !retried,
                other => return Err(format!("an item of an unknown kind {other:?}: {item}")),
            }
        }
        if finished {
            break;
        }
    }
    up_ended(up).await
}

/// Each call with the bytes of its result, and with `show` the result itself.
pub fn transcript(calls: &[Call], show: bool) -> String {
    let mut out = String::new();
    for call in calls {
        let error = if call.is_error { " (tool error)" } else { "" };
        out.push_str(&format!(
            "{} {} → {} bytes{error}\n",
            call.tool,
            call.arguments,
            call.bytes()
        ));
        if show {
            out.push_str(&format!("    {}\n", call.text));
        }
    }
    out
}

/// The calls and bytes per tool, in the order tools were first called, and the total.
pub fn table(calls: &[Call]) -> String {
    let mut tools: Vec<&str> = Vec::new();
    for call in calls {
        if !tools.contains(&call.tool.as_str()) {
            tools.push(&call.tool);
        }
    }
    let mut out = String::from("| tool | calls | bytes |\n|---|---|---|\n");
    for tool in tools {
        let of: Vec<&Call> = calls.iter().filter(|c| c.tool == tool).collect();
        let bytes: usize = of.iter().map(|c| c.bytes()).sum();
        out.push_str(&format!("| {tool} | {} | {bytes} |\n", of.len()));
    }
    let total: usize = calls.iter().map(Call::bytes).sum();
    out.push_str(&format!("| total | {} | {total} |\n", calls.len()));
    out
}
