//! Unit tests of the output parsers, one CLI's real lines at a time.

use super::*;

fn parse(format: OutputFormat, lines: &[&str]) -> Vec<Signal> {
    let mut p = Parser::new(format, Vec::new(), Vec::new());
    let mut out: Vec<Signal> = lines.iter().flat_map(|l| p.line(l, 0)).collect();
    out.extend(p.finish());
    out
}

/// Every expected signal is among the parsed ones.
fn assert_has(out: &[Signal], expected: &[Signal]) {
    for signal in expected {
        assert!(out.contains(signal), "{signal:?} not in {out:?}");
    }
}

#[test]
fn codex_session_message_usage_and_failure() {
    let out = parse(
        OutputFormat::CodexJsonl,
        &[
            "Reading additional input from stdin...\r",
            "{\"type\":\"thread.started\",\"thread_id\":\"01a203e7-aaaa\"}\r",
            "{\"type\":\"turn.started\"}",
            "\x1b[31mERROR\x1b[0m codex_api::endpoint: failed to connect",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\",\"type\":\"command_execution\",\"command\":\"bash -lc ls\",\"exit_code\":0,\"status\":\"completed\"}}",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"item_2\",\"type\":\"agent_message\",\"text\":\"Done: added the route.\"}}",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"cached_input_tokens\":4,\"output_tokens\":3}}",
            "{\"type\":\"brand.new.event\",\"x\":1}",
        ],
    );
    assert_eq!(
        out[0],
        Signal::Raw {
            text: "Reading additional input from stdin...".into()
        }
    );
    assert_eq!(
        out[1],
        Signal::SessionId {
            session_id: "01a203e7-aaaa".into()
        }
    );
    assert_eq!(
        out[2],
        Signal::Raw {
            text: "ERROR codex_api::endpoint: failed to connect".into()
        }
    );
    assert_eq!(
        out[3],
        Signal::ToolCall {
            summary: "$ bash -lc ls (exit 0)".into()
        }
    );
    assert_eq!(
        out[4],
        Signal::AgentMessage {
            text: "Done: added the route.".into()
        }
    );
    assert!(matches!(
        out[5],
        Signal::Usage {
            input_tokens: 10,
            output_tokens: 3,
            cached_input_tokens: 4,
            ..
        }
    ));
    assert_eq!(
        out[6],
        Signal::Raw {
            text: "{\"type\":\"brand.new.event\",\"x\":1}".into()
        }
    );
}

#[test]
fn claude_not_logged_in_and_rate_limit_event() {
    let out = parse(
        OutputFormat::ClaudeStreamJson,
        &[
            "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s-1\",\"apiKeySource\":\"none\"}",
            "{\"type\":\"assistant\",\"message\":{\"model\":\"<synthetic>\",\"content\":[{\"type\":\"text\",\"text\":\"Not logged in · Please run /login\"}]},\"error\":\"authentication_failed\"}",
            "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"rejected\",\"resetsAt\":1795363200,\"rateLimitType\":\"five_hour\"}}",
            "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Not logged in · Please run /login\",\"total_cost_usd\":0}",
            "\x1b[?1006l\x1b[?25h",
        ],
    );
    assert_eq!(
        out[0],
        Signal::SessionId {
            session_id: "s-1".into()
        }
    );
    assert!(out.contains(&Signal::AuthFailed {
        message: "Not logged in · Please run /login".into()
    }));
    assert!(out.contains(&Signal::RateLimited {
        message: "rate limit five_hour rejected".into(),
        reset_at: Some(1_795_363_200_000)
    }));
    assert!(out.contains(&Signal::Final {
        text: "Not logged in · Please run /login".into(),
        is_error: true
    }));
}

#[test]
fn cursor_and_gemini_and_opencode() {
    let out = parse(
        OutputFormat::CursorStreamJson,
        &[
            "{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"c-1\"}",
            "{\"type\":\"tool_call\",\"subtype\":\"completed\",\"call_id\":\"1\",\"tool_call\":{\"shellToolCall\":{\"args\":{\"command\":\"ls\"},\"result\":{}}}}",
            "{\"type\":\"assistant\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}",
            "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"hi\",\"session_id\":\"c-1\"}",
        ],
    );
    assert_has(
        &out,
        &[
            Signal::ToolCall {
                summary: "shell ls".into(),
            },
            Signal::Final {
                text: "hi".into(),
                is_error: false,
            },
        ],
    );
    let out = parse(
        OutputFormat::GeminiStreamJson,
        &[
            "{\"type\":\"init\",\"session_id\":\"g-1\",\"model\":\"auto\"}",
            "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"Hel\",\"delta\":true}",
            "{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"lo\",\"delta\":true}",
            "{\"type\":\"result\",\"status\":\"success\",\"stats\":{\"input_tokens\":5,\"output_tokens\":2}}",
        ],
    );
    assert_has(
        &out,
        &[
            Signal::AgentMessage {
                text: "Hello".into(),
            },
            Signal::Final {
                text: "Hello".into(),
                is_error: false,
            },
        ],
    );
    let out = parse(
        OutputFormat::OpencodeJson,
        &[
            "{\"type\":\"error\",\"sessionID\":\"ses_1\",\"error\":{\"name\":\"APIError\",\"data\":{\"message\":\"Too Many Requests\",\"statusCode\":429}}}",
        ],
    );
    assert_eq!(
        out[0],
        Signal::SessionId {
            session_id: "ses_1".into()
        }
    );
    assert!(out.iter().any(|s| matches!(s, Signal::RateLimited { .. })));
}

#[test]
fn claude_reset_beyond_any_timestamp_is_none() {
    let out = parse(
        OutputFormat::ClaudeStreamJson,
        &[
            "{\"type\":\"rate_limit_event\",\"rate_limit_info\":{\"status\":\"rejected\",\"resetsAt\":9223372036854775807}}",
        ],
    );
    assert!(matches!(out[0], Signal::RateLimited { reset_at: None, .. }));
}

#[test]
fn gemini_deltas_join_up_to_a_bound() {
    let mut p = Parser::new(OutputFormat::GeminiStreamJson, Vec::new(), Vec::new());
    let delta = format!(
        "{{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"{}é\",\"delta\":true}}",
        "x".repeat(999)
    );
    for _ in 0..MAX_LINE / 1000 + 10 {
        assert!(p.line(&delta, 0).is_empty());
    }
    let Signal::AgentMessage { text } = &p.finish()[0] else {
        panic!("no message");
    };
    assert!(text.len() <= MAX_LINE + TRUNCATED.len(), "{}", text.len());
    assert!(text.ends_with(TRUNCATED));
}

#[test]
fn patterns_add_rate_limit_and_auth_signals() {
    let rate = vec![Regex::new("(?i)usage limit").unwrap()];
    let auth = vec![Regex::new("Not logged in").unwrap()];
    let mut p = Parser::new(OutputFormat::Text, rate, auth);
    let out = p.line(
        "ERROR: You've hit your usage limit. Try again at 3:28 PM.\r",
        1_795_341_600_000,
    );
    assert!(matches!(
        &out[1],
        Signal::RateLimited {
            reset_at: Some(_),
            ..
        }
    ));
    let out = p.line("Not logged in · Please run /login", 0);
    assert!(matches!(&out[1], Signal::AuthFailed { .. }));
}

fn with_patterns(format: OutputFormat) -> Parser {
    let all = crate::adapter::registry(None).unwrap();
    let adapter = match format {
        OutputFormat::CodexJsonl => &all["codex"],
        _ => &all["claude"],
    };
    Parser::new(
        format,
        adapter.rate_limit_regexes(),
        adapter.auth_failure_regexes(),
    )
}

fn verdicts(out: &[Signal]) -> Vec<&Signal> {
    out.iter()
        .filter(|s| matches!(s, Signal::RateLimited { .. } | Signal::AuthFailed { .. }))
        .collect()
}

#[test]
fn tool_calls_and_tool_output_are_never_read_as_the_clis_own_failure() {
    let mut p = with_patterns(OutputFormat::ClaudeStreamJson);
    for line in [
        r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"printf 'Not logged in · Please run /login'"}}]}}"#,
        r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"You've hit your usage limit · resets 3pm
Invalid API key"}]}}"#,
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"The docs say: You've hit your session limit, Not logged in."}]}}"#,
        r#"{"type":"result","subtype":"success","is_error":false,"result":"Invalid API key is what the tool printed."}"#,
    ] {
        assert!(verdicts(&p.line(line, 0)).is_empty(), "{line}");
    }
    let mut p = with_patterns(OutputFormat::CodexJsonl);
    let line = r#"{"type":"item.completed","item":{"type":"command_execution","command":"echo 'Not logged in'","aggregated_output":"You've hit your usage limit. 401 Unauthorized","exit_code":0}}"#;
    assert!(verdicts(&p.line(line, 0)).is_empty());
}

#[test]
fn codex_messages_are_matched_after_typographic_quotes_are_made_plain() {
    let mut p = with_patterns(OutputFormat::CodexJsonl);
    let out = p.line(
        "{\"type\":\"turn.failed\",\"error\":{\"message\":\"You\u{2019}ve hit your usage limit. Visit https://chatgpt.com/settings/usage to purchase more credits or try again at 10:17 AM.\"}}",
        1_795_341_600_000,
    );
    assert!(
        matches!(
            verdicts(&out)[..],
            [Signal::RateLimited {
                reset_at: Some(_),
                ..
            }]
        ),
        "{out:?}"
    );
    // A 429 codex waits out (retry-after) and a 401 it retries are its own errors.
    let out = p.line(
        r#"{"type":"error","message":"Reconnecting... 1/5 (exceeded retry limit, last status: 429 Too Many Requests, request id: req_1)"}"#,
        0,
    );
    assert!(
        matches!(verdicts(&out)[..], [Signal::RateLimited { .. }]),
        "{out:?}"
    );
    let out = p.line(
        r#"{"type":"error","message":"Reconnecting... 1/5 (unexpected status 401 Unauthorized: Incorrect API key provided)"}"#,
        0,
    );
    assert!(
        matches!(verdicts(&out)[..], [Signal::AuthFailed { .. }]),
        "{out:?}"
    );
}

#[test]
fn claude_api_retries_give_an_early_verdict() {
    let mut p = with_patterns(OutputFormat::ClaudeStreamJson);
    let auth = r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"error_status":401,"error":"authentication_failed"}"#;
    assert!(matches!(
        verdicts(&p.line(auth, 0))[..],
        [Signal::AuthFailed { .. }]
    ));
    let limit = r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"error_status":429,"error":"rate_limit"}"#;
    assert!(verdicts(&p.line(limit, 0)).is_empty());
    assert!(verdicts(&p.line(limit, 0)).is_empty());
    // An answer in between: the count starts again.
    p.line(
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"hi"}]}}"#,
        0,
    );
    for _ in 1..LIMIT_RETRIES_BEFORE_VERDICT {
        assert!(verdicts(&p.line(limit, 0)).is_empty());
    }
    assert!(matches!(
        verdicts(&p.line(limit, 0))[..],
        [Signal::RateLimited { reset_at: None, .. }]
    ));
    let denied = r#"{"type":"result","subtype":"success","is_error":false,"result":"ok","permission_denials":[{"tool_name":"Bash","tool_use_id":"t1","tool_input":{"command":"git commit -m x"}}]}"#;
    assert!(p.line(denied, 0).contains(&Signal::PermissionDenied {
        tool: "Bash".into(),
        detail: "git commit -m x".into()
    }));
}

#[test]
fn opencode_error_status_codes_are_verdicts() {
    let mut p = Parser::new(OutputFormat::OpencodeJson, Vec::new(), Vec::new());
    let out = p.line(
        r#"{"type":"error","sessionID":"ses_1","error":{"name":"APIError","data":{"message":"invalid x-api-key","statusCode":401,"isRetryable":false}}}"#,
        0,
    );
    assert!(out.contains(&Signal::AuthFailed {
        message: "invalid x-api-key".into()
    }));
}
