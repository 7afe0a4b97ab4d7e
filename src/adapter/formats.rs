//! The event shapes of Codex (`exec --json`), Claude Code (`-p --output-format
//! stream-json`) and Cursor Agent (`-p --output-format stream-json`), as agent-clis.md
//! records them. Each function returns false for an event type it does not know (the
//! caller keeps that line as raw text).

use super::parse::{Signal, compact, push_session, str_at, u64_at};
use super::reset;
use serde_json::Value;

/// Codex `exec --json` events; false for an event type it does not know.
pub(super) fn codex(v: &Value, out: &mut Vec<Signal>) -> bool {
    match str_at(v, "type") {
        "thread.started" => push_session(out, v.get("thread_id")),
        "turn.completed" => {
            let usage = &v["usage"];
            out.push(Signal::Usage {
                input_tokens: u64_at(usage, "input_tokens"),
                output_tokens: u64_at(usage, "output_tokens"),
                cached_input_tokens: u64_at(usage, "cached_input_tokens"),
                cost_usd: None,
            });
        }
        "turn.failed" => out.push(Signal::Final {
            text: str_at(&v["error"], "message").to_string(),
            is_error: true,
        }),
        "error" => out.push(Signal::Error {
            message: str_at(v, "message").to_string(),
        }),
        "item.completed" => {
            let item = &v["item"];
            match str_at(item, "type") {
                "agent_message" => out.push(Signal::AgentMessage {
                    text: str_at(item, "text").to_string(),
                }),
                "command_execution" => out.push(Signal::ToolCall {
                    summary: format!(
                        "$ {}{}",
                        compact(item.get("command")),
                        item.get("exit_code")
                            .and_then(Value::as_i64)
                            .map(|c| format!(" (exit {c})"))
                            .unwrap_or_default()
                    ),
                }),
                "file_change" => {
                    let changes: Vec<String> = item["changes"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|c| format!("{} {}", str_at(c, "kind"), str_at(c, "path")))
                                .collect()
                        })
                        .unwrap_or_default();
                    out.push(Signal::ToolCall {
                        summary: format!("edit: {}", changes.join(", ")),
                    });
                }
                "mcp_tool_call" => out.push(Signal::ToolCall {
                    summary: format!(
                        "{}.{} {}",
                        str_at(item, "server"),
                        str_at(item, "tool"),
                        compact(item.get("arguments"))
                    ),
                }),
                "web_search" => out.push(Signal::ToolCall {
                    summary: format!("web search: {}", str_at(item, "query")),
                }),
                "error" => out.push(Signal::Error {
                    message: str_at(item, "message").to_string(),
                }),
                // reasoning, plan, todo_list: not what a leader needs to read.
                _ => {}
            }
        }
        "turn.started" | "item.started" | "item.updated" | "item.plan.delta" => {}
        _ => return false,
    }
    true
}

/// Text of an Anthropic-style `message.content[]` (Claude, Cursor), and its tool calls.
fn message_content(message: &Value, out: &mut Vec<Signal>) {
    let mut text = String::new();
    if let Some(parts) = message["content"].as_array() {
        for part in parts {
            match str_at(part, "type") {
                "text" => text.push_str(str_at(part, "text")),
                "tool_use" => out.push(Signal::ToolCall {
                    summary: format!("{} {}", str_at(part, "name"), compact(part.get("input"))),
                }),
                _ => {}
            }
        }
    } else if let Some(s) = message["content"].as_str() {
        text.push_str(s);
    }
    if !text.trim().is_empty() {
        out.push(Signal::AgentMessage { text });
    }
}

/// Claude Code `-p --output-format stream-json --verbose`.
pub(super) fn claude(v: &Value, out: &mut Vec<Signal>, now_ms: i64) -> bool {
    match str_at(v, "type") {
        "system" if str_at(v, "subtype") == "init" => push_session(out, v.get("session_id")),
        "system" => {}
        "assistant" => {
            message_content(&v["message"], out);
            let text = out
                .iter()
                .find_map(|s| match s {
                    Signal::AgentMessage { text } => Some(text.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            match str_at(v, "error") {
                "" => {}
                "rate_limit" | "billing_error" => out.push(Signal::RateLimited {
                    reset_at: reset::reset_at(&text, now_ms),
                    message: text,
                }),
                "authentication_failed" | "oauth_org_not_allowed" => {
                    out.push(Signal::AuthFailed { message: text })
                }
                other => out.push(Signal::Error {
                    message: format!("{other}: {text}"),
                }),
            }
        }
        "result" => claude_result(v, out, now_ms),
        "rate_limit_event" => {
            let info = &v["rate_limit_info"];
            if str_at(info, "status") == "rejected" {
                out.push(Signal::RateLimited {
                    message: format!("rate limit {} rejected", str_at(info, "rateLimitType")),
                    // Seconds a timestamp can hold, or no reset time: `s * 1000`
                    // overflowed on `resetsAt` near i64::MAX (found by review, not
                    // reached by the fuzzer in 25 minutes; in its corpus now).
                    reset_at: info
                        .get("resetsAt")
                        .and_then(Value::as_i64)
                        .and_then(|s| jiff::Timestamp::from_second(s).ok())
                        .map(|t| t.as_millisecond()),
                });
            }
        }
        "user" | "stream_event" | "tool_progress" | "auth_status" | "prompt_suggestion" => {}
        _ => return false,
    }
    true
}

/// Claude's `result` event: usage, the final text, a limit or an auth failure it
/// reports, and the tool calls its permission rules refused.
fn claude_result(v: &Value, out: &mut Vec<Signal>, now_ms: i64) {
    let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false)
        || str_at(v, "subtype").starts_with("error");
    let usage = &v["usage"];
    out.push(Signal::Usage {
        input_tokens: u64_at(usage, "input_tokens"),
        output_tokens: u64_at(usage, "output_tokens"),
        cached_input_tokens: u64_at(usage, "cache_read_input_tokens"),
        cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
    });
    let text = match v.get("result").and_then(Value::as_str) {
        Some(t) => t.to_string(),
        None => v["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|x| x.as_str().map_or(x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default(),
    };
    let status = v.get("api_error_status").and_then(Value::as_u64);
    if is_error && (status == Some(429) || str_at(v, "terminal_reason") == "blocking_limit") {
        out.push(Signal::RateLimited {
            reset_at: reset::reset_at(&text, now_ms),
            message: text.clone(),
        });
    }
    if is_error && matches!(status, Some(401 | 403)) {
        out.push(Signal::AuthFailed {
            message: text.clone(),
        });
    }
    for denial in v["permission_denials"].as_array().into_iter().flatten() {
        out.push(Signal::PermissionDenied {
            tool: str_at(denial, "tool_name").to_string(),
            detail: compact(denial.get("tool_input")),
        });
    }
    out.push(Signal::Final { text, is_error });
}

/// Cursor Agent `-p --output-format stream-json`.
pub(super) fn cursor(v: &Value, out: &mut Vec<Signal>) -> bool {
    match str_at(v, "type") {
        "system" => push_session(out, v.get("session_id")),
        "assistant" => message_content(&v["message"], out),
        "tool_call" if str_at(v, "subtype") == "completed" => {
            let call = &v["tool_call"];
            let (kind, body) = call
                .as_object()
                .and_then(|o| o.iter().next())
                .map(|(k, b)| (k.trim_end_matches("ToolCall").to_string(), b.clone()))
                .unwrap_or_default();
            out.push(Signal::ToolCall {
                summary: format!("{kind} {}", compact(body.get("args"))),
            });
        }
        "result" => {
            push_session(out, v.get("session_id"));
            let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false)
                || str_at(v, "subtype") != "success";
            out.push(Signal::Final {
                text: str_at(v, "result").to_string(),
                is_error,
            });
        }
        "tool_call" | "user" | "thinking" => {}
        _ => return false,
    }
    true
}
