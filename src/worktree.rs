//! Git, through the `git` command line: finding the repository, resolving the base
//! commit, the dirty-repository rule, and creating and removing attempt worktrees at
//! `<root>/<run>/<task>/attempt-<n>` on branch `orch/<run>/<task>/attempt-<n>`.
//! Every ref and path is passed after `--end-of-options` or `--`, never as an option.

use crate::error::{Error, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run<I, S>(dir: &Path, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = git(dir)
        .args(args)
        .output()
        .map_err(|e| Error::internal(format!("cannot run git: {e}")))?;
    Ok(Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The top-level directory of the worktree containing `path`.
pub fn toplevel(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Err(Error::invalid_input(format!(
            "repository path {} is not a directory",
            path.display()
        )));
    }
    let out = run(path, ["rev-parse", "--show-toplevel"])?;
    if !out.ok {
        return Err(Error::invalid_input(format!(
            "{} is not inside a git repository ({})",
            path.display(),
            out.stderr
        )));
    }
    Ok(PathBuf::from(out.stdout.trim()))
}

/// The commit a ref names.
pub fn resolve_commit(repo: &Path, reference: &str) -> Result<String> {
    crate::ids::validate_ref(reference)?;
    let out = run(
        repo,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{reference}^{{commit}}"),
        ],
    )?;
    if !out.ok || out.stdout.trim().is_empty() {
        return Err(Error::invalid_input(format!(
            "base ref {reference:?} does not name a commit in {}",
            repo.display()
        )));
    }
    Ok(out.stdout.trim().to_string())
}

/// The directories of every worktree registered in the repository.
pub fn registered_worktrees(repo: &Path) -> Result<Vec<PathBuf>> {
    let out = run(repo, ["worktree", "list", "--porcelain", "-z"])?;
    if !out.ok {
        return Err(Error::internal(format!(
            "git worktree list failed in {}: {}",
            repo.display(),
            out.stderr
        )));
    }
    Ok(out
        .stdout
        .split('\0')
        .filter_map(|field| field.strip_prefix("worktree "))
        .map(PathBuf::from)
        .collect())
}

/// Paths with uncommitted changes (tracked or untracked, ignored files aside),
/// leaving out `excluded` directories inside the repository (orch's own state) and
/// every linked worktree nested in it (earlier attempts, wherever their root was).
pub fn dirty_paths(repo: &Path, excluded: &[PathBuf]) -> Result<Vec<String>> {
    let mut args: Vec<String> = vec![
        "status".into(),
        "--porcelain=v1".into(),
        "-z".into(),
        "--untracked-files=normal".into(),
        "--".into(),
        ".".into(),
    ];
    let nested = registered_worktrees(repo)?;
    for dir in excluded.iter().chain(nested.iter()) {
        if let Ok(rel) = dir.strip_prefix(repo)
            && !rel.as_os_str().is_empty()
        {
            args.push(format!(":(exclude){}", rel.display()));
        }
    }
    let out = run(repo, &args)?;
    if !out.ok {
        return Err(Error::internal(format!(
            "git status failed in {}: {}",
            repo.display(),
            out.stderr
        )));
    }
    // Entries are `XY PATH`; a rename or copy is followed by its source path.
    let mut paths = Vec::new();
    let mut entries = out.stdout.split('\0').filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        if let Some(path) = entry.get(3..) {
            paths.push(path.to_string());
        }
        if entry.starts_with('R') || entry.starts_with('C') {
            entries.next();
        }
    }
    Ok(paths)
}

/// True when a branch of that name exists.
pub fn branch_exists(repo: &Path, branch: &str) -> Result<bool> {
    let out = run(
        repo,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("refs/heads/{branch}"),
        ],
    )?;
    Ok(out.ok)
}

/// Creates a worktree at `path` on a new branch `branch` starting at `commit`.
pub fn add_worktree(repo: &Path, path: &Path, branch: &str, commit: &str) -> Result<()> {
    if path.exists() {
        return Err(Error::invalid_state(format!(
            "worktree path {} already exists; nothing was created",
            path.display()
        )));
    }
    if branch_exists(repo, branch)? {
        return Err(Error::invalid_state(format!(
            "branch {branch} already exists; nothing was created"
        )));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::internal(format!("cannot create {}: {e}", parent.display())))?;
    }
    let out = run(
        repo,
        [
            OsStr::new("worktree"),
            OsStr::new("add"),
            OsStr::new("--quiet"),
            OsStr::new("-b"),
            OsStr::new(branch),
            OsStr::new("--"),
            path.as_os_str(),
            OsStr::new(commit),
        ],
    )?;
    if !out.ok {
        return Err(Error::internal(format!(
            "git worktree add failed for {}: {}",
            path.display(),
            out.stderr
        )));
    }
    Ok(())
}

/// Undoes [`add_worktree`] after a later step failed: removes the worktree and its branch.
pub fn discard_new_worktree(repo: &Path, path: &Path, branch: &str) {
    let _ = run(
        repo,
        [
            OsStr::new("worktree"),
            OsStr::new("remove"),
            OsStr::new("--force"),
            OsStr::new("--"),
            path.as_os_str(),
        ],
    );
    let _ = run(repo, ["branch", "-D", "--", branch]);
}

/// Uncommitted changes inside a worktree (tracked or untracked).
pub fn worktree_changes(path: &Path) -> Result<Vec<String>> {
    dirty_paths(path, &[])
}

/// Removes a worktree directory (the branch stays). A directory already gone is pruned.
pub fn remove_worktree(repo: &Path, path: &Path, force: bool) -> Result<()> {
    if !path.exists() {
        let _ = run(repo, ["worktree", "prune"]);
        return Ok(());
    }
    let mut args = vec![OsStr::new("worktree"), OsStr::new("remove")];
    if force {
        args.push(OsStr::new("--force"));
    }
    args.push(OsStr::new("--"));
    args.push(path.as_os_str());
    let out = run(repo, args)?;
    if !out.ok {
        return Err(Error::internal(format!(
            "git worktree remove failed for {}: {}",
            path.display(),
            out.stderr
        )));
    }
    Ok(())
}

/// `git diff --stat` of a worktree against a commit, committed and uncommitted changes
/// together (empty on any error).
pub fn diff_stat(worktree: &Path, base_commit: &str) -> String {
    if base_commit.is_empty() || base_commit.starts_with('-') {
        return String::new();
    }
    match run(worktree, ["diff", "--stat", base_commit, "--"]) {
        Ok(out) if out.ok => out.stdout,
        _ => String::new(),
    }
}

/// The branch name of an attempt (contract §8).
pub fn branch_name(run_id: &str, task_id: &str, attempt_no: i64) -> String {
    format!(
        "orch/{}/{task_id}/attempt-{attempt_no}",
        run_id.replace('_', "-")
    )
}

/// The worktree path of an attempt (contract §8).
pub fn worktree_path(root: &Path, run_id: &str, task_id: &str, attempt_no: i64) -> PathBuf {
    root.join(run_id)
        .join(task_id)
        .join(format!("attempt-{attempt_no}"))
}
