//! An attempt's workspace: in code mode a new worktree at the documented path and branch,
//! from the right base commit (a clean `HEAD`, a named ref, or the previous attempt's
//! base), under a per-task lock; a worktree an interrupted dispatch left is cleared when
//! it holds no work. With pushing on ([`crate::remote`]), the base must be on the remote
//! before anything is created. The [`super::factory`] records the attempt and discards
//! the worktree again if the record is refused.

use crate::config::RemoteConfig;
use crate::error::{Error, Result};
use crate::ids::validate_id;
use crate::model::{Attempt, ExecutionMode, WorkspaceStatus};
use crate::store::{Store, Workspace};
use crate::worktree;
use std::path::{Path, PathBuf};

/// Where the base commit of a new worktree comes from.
pub enum Base {
    /// `HEAD` of a clean repository.
    CleanHead,
    /// A ref the caller named (a dirty repository is fine then).
    Ref(String),
    /// The previous attempt's base commit (retry, reassign).
    Commit { label: String, commit: String },
}

/// Where an attempt works: the repository, and where worktrees go (default
/// `.orch/worktrees` under it).
#[derive(Debug, Clone, Default)]
pub struct Location {
    pub repo: PathBuf,
    pub workspace_root: Option<PathBuf>,
}

/// A retry or reassign works in the same repository and workspace root as the previous
/// attempt, from the same base commit unless `--base-ref` says otherwise.
pub fn follow_previous(previous: &Attempt, base_ref: Option<String>) -> (Location, Base) {
    let workspace_root = previous
        .workspace
        .worktree_path
        .as_deref()
        .and_then(|path| path.ancestors().nth(3))
        .map(Path::to_path_buf);
    let repo = previous
        .workspace
        .repo_path
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
    let base = match (base_ref, &previous.workspace.base_commit) {
        (Some(r), _) => Base::Ref(r),
        (None, Some(commit)) => Base::Commit {
            label: previous.workspace.base_ref.clone().unwrap_or_default(),
            commit: commit.clone(),
        },
        (None, None) => Base::CleanHead,
    };
    (
        Location {
            repo,
            workspace_root,
        },
        base,
    )
}

/// A prepared workspace: what the attempt records, and for a code attempt the lock held
/// until it is recorded (see `lock_task_dispatch`) and the remote its branch goes to.
pub(super) struct Prepared {
    pub record: Workspace,
    pub lock: Option<DispatchLock>,
    /// Where the branch is pushed when the attempt ends; `None`: pushing is off.
    pub push_to: Option<RemoteConfig>,
}

/// Takes back the worktree and branch [`prepare`] made, when the attempt was not recorded.
pub(super) fn discard(workspace: &Workspace) {
    if let (Some(repo), Some(path), Some(branch)) = (
        &workspace.repo_path,
        &workspace.worktree_path,
        &workspace.branch_name,
    ) {
        worktree::discard_new_worktree(repo, path, branch);
    }
}

/// The lock [`prepare`] holds on a task's worktrees while its attempt is recorded.
pub(super) type DispatchLock = nix::fcntl::Flock<std::fs::File>;

/// An exclusive lock on dispatching one task's worktrees (`<root>/<run>/<task>/.dispatch.lock`),
/// held from `git worktree add` until the attempt is recorded: a second dispatch of the
/// same task (a leader's retry racing the retry policy, two policy passes) waits, then
/// sees the first one's record, so a worktree being created is never mistaken for the
/// leftover of a dispatch that died. The kernel drops it with the process.
fn lock_task_dispatch(dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    crate::paths::ensure_private_dir(dir)?;
    let path = dir.join(".dispatch.lock");
    let file = crate::paths::open_lock_file(&path)?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::internal(format!("cannot lock {}: {e}", path.display())))
}

/// Clears the half-made worktrees of run `run` in the clone at `repo`: what a process
/// killed during `git worktree add` left (a host killed outright, say, whose attempt
/// another host then made in its own clone, so this clone never dispatches it again).
/// Each is judged under its task's dispatch lock, so a dispatch under way here is never
/// taken for one; one an attempt records is left. Returns how many went.
pub async fn sweep_half_made(store: &Store, run: &str, repo: &Path) -> Result<usize> {
    let Ok(repo) = worktree::toplevel(repo) else {
        return Ok(0);
    };
    let mut cleared = 0;
    for half in worktree::half_made_worktrees(&repo)? {
        // `<root>/<run>/<task>/attempt-<n>`
        let Some((of_run, task, attempt_no)) = attempt_of_path(&half.path) else {
            continue;
        };
        let Some(task_dir) = half.path.parent().filter(|_| of_run == run) else {
            continue;
        };
        let _lock = lock_task_dispatch(task_dir)?;
        if !worktree::half_made_worktrees(&repo)?.contains(&half) {
            continue;
        }
        match store.attempt(run, &task, Some(attempt_no)).await {
            Ok(attempt)
                if attempt
                    .workspace
                    .worktree_path
                    .as_deref()
                    .is_some_and(|recorded| same_path(recorded, &half.path)) =>
            {
                continue;
            }
            Ok(_) => {}
            Err(e) if e.code == crate::error::ErrorCode::NotFound => {}
            Err(e) => return Err(e),
        }
        let branch_gone = worktree::discard_half_made(&repo, &half)?;
        tracing::info!(path = %half.path.display(), branch = ?half.branch, branch_gone, "cleared a worktree whose creation was interrupted");
        cleared += 1;
    }
    Ok(cleared)
}

/// The run, task and attempt number of a worktree path `…/<run>/<task>/attempt-<n>`.
fn attempt_of_path(path: &Path) -> Option<(String, String, i64)> {
    let name = path.file_name()?.to_str()?;
    let attempt_no = name.strip_prefix("attempt-")?.parse().ok()?;
    let task_dir = path.parent()?;
    let task = task_dir.file_name()?.to_str()?.to_string();
    let run = task_dir.parent()?.file_name()?.to_str()?.to_string();
    Some((run, task, attempt_no))
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || (std::fs::canonicalize(a).ok()).is_some_and(|a| Some(a) == std::fs::canonicalize(b).ok())
}

/// The workspace of attempt `attempt_no`: the repository (analysis), or a new worktree
/// on its own branch from the base commit (code).
pub(super) async fn prepare(
    store: &Store,
    mode: ExecutionMode,
    location: &Location,
    base: Base,
    run: &str,
    task: &str,
    attempt_no: i64,
) -> Result<Prepared> {
    if mode == ExecutionMode::Analysis {
        return Ok(in_repository(location));
    }
    validate_id("run id", run)?;
    validate_id("task id", task)?;
    let repo = worktree::toplevel(&location.repo)?;
    let root = match &location.workspace_root {
        Some(root) => crate::paths::absolute(&repo, root),
        None => repo.join(crate::paths::STATE_DIR).join("worktrees"),
    };
    let (base_ref, base_commit) = resolve_base(store, &repo, &root, base)?;
    let path = worktree::worktree_path(&root, run, task, attempt_no);
    if !path.starts_with(&root) {
        return Err(Error::invalid_input(format!(
            "worktree path {} would leave the workspace root {}",
            path.display(),
            root.display()
        )));
    }
    let branch = worktree::branch_name(run, task, attempt_no);
    // Before anything is created: another host must be able to check the base out.
    let push_to = crate::remote::push_target(store, &repo)?;
    if let Some(remote) = &push_to {
        crate::remote::require_base_on_remote(&repo, remote, &base_ref, &base_commit).await?;
    }
    let lock = lock_task_dispatch(path.parent().unwrap_or(&root))?;
    // Under the lock: another dispatch (the retry ladder, a leader's retry) may have
    // recorded this attempt meanwhile; the refusal names it, as the store's does.
    match store.attempt(run, task, Some(attempt_no)).await {
        Ok(_) => {
            let existing = store.describe_attempt(run, task, attempt_no).await?;
            return Err(Error::invalid_state(format!(
                "task {task:?} already has {existing}; nothing was dispatched"
            )));
        }
        Err(e) if e.code == crate::error::ErrorCode::NotFound => {}
        Err(e) => return Err(e),
    }
    // No attempt `attempt_no` is recorded and no dispatch is under way, so a worktree or
    // branch of that name is what an interrupted dispatch left: cleared when it holds no
    // work, else refused below.
    if (path.exists() || worktree::branch_exists(&repo, &branch)?)
        && worktree::discard_leftover(&repo, &path, &branch)?
    {
        tracing::info!(path = %path.display(), %branch, "cleared the leftover of an interrupted dispatch");
    }
    worktree::add_worktree(&repo, &path, &branch, &base_commit)?;
    let record = Workspace {
        repo_path: Some(repo),
        base_ref: Some(base_ref),
        base_commit: Some(base_commit),
        branch_name: Some(branch),
        worktree_path: Some(path),
        workspace_status: Some(WorkspaceStatus::Created),
    };
    Ok(Prepared {
        record,
        lock: Some(lock),
        push_to,
    })
}

/// The analysis workspace: the repository itself (its top when it is a worktree).
fn in_repository(location: &Location) -> Prepared {
    let repo = crate::paths::worktree_top(&location.repo).unwrap_or_else(|| {
        crate::paths::absolute(&std::env::current_dir().unwrap_or_default(), &location.repo)
    });
    let record = Workspace {
        repo_path: Some(repo),
        ..Workspace::default()
    };
    Prepared {
        record,
        lock: None,
        push_to: None,
    }
}

/// The base of a new worktree in `repo` (worktrees under `root`): its ref as recorded,
/// and its commit. `HEAD` must be clean, but for orch's own directories.
fn resolve_base(store: &Store, repo: &Path, root: &Path, base: Base) -> Result<(String, String)> {
    match base {
        Base::Ref(r) => {
            let commit = worktree::resolve_commit(repo, &r)?;
            Ok((r, commit))
        }
        Base::Commit { label, commit } => Ok((label, commit)),
        Base::CleanHead => {
            let mut own = vec![root.to_path_buf()];
            own.push(store.state_dir().to_path_buf());
            let dirty = worktree::dirty_paths(repo, &own)?;
            if !dirty.is_empty() {
                let shown: Vec<&str> = dirty.iter().take(3).map(String::as_str).collect();
                return Err(Error::invalid_state(format!(
                    "repository {} has uncommitted changes ({} path{}: {}{}); commit them, or pass --base-ref to choose the base commit explicitly",
                    repo.display(),
                    dirty.len(),
                    if dirty.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if dirty.len() > 3 { ", …" } else { "" }
                )));
            }
            Ok(("HEAD".to_string(), worktree::resolve_commit(repo, "HEAD")?))
        }
    }
}
