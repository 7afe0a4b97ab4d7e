//! `orch mcp`: the real binary driven over stdio by rmcp's own client (the SDK's child
//! process transport), against a temp database, next to the same verbs on the command
//! line.

use crate::common::{Env, ORCH, wait_for_end};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ServiceExt, model::Tool};
use serde_json::{Value, json};

type Client = RunningService<RoleClient, ()>;

const PLAN: &str = r#"
[run]
id = "m"
goal = "drive a run over MCP"

[defaults]
worker = "shell"
execution_mode = "analysis"

[[tasks]]
id = "hello"
body = "echo hello from mcp"

[[tasks]]
id = "later"
body = "echo later"
depends_on = ["hello"]

[[tasks]]
id = "flaky"
body = "echo 'this task fails on purpose, every single time it is run'; exit 3"
"#;

const FLAKY_BODY: &str = "echo 'this task fails on purpose, every single time it is run'; exit 3";

/// Runs `body` against a connected `orch --db DB mcp`, started in the env's directory.
fn with_server<T>(env: &Env, body: impl AsyncFnOnce(&Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut command = env.command(ORCH);
        command.arg("--db").arg(&env.db).arg("mcp");
        let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(command))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start orch mcp");
        let client = ().serve(transport).await.expect("MCP handshake");
        let out = body(&client).await;
        client.cancel().await.expect("close the connection");
        out
    })
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let arguments = arguments.as_object().cloned().expect("arguments object");
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
        .await
        .unwrap_or_else(|e| panic!("{tool}: the call failed at the protocol level: {e}"))
}

/// A successful result's structured data (its text is the same JSON).
#[track_caller]
fn data(result: &CallToolResult) -> Value {
    assert_eq!(
        result.is_error,
        Some(false),
        "expected success: {result:#?}"
    );
    let data = result
        .structured_content
        .clone()
        .expect("structured content");
    assert_eq!(
        text(result),
        data.to_string(),
        "the text is the compact JSON"
    );
    data
}

/// A failed result's `{code, message}`.
#[track_caller]
fn error(result: &CallToolResult) -> Value {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error: {result:#?}"
    );
    let error = result.structured_content.clone().expect("structured error");
    assert!(
        error["code"].is_string() && error["message"].is_string(),
        "{error}"
    );
    error
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

fn tool<'a>(tools: &'a [Tool], name: &str) -> &'a Tool {
    tools
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no tool {name}"))
}

#[test]
fn the_server_lists_the_leaders_verbs_with_their_flags_as_schemas() {
    let env = Env::new();
    let tools = with_server(&env, async |client| {
        client.list_all_tools().await.expect("tools/list")
    });
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    let expected = [
        "answer",
        "attempts",
        "cancel",
        "logs",
        "next",
        "plan_apply",
        "reassign",
        "retry",
        "status",
    ];
    assert_eq!(names, expected);
    for t in &tools {
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        assert_eq!(t.input_schema["additionalProperties"], false, "{}", t.name);
        assert!(t.description.as_deref().is_some_and(|d| !d.is_empty()));
        let props = t.input_schema["properties"]
            .as_object()
            .expect("properties");
        for global in ["db", "json", "agent"] {
            assert!(!props.contains_key(global), "{} takes {global}", t.name);
        }
    }
    let answer = tool(&tools, "answer");
    assert_eq!(answer.input_schema["required"], json!(["run", "task"]));
    assert_eq!(
        answer.input_schema["properties"]["question"]["type"],
        "integer"
    );
    let logs = &tool(&tools, "logs").input_schema["properties"];
    assert!(logs.get("follow").is_none(), "logs cannot follow over MCP");
    assert_eq!(logs["lines"]["default"], 40);
    assert_eq!(
        tool(&tools, "status")
            .annotations
            .as_ref()
            .and_then(|a| a.read_only_hint),
        Some(true)
    );
}

#[test]
fn bad_arguments_are_tool_errors_and_the_server_keeps_serving() {
    let env = Env::new();
    let (unknown, missing, bad_value, stdin, after) = with_server(&env, async |client| {
        (
            error(&call(client, "status", json!({"run": "m", "db": "/elsewhere"})).await),
            error(&call(client, "answer", json!({"run": "m"})).await),
            error(&call(client, "attempts", json!({"run": ["a", "b"]})).await),
            error(
                &call(
                    client,
                    "retry",
                    json!({"run": "m", "task": "t", "body_file": "-"}),
                )
                .await,
            ),
            error(&call(client, "status", json!({"run": "nope"})).await),
        )
    });
    assert_eq!(unknown["code"], "invalid_input");
    assert!(
        unknown["message"].as_str().unwrap().contains("\"db\""),
        "{unknown}"
    );
    assert_eq!(
        missing,
        json!({"code": "invalid_input", "message": "answer needs task"})
    );
    assert_eq!(bad_value["code"], "invalid_input");
    assert!(
        stdin["message"]
            .as_str()
            .unwrap()
            .contains("standard input"),
        "{stdin}"
    );
    // The same error as on the command line.
    let cli = env.orch(&["status", "--run", "nope"]);
    assert_eq!(after["code"], "not_found");
    assert_eq!(after["message"], cli.json["error"]["message"]);
}

#[test]
fn a_leader_drives_a_run_through_the_tools() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::write(env.path().join("plan.toml"), PLAN).unwrap();
    // Plan, look, and a refused answer, all over MCP (the plan's path is relative to
    // the server's directory).
    let (applied, status, refused) = with_server(&env, async |client| {
        (
            data(&call(client, "plan_apply", json!({"file": "plan.toml"})).await),
            data(&call(client, "status", json!({"run": "m"})).await),
            error(
                &call(
                    client,
                    "answer",
                    json!({"run": "m", "task": "hello", "question": 999, "body": "yes"}),
                )
                .await,
            ),
        )
    });
    assert_eq!(applied["run"]["run_id"], "m");
    assert_eq!(applied["tasks_created"], json!(["hello", "later", "flaky"]));
    assert_eq!(status["run"]["counts"]["total"], 3);
    let code = refused["code"].as_str().unwrap();
    assert!(["invalid_state", "not_found"].contains(&code), "{refused}");
    let cli = env.orch(&[
        "answer",
        "--run",
        "m",
        "--task",
        "hello",
        "--question",
        "999",
        "--body",
        "yes",
    ]);
    assert_eq!(refused["code"], cli.json["error"]["code"], "{cli:#?}");
    assert_eq!(refused["message"], cli.json["error"]["message"]);

    // What needs the leader, then a bounded wait for more that times out like the CLI.
    let (next, waited) = with_server(&env, async |client| {
        let next = data(&call(client, "next", json!({"run": "m"})).await);
        let after = next["next_event_id"].clone();
        let waited = call(
            client,
            "next",
            json!({"run": "m", "wait": true, "timeout_seconds": 1, "after_event": after}),
        )
        .await;
        (next, error(&waited))
    });
    let items = next["items"].as_array().expect("items");
    assert!(next.to_string().contains("hello"), "hello is ready: {next}");
    assert!(!items.is_empty(), "{next}");
    assert_eq!(waited["code"], "no_matching_work", "{waited}");

    // The shell worker runs by the command line; the leader reads it over MCP.
    env.launch(&repo, "m", "hello", "analysis");
    wait_for_end(&env, "m", "hello");
    let (attempts, logs, tail, cancelled, again) = with_server(&env, async |client| {
        (
            data(&call(client, "attempts", json!({"run": "m", "task": "hello"})).await),
            data(&call(client, "logs", json!({"run": "m", "task": "hello"})).await),
            data(
                &call(
                    client,
                    "logs",
                    json!({"run": "m", "task": "hello", "lines": 1}),
                )
                .await,
            ),
            data(
                &call(
                    client,
                    "cancel",
                    json!({"run": "m", "task": "later", "reason": "enough"}),
                )
                .await,
            ),
            error(&call(client, "cancel", json!({"run": "m", "task": "missing"})).await),
        )
    });
    let rows = attempts["attempts"].as_array().expect("attempts");
    assert_eq!(rows.len(), 1, "{attempts}");
    assert_eq!(rows[0]["supervision"]["outcome"], "succeeded");
    let lines = logs["lines"].as_array().expect("lines");
    assert!(lines.iter().any(|l| l == "hello from mcp"), "{logs}");
    assert_eq!(logs["attempt_no"], 1);
    assert_eq!(tail["lines"].as_array().map(Vec::len), Some(1), "{tail}");
    assert_eq!(cancelled["task"]["status"], "cancelled");
    assert_eq!(again["code"], "not_found");
    let later = env.task_row("m", "later");
    assert_eq!(later["status"], "cancelled");
}

#[test]
fn retry_and_reassign_over_mcp_return_what_the_leader_acts_on() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::write(env.path().join("plan.toml"), PLAN).unwrap();
    env.orch(&["plan", "apply", "--file", "plan.toml"]).data();
    env.launch(&repo, "m", "flaky", "analysis");
    // Given up by the ladder: the task also shows `failed` between an attempt's end and
    // the ladder's retry (a leader's retry then is refused; seen once in CI).
    let given_up = env.orch(&[
        "wait",
        "--run",
        "m",
        "--for",
        "task_given_up",
        "--after-event",
        "0",
        "--timeout-seconds",
        "60",
    ]);
    assert_eq!(
        given_up.code, 0,
        "the ladder did not give up: {given_up:#?}"
    );
    assert_eq!(env.task_row("m", "flaky")["status"], "failed");
    let (retried, retried_text, reassigned) = with_server(&env, async |client| {
        let retry = call(client, "retry", json!({"run": "m", "task": "flaky"})).await;
        let reassign = call(
            client,
            "reassign",
            json!({"run": "m", "task": "flaky", "to": "shell", "reason": "try again"}),
        )
        .await;
        (data(&retry), text(&retry), data(&reassign))
    });
    let previous = retried["previous_attempt"]["attempt_no"]
        .as_i64()
        .expect("previous");
    assert_eq!(retried["attempt"]["attempt_no"], previous + 1, "{retried}");
    // Ids and statuses, and the body the worker got by its size: never the body again.
    assert!(!retried_text.contains(FLAKY_BODY), "{retried_text}");
    assert_eq!(
        retried["message"]["body_bytes"],
        FLAKY_BODY.len(),
        "{retried}"
    );
    assert_eq!(retried["task"]["status"], "dispatched", "{retried}");
    assert_eq!(retried["attempt"]["assigned_to"], "shell", "{retried}");
    assert!(retried["attempt"]["thread_id"].is_string(), "{retried}");
    assert!(retried.get("thread").is_none(), "{retried}");
    assert_eq!(
        reassigned["attempt"]["attempt_no"],
        previous + 2,
        "{reassigned}"
    );
    assert_eq!(reassigned["previous_attempt"]["status"], "cancelled");
    let rows = env.attempts("m", "flaky");
    assert_eq!(rows.len() as i64, previous + 2);
}

#[test]
fn a_call_with_a_request_id_is_made_once() {
    let env = Env::new();
    std::fs::write(env.path().join("plan.toml"), PLAN).unwrap();
    let (first, again, other, cli) = with_server(&env, async |client| {
        let cancel = json!({"run": "m", "task": "later", "reason": "enough", "request_id": "c-1"});
        let applied = call(
            client,
            "plan_apply",
            json!({"file": "plan.toml", "request_id": "p-1"}),
        );
        data(&applied.await);
        let first = data(&call(client, "cancel", cancel.clone()).await);
        let again = data(&call(client, "cancel", cancel).await);
        let other = json!({"run": "m", "task": "later", "reason": "other", "request_id": "c-1"});
        let other = error(&call(client, "cancel", other).await);
        // The command line replays the same call's reply too.
        let cli = env.orch(&[
            "cancel",
            "--run",
            "m",
            "--task",
            "later",
            "--reason",
            "enough",
            "--request-id",
            "c-1",
        ]);
        (first, again, other, cli)
    });
    assert_eq!(first["task"]["status"], "cancelled");
    assert_eq!(
        again, first,
        "the second call returns the first one's reply"
    );
    assert_eq!(other["code"], "invalid_input", "{other}");
    assert!(
        other["message"].as_str().unwrap().contains("c-1"),
        "{other}"
    );
    assert_eq!(cli.data()["task"]["status"], "cancelled", "{cli:#?}");
}
