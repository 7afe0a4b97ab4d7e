//! A mock model provider for the real-CLI tests: an HTTP server on 127.0.0.1 (never any
//! other address) that speaks enough of the OpenAI Responses API (`POST …/responses`,
//! what `codex exec` calls) and the Anthropic Messages API (`POST …/messages`, what
//! `claude -p` calls) for the real CLIs to run tool calls, and plays a scripted
//! scenario.
//!
//! ```text
//! mock-provider --scenario FILE --port-file FILE [--log FILE] [--max-seconds N]
//! ```
//!
//! The scenario is JSON: `{"steps": [STEP, …]}`. A request of the main conversation
//! (one that offers tools) is answered by the step whose index is the number of tool
//! results the conversation already holds, so a CLI's own retry of a turn gets the same
//! step again. A step is one of
//! - `{"tool": "SHELL COMMAND"}`: the model calls the CLI's shell tool with it;
//! - `{"call": "TOOL", "arguments": {…}}`: the model calls the tool of that name (an MCP
//!   tool, as the CLI names it) with those arguments; `"namespace": "NS"` puts the call
//!   in a Responses API tool namespace (codex offers an MCP server's tools as one);
//! - `{"text": "…"}`: the model's final answer;
//! - `{"stall": true}`: the stream sends its first event, then nothing, forever;
//! - `{"error": ERROR}`: an HTTP error, every time;
//!
//! and may carry `"first": [ERROR, …]`, errors served before it: each to one request of
//! that turn, or, with `"until_ms": T`, to every request of that turn until the clock
//! passes T. An ERROR is `{"status": 429, "headers": {…}, "body": {…}}`, optionally
//! `"key": "K"` (served only to requests made with API key K; others pass it by).
//! Requests outside the main conversation (titles, quota probes) get a short text.
//!
//! Every request is appended to the log as one JSON line: time, path, API key, turn, what
//! was served, and the text of the tool results the request carried. The server stops
//! by itself after `--max-seconds` (default 1800).

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Shared {
    scenario: Value,
    /// Requests served so far at each turn (for `first` errors without `until_ms`).
    served: Mutex<HashMap<usize, usize>>,
    log: Option<Mutex<std::fs::File>>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let scenario_path = flag("--scenario").expect("--scenario FILE");
    let scenario: Value =
        serde_json::from_str(&std::fs::read_to_string(&scenario_path).expect("read the scenario"))
            .expect("the scenario is JSON");
    let max_seconds: u64 = flag("--max-seconds")
        .map(|s| s.parse().expect("--max-seconds N"))
        .unwrap_or(1800);
    let log = flag("--log").map(|p| {
        Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .expect("open the log"),
        )
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local addr").port();
    if let Some(path) = flag("--port-file") {
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, port.to_string()).expect("write the port");
        std::fs::rename(&tmp, &path).expect("publish the port");
    }
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max_seconds));
        std::process::exit(0);
    });
    let shared = Arc::new(Shared {
        scenario,
        served: Mutex::new(HashMap::new()),
        log,
    });
    for stream in listener.incoming().flatten() {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, &shared);
        });
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Ok(None);
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        let len: usize = len.parse().unwrap_or(0);
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

/// Which API a request speaks.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    Responses,
    Messages,
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let path = request.path.split('?').next().unwrap_or("").to_string();
    let api = if path.ends_with("/responses") {
        Api::Responses
    } else if path.ends_with("/messages") {
        Api::Messages
    } else {
        log(
            shared,
            json!({"path": path, "method": request.method, "served": "404"}),
        );
        return respond_json(
            &mut writer,
            404,
            &[],
            &json!({"error": {"type": "not_found_error", "message": "not found"}}),
        );
    };
    let key = api_key(&request.headers);
    let offers_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    if request.method != "POST" || !offers_tools {
        log(shared, json!({"path": path, "key": key, "served": "aside"}));
        return reply_text(&mut writer, api, &body, "OK.");
    }
    let results = tool_results(api, &body);
    let turn = results.len();
    let step = shared.scenario["steps"]
        .get(turn)
        .cloned()
        .unwrap_or_else(|| json!({"text": "Nothing more to do."}));
    let served_before = {
        let mut served = shared.served.lock().unwrap();
        let n = served.entry(turn).or_insert(0);
        *n += 1;
        *n - 1
    };
    let error = first_error(&step, served_before, key.as_deref()).or_else(|| {
        step.get("error")
            .cloned()
            .filter(|e| applies(e, key.as_deref()))
    });
    let record = |served: Value| {
        log(
            shared,
            json!({"path": path, "key": key, "turn": turn, "served": served, "tool_results": results}),
        )
    };
    if let Some(error) = error {
        record(json!({"status": error["status"]}));
        let headers: Vec<(String, String)> = error["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        return respond_json(
            &mut writer,
            error["status"].as_u64().unwrap_or(500) as u16,
            &headers,
            &error["body"],
        );
    }
    if step["stall"].as_bool() == Some(true) {
        record(json!("stall"));
        let mut sse = Sse::start(&mut writer)?;
        match api {
            Api::Responses => sse.event(
                "response.created",
                &json!({"type": "response.created", "response": {"id": "resp_stall"}}),
            )?,
            Api::Messages => sse.event("message_start", &message_start())?,
        }
        // Nothing more, ever: the CLI is left waiting on a live stream.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if let Some(name) = step["call"].as_str() {
        record(json!({"call": name}));
        let arguments = step.get("arguments").cloned().unwrap_or_else(|| json!({}));
        return match api {
            Api::Responses => {
                let call = FunctionCall {
                    name,
                    namespace: step["namespace"].as_str(),
                    arguments: &arguments,
                };
                responses_function_call(&mut writer, &call, turn)
            }
            Api::Messages => messages_tool_use(&mut writer, name, &arguments, turn),
        };
    }
    if let Some(command) = step["tool"].as_str() {
        record(json!({"tool": command}));
        return match api {
            Api::Responses => responses_tool_call(&mut writer, &body, command, turn),
            Api::Messages => messages_tool_call(&mut writer, command, turn),
        };
    }
    let text = step["text"].as_str().unwrap_or("Done.").to_string();
    record(json!({"text": text}));
    reply_text(&mut writer, api, &body, &text)
}

/// The `first` error due for this request, if any.
fn first_error(step: &Value, served_before: usize, key: Option<&str>) -> Option<Value> {
    let mut counted = 0;
    for error in step["first"].as_array()? {
        if !applies(error, key) {
            continue;
        }
        match error.get("until_ms").and_then(Value::as_i64) {
            Some(until) if now_ms() < until => return Some(error.clone()),
            Some(_) => {}
            None => {
                if served_before == counted {
                    return Some(error.clone());
                }
                counted += 1;
            }
        }
    }
    None
}

fn applies(error: &Value, key: Option<&str>) -> bool {
    match error.get("key").and_then(Value::as_str) {
        Some(k) => Some(k) == key,
        None => true,
    }
}

fn api_key(headers: &HashMap<String, String>) -> Option<String> {
    headers.get("x-api-key").cloned().or_else(|| {
        headers
            .get("authorization")
            .map(|a| a.trim_start_matches("Bearer ").trim().to_string())
    })
}

/// The text of every tool result in the conversation, in order.
fn tool_results(api: Api, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match api {
        Api::Responses => {
            for item in body["input"].as_array().into_iter().flatten() {
                let kind = item["type"].as_str().unwrap_or("");
                if kind.ends_with("call_output") {
                    out.push(match &item["output"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    });
                }
            }
        }
        Api::Messages => {
            for message in body["messages"].as_array().into_iter().flatten() {
                for part in message["content"].as_array().into_iter().flatten() {
                    if part["type"] == "tool_result" {
                        out.push(match &part["content"] {
                            Value::String(s) => s.clone(),
                            Value::Array(parts) => parts
                                .iter()
                                .filter_map(|p| p["text"].as_str())
                                .collect::<Vec<_>>()
                                .join("\n"),
                            other => other.to_string(),
                        });
                    }
                }
            }
        }
    }
    out
}

fn log(shared: &Shared, mut entry: Value) {
    entry["t"] = json!(now_ms());
    if let Some(file) = &shared.log {
        let mut file = file.lock().unwrap();
        let _ = writeln!(file, "{entry}");
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        529 => "Overloaded",
        _ => "Error",
    }
}

fn respond_json(
    w: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &Value,
) -> std::io::Result<()> {
    let body = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nrequest-id: req_mock\r\nconnection: close\r\n",
        status_text(status),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(body.as_bytes())?;
    w.flush()
}

/// A server-sent event stream in HTTP/1.1 chunked encoding.
struct Sse<'a> {
    w: &'a mut TcpStream,
}

impl<'a> Sse<'a> {
    fn start(w: &'a mut TcpStream) -> std::io::Result<Sse<'a>> {
        w.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nrequest-id: req_mock\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        )?;
        w.flush()?;
        Ok(Sse { w })
    }

    fn event(&mut self, name: &str, data: &Value) -> std::io::Result<()> {
        let text = format!("event: {name}\ndata: {data}\n\n");
        write!(self.w, "{:x}\r\n{text}\r\n", text.len())?;
        self.w.flush()
    }

    fn end(self) -> std::io::Result<()> {
        self.w.write_all(b"0\r\n\r\n")?;
        self.w.flush()
    }
}

fn reply_text(w: &mut TcpStream, api: Api, body: &Value, text: &str) -> std::io::Result<()> {
    let streaming = body["stream"].as_bool() == Some(true);
    match api {
        Api::Responses => {
            let item = json!({
                "type": "message", "role": "assistant", "id": "msg_mock",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            });
            let mut sse = Sse::start(w)?;
            sse.event(
                "response.created",
                &json!({"type": "response.created", "response": {"id": "resp_mock"}}),
            )?;
            sse.event(
                "response.output_item.done",
                &json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
            )?;
            sse.event("response.completed", &response_completed())?;
            sse.end()
        }
        Api::Messages if !streaming => {
            let message = json!({
                "id": "msg_mock", "type": "message", "role": "assistant", "model": model_of(body),
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 5},
            });
            respond_json(w, 200, &[], &message)
        }
        Api::Messages => {
            let mut sse = Sse::start(w)?;
            sse.event("message_start", &message_start())?;
            sse.event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            )?;
            sse.event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            )?;
            sse.event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            )?;
            message_end(&mut sse, "end_turn")?;
            sse.end()
        }
    }
}

fn model_of(body: &Value) -> String {
    body["model"].as_str().unwrap_or("mock-model").to_string()
}

fn response_completed() -> Value {
    json!({"type": "response.completed", "response": {"id": "resp_mock", "usage": {
        "input_tokens": 100, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 110}}})
}

fn message_start() -> Value {
    json!({"type": "message_start", "message": {
        "id": "msg_mock", "type": "message", "role": "assistant", "model": "mock-model",
        "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 100, "output_tokens": 1}}})
}

fn message_end(sse: &mut Sse, stop_reason: &str) -> std::io::Result<()> {
    sse.event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 10}}),
    )?;
    sse.event("message_stop", &json!({"type": "message_stop"}))
}

/// Codex's shell tool: its name and argument shape differ by version and configuration;
/// the request's tool list says which one this CLI offers.
fn responses_tool_call(
    w: &mut TcpStream,
    body: &Value,
    command: &str,
    turn: usize,
) -> std::io::Result<()> {
    let names: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().or_else(|| t["type"].as_str()))
        .collect();
    let (name, arguments) = if names.contains(&"exec_command") {
        ("exec_command", json!({"cmd": command}))
    } else if names.contains(&"shell_command") {
        ("shell_command", json!({"command": command}))
    } else {
        ("shell", json!({"command": ["bash", "-lc", command]}))
    };
    let call = FunctionCall {
        name,
        namespace: None,
        arguments: &arguments,
    };
    responses_function_call(w, &call, turn)
}

/// A function the model calls (Responses API).
struct FunctionCall<'a> {
    name: &'a str,
    /// The tool namespace the function is offered in, if any.
    namespace: Option<&'a str>,
    arguments: &'a Value,
}

/// A Responses API turn that makes `call`.
fn responses_function_call(
    w: &mut TcpStream,
    call: &FunctionCall,
    turn: usize,
) -> std::io::Result<()> {
    let mut item = json!({"type": "function_call", "name": call.name,
        "call_id": format!("call_mock_{turn}"), "arguments": call.arguments.to_string()});
    if let Some(namespace) = call.namespace {
        item["namespace"] = json!(namespace);
    }
    let mut sse = Sse::start(w)?;
    sse.event(
        "response.created",
        &json!({"type": "response.created", "response": {"id": "resp_mock"}}),
    )?;
    sse.event(
        "response.output_item.done",
        &json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    )?;
    sse.event("response.completed", &response_completed())?;
    sse.end()
}

fn messages_tool_call(w: &mut TcpStream, command: &str, turn: usize) -> std::io::Result<()> {
    let input = json!({"command": command, "description": "Run a command"});
    messages_tool_use(w, "Bash", &input, turn)
}

/// A Messages API turn that calls tool `name` with `input`.
fn messages_tool_use(
    w: &mut TcpStream,
    name: &str,
    input: &Value,
    turn: usize,
) -> std::io::Result<()> {
    let mut sse = Sse::start(w)?;
    sse.event("message_start", &message_start())?;
    sse.event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": format!("toolu_mock_{turn}"), "name": name, "input": {}}}),
    )?;
    sse.event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": input.to_string()}}),
    )?;
    sse.event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    )?;
    message_end(&mut sse, "tool_use")?;
    sse.end()
}
