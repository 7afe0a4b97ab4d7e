//! The supervisor of one attempt (`orch supervise --attempt THREAD`, started detached):
//!
//! 1. renders the brief as the prompt and builds the adapter's argv and environment;
//! 2. claims the attempt's thread on the worker's behalf and records its own pid;
//! 3. starts the worker on a PTY (cwd = worktree in code mode, else the repository);
//! 4. pumps output: raw bytes to the log, parsed events into the thread;
//! 5. watches for the end: exit, or a cancel (the thread cancelled by the leader);
//! 6. stops leftovers (process group, escaped terminal holders), classifies the end,
//!    pushes a code attempt's branch when pushing is on, finishes the thread if the
//!    worker did not, and records the outcome.

mod attempt_run;
mod launch;
mod liveness;
pub mod output;
mod push;
mod run;
mod work;

use crate::adapter::{Adapter, Placeholders, PromptMode, build_argv};
use crate::brief::{BriefContext, render};
use crate::config::{ResolvedWorker, Workers};
use crate::error::Result;
use crate::model::{Attempt, ExecutionMode, Task};
use crate::redact::Redactor;
use crate::store::{AttemptBrief, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use attempt_run::StopSignals;
pub(crate) use run::finish_as;
pub use run::supervise;

/// Everything needed to start one attempt's worker.
#[derive(Debug, Clone)]
pub struct LaunchPlan {
    pub worker: ResolvedWorker,
    /// The brief: written to `prompt_path` (the file `{prompt_file}` names) for every
    /// attempt.
    pub prompt: String,
    pub argv: Vec<String>,
    /// The long texts `argv` carries (the prompt it was given, the body), each with the
    /// word that names it where the argv is shown: see [`LaunchPlan::shown_argv`].
    pub argv_texts: Vec<(String, &'static str)>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdin_text: Option<String>,
    pub log_path: PathBuf,
    pub prompt_path: PathBuf,
}

/// What `dispatch --launch` reports (`data.launch`).
#[derive(Debug, Clone, Serialize)]
pub struct LaunchReport {
    pub adapter: String,
    pub profile: String,
    pub argv: Vec<String>,
    pub supervisor_pid: u32,
    pub log_path: String,
}

/// The directory orch keeps logs under: `logs/` in the state directory.
pub fn logs_dir(store: &Store) -> PathBuf {
    store.state_dir().join("logs")
}

/// The log file of an attempt: `<state>/logs/<run>/<task>/attempt-<n>.log`.
pub fn log_path(store: &Store, attempt: &Attempt) -> PathBuf {
    logs_dir(store)
        .join(&attempt.run_id)
        .join(&attempt.task_id)
        .join(format!("attempt-{}.log", attempt.attempt_no))
}

/// What the brief of the attempt on `thread_id` says beyond its task and attempt: the
/// hand-over note about the attempt before, the session it resumes, and the body the
/// leader gave it in place of the task's. The supervisor, `dispatch --launch`'s report
/// and `orch brief` all read it here.
pub async fn brief_context(store: &Store, thread_id: &str) -> Result<BriefContext> {
    Ok(brief_context_of(&store.attempt_brief(thread_id).await?))
}

/// [`brief_context`] from what the store read.
pub fn brief_context_of(brief: &AttemptBrief) -> BriefContext {
    BriefContext {
        previous: Some(brief.note.clone()).filter(|n| !n.is_empty()),
        resume_session: Some(brief.resume_session.clone()).filter(|s| !s.is_empty()),
        worker_note: None,
        body: brief.replaced_body.clone(),
    }
}

/// Builds the launch plan of an attempt (the same for the dispatcher's report and the
/// supervisor itself).
pub fn plan_launch(
    store: &Store,
    task: &Task,
    attempt: &Attempt,
    workers: &Workers,
    context: &BriefContext,
) -> Result<LaunchPlan> {
    let worker = workers.resolve(&attempt.assigned_to)?;
    let adapter = &worker.adapter;
    let log_path = log_path(store, attempt);
    let prompt_path = log_path.with_extension("prompt.md");
    let cwd = match (
        attempt.execution_mode,
        &attempt.workspace.worktree_path,
        &attempt.workspace.repo_path,
    ) {
        (ExecutionMode::Code, Some(worktree), _) => worktree.clone(),
        (_, _, Some(repo)) => repo.clone(),
        _ => std::env::current_dir().unwrap_or_default(),
    };
    let state_dir = store.state_dir().display().to_string();
    let mut values = Placeholders {
        prompt: String::new(),
        prompt_file: prompt_path.display().to_string(),
        workdir: cwd.display().to_string(),
        model: worker.settings.model.clone(),
        session_id: None,
        // The body the attempt was given (a leader's `--body`), else the task's: for
        // `shell` it is the command that runs.
        body: context.body.clone().unwrap_or_else(|| task.body.clone()),
        args: worker.settings.args.clone(),
        state_dir,
        permissions: Vec::new(),
    };
    let (permission_args, permission) =
        adapter.permission(worker.permissions(), attempt.execution_mode, &values)?;
    values.permissions = permission_args;
    let context = BriefContext {
        worker_note: permission.and_then(|p| p.brief_note.clone()),
        ..context.clone()
    };
    let prompt = render(task, attempt, &context);
    values.prompt = prompt.clone();
    let body = values.body.clone();
    let (argv, argv_prompt) = match context
        .resume_session
        .as_deref()
        .filter(|_| !adapter.resume.is_empty())
    {
        // Resume the agent's session: the brief's note is the prompt ("continue ...").
        Some(session) => {
            let values = Placeholders {
                prompt: context
                    .previous
                    .clone()
                    .unwrap_or_else(|| "Continue where you stopped.".to_string()),
                session_id: Some(session.to_string()),
                ..values
            };
            (build_argv(&adapter.resume, &values)?, values.prompt)
        }
        None => (build_argv(&adapter.command, &values)?, prompt.clone()),
    };
    let env = worker_env(store, attempt, &worker, permission.map(|p| &p.env));
    Ok(LaunchPlan {
        stdin_text: (adapter.prompt == PromptMode::Stdin).then(|| prompt.clone()),
        prompt,
        worker,
        argv,
        argv_texts: vec![(argv_prompt, "brief"), (body, "body")],
        env,
        cwd,
        log_path,
        prompt_path,
    })
}

/// The ordinary network and certificate settings every worker gets from the caller
/// when set: a CLI behind a proxy or a private CA cannot reach its provider without
/// them. Not secrets, unless a proxy URL carries a password (then it is redacted).
pub const NETWORK_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
];

/// The `ORCH_DB` a worker gets: the database's canonical path, or its server's URL.
/// With `ORCH_THREAD` it marks the worker's descendants wherever they go (see
/// `group::kill_attempt_leftovers`).
pub fn db_for_workers(store: &Store) -> String {
    store.location().for_children()
}

/// The environment a worker of `adapter` gets before the attempt's own `ORCH_*`
/// variables (and all `orch doctor` runs its checks with): PATH (with orch's own
/// directory first, so `inbox` is there), HOME, `TZ=UTC` (reset times parse the same
/// everywhere), `TERM=dumb`, `NO_COLOR=1`, the proxy and CA variables, the adapter's (and
/// profile's) `env`, the caller's `pass_env` variables (an `env` value wins), and the
/// permission level's `env`.
pub fn worker_base_env(
    adapter: &Adapter,
    level_env: Option<&BTreeMap<String, String>>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let own_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    let path = match own_dir {
        Some(dir) => format!("{}:{path}", dir.display()),
        None => path,
    };
    env.push(("PATH".into(), path));
    if let Ok(home) = std::env::var("HOME") {
        env.push(("HOME".into(), home));
    }
    env.push(("TZ".into(), "UTC".into()));
    env.push(("TERM".into(), "dumb".into()));
    env.push(("NO_COLOR".into(), "1".into()));
    for name in NETWORK_ENV {
        if let Ok(value) = std::env::var(name) {
            env.push((name.to_string(), value));
        }
    }
    let passed = std::env::vars().filter(|(name, _)| {
        crate::adapter::name_listed(&adapter.pass_env, name) && !adapter.env.contains_key(name)
    });
    let set: Vec<(String, String)> = adapter
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(passed)
        .chain(
            level_env
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone())),
        )
        .collect();
    for (name, value) in set {
        set_var(&mut env, name, value);
    }
    env
}

fn set_var(env: &mut Vec<(String, String)>, name: String, value: String) {
    env.retain(|(n, _)| *n != name);
    env.push((name, value));
}

/// The worker's whole environment: [`worker_base_env`] and the attempt's `ORCH_*`
/// variables (which nothing overrides), then `ORCH_SECRET_VARS`, the names (never the
/// values) of its secrets, for the worker's own `inbox` calls.
fn worker_env(
    store: &Store,
    attempt: &Attempt,
    worker: &ResolvedWorker,
    level_env: Option<&BTreeMap<String, String>>,
) -> Vec<(String, String)> {
    let mut env = worker_base_env(&worker.adapter, level_env);
    for (name, value) in [
        ("ORCH_DB", db_for_workers(store)),
        // This host's state directory (logs, locks): a place for a worker's own files
        // on either backend (`${ORCH_DB%/*}` is one only for a SQLite file).
        ("ORCH_STATE_DIR", store.state_dir().display().to_string()),
        ("ORCH_AGENT", attempt.assigned_to.clone()),
        ("ORCH_RUN", attempt.run_id.clone()),
        ("ORCH_TASK", attempt.task_id.clone()),
        ("ORCH_ATTEMPT", attempt.attempt_no.to_string()),
        ("ORCH_THREAD", attempt.thread_id.clone()),
        // The host it runs on: what the worker's own `orch` (a lead's `dispatch
        // --launch`) records on the attempts it starts.
        (
            "ORCH_HOST",
            crate::orchestration::hosts::this_host().to_string(),
        ),
    ] {
        set_var(&mut env, name.to_string(), value);
    }
    let secrets: Vec<&str> = env
        .iter()
        .filter(|(name, value)| is_worker_secret(&worker.adapter, name, value))
        .map(|(name, _)| name.as_str())
        .collect();
    if !secrets.is_empty() {
        let names = secrets.join(",");
        env.push(("ORCH_SECRET_VARS".into(), names));
    }
    env
}

/// Whether a worker's variable holds a secret: a secret-looking name, a name the
/// adapter or profile lists in `secret_env`, or a proxy URL with a password in it.
pub fn is_worker_secret(adapter: &Adapter, name: &str, value: &str) -> bool {
    crate::redact::is_secret_name(name)
        || crate::adapter::name_listed(&adapter.secret_env, name)
        || (NETWORK_ENV.contains(&name) && value.contains("://") && value.contains('@'))
}

impl LaunchPlan {
    /// The redactor of this worker's output and argv: the values of the adapter's
    /// `pass_env` variables and of the secret-looking variables it gets, and the built-in
    /// key patterns (see [`crate::redact`]).
    pub fn redactor(&self) -> Redactor {
        Redactor::with_secrets(
            self.env
                .iter()
                .filter(|(name, value)| is_worker_secret(&self.worker.adapter, name, value))
                .map(|(_, value)| value.as_bytes()),
        )
    }

    /// The argv as it may be printed or stored: every secret replaced by `[REDACTED]`.
    pub fn redacted_argv(&self) -> Vec<String> {
        self.redactor().redact_argv(&self.argv)
    }

    /// The argv as it is printed and recorded (`data.launch.argv`, the `attempt_launched`
    /// event, the supervisor's log): redacted, and with each long text it carries (the
    /// brief, the body) replaced by its size, `<brief: 1834 bytes>`. The worker itself is
    /// started with [`LaunchPlan::argv`], unchanged.
    pub fn shown_argv(&self) -> Vec<String> {
        self.redactor()
            .redact_argv(&shorten_argv(self.argv.clone(), &self.argv_texts))
    }
}

/// Texts longer than this are shown in an argv by their size only.
const LONG_ARG: usize = 80;

/// Replaces in `argv` each text of `texts` longer than [`LONG_ARG`] bytes by
/// `<WORD: N bytes>`: the whole argument when it is the text, else the text inside it
/// (`--prompt=<brief: 1834 bytes>`).
pub fn shorten_argv(argv: Vec<String>, texts: &[(String, &'static str)]) -> Vec<String> {
    argv.into_iter()
        .map(|mut arg| {
            for (text, word) in texts {
                if text.len() > LONG_ARG && arg.contains(text.as_str()) {
                    arg = arg.replace(text.as_str(), &format!("<{word}: {} bytes>", text.len()));
                }
            }
            arg
        })
        .collect()
}
