//! `orch doctor`: for each worker in use, whether its CLI is installed on the PATH the
//! worker gets, its version against the versions the adapter was verified with, whether
//! it is logged in (where the adapter has a `login_check`), and what it may do (the
//! permission levels it runs at, with their flags). Only the adapters' `version_command`
//! and `login_check` run, in the worker's environment, with a timeout: never a model
//! request. See `docs/doctor.md`.

mod checks;
mod render;

use crate::adapter::{Adapter, ArgItem, Permission, Placeholders};
use crate::commands::Ctx;
use crate::config::{ResolvedWorker, Workers};
use crate::error::Result;
use crate::model::ExecutionMode;
use crate::output::{Reply, Style, clip};
use crate::redact::Redactor;
use checks::{find_program, first_line, run_jobs, shell_words, version_in};
use clap::Args;
use render::render;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one version or login check may take before it is killed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The exit code when some worker checked cannot run (a CLI missing, not logged in, a
/// permission level its adapter lacks, an unknown worker name).
pub const EXIT_CANNOT_RUN: u8 = 1;

/// The longest detail (first line of a check's output) kept, in characters.
const DETAIL_MAX: usize = 200;

/// `data` of `orch doctor`.
#[derive(Debug, Serialize)]
struct Report {
    /// The run whose workers were checked (`null`: every profile and adapter).
    run: Option<String>,
    /// True when every worker checked can run.
    can_run: bool,
    workers: Vec<WorkerReport>,
}

#[derive(Debug, Serialize)]
struct WorkerReport {
    /// The name tasks and `--to` use: a profile's or an adapter's.
    worker: String,
    /// The profile's name, `""` when the worker is an adapter with its defaults.
    profile: String,
    adapter: String,
    /// The first word of the adapter's `command`.
    program: String,
    /// Where the program was found on the worker's PATH.
    path: Option<String>,
    installed: bool,
    version: VersionReport,
    login: LoginReport,
    /// What the worker may do: one entry per permission level it runs at.
    permissions: Vec<PermissionReport>,
    /// The adapter's and profile's `pass_env` variables set in the caller's environment
    /// (names only): what the worker, and the checks, get from it.
    passed_env: Vec<String>,
    can_run: bool,
    /// Why the worker cannot run.
    problems: Vec<String>,
    /// What may go wrong although it can run.
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct VersionReport {
    /// `verified`, `unverified` or `unknown`.
    status: &'static str,
    /// The first `N.N.N` the `version_command` printed.
    found: Option<String>,
    /// The adapter's `verified_versions`.
    verified: Vec<String>,
    /// Why the version is unknown, when it is.
    detail: String,
}

#[derive(Debug, Serialize)]
struct LoginReport {
    /// `logged_in`, `not_logged_in` or `unknown`.
    status: &'static str,
    /// The first line the check printed (secrets redacted), or why it did not decide.
    detail: String,
}

#[derive(Debug, Serialize)]
struct PermissionReport {
    /// The adapter's `permissions` key (`code`, `analysis`, `full`, `read-only`).
    level: String,
    /// The execution modes that run at this level.
    modes: Vec<&'static str>,
    /// The level's `describe`, or what applies when the adapter has no such level.
    describe: String,
    /// The arguments the level adds where `{permissions}` stands.
    args: Vec<String>,
}

/// One command to run: a version or login check, in one worker's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Job {
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

/// How a check ended.
#[derive(Debug, Clone)]
enum Outcome {
    Exited(crate::process::bounded::Output),
    TimedOut,
    Failed(String),
}

/// A check as it was planned for one worker.
enum Check {
    /// The adapter has no such command.
    None,
    /// Its program is not on the worker's PATH.
    NotFound(String),
    /// Index into the jobs run.
    Job(usize),
}

/// One worker, before its checks ran.
struct Planned {
    name: String,
    worker: std::result::Result<ResolvedWorker, String>,
    program: String,
    path: Option<PathBuf>,
    passed_env: Vec<String>,
    redactor: Redactor,
    version: Check,
    login: Check,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Only the workers this run's tasks name, with their fallbacks.
    #[arg(long)]
    pub run: Option<String>,
}

pub async fn run(ctx: &Ctx, args: DoctorArgs) -> Result<Reply> {
    let run = args.run.as_deref();
    let cwd = std::env::current_dir().unwrap_or_default();
    let repo = crate::paths::worktree_top(&cwd).unwrap_or(cwd);
    let config = match run {
        Some(run) => ctx.store.run_config(run).await?,
        None => serde_json::json!({}),
    };
    let workers = Workers::load(Some(&repo), &config)?;
    let names = match run {
        Some(run) => run_workers(&workers, &ctx.store.tasks(run).await?),
        None => workers.known_names(),
    };
    let state_dir = ctx.store.state_dir().display().to_string();

    let mut jobs: Vec<Job> = Vec::new();
    let mut planned = Vec::with_capacity(names.len());
    for name in names {
        planned.push(plan(&workers, name, &mut jobs));
    }
    let outcomes = run_jobs(&jobs, &repo).await;

    let reports: Vec<WorkerReport> = planned
        .into_iter()
        .map(|p| report(p, &outcomes, &repo, &state_dir))
        .collect();
    let report = Report {
        run: run.map(str::to_string),
        can_run: reports.iter().all(|w| w.can_run),
        workers: reports,
    };
    let human = if ctx.style.json {
        String::new()
    } else {
        render(&ctx.style, &report)
    };
    let exit = if report.can_run { 0 } else { EXIT_CANNOT_RUN };
    let mut reply = Reply::new("doctor", &report, human);
    reply.exit = exit;
    Ok(reply)
}

/// The workers a run uses: each task's default worker, in task order, then their
/// fallbacks (and the fallbacks' fallbacks), each once.
fn run_workers(workers: &Workers, tasks: &[crate::model::Task]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for task in tasks {
        if !task.default_to.is_empty() && !names.contains(&task.default_to) {
            names.push(task.default_to.clone());
        }
    }
    let mut i = 0;
    while i < names.len() {
        if let Ok(worker) = workers.resolve(&names[i]) {
            for fallback in worker.settings.fallback {
                if !names.contains(&fallback) {
                    names.push(fallback);
                }
            }
        }
        i += 1;
    }
    names
}

/// Resolves one worker, its environment and program, and adds its checks to `jobs`
/// (the same command in the same environment runs once).
fn plan(workers: &Workers, name: String, jobs: &mut Vec<Job>) -> Planned {
    let worker = match workers.resolve(&name) {
        Ok(worker) => worker,
        Err(e) => {
            return Planned {
                name,
                worker: Err(e.to_string()),
                program: String::new(),
                path: None,
                passed_env: Vec::new(),
                redactor: Redactor::patterns_only(),
                version: Check::None,
                login: Check::None,
            };
        }
    };
    let adapter = &worker.adapter;
    let level_env = adapter
        .permissions
        .get(worker.permissions().level(ExecutionMode::Code))
        .map(|p| &p.env);
    let (env, passed_env) = worker_env(adapter, level_env);
    let redactor = Redactor::with_secrets(
        env.iter()
            .filter(|(name, value)| crate::supervisor::is_worker_secret(adapter, name, value))
            .map(|(_, value)| value.as_bytes()),
    );
    let search = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let program = match adapter.command.first() {
        Some(ArgItem::Word(w)) => w.clone(),
        _ => String::new(),
    };
    let path = find_program(&program, &search);
    let mut check = |argv: &[String]| -> Check {
        let Some(first) = argv.first() else {
            return Check::None;
        };
        let Some(found) = find_program(first, &search) else {
            return Check::NotFound(first.clone());
        };
        let mut full = vec![found.display().to_string()];
        full.extend(argv[1..].iter().cloned());
        let job = Job {
            argv: full,
            env: env.clone(),
        };
        let index = jobs.iter().position(|j| *j == job).unwrap_or_else(|| {
            jobs.push(job);
            jobs.len() - 1
        });
        Check::Job(index)
    };
    let version = check(&adapter.version_command);
    let login = check(&adapter.login_check);
    Planned {
        name,
        program,
        path,
        passed_env,
        redactor,
        version,
        login,
        worker: Ok(worker),
    }
}

/// The environment the worker gets, as far as a version or login check can depend on
/// it (the supervisor's, without the attempt's `ORCH_*` variables), and the names of
/// the caller's variables passed into it.
fn worker_env(
    adapter: &Adapter,
    level_env: Option<&BTreeMap<String, String>>,
) -> (Vec<(String, String)>, Vec<String>) {
    let env = crate::supervisor::worker_base_env(adapter, level_env);
    let mut passed: Vec<String> = env
        .iter()
        .filter(|(name, _)| {
            crate::adapter::name_listed(&adapter.pass_env, name)
                && !adapter.env.contains_key(name)
                && !level_env.is_some_and(|l| l.contains_key(name))
        })
        .map(|(name, _)| name.clone())
        .collect();
    passed.sort();
    (env, passed)
}

/// Why a version is unknown when the adapter has no `version_command`.
const NO_VERSION_COMMAND: &str = "the adapter has no version_command";
/// Why a login is unknown when the adapter has no `login_check`.
const NO_LOGIN_CHECK: &str = "the adapter has no login_check";

impl VersionReport {
    fn unknown(verified: &[String], detail: String) -> VersionReport {
        VersionReport {
            status: "unknown",
            found: None,
            verified: verified.to_vec(),
            detail,
        }
    }
}

impl LoginReport {
    fn unknown(detail: String) -> LoginReport {
        LoginReport {
            status: "unknown",
            detail,
        }
    }
}

/// One worker's report from its plan and the outcomes of the checks.
fn report(p: Planned, outcomes: &[Outcome], repo: &Path, state_dir: &str) -> WorkerReport {
    let worker = match p.worker {
        Ok(worker) => worker,
        Err(message) => {
            return WorkerReport {
                worker: p.name,
                profile: String::new(),
                adapter: String::new(),
                program: String::new(),
                path: None,
                installed: false,
                version: VersionReport::unknown(&[], String::new()),
                login: LoginReport::unknown(String::new()),
                permissions: Vec::new(),
                passed_env: Vec::new(),
                can_run: false,
                problems: vec![message],
                warnings: Vec::new(),
            };
        }
    };
    let adapter = &worker.adapter;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let installed = p.path.is_some();
    if !installed {
        problems.push(format!(
            "{} is not installed: not found on the worker's PATH",
            p.program
        ));
    }
    let version = version_report(adapter, &p.version, outcomes, &p.redactor, &mut warnings);
    let login = login_report(
        adapter,
        &p.login,
        outcomes,
        &p.redactor,
        &mut problems,
        &mut warnings,
    );
    let permissions = permissions(&worker, repo, state_dir, &p.redactor, &mut problems);
    WorkerReport {
        worker: p.name,
        profile: worker.profile.clone(),
        adapter: adapter.name.clone(),
        program: p.program,
        path: p.path.map(|path| path.display().to_string()),
        installed,
        version,
        login,
        permissions,
        passed_env: p.passed_env,
        can_run: problems.is_empty(),
        problems,
        warnings,
    }
}

/// The version the `version_command` printed, against `verified_versions`. An
/// unverified or unknown version is a warning, not a reason the worker cannot run.
fn version_report(
    adapter: &Adapter,
    check: &Check,
    outcomes: &[Outcome],
    redactor: &Redactor,
    warnings: &mut Vec<String>,
) -> VersionReport {
    let verified = &adapter.verified_versions;
    let i = match check {
        Check::None => return VersionReport::unknown(verified, NO_VERSION_COMMAND.into()),
        Check::NotFound(program) => {
            return VersionReport::unknown(
                verified,
                format!("{program} not found on the worker's PATH"),
            );
        }
        Check::Job(i) => *i,
    };
    let command = shell_words(&adapter.version_command);
    let found = match &outcomes[i] {
        Outcome::Exited(out) => version_in(&out.stdout)
            .or_else(|| version_in(&out.stderr))
            .ok_or_else(|| {
                format!(
                    "`{command}` printed no version: {}",
                    first_line(&out.stdout, &out.stderr, redactor)
                )
            }),
        Outcome::TimedOut => Err(format!(
            "`{command}` timed out after {} s",
            CHECK_TIMEOUT.as_secs()
        )),
        Outcome::Failed(e) => Err(format!("`{command}`: {e}")),
    };
    match found {
        Ok(v) => {
            let status = if verified.contains(&v) {
                "verified"
            } else {
                warnings.push(format!(
                    "version {v} is not one the adapter was verified with ({})",
                    listed(verified)
                ));
                "unverified"
            };
            VersionReport {
                status,
                found: Some(v),
                verified: verified.clone(),
                detail: String::new(),
            }
        }
        Err(detail) => {
            warnings.push(format!("version unknown: {detail}"));
            VersionReport::unknown(verified, detail)
        }
    }
}

/// Whether the `login_check` passed. Not logged in is a problem (the worker would end
/// `auth_failed`); a check that could not decide is a warning.
fn login_report(
    adapter: &Adapter,
    check: &Check,
    outcomes: &[Outcome],
    redactor: &Redactor,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> LoginReport {
    let i = match check {
        Check::None => return LoginReport::unknown(NO_LOGIN_CHECK.into()),
        Check::NotFound(program) => {
            return LoginReport::unknown(format!("{program} not found on the worker's PATH"));
        }
        Check::Job(i) => *i,
    };
    let command = shell_words(&adapter.login_check);
    let undecided = match &outcomes[i] {
        Outcome::Exited(out) => {
            let detail = first_line(&out.stdout, &out.stderr, redactor);
            if out.success {
                return LoginReport {
                    status: "logged_in",
                    detail,
                };
            }
            let how = out.code.map_or("was killed by a signal".to_string(), |c| {
                format!("exited {c}")
            });
            problems.push(format!("not logged in: `{command}` {how}: {detail}"));
            return LoginReport {
                status: "not_logged_in",
                detail,
            };
        }
        Outcome::TimedOut => format!("`{command}` timed out after {} s", CHECK_TIMEOUT.as_secs()),
        Outcome::Failed(e) => format!("`{command}`: {e}"),
    };
    warnings.push(format!("login unknown: {undecided}"));
    LoginReport::unknown(undecided)
}

/// What the worker may do in each execution mode: the level it runs at, that level's
/// `describe` and arguments. A level the profile asks for and the adapter lacks is a
/// problem (the launch would be refused).
fn permissions(
    worker: &ResolvedWorker,
    repo: &Path,
    state_dir: &str,
    redactor: &Redactor,
    problems: &mut Vec<String>,
) -> Vec<PermissionReport> {
    let values = Placeholders {
        workdir: repo.display().to_string(),
        model: worker.settings.model.clone(),
        args: worker.settings.args.clone(),
        state_dir: state_dir.to_string(),
        ..Placeholders::default()
    };
    let mut out: Vec<PermissionReport> = Vec::new();
    for mode in [ExecutionMode::Code, ExecutionMode::Analysis] {
        let level = worker.permissions().level(mode);
        if let Some(entry) = out.iter_mut().find(|e| e.level == level) {
            entry.modes.push(mode.as_str());
            continue;
        }
        match worker
            .adapter
            .permission(worker.permissions(), mode, &values)
        {
            Ok((args, permission)) => out.push(PermissionReport {
                level: level.to_string(),
                modes: vec![mode.as_str()],
                describe: describe(permission, level),
                args: redactor.redact_argv(&args),
            }),
            Err(e) => {
                if !problems.contains(&e.to_string()) {
                    problems.push(e.to_string());
                }
            }
        }
    }
    out
}

fn describe(permission: Option<&Permission>, level: &str) -> String {
    match permission {
        Some(p) if !p.describe.is_empty() => p.describe.clone(),
        Some(_) => format!("level {level} (the adapter does not describe it)"),
        None => format!(
            "no level {level} in the adapter: whatever its command line allows, with the rights of the user running orch"
        ),
    }
}

fn listed(versions: &[String]) -> String {
    if versions.is_empty() {
        "none recorded".to_string()
    } else {
        format!("verified: {}", versions.join(", "))
    }
}

#[cfg(test)]
mod tests;
