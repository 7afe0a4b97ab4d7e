//! The tools of `orch mcp`: one row per leader verb ([`TOOLS`]); each tool's input schema
//! read off the verb's clap arguments ([`Toolbox::new`]); a call's arguments turned back
//! into the verb's argv and parsed by the same clap parser as the command line
//! ([`Toolbox::parse`]), so a tool validates exactly as the verb does.

use crate::cli::orch::{OrchCli, OrchCommand};
use crate::error::{Error, Result};
use clap::{Arg, ArgAction, CommandFactory, Parser};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;
use std::any::TypeId;
use std::path::PathBuf;
use std::sync::Arc;

/// The longest a tool may block, in seconds: a waiting verb's `timeout_seconds` is
/// clamped to it, and a wait without one gets it.
pub const MAX_WAIT_SECONDS: u64 = 300;

/// Default lines of the `logs` tool.
const LOG_LINES: &str = "40";

/// A leader verb as a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec {
    pub name: &'static str,
    /// The verb's words after `orch`.
    pub verb: &'static [&'static str],
    /// What the tool adds to the verb's own description.
    pub note: &'static str,
    /// The tool's description instead of the verb's, when it behaves otherwise.
    pub about: &'static str,
    /// Changes nothing (an MCP hint to the client).
    pub read_only: bool,
    /// Flags of the verb the tool does not take.
    pub hidden: &'static [&'static str],
    /// Flags the tool sets when the call does not (`logs`: the tail).
    pub defaults: &'static [(&'static str, &'static str)],
    /// The verb blocks on `wait`: its `timeout_seconds` is bounded by this.
    pub max_wait: Option<u64>,
    /// The verb makes an attempt: its result is kept to
    /// [`made_attempt`](super::compact::made_attempt)'s fields.
    pub makes_attempt: bool,
}

impl ToolSpec {
    const fn new(name: &'static str, verb: &'static [&'static str]) -> Self {
        ToolSpec {
            name,
            verb,
            note: "",
            about: "",
            read_only: false,
            hidden: &[],
            defaults: &[],
            max_wait: None,
            makes_attempt: false,
        }
    }

    const fn makes_attempt(self) -> Self {
        ToolSpec {
            makes_attempt: true,
            ..self
        }
    }

    const fn read_only(self) -> Self {
        ToolSpec {
            read_only: true,
            ..self
        }
    }

    const fn note(self, note: &'static str) -> Self {
        ToolSpec { note, ..self }
    }

    const fn about(self, about: &'static str) -> Self {
        ToolSpec { about, ..self }
    }

    /// A verb that can block (`--wait`): bounded by [`MAX_WAIT_SECONDS`].
    const fn bounded(self) -> Self {
        ToolSpec {
            max_wait: Some(MAX_WAIT_SECONDS),
            ..self
        }
    }
}

/// The tools, in the order a client lists them. A verb becomes a tool in one line.
pub const TOOLS: &[ToolSpec] = &[
    ToolSpec::new("plan_apply", &["plan", "apply"])
        .note("`file` is read by the server (relative to its working directory)."),
    ToolSpec::new("status", &["status"]).read_only(),
    ToolSpec::new("next", &["next"]).read_only().bounded(),
    ToolSpec::new("answer", &["answer"]),
    ToolSpec::new("retry", &["retry"]).makes_attempt(),
    ToolSpec::new("reassign", &["reassign"]).makes_attempt(),
    ToolSpec::new("cancel", &["cancel"]),
    ToolSpec {
        hidden: &["follow", "raw"],
        defaults: &[("lines", LOG_LINES)],
        ..ToolSpec::new("logs", &["logs"]).read_only().about(
            "The last `lines` lines (default 40) of an attempt's output as text, escapes \
             removed, each clipped to 1000 characters.",
        )
    },
    ToolSpec::new("attempts", &["attempts"]).read_only(),
];

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Present or not (`true`/`false`).
    Switch,
    /// One value.
    One,
    /// Repeatable: a list of values.
    Many,
}

/// One flag of a verb, as a tool takes it.
#[derive(Debug, Clone)]
struct Flag {
    /// The key in the tool's arguments: clap's id, the field's snake_case name.
    key: String,
    /// The spelling on the command line (`--body-file`); none for a positional.
    long: Option<String>,
    kind: Kind,
    /// A path: `-` (standard input) is refused, stdin being the MCP connection.
    path: bool,
    required: bool,
}

/// One tool ready to list and call.
struct Entry {
    spec: ToolSpec,
    tool: Tool,
    flags: Vec<Flag>,
}

/// The tools with their schemas, built once when the server starts.
pub struct Toolbox {
    entries: Vec<Entry>,
}

impl Toolbox {
    /// Reads every tool's flags and schema off the `orch` clap command.
    pub fn new() -> Result<Toolbox> {
        let root = OrchCli::command();
        let entries = TOOLS
            .iter()
            .map(|spec| entry(&root, *spec))
            .collect::<Result<_>>()?;
        Ok(Toolbox { entries })
    }

    pub fn tools(&self) -> Vec<Tool> {
        self.entries.iter().map(|e| e.tool.clone()).collect()
    }

    pub fn tool(&self, name: &str) -> Option<Tool> {
        self.entry(name).map(|e| e.tool.clone())
    }

    /// The spec of the tool `name`.
    pub fn spec(&self, name: &str) -> Option<ToolSpec> {
        self.entry(name).map(|e| e.spec)
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.spec.name == name)
    }

    /// The verb a call names, parsed from its arguments; `None` for an unknown tool.
    pub fn parse(&self, name: &str, input: Option<&JsonObject>) -> Option<Result<OrchCommand>> {
        let entry = self.entry(name)?;
        Some(entry.argv(input).and_then(|argv| {
            OrchCli::try_parse_from(argv)
                .map(|cli| cli.command)
                .map_err(|e| Error::invalid_input(crate::commands::usage_message(&e)))
        }))
    }
}

fn entry(root: &clap::Command, spec: ToolSpec) -> Result<Entry> {
    let mut command = root;
    for word in spec.verb {
        command = command.find_subcommand(word).ok_or_else(|| {
            Error::internal(format!("tool {}: no verb {:?}", spec.name, spec.verb))
        })?;
    }
    let args: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_hide_set())
        .filter(|a| !spec.hidden.contains(&a.get_id().as_str()))
        .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
        .collect();
    let flags = args.iter().map(|a| flag(a)).collect();
    let mut description = if spec.about.is_empty() {
        sentence(
            command
                .get_about()
                .map(|a| a.to_string())
                .unwrap_or_default(),
        )
    } else {
        spec.about.to_string()
    };
    if !spec.note.is_empty() {
        description = format!("{description} {}", spec.note);
    }
    if let Some(max) = spec.max_wait {
        description.push_str(&format!(" Waits at most {max} s."));
    }
    let annotations = ToolAnnotations::new()
        .read_only(spec.read_only)
        .open_world(false);
    let tool = Tool::new(
        spec.name,
        description,
        Arc::new(super::schema::schema(&spec, &args)),
    )
    .annotate(annotations);
    Ok(Entry { spec, tool, flags })
}

/// Text ending with a full stop.
fn sentence(mut text: String) -> String {
    if !text.is_empty() && !text.ends_with('.') {
        text.push('.');
    }
    text
}

fn flag(arg: &Arg) -> Flag {
    let kind = match arg.get_action() {
        ArgAction::SetTrue => Kind::Switch,
        ArgAction::Append => Kind::Many,
        _ => Kind::One,
    };
    Flag {
        key: arg.get_id().to_string(),
        long: arg.get_long().map(|l| format!("--{l}")),
        kind,
        path: arg.get_value_parser().type_id() == TypeId::of::<PathBuf>(),
        required: arg.is_required_set(),
    }
}

impl Entry {
    /// The verb's command line for a call: `orch <verb…> --flag value …`.
    fn argv(&self, input: Option<&JsonObject>) -> Result<Vec<String>> {
        let empty = JsonObject::new();
        let input = input.unwrap_or(&empty);
        for key in input.keys() {
            if !self.flags.iter().any(|f| &f.key == key) {
                let known: Vec<&str> = self.flags.iter().map(|f| f.key.as_str()).collect();
                return Err(Error::invalid_input(format!(
                    "{} takes no argument {key:?}; it takes: {}",
                    self.spec.name,
                    known.join(", ")
                )));
            }
        }
        let missing: Vec<&str> = self
            .flags
            .iter()
            .filter(|f| f.required && input.get(&f.key).is_none_or(Value::is_null))
            .map(|f| f.key.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid_input(format!(
                "{} needs {}",
                self.spec.name,
                missing.join(", ")
            )));
        }
        let mut argv: Vec<String> = std::iter::once("orch")
            .chain(self.spec.verb.iter().copied())
            .map(str::to_string)
            .collect();
        let mut positionals = Vec::new();
        for flag in &self.flags {
            let given = input.get(&flag.key).filter(|v| !v.is_null());
            let default = self.spec.defaults.iter().find(|(k, _)| *k == flag.key);
            let values = match (given, default) {
                (Some(value), _) => self.values(flag, value)?,
                (None, Some((_, v))) => vec![v.to_string()],
                (None, None) => continue,
            };
            for value in values {
                match &flag.long {
                    None => positionals.push(value),
                    Some(long) if flag.kind == Kind::Switch => argv.push(long.clone()),
                    // `--flag=value`: a value starting with `-` stays a value.
                    Some(long) => argv.push(format!("{long}={value}")),
                }
            }
        }
        self.bound(input, &mut argv);
        if !positionals.is_empty() {
            argv.push("--".into());
            argv.extend(positionals);
        }
        Ok(argv)
    }

    /// A flag's values on the command line (a switch: one empty value when on).
    fn values(&self, flag: &Flag, value: &Value) -> Result<Vec<String>> {
        let name = &flag.key;
        let values = match (flag.kind, value) {
            (Kind::Switch, Value::Bool(on)) => {
                return Ok(if *on { vec![String::new()] } else { vec![] });
            }
            (Kind::Switch, _) => {
                return Err(Error::invalid_input(format!(
                    "{name} must be true or false"
                )));
            }
            (Kind::Many, Value::Array(items)) => items.iter().collect(),
            _ => vec![value],
        };
        values
            .into_iter()
            .map(|v| {
                let text = scalar(name, v)?;
                if flag.path && text == "-" {
                    return Err(Error::invalid_input(format!(
                        "{name} cannot be \"-\" here: standard input is the MCP connection"
                    )));
                }
                Ok(text)
            })
            .collect()
    }

    /// A blocking verb's wait, bounded: `timeout_seconds` at most the tool's maximum,
    /// and the maximum when a wait gives none (or 0, forever).
    fn bound(&self, input: &JsonObject, argv: &mut Vec<String>) {
        let Some(max) = self.spec.max_wait else {
            return;
        };
        if input.get("wait") != Some(&Value::Bool(true)) {
            return;
        }
        argv.retain(|a| !a.starts_with("--timeout-seconds="));
        let asked = input
            .get("timeout_seconds")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .filter(|n| *n > 0)
            .unwrap_or(max);
        argv.push(format!("--timeout-seconds={}", asked.min(max)));
    }
}

/// One value as clap reads it: a string as is, a number or boolean as written, an
/// object (a `*_json` flag) as its JSON.
fn scalar(name: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Object(_) if name.ends_with("_json") => Ok(value.to_string()),
        _ => Err(Error::invalid_input(format!(
            "{name} must be a single value, not {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        value.as_object().cloned().unwrap_or_default()
    }

    fn argv(spec: ToolSpec, input: Value) -> Result<Vec<String>> {
        entry(&OrchCli::command(), spec)?.argv(Some(&object(input)))
    }

    #[test]
    fn every_tool_names_a_verb_and_lists_its_flags() {
        let toolbox = Toolbox::new().expect("the tool table matches the verbs");
        for spec in TOOLS {
            let tool = toolbox.tool(spec.name).expect("listed");
            assert_eq!(tool.input_schema["type"], "object");
            assert!(tool.input_schema["properties"].as_object().is_some());
        }
        let status = toolbox.tool("status").expect("status");
        assert_eq!(status.input_schema["required"], json!(["run"]));
        let logs = toolbox.tool("logs").expect("logs");
        let props = logs.input_schema["properties"].as_object().expect("props");
        assert!(!props.contains_key("follow") && !props.contains_key("db"));
        assert_eq!(props["lines"]["type"], "integer");
        assert_eq!(props["lines"]["default"], 40);
    }

    /// The tool `name` of the table.
    fn tool(name: &str) -> ToolSpec {
        TOOLS.iter().find(|t| t.name == name).copied().expect(name)
    }

    #[test]
    fn arguments_become_the_verbs_flags() {
        let spec = tool("answer");
        let argv = argv(
            spec,
            json!({"run": "r", "task": "t", "question": 7, "body": "-yes", "payload_json": {"a": 1}}),
        )
        .expect("argv");
        assert!(argv.starts_with(&["orch".to_string(), "answer".to_string()]));
        for want in [
            "--run=r",
            "--task=t",
            "--question=7",
            "--body=-yes",
            "--payload-json={\"a\":1}",
        ] {
            assert!(argv.iter().any(|a| a == want), "{want} in {argv:?}");
        }
    }

    #[test]
    fn unknown_keys_and_stdin_paths_are_refused() {
        let spec = tool("status");
        let err = argv(spec, json!({"run": "r", "db": "x"})).expect_err("db is not a tool flag");
        assert!(
            err.message.contains("takes no argument \"db\""),
            "{}",
            err.message
        );
        let spec = tool("retry");
        let err =
            argv(spec, json!({"run": "r", "task": "t", "body_file": "-"})).expect_err("stdin");
        assert!(err.message.contains("standard input"), "{}", err.message);
    }

    #[test]
    fn a_blocking_wait_is_bounded() {
        let next = tool("next");
        let timeout = |input: Value| {
            let mut input = object(input);
            input.insert("run".into(), json!("r"));
            let argv = argv(next, Value::Object(input)).expect("argv");
            let flags: Vec<String> = argv.into_iter().filter(|a| a.contains("timeout")).collect();
            flags.join(" ")
        };
        assert_eq!(timeout(json!({})), "", "no wait, no timeout");
        let waits = [
            (json!({"wait": true}), 300),
            (json!({"wait": true, "timeout_seconds": 0}), 300),
            (json!({"wait": true, "timeout_seconds": 5}), 5),
            (json!({"wait": true, "timeout_seconds": 9999}), 300),
        ];
        for (input, seconds) in waits {
            assert_eq!(timeout(input), format!("--timeout-seconds={seconds}"));
        }
        // The verb's parser takes what the bound made.
        let toolbox = Toolbox::new().expect("toolbox");
        let input = object(json!({"run": "r", "wait": true, "timeout_seconds": 9999}));
        let parsed = toolbox.parse("next", Some(&input)).expect("a tool");
        match parsed.expect("parses") {
            OrchCommand::Next(args) => assert_eq!(args.timeout_seconds, 300),
            other => panic!("parsed as {other:?}"),
        }
        let schema = toolbox.tool("next").expect("next").input_schema;
        assert_eq!(schema["properties"]["timeout_seconds"]["default"], 300);
    }
}
