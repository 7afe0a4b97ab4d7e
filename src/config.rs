//! Worker profiles: `[workers.NAME]` in `.orch/config.toml` (or in a run's plan file),
//! each naming an adapter with its model, extra arguments, fallbacks and limits.
//! `--to NAME` resolves a profile first, then an adapter of that name with its defaults.

use crate::adapter::{self, Adapter, AdapterError};
use crate::plan::WorkerProfile;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    workers: BTreeMap<String, WorkerProfile>,
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
        if let Some(repo) = repo {
            let path = repo.join(crate::paths::STATE_DIR).join("config.toml");
            if path.exists() {
                profiles.extend(read_config_file(path)?.workers);
            }
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

/// Reads `.orch/config.toml`.
fn read_config_file(path: PathBuf) -> Result<ConfigFile> {
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(source) => return Err(ConfigError::Unreadable { path, source }),
    };
    toml::from_str(&text).map_err(|source| ConfigError::Toml { path, source })
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
