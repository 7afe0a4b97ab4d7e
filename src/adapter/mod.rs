//! Adapters: how to run one agent CLI unattended, as data. Built-ins are the TOML files
//! in `adapters/` (embedded); a file in `.orch/adapters/` of the repository or in a
//! directory of `$ORCH_ADAPTER_PATH` adds one or overrides a built-in of the same name.
//! See `docs/adapters.md` for the keys.

mod formats;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod parse;
pub mod reset;
pub mod text;

use parse::OutputFormat;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is wrong with an adapter file, a placeholder or a permission level (all the
/// user's to fix: `invalid_input`). `origin` names the file (or `built-in NAME`).
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("cannot read adapter {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("adapter {origin}: {}", source.to_string().trim_end())]
    Toml {
        origin: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("adapter {origin}: command is empty")]
    EmptyCommand { origin: String },
    #[error(
        "adapter {origin}: the first word of command must be a program name without placeholders"
    )]
    ProgramNotAWord { origin: String },
    #[error("adapter {origin}: unknown permission level {level:?}; levels: {}", PERMISSION_LEVELS.join(", "))]
    UnknownPermissionLevel { origin: String, level: String },
    #[error("adapter {origin}: busy_cpu_percent {value} is not between 0 and 100")]
    BusyCpuOutOfRange { origin: String, value: f64 },
    #[error("adapter {origin}: more than {MAX_PATTERNS} patterns in one list")]
    TooManyPatterns { origin: String },
    #[error("adapter {origin}: bad pattern {pattern:?}: {source}")]
    BadPattern {
        origin: String,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error(
        "unknown placeholder {{{0}}}; known: {{prompt}} {{prompt_file}} {{workdir}} {{model}} {{session_id}} {{body}} {{state_dir}} {{args}} {{permissions}}"
    )]
    UnknownPlaceholder(String),
    #[error(
        "argument {0:?} needs a value that is not set (put it in an optional group: [\"--flag\", \"{0}\"])"
    )]
    MissingValue(String),
    /// A level asked for by name that the adapter does not define.
    #[error("adapter {adapter} has no permission level {level:?}; it has: {}", defined.join(", "))]
    NoPermissionLevel {
        adapter: String,
        level: String,
        defined: Vec<String>,
    },
}

pub type Result<T, E = AdapterError> = std::result::Result<T, E>;

/// The built-in adapters, embedded at build time.
pub const BUILT_INS: &[(&str, &str)] = &[
    ("claude", include_str!("../../adapters/claude.toml")),
    ("codex", include_str!("../../adapters/codex.toml")),
    ("cursor", include_str!("../../adapters/cursor.toml")),
    ("gemini", include_str!("../../adapters/gemini.toml")),
    ("opencode", include_str!("../../adapters/opencode.toml")),
    ("shell", include_str!("../../adapters/shell.toml")),
];

/// One argument of a command: a word, or an optional group of words that is kept only
/// when every placeholder in it has a value (`["-m", "{model}"]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ArgItem {
    Word(String),
    Optional(Vec<String>),
}

/// How the prompt reaches the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PromptMode {
    /// As an argument (`{prompt}` in the command).
    #[default]
    Arg,
    /// Written to a file (`{prompt_file}` in the command).
    File,
    /// Typed into the worker's terminal, then end-of-file.
    Stdin,
}

/// An adapter definition (one TOML file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Adapter {
    pub name: String,
    /// The argv; placeholders `{prompt}`, `{prompt_file}`, `{workdir}`, `{model}`,
    /// `{session_id}`, `{body}` each fill (part of) one argument; `{args}` alone stands
    /// for the worker profile's extra arguments (zero or more).
    pub command: Vec<ArgItem>,
    #[serde(default)]
    pub prompt: PromptMode,
    pub output: OutputFormat,
    /// The argv that resumes a session (`{session_id}`), same placeholders.
    #[serde(default)]
    pub resume: Vec<ArgItem>,
    /// Regexes on ANSI-stripped output lines that mean a rate or usage limit.
    #[serde(default)]
    pub rate_limit_patterns: Vec<String>,
    /// Regexes that mean not logged in, bad key, no access: never retried blindly.
    #[serde(default)]
    pub auth_failure_patterns: Vec<String>,
    /// No output, CPU or inbox activity for this long is a stall (humantime, e.g. "10m").
    #[serde(default, with = "humantime_serde_opt")]
    pub stall_timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when stopping the worker.
    #[serde(default, with = "humantime_serde_opt")]
    pub term_grace: Option<Duration>,
    /// No output at all for this long after the start is a stall, whatever the CPU does.
    #[serde(default, with = "humantime_serde_opt")]
    pub first_output_timeout: Option<Duration>,
    /// Extra environment variables for the worker.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Names of variables copied from the caller's environment; a name ending in `*`
    /// copies every variable with that prefix (`CLAUDE_CODE_*`).
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Names (or `PREFIX*`) of variables whose values are secrets, beyond the names
    /// that look like one (`*_KEY`, `*_TOKEN`, `*_SECRET`, `*PASSWORD*`): redacted
    /// everywhere orch writes.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// What the worker may do, per level (`code`, `analysis`, `full`, `read-only`), as
    /// the CLI's own flags; `{permissions}` in `command` and `resume` stands for the
    /// chosen level's `args`.
    #[serde(default)]
    pub permissions: BTreeMap<String, Permission>,
    /// The argv that prints the CLI's version (`orch doctor`).
    #[serde(default)]
    pub version_command: Vec<String>,
    /// The versions this adapter was verified with against the real CLI.
    #[serde(default)]
    pub verified_versions: Vec<String>,
    /// An argv that exits 0 when the CLI is logged in, without spending a request
    /// (`orch doctor`).
    #[serde(default)]
    pub login_check: Vec<String>,
    /// The CPU share of one core (percent, of the worker's processes and their
    /// descendants, averaged over a 10 s window) below which the worker's CPU use is idle
    /// noise rather than progress (a runtime ticking while it waits on a dead stream).
    /// Default 0: any CPU time is progress.
    #[serde(default)]
    pub busy_cpu_percent: Option<f64>,
}

/// One permission level of an adapter: the CLI's flags and environment for it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Permission {
    /// Put where `{permissions}` stands; the same placeholders as `command`.
    #[serde(default)]
    pub args: Vec<ArgItem>,
    /// Extra environment variables at this level.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// For people (`orch doctor`): what the worker may do at this level.
    #[serde(default)]
    pub describe: String,
    /// A rule added to the worker's brief at this level (what it cannot do itself).
    #[serde(default)]
    pub brief_note: Option<String>,
}

/// How much a worker may do: what its execution mode needs (`code`: edit, commit and
/// run `inbox` in its worktree; `analysis`: read, and run `inbox`), everything the CLI
/// can skip checks for (`full`), or reading only (`read-only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionChoice {
    /// By the attempt's execution mode: `code` or `analysis`.
    #[default]
    Default,
    Full,
    ReadOnly,
}

impl PermissionChoice {
    /// The adapter's `permissions` key this choice selects in `mode`.
    pub fn level(self, mode: crate::model::ExecutionMode) -> &'static str {
        match (self, mode) {
            (PermissionChoice::Full, _) => "full",
            (PermissionChoice::ReadOnly, _) => "read-only",
            (PermissionChoice::Default, crate::model::ExecutionMode::Code) => "code",
            (PermissionChoice::Default, crate::model::ExecutionMode::Analysis) => "analysis",
        }
    }
}

/// The permission levels an adapter may define.
pub const PERMISSION_LEVELS: &[&str] = &["code", "analysis", "full", "read-only"];

/// True when `name` is matched by an entry of `list` (exact, or `PREFIX*`).
pub fn name_listed(list: &[String], name: &str) -> bool {
    list.iter().any(|entry| match entry.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => entry == name,
    })
}

/// `Option<Duration>` as a humantime string.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// The longest a duration key may be: a year. Longer is a mistake, and a value near
    /// `Duration::MAX` (`"500000000000years"`) made `Instant + grace` panic when the
    /// supervisor stopped the worker (found by review while fuzzing adapter files).
    pub const MAX: Duration = Duration::from_secs(366 * 86_400);

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| match humantime::parse_duration(&t) {
            Ok(d) if d > MAX => Err(serde::de::Error::custom(format!(
                "{t:?} is longer than a year"
            ))),
            other => other.map_err(serde::de::Error::custom),
        })
        .transpose()
    }

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }
}

/// The longest any duration key may be (a year).
pub const MAX_DURATION: Duration = humantime_serde_opt::MAX;

/// Default grace between SIGTERM and SIGKILL.
pub const DEFAULT_TERM_GRACE: Duration = Duration::from_secs(10);
/// Default stall timeout.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Default first-output deadline.
pub const DEFAULT_FIRST_OUTPUT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

impl Adapter {
    /// Parses and checks one adapter file (patterns are compiled once, to check them).
    pub fn from_toml(text: &str, origin: &str) -> Result<Adapter> {
        let adapter = Self::parse_toml(text, origin)?;
        for list in [&adapter.rate_limit_patterns, &adapter.auth_failure_patterns] {
            if list.len() > MAX_PATTERNS {
                return Err(AdapterError::TooManyPatterns {
                    origin: origin.to_string(),
                });
            }
            for pattern in list {
                compile(pattern).map_err(|source| AdapterError::BadPattern {
                    origin: origin.to_string(),
                    pattern: pattern.clone(),
                    source,
                })?;
            }
        }
        Ok(adapter)
    }

    /// Parses one adapter file without compiling its patterns (the built-ins', which the
    /// unit tests compile).
    fn parse_toml(text: &str, origin: &str) -> Result<Adapter> {
        let origin = origin.to_string();
        let adapter: Adapter = match toml::from_str(text) {
            Ok(adapter) => adapter,
            Err(source) => return Err(AdapterError::Toml { origin, source }),
        };
        if adapter.command.is_empty() {
            return Err(AdapterError::EmptyCommand { origin });
        }
        if !matches!(adapter.command.first(), Some(ArgItem::Word(w)) if !w.contains('{')) {
            return Err(AdapterError::ProgramNotAWord { origin });
        }
        if let Some(level) = adapter
            .permissions
            .keys()
            .find(|k| !PERMISSION_LEVELS.contains(&k.as_str()))
        {
            let level = level.clone();
            return Err(AdapterError::UnknownPermissionLevel { origin, level });
        }
        if let Some(value) = adapter
            .busy_cpu_percent
            .filter(|p| !(0.0..=100.0).contains(p))
        {
            return Err(AdapterError::BusyCpuOutOfRange { origin, value });
        }
        Ok(adapter)
    }

    pub fn rate_limit_regexes(&self) -> Vec<regex::Regex> {
        self.rate_limit_patterns
            .iter()
            .filter_map(|p| compile(p).ok())
            .collect()
    }

    pub fn auth_failure_regexes(&self) -> Vec<regex::Regex> {
        self.auth_failure_patterns
            .iter()
            .filter_map(|p| compile(p).ok())
            .collect()
    }

    pub fn term_grace(&self) -> Duration {
        self.term_grace.unwrap_or(DEFAULT_TERM_GRACE)
    }

    pub fn stall_timeout(&self) -> Duration {
        self.stall_timeout.unwrap_or(DEFAULT_STALL_TIMEOUT)
    }

    /// The arguments and environment of permission `level`: the level's entry with its
    /// placeholders filled, or nothing when the adapter defines no such level (a CLI
    /// without permissions, like `shell`). A level asked for by name (`full`,
    /// `read-only`) that the adapter lacks is an error naming both.
    pub fn permission(
        &self,
        choice: PermissionChoice,
        mode: crate::model::ExecutionMode,
        values: &Placeholders,
    ) -> Result<(Vec<String>, Option<&Permission>)> {
        let level = choice.level(mode);
        match self.permissions.get(level) {
            Some(p) => Ok((build_argv(&p.args, values)?, Some(p))),
            None if choice == PermissionChoice::Default => Ok((Vec::new(), None)),
            None => Err(AdapterError::NoPermissionLevel {
                adapter: self.name.clone(),
                level: level.to_string(),
                defined: self.permissions.keys().cloned().collect(),
            }),
        }
    }

    /// The idle-noise threshold for CPU use (see [`Adapter::busy_cpu_percent`]).
    pub fn busy_cpu_percent(&self) -> f64 {
        self.busy_cpu_percent.unwrap_or(0.0)
    }

    pub fn first_output_timeout(&self) -> Duration {
        self.first_output_timeout
            .unwrap_or(DEFAULT_FIRST_OUTPUT_TIMEOUT.min(self.stall_timeout()))
    }
}

/// The compiled size one pattern may take: 256 KiB, fifty times the largest built-in's
/// (5 KB). Past it a pattern is refused. Found fuzzing adapter files: with regex's default
/// of 10 MiB, `\w{100}` (5 MB) took tens of milliseconds to compile at every load and
/// launch, a 700-byte file of thirty such patterns took 42 s in the fuzz build, and the
/// fuzzer's memory grew past its 512 MB limit.
pub const PATTERN_SIZE_LIMIT: usize = 256 * 1024;

/// The patterns one list (`rate_limit_patterns`, `auth_failure_patterns`) may hold.
pub const MAX_PATTERNS: usize = 64;

/// Compiles one rate-limit or auth-failure pattern within [`PATTERN_SIZE_LIMIT`].
fn compile(pattern: &str) -> std::result::Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
}

/// Values for the placeholders.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    pub prompt: String,
    pub prompt_file: String,
    pub workdir: String,
    pub model: Option<String>,
    pub session_id: Option<String>,
    pub body: String,
    pub args: Vec<String>,
    /// The directory of orch's database (what a sandboxed worker must be able to
    /// write for `inbox`).
    pub state_dir: String,
    /// The chosen permission level's arguments (`{permissions}`).
    pub permissions: Vec<String>,
}

impl Placeholders {
    fn value(&self, name: &str) -> Option<Option<&str>> {
        Some(match name {
            "prompt" => Some(self.prompt.as_str()),
            "prompt_file" => Some(self.prompt_file.as_str()),
            "workdir" => Some(self.workdir.as_str()),
            "model" => self.model.as_deref(),
            "session_id" => self.session_id.as_deref(),
            "body" => Some(self.body.as_str()),
            "state_dir" => Some(self.state_dir.as_str()),
            _ => return None,
        })
    }

    /// Fills one word; `Err` names an unknown placeholder, `Ok(None)` a missing value.
    /// Only `{name}` with a name of lowercase letters and `_` is a placeholder; other
    /// braces are kept as they are (a JSON argument such as claude's `--settings`).
    fn fill(&self, word: &str) -> Result<Option<String>> {
        let mut out = String::with_capacity(word.len());
        let mut rest = word;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 1..start + len];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                out.push_str(&rest[..=start]);
                rest = &rest[start + 1..];
                continue;
            }
            match self.value(name) {
                None => return Err(AdapterError::UnknownPlaceholder(name.to_string())),
                Some(None) => return Ok(None),
                Some(Some(v)) => {
                    out.push_str(&rest[..start]);
                    out.push_str(v);
                }
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        Ok(Some(out))
    }
}

/// Builds an argv from command items. Each placeholder's value stays inside one
/// argument: nothing is ever split or passed through a shell.
pub fn build_argv(items: &[ArgItem], values: &Placeholders) -> Result<Vec<String>> {
    let mut argv = Vec::new();
    let mut args_used = false;
    for item in items {
        match item {
            ArgItem::Word(w) if w == "{args}" => {
                argv.extend(values.args.iter().cloned());
                args_used = true;
            }
            ArgItem::Word(w) if w == "{permissions}" => {
                argv.extend(values.permissions.iter().cloned());
            }
            ArgItem::Word(w) => match values.fill(w)? {
                Some(v) => argv.push(v),
                None => return Err(AdapterError::MissingValue(w.clone())),
            },
            ArgItem::Optional(group) => {
                let mut filled = Vec::with_capacity(group.len());
                let mut complete = true;
                for w in group {
                    match values.fill(w)? {
                        Some(v) => filled.push(v),
                        None => complete = false,
                    }
                }
                if complete {
                    argv.extend(filled);
                }
            }
        }
    }
    if !args_used {
        argv.extend(values.args.iter().cloned());
    }
    Ok(argv)
}

/// The adapters available in a repository: built-ins, then `$ORCH_ADAPTER_PATH`
/// directories, then `<repo>/.orch/adapters/` (later ones override earlier ones).
pub fn registry(repo: Option<&Path>) -> Result<BTreeMap<String, Adapter>> {
    let mut adapters = BTreeMap::new();
    for (name, text) in BUILT_INS {
        let adapter = Adapter::parse_toml(text, &format!("built-in {name}"))?;
        adapters.insert(adapter.name.clone(), adapter);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("ORCH_ADAPTER_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(repo) = repo {
        dirs.push(repo.join(crate::paths::STATE_DIR).join("adapters"));
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for file in files {
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(source) => return Err(AdapterError::Unreadable { path: file, source }),
            };
            let adapter = Adapter::from_toml(&text, &file.display().to_string())?;
            adapters.insert(adapter.name.clone(), adapter);
        }
    }
    Ok(adapters)
}

#[cfg(test)]
mod tests;
