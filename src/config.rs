//! Worker profiles: `[workers.NAME]` in `.orch/config.toml` (or in a run's plan file),
//! each naming an adapter with its model, extra arguments, fallbacks and limits.
//! `--to NAME` resolves a profile first, then an adapter of that name with its defaults.
//! The same file's `[notify]` says which events to notify and how ([`NotifyConfig`],
//! sent by [`crate::notify`]), and its `[remote]` where code attempts' branches are
//! pushed ([`RemoteConfig`], used by [`crate::remote`]).

use crate::adapter::{self, Adapter, AdapterError};
use crate::notify::NotifyEvent;
use crate::plan::WorkerProfile;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is wrong with the worker profiles or a worker name (all the user's to fix:
/// `invalid_input`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {}", path.display(), source.to_string().trim_end())]
    Toml {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("the run's worker profiles: {0}")]
    RunProfiles(#[source] serde_json::Error),
    #[error(
        "worker profile {profile:?} uses adapter {adapter:?}, which does not exist; adapters: {}",
        adapters.join(", ")
    )]
    MissingAdapter {
        profile: String,
        adapter: String,
        adapters: Vec<String>,
    },
    #[error(
        "unknown worker {name:?}: not a worker profile or an adapter; known: {}",
        known.join(", ")
    )]
    UnknownWorker { name: String, known: Vec<String> },
    #[error("worker profile {profile:?}: stall_timeout {text:?}: {source}")]
    BadStallTimeout {
        profile: String,
        text: String,
        #[source]
        source: humantime::DurationError,
    },
    #[error(
        "worker profile {profile:?}: stall_timeout {text:?} must be more than zero and at most a year"
    )]
    StallTimeoutOutOfRange { profile: String, text: String },
    /// A key of a checked section (`[notify]`, `[remote]`).
    #[error("{}: [{section}] {key}: {problem}", path.display())]
    Section {
        path: PathBuf,
        section: &'static str,
        key: &'static str,
        problem: String,
    },
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    workers: BTreeMap<String, WorkerProfile>,
    notify: Option<NotifySection>,
    remote: Option<RemoteSection>,
}

/// `[notify]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifySection {
    events: Option<Vec<String>>,
    command: Option<Vec<String>>,
    webhook: Option<String>,
    timeout: Option<String>,
}

/// `[notify]`, checked: which events to notify, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Without `events`: all of them.
    pub events: Vec<NotifyEvent>,
    /// Run with the event as JSON on its stdin (no shell); `{text}` in an argument is
    /// the one-line message. Empty: none.
    pub command: Vec<String>,
    /// POSTed the event as JSON, Slack-compatible (`text` first).
    pub webhook: Option<String>,
    /// The most one notification may take (the command, or the whole request).
    pub timeout: Duration,
}

/// How long a notification may take when `[notify]` sets no `timeout`.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `timeout` `[notify]` accepts.
const MAX_NOTIFY_TIMEOUT: Duration = Duration::from_secs(300);

impl NotifySection {
    /// Checks every key, naming the first that is wrong.
    fn check(self, path: &Path) -> Result<NotifyConfig> {
        let bad = section_problem(path, "notify");
        let known = || NotifyEvent::ALL.map(NotifyEvent::name).join(", ");
        let events = match self.events {
            None => NotifyEvent::ALL.to_vec(),
            Some(names) if names.is_empty() => {
                return Err(bad("events", format!("is empty; name some of {}", known())));
            }
            Some(names) => {
                let mut events = Vec::new();
                for name in names {
                    let event = NotifyEvent::parse(&name).ok_or_else(|| {
                        bad(
                            "events",
                            format!("unknown event {name:?}; known: {}", known()),
                        )
                    })?;
                    if !events.contains(&event) {
                        events.push(event);
                    }
                }
                events
            }
        };
        let blank = |c: &Vec<String>| c.first().is_none_or(|p| p.trim().is_empty());
        if self.command.as_ref().is_some_and(blank) {
            let problem = "needs a program: an array like [\"notify-send\", \"orch\", \"{text}\"]";
            return Err(bad("command", problem.to_string()));
        }
        let command = self.command.unwrap_or_default();
        if let Some(url) = &self.webhook
            && !is_http_url(url)
        {
            let problem = "must be an http:// or https:// URL with a host".to_string();
            return Err(bad("webhook", problem));
        }
        if command.is_empty() && self.webhook.is_none() {
            let problem = "neither is set: [notify] needs a command, a webhook or both";
            return Err(bad("command, webhook", problem.to_string()));
        }
        let timeout = section_timeout(self.timeout, DEFAULT_NOTIFY_TIMEOUT, MAX_NOTIFY_TIMEOUT)
            .map_err(|problem| bad("timeout", problem))?;
        Ok(NotifyConfig {
            events,
            command,
            webhook: self.webhook,
            timeout,
        })
    }
}

/// `[remote]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteSection {
    name: Option<String>,
    push: Option<bool>,
    timeout: Option<String>,
}

/// `[remote]`, checked: the shared remote code attempts' branches go to (issue 13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// The git remote's name (default `origin`).
    pub name: String,
    /// Whether code attempts are pushed: true unless `push = false`.
    pub push: bool,
    /// The most one fetch (the base check at dispatch) or push may take.
    pub timeout: Duration,
}

/// The remote `[remote]` names when it gives no `name`.
pub const DEFAULT_REMOTE: &str = "origin";
/// How long a fetch or push may take when `[remote]` sets no `timeout`.
pub const DEFAULT_REMOTE_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest `timeout` `[remote]` accepts.
const MAX_REMOTE_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for RemoteConfig {
    /// `origin`, pushed, with the default timeout (what an empty `[remote]` says).
    fn default() -> Self {
        RemoteConfig {
            name: DEFAULT_REMOTE.to_string(),
            push: true,
            timeout: DEFAULT_REMOTE_TIMEOUT,
        }
    }
}

impl RemoteSection {
    /// Checks every key, naming the first that is wrong.
    fn check(self, path: &Path) -> Result<RemoteConfig> {
        let bad = section_problem(path, "remote");
        let name = self.name.unwrap_or_else(|| DEFAULT_REMOTE.to_string());
        // The name goes into refspecs and `--remotes=NAME/*`: the id rules keep it a
        // plain ref component that no git command reads as an option or a glob.
        crate::ids::validate_id("remote name", &name).map_err(|e| bad("name", e.to_string()))?;
        let timeout = section_timeout(self.timeout, DEFAULT_REMOTE_TIMEOUT, MAX_REMOTE_TIMEOUT)
            .map_err(|problem| bad("timeout", problem))?;
        Ok(RemoteConfig {
            name,
            push: self.push.unwrap_or(true),
            timeout,
        })
    }
}

/// The error of a key of `section` in the config file at `path`: `bad(key, problem)`.
fn section_problem(
    path: &Path,
    section: &'static str,
) -> impl Fn(&'static str, String) -> ConfigError {
    move |key, problem| ConfigError::Section {
        path: path.to_path_buf(),
        section,
        key,
        problem,
    }
}

/// A section's `timeout` (humantime): `default` when it is absent; more than zero and at
/// most `max`, else the problem.
fn section_timeout(
    text: Option<String>,
    default: Duration,
    max: Duration,
) -> std::result::Result<Duration, String> {
    let Some(text) = text else {
        return Ok(default);
    };
    let t = humantime::parse_duration(&text).map_err(|e| format!("{text:?}: {e}"))?;
    if t.is_zero() || t > max {
        let max = humantime::format_duration(max);
        return Err(format!("{text:?} must be more than zero and at most {max}"));
    }
    Ok(t)
}

/// `http://HOST...` or `https://HOST...`.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// `[notify]` of `<repo>/.orch/config.toml`, checked; `None` when the file or the
/// section is absent.
pub fn load_notify(repo: &Path) -> Result<Option<NotifyConfig>> {
    Ok(read_repo_config(repo)?.and_then(|config| config.notify))
}

/// `[remote]` of `<repo>/.orch/config.toml`, checked; `None` when the file or the
/// section is absent.
pub fn load_remote(repo: &Path) -> Result<Option<RemoteConfig>> {
    Ok(read_repo_config(repo)?.and_then(|config| config.remote))
}

/// A worker name resolved to what runs.
#[derive(Debug, Clone)]
pub struct ResolvedWorker {
    /// The profile's name, or `""` when the name is an adapter's.
    pub profile: String,
    /// The adapter, with the profile's overrides applied.
    pub adapter: Adapter,
    /// The profile's model, arguments, fallbacks and limits (all unset for a bare
    /// adapter).
    pub settings: WorkerProfile,
}

impl ResolvedWorker {
    /// The rule its adapter adds to the brief at its permission level in `mode` (what
    /// the worker cannot do itself, e.g. that orch commits for it).
    pub fn brief_note(&self, mode: crate::model::ExecutionMode) -> Option<String> {
        self.adapter
            .permissions
            .get(self.permissions().level(mode))
            .and_then(|p| p.brief_note.clone())
    }

    /// The permission level the profile asks for.
    pub fn permissions(&self) -> adapter::PermissionChoice {
        self.settings.permissions.unwrap_or_default()
    }
}

/// The profiles and adapters one repository (and run) knows.
#[derive(Debug, Clone, Default)]
pub struct Workers {
    pub profiles: BTreeMap<String, WorkerProfile>,
    pub adapters: BTreeMap<String, Adapter>,
}

impl Workers {
    /// Profiles from `<repo>/.orch/config.toml`, then the run's plan (which wins);
    /// adapters from the built-ins and the user's directories.
    pub fn load(repo: Option<&Path>, run_config: &serde_json::Value) -> Result<Workers> {
        let mut profiles = BTreeMap::new();
        if let Some(config) = repo.map(read_repo_config).transpose()?.flatten() {
            profiles.extend(config.workers);
        }
        if let Some(workers) = run_config.get("workers") {
            let from_plan: BTreeMap<String, WorkerProfile> =
                serde_json::from_value(workers.clone()).map_err(ConfigError::RunProfiles)?;
            profiles.extend(from_plan);
        }
        Ok(Workers {
            profiles,
            adapters: adapter::registry(repo)?,
        })
    }

    /// Every name `--to` accepts.
    pub fn known_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.profiles.keys().cloned().collect();
        names.extend(
            self.adapters
                .keys()
                .filter(|a| !self.profiles.contains_key(*a))
                .cloned(),
        );
        names
    }

    /// Resolves `--to NAME`: a profile, else an adapter; unknown names are
    /// `invalid_input` listing the known ones.
    pub fn resolve(&self, name: &str) -> Result<ResolvedWorker> {
        if let Some(profile) = self.profiles.get(name) {
            let adapter_name = profile.adapter.as_deref().unwrap_or(name);
            let adapter =
                self.adapters
                    .get(adapter_name)
                    .ok_or_else(|| ConfigError::MissingAdapter {
                        profile: name.to_string(),
                        adapter: adapter_name.to_string(),
                        adapters: self.adapters.keys().cloned().collect(),
                    })?;
            return Ok(ResolvedWorker {
                profile: name.to_string(),
                adapter: with_profile(adapter, name, profile)?,
                settings: profile.clone(),
            });
        }
        if let Some(adapter) = self.adapters.get(name) {
            return Ok(ResolvedWorker {
                profile: String::new(),
                adapter: adapter.clone(),
                settings: WorkerProfile::default(),
            });
        }
        Err(ConfigError::UnknownWorker {
            name: name.to_string(),
            known: self.known_names(),
        })
    }
}

/// `.orch/config.toml`, its sections checked.
struct CheckedConfig {
    workers: BTreeMap<String, WorkerProfile>,
    notify: Option<NotifyConfig>,
    remote: Option<RemoteConfig>,
}

/// Reads `<repo>/.orch/config.toml`, with its `[notify]` and `[remote]` checked (a bad
/// one is refused by every verb that reads the file, not only by those that use it);
/// `None` when there is none.
fn read_repo_config(repo: &Path) -> Result<Option<CheckedConfig>> {
    let path = repo.join(crate::paths::STATE_DIR).join("config.toml");
    if !path.exists() {
        return Ok(None);
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => return Err(ConfigError::Unreadable { path, source }),
    };
    let file: ConfigFile = toml::from_str(&text).map_err(|source| ConfigError::Toml {
        path: path.clone(),
        source,
    })?;
    Ok(Some(CheckedConfig {
        notify: file.notify.map(|n| n.check(&path)).transpose()?,
        remote: file.remote.map(|r| r.check(&path)).transpose()?,
        workers: file.workers,
    }))
}

/// The adapter as a profile runs it: the profile's `env`, `pass_env`, `secret_env` and
/// `stall_timeout` over the adapter's.
fn with_profile(adapter: &Adapter, name: &str, profile: &WorkerProfile) -> Result<Adapter> {
    let mut adapter = adapter.clone();
    adapter
        .env
        .extend(profile.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    adapter.pass_env.extend(profile.pass_env.iter().cloned());
    adapter
        .secret_env
        .extend(profile.secret_env.iter().cloned());
    if let Some(text) = &profile.stall_timeout {
        let timeout =
            humantime::parse_duration(text).map_err(|source| ConfigError::BadStallTimeout {
                profile: name.to_string(),
                text: text.clone(),
                source,
            })?;
        if timeout.is_zero() || timeout > adapter::MAX_DURATION {
            return Err(ConfigError::StallTimeoutOutOfRange {
                profile: name.to_string(),
                text: text.clone(),
            });
        }
        adapter.stall_timeout = Some(timeout);
    }
    Ok(adapter)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `load_notify` of a repository whose `.orch/config.toml` is `text`.
    fn notify(text: &str) -> Result<Option<NotifyConfig>> {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".orch")).unwrap();
        std::fs::write(repo.path().join(".orch/config.toml"), text).unwrap();
        load_notify(repo.path())
    }

    fn error(text: &str) -> String {
        notify(text).unwrap_err().to_string()
    }

    #[test]
    fn notify_reads_events_command_webhook_and_timeout() {
        let config = notify(
            r#"
            [workers.w]
            adapter = "shell"
            [notify]
            events = ["question", "task_given_up", "run_finished", "question"]
            command = ["notify-send", "orch", "{text}"]
            webhook = "https://hooks.slack.com/services/T/B/x"
            timeout = "3s"
            "#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.events, NotifyEvent::ALL);
        assert_eq!(config.command, ["notify-send", "orch", "{text}"]);
        assert_eq!(config.timeout, Duration::from_secs(3));
        // Without `events`: all of them; without `timeout`: the default.
        let config = notify("[notify]\nwebhook = \"http://127.0.0.1:9/hook\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(config.events, NotifyEvent::ALL);
        assert_eq!(config.timeout, DEFAULT_NOTIFY_TIMEOUT);
        assert!(config.command.is_empty());
        assert_eq!(notify("[workers]\n").unwrap(), None);
    }

    #[test]
    fn a_bad_notify_section_names_the_key() {
        let unknown = error("[notify]\nwebhook = \"http://x\"\nchannel = \"#dev\"\n");
        assert!(unknown.contains("unknown field `channel`"), "{unknown}");
        let event = error("[notify]\nevents = [\"question\", \"done\"]\ncommand = [\"x\"]\n");
        assert!(
            event.ends_with(
                "[notify] events: unknown event \"done\"; known: question, given_up, run_finished"
            ),
            "{event}"
        );
        let cases = [
            (
                "events = []\ncommand = [\"x\"]",
                "[notify] events: is empty",
            ),
            ("command = []", "[notify] command: needs a program"),
            ("command = [\"\"]", "[notify] command: needs a program"),
            (
                "webhook = \"hooks.slack.com/x\"",
                "[notify] webhook: must be",
            ),
            ("webhook = \"https:///x\"", "[notify] webhook: must be"),
            (
                "events = [\"question\"]",
                "[notify] command, webhook: neither is set",
            ),
            (
                "command = [\"x\"]\ntimeout = \"soon\"",
                "[notify] timeout: \"soon\"",
            ),
            (
                "command = [\"x\"]\ntimeout = \"0s\"",
                "[notify] timeout: \"0s\" must be",
            ),
        ];
        for (section, expected) in cases {
            let message = error(&format!("[notify]\n{section}\n"));
            assert!(message.contains(expected), "{section}: {message}");
        }
        // Every verb that reads the file refuses it, not only those that notify.
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".orch")).unwrap();
        std::fs::write(
            repo.path().join(".orch/config.toml"),
            "[notify]\nevents = [\"nope\"]\ncommand = [\"x\"]\n",
        )
        .unwrap();
        let err = Workers::load(Some(repo.path()), &serde_json::json!({})).unwrap_err();
        assert!(err.to_string().contains("[notify] events"), "{err}");
    }

    /// `load_remote` of a repository whose `.orch/config.toml` is `text`.
    fn remote(text: &str) -> Result<Option<RemoteConfig>> {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".orch")).unwrap();
        std::fs::write(repo.path().join(".orch/config.toml"), text).unwrap();
        load_remote(repo.path())
    }

    #[test]
    fn remote_reads_name_push_and_timeout_with_their_defaults() {
        assert_eq!(remote("[workers]\n").unwrap(), None);
        let defaults = remote("[remote]\n").unwrap().unwrap();
        assert_eq!(defaults, RemoteConfig::default());
        assert_eq!(
            (defaults.name.as_str(), defaults.push, defaults.timeout),
            ("origin", true, DEFAULT_REMOTE_TIMEOUT)
        );
        let set = remote("[remote]\nname = \"shared\"\npush = false\ntimeout = \"30s\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (set.name.as_str(), set.push, set.timeout),
            ("shared", false, Duration::from_secs(30))
        );
    }

    #[test]
    fn a_bad_remote_section_names_the_key() {
        let cases = [
            ("force = true", "unknown field `force`"),
            ("name = \"--upload-pack=x\"", "[remote] name: remote name"),
            ("name = \"a/*\"", "[remote] name: remote name"),
            ("name = \"\"", "[remote] name: remote name"),
            ("push = \"yes\"", "invalid type"),
            ("timeout = \"soon\"", "[remote] timeout: \"soon\""),
            ("timeout = \"0s\"", "[remote] timeout: \"0s\" must be"),
            ("timeout = \"2h\"", "[remote] timeout: \"2h\" must be"),
        ];
        for (line, expected) in cases {
            let message = remote(&format!("[remote]\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{line}: {message}");
        }
    }
}
