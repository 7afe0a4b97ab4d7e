//! `orch cleanup`: removes the worktree directories of finished attempts (branches are
//! kept). It never loses work: a worktree with uncommitted changes or unmerged commits
//! (or, when its attempt is pushed, commits the remote lacks) is kept, or with `--force`
//! saved (a patch, a bundle) before anything is removed; if one save fails, nothing is
//! removed.

use crate::cli::RequestArgs;
use crate::commands::Ctx;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::validate_id;
use crate::model::Attempt;
use crate::output::Reply;
use crate::store::AttemptPush;
use crate::worktree;
use clap::Args;
use serde_json::{Value, json};
use std::path::Path;

#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    #[arg(long)]
    pub run: String,
    #[arg(long)]
    pub task: Option<String>,
    #[arg(long)]
    pub attempt: Option<i64>,
    /// Every finished task's worktrees.
    #[arg(long)]
    pub all_completed: bool,
    /// Remove even worktrees holding uncommitted changes or unmerged commits,
    /// after saving them (a patch, a bundle) under `<state>/salvage/`.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub request: RequestArgs,
}

pub async fn run(ctx: &Ctx, args: CleanupArgs) -> Result<Reply> {
    let (run, task, attempt) = (args.run.as_str(), args.task.as_deref(), args.attempt);
    check_selection(task, attempt, args.all_completed)?;
    let mut pushes = ctx.store.run_pushes(run).await?;
    let candidates_with_push = candidates(ctx, run, task, attempt)
        .await?
        .into_iter()
        .map(|a| {
            let push = pushes.remove(&a.thread_id);
            (a, push)
        })
        .collect();
    // 1. What removing each worktree would lose. Without --force, a worktree holding
    //    work is kept (refused); with it, the work is saved first.
    let (refused, removable) = sort_out(ctx, candidates_with_push, args.force)?;
    // 2. Save everything at risk before anything is deleted: if one save fails, no
    //    worktree is removed and this call's salvage files are taken back.
    let saved = save_all(ctx, &removable)?;
    // 3. Remove.
    let mut cleaned = Vec::new();
    for (Removable { attempt: a, .. }, salvaged) in removable.iter().zip(saved) {
        let path = worktree_of(a);
        let repo = a.workspace.repo_path.as_deref().unwrap_or(Path::new(""));
        worktree::remove_worktree(repo, path, args.force)?;
        ctx.store
            .mark_workspace_cleaned(run, &a.task_id, a.attempt_no)
            .await?;
        cleaned.push(json!({
            "task_id": a.task_id, "attempt_no": a.attempt_no,
            "worktree_path": worktree_of(a), "branch_name": branch_of(a),
            "workspace_status": crate::model::WorkspaceStatus::Cleaned,
            "salvaged": salvaged.to_json(),
        }));
    }
    if cleaned.is_empty() {
        let reasons: Vec<String> = refused
            .iter()
            .map(|r| format!("{}: {}", text(&r["worktree_path"]), text(&r["reason"])))
            .collect();
        return Err(Error::new(
            ErrorCode::InvalidState,
            format!(
                "refused to remove worktrees holding work that removing them would lose: {}",
                reasons.join("; ")
            ),
        ));
    }
    let human = human(&cleaned, &refused);
    Ok(Reply::new(
        "cleanup",
        json!({"cleaned": cleaned, "refused": refused}),
        human,
    ))
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// `--task TASK [--attempt N]` or `--all-completed`.
fn check_selection(task: Option<&str>, attempt: Option<i64>, all_completed: bool) -> Result<()> {
    match (task, attempt, all_completed) {
        (None, Some(_), _) => Err(Error::invalid_input("--attempt needs --task")),
        (Some(_), _, true) => Err(Error::invalid_input(
            "--task and --all-completed are mutually exclusive",
        )),
        (None, None, false) => Err(Error::invalid_input(
            "cleanup needs --task TASK [--attempt N] or --all-completed",
        )),
        _ => Ok(()),
    }
}

/// The attempts selected whose worktree is there and whose task is finished (or has
/// moved on to a newer attempt). An unfinished one asked for by name is refused.
async fn candidates(
    ctx: &Ctx,
    run: &str,
    task: Option<&str>,
    attempt: Option<i64>,
) -> Result<Vec<Attempt>> {
    let store = &ctx.store;
    let tasks = store.tasks(run).await?;
    if let Some(t) = task
        && !tasks.iter().any(|x| x.task_id == t)
    {
        return Err(Error::not_found(format!(
            "task {t:?} not found in run {run:?}"
        )));
    }
    let attempts = store.attempts(run, task).await?;
    if let (Some(t), Some(n)) = (task, attempt)
        && !attempts.iter().any(|a| a.attempt_no == n)
    {
        return Err(Error::not_found(format!("task {t:?} has no attempt {n}")));
    }
    let mut candidates = Vec::new();
    let mut busy = Vec::new();
    for a in attempts
        .into_iter()
        .filter(|a| attempt.is_none_or(|n| a.attempt_no == n))
    {
        if a.workspace.workspace_status != Some(crate::model::WorkspaceStatus::Created)
            || a.workspace.worktree_path.is_none()
        {
            continue;
        }
        let Some(t) = tasks.iter().find(|t| t.task_id == a.task_id) else {
            continue;
        };
        let finished = t.status.is_terminal() || a.attempt_no != t.current_attempt;
        if finished {
            candidates.push(a);
        } else if task.is_some() {
            busy.push(format!(
                "{} attempt {} ({})",
                a.task_id, a.attempt_no, t.status
            ));
        }
    }
    if candidates.is_empty() {
        if !busy.is_empty() {
            return Err(Error::invalid_state(format!(
                "not removing the worktree of an unfinished task: {}",
                busy.join(", ")
            )));
        }
        return Err(Error::no_matching_work("no worktree to clean up matched"));
    }
    Ok(candidates)
}

/// Splits the candidates (each with its push record, when pushing was on) into the
/// refused (holding work, without `--force`) and the removable, each with what removing
/// it would lose.
fn sort_out(
    ctx: &Ctx,
    candidates: Vec<(Attempt, Option<AttemptPush>)>,
    force: bool,
) -> Result<(Vec<Value>, Vec<Removable>)> {
    let mut refused = Vec::new();
    let mut removable = Vec::new();
    for (a, push) in candidates {
        let path = worktree_of(&a);
        let work = if path.exists() {
            AtRisk {
                changes: worktree::worktree_changes(path)?,
                unmerged: worktree::unmerged_commits(path, branch_of(&a))?,
                unpushed: push.map(|p| unpushed(&a, p)).transpose()?,
            }
        } else {
            AtRisk::default()
        };
        if !force && !work.is_empty() {
            let salvage = crate::paths::salvage_dir(
                ctx.store.state_dir(),
                &a.run_id,
                &a.task_id,
                a.attempt_no,
            );
            let mut entry = json!({
                "task_id": a.task_id, "attempt_no": a.attempt_no, "worktree_path": worktree_of(&a),
                "uncommitted_changes": work.changes.len(), "unmerged_commits": work.unmerged,
                "reason": format!(
                    "{}; pass --force to save them under {} first, then remove the worktree",
                    work.describe(), salvage.display()
                ),
            });
            if let Some(u) = &work.unpushed {
                // Only for a pushed attempt: the entry is as before with pushing off.
                entry["unpushed_commits"] = json!(u.commits);
            }
            refused.push(entry);
            continue;
        }
        removable.push(Removable { attempt: a, work });
    }
    Ok((refused, removable))
}

/// Saves the work of every removable worktree; on the first failure, takes back what
/// this call saved and fails.
fn save_all(ctx: &Ctx, removable: &[Removable]) -> Result<Vec<Salvaged>> {
    let mut saved = Vec::new();
    for Removable { attempt: a, work } in removable {
        match salvage(ctx, a, work) {
            Ok(s) => saved.push(s),
            Err(e) => {
                for s in &saved {
                    s.discard();
                }
                return Err(Error::new(
                    e.code,
                    format!(
                        "nothing was removed: cannot save the work in {} ({}): {}",
                        worktree_of(a).display(),
                        work.describe(),
                        e.message
                    ),
                ));
            }
        }
    }
    Ok(saved)
}

/// What was removed (and saved), then what was kept and why.
fn human(cleaned: &[Value], refused: &[Value]) -> String {
    let mut human = String::new();
    for c in cleaned {
        human.push_str(&format!(
            "removed {} (branch {} kept)\n",
            text(&c["worktree_path"]),
            text(&c["branch_name"])
        ));
        let salvaged = &c["salvaged"];
        if let Some(patch) = salvaged["patch"].as_str() {
            human.push_str(&format!("  saved its uncommitted changes to {patch}\n"));
        }
        if let Some(bundle) = salvaged["bundle"].as_str() {
            human.push_str(&format!("  saved its unmerged commits to {bundle}\n"));
        }
    }
    for r in refused {
        human.push_str(&format!(
            "kept {}: {}\n",
            text(&r["worktree_path"]),
            text(&r["reason"])
        ));
    }
    human
}

/// A worktree that will be removed, with the work to save first.
struct Removable {
    attempt: Attempt,
    work: AtRisk,
}

/// What removing a worktree would lose.
#[derive(Default)]
struct AtRisk {
    /// Uncommitted files (tracked or untracked; ignored files aside).
    changes: Vec<String>,
    /// Commits of HEAD that no ref other than the attempt's own branch reaches.
    unmerged: usize,
    /// When the attempt is pushed: the commits of HEAD the remote lacks.
    unpushed: Option<Unpushed>,
}

/// The commits of a pushed attempt's HEAD its remote is not known to hold.
struct Unpushed {
    remote: String,
    commits: usize,
    /// Why they are not there: the push's error, or that it has not happened.
    why: String,
}

/// What the remote of a pushed attempt lacks of its worktree's HEAD: commits no
/// remote-tracking branch of that remote, orch's mirror of it, the pushed commit or the
/// base (on the remote since dispatch) reaches.
fn unpushed(a: &Attempt, push: AttemptPush) -> Result<Unpushed> {
    let base = a.workspace.base_commit.as_deref().unwrap_or("");
    let pushed = push.commit.as_deref().unwrap_or("");
    let commits = crate::remote::unpushed_commits(worktree_of(a), &push.remote, &[base, pushed])?;
    use crate::store::PushState as S;
    let why = match (push.state, push.error) {
        (S::Failed, Some(error)) => {
            let lines: Vec<&str> = error
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            format!("the push failed: {}", lines.join("; "))
        }
        (S::Pending, _) => "the attempt ended without a push".to_string(),
        (S::Pushed | S::NoCommits, _) => "made after the push".to_string(),
        (S::Failed, None) => "the push failed".to_string(),
    };
    Ok(Unpushed {
        remote: push.remote,
        commits,
        why,
    })
}

impl AtRisk {
    fn unpushed_commits(&self) -> usize {
        self.unpushed.as_ref().map_or(0, |u| u.commits)
    }

    fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.unmerged == 0 && self.unpushed_commits() == 0
    }

    /// `uncommitted changes: 2 files (a.txt, b.txt); unmerged commits: 1`.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.changes.is_empty() {
            let n = self.changes.len();
            let mut shown = self.changes.iter().take(3).cloned().collect::<Vec<_>>();
            if n > 3 {
                shown.push("...".into());
            }
            parts.push(format!(
                "uncommitted changes: {n} file{} ({})",
                if n == 1 { "" } else { "s" },
                shown.join(", ")
            ));
        }
        if self.unmerged > 0 {
            parts.push(format!(
                "unmerged commits: {} (on no other branch, remote-tracking branch or tag)",
                self.unmerged
            ));
        }
        if let Some(u) = self.unpushed.as_ref().filter(|u| u.commits > 0) {
            parts.push(format!(
                "commits not pushed to {}: {} ({})",
                u.remote, u.commits, u.why
            ));
        }
        parts.join("; ")
    }
}

/// The files `cleanup --force` saved for one worktree.
#[derive(Default)]
struct Salvaged {
    patch: Option<std::path::PathBuf>,
    bundle: Option<std::path::PathBuf>,
}

impl Salvaged {
    /// `null` when nothing needed saving, else `{"patch", "bundle"}` (either may be null).
    fn to_json(&self) -> serde_json::Value {
        if self.patch.is_none() && self.bundle.is_none() {
            return serde_json::Value::Null;
        }
        let show = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
        json!({"patch": show(&self.patch), "bundle": show(&self.bundle)})
    }

    /// Takes the files back (another worktree's save failed, so none is removed).
    fn discard(&self) {
        for file in self.patch.iter().chain(self.bundle.iter()) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Saves what removing the attempt's worktree would lose into its salvage directory
/// (0700; files 0600): `uncommitted.patch` (applies with `git apply` on the worktree's
/// HEAD) and `unmerged.bundle` (passes `git bundle verify`; its ref is `HEAD`).
fn salvage(ctx: &Ctx, a: &Attempt, work: &AtRisk) -> Result<Salvaged> {
    let mut saved = Salvaged::default();
    if work.is_empty() {
        return Ok(saved);
    }
    validate_id("run id", &a.run_id)?;
    validate_id("task id", &a.task_id)?;
    let dir = crate::paths::salvage_dir(ctx.store.state_dir(), &a.run_id, &a.task_id, a.attempt_no);
    crate::paths::create_private_dir(&dir)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", dir.display())))?;
    let path = worktree_of(a);
    if !work.changes.is_empty() {
        let patch = dir.join("uncommitted.patch");
        if worktree::save_changes_patch(path, &patch, &dir.join("scratch.index"))? {
            saved.patch = Some(patch);
        }
    }
    if work.unmerged > 0 {
        let bundle = dir.join("unmerged.bundle");
        if let Err(e) = worktree::save_unmerged_bundle(path, branch_of(a), &bundle) {
            saved.discard();
            return Err(e.into());
        }
        saved.bundle = Some(bundle);
    }
    Ok(saved)
}

/// The worktree of an attempt `cleanup` considers (it has one: see the candidates).
fn worktree_of(a: &Attempt) -> &Path {
    a.workspace
        .worktree_path
        .as_deref()
        .unwrap_or(Path::new(""))
}

fn branch_of(a: &Attempt) -> &str {
    a.workspace.branch_name.as_deref().unwrap_or("")
}
