//! Git, through the `git` command line: finding the repository, resolving the base
//! commit, the dirty-repository rule, creating and removing attempt worktrees at
//! `<root>/<run>/<task>/attempt-<n>` on branch `orch/<run>/<task>/attempt-<n>`, and
//! what removing one would lose (uncommitted changes, commits no other ref reaches) and
//! saving it first (a patch, a bundle).
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
    status_paths(repo, excluded, "normal")
}

fn status_paths(repo: &Path, excluded: &[PathBuf], untracked: &str) -> Result<Vec<String>> {
    let mut args: Vec<String> = vec![
        "status".into(),
        "--porcelain=v1".into(),
        "-z".into(),
        format!("--untracked-files={untracked}"),
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
        // `<root>/<run>/<task>` (and `.orch/` itself when the database lives elsewhere):
        // private to the owner, like the rest of orch's state.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
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

/// Clears what an interrupted creation of an attempt's worktree left behind (a process
/// killed between `git worktree add` and recording the attempt): the directory, its
/// registration and the branch, but only while they hold no work (no uncommitted
/// change, no commit that another ref lacks) and the directory is a worktree of this
/// repository. Returns false, touching nothing, when something there is not a pristine
/// leftover; the caller then refuses as before.
pub fn discard_leftover(repo: &Path, path: &Path, branch: &str) -> Result<bool> {
    // Registrations of directories that are gone.
    let _ = run(repo, ["worktree", "prune"]);
    let branch_there = branch_exists(repo, branch)?;
    if path.exists() {
        let ours = registered_worktrees(repo)?
            .iter()
            .any(|w| std::fs::canonicalize(w).ok() == std::fs::canonicalize(path).ok());
        if !ours || !worktree_changes(path)?.is_empty() || unmerged_commits(path, branch)? > 0 {
            return Ok(false);
        }
    } else if branch_there {
        let mut args = vec!["rev-list".to_string(), "--count".to_string()];
        args.extend(unreachable_revs(branch));
        args[2] = format!("refs/heads/{branch}");
        args.push("--".into());
        let out = run(repo, &args)?;
        if !out.ok || out.stdout.trim() != "0" {
            return Ok(false);
        }
    } else {
        return Ok(true);
    }
    discard_new_worktree(repo, path, branch);
    Ok(!path.exists() && !branch_exists(repo, branch)?)
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

/// Uncommitted changes inside a worktree (tracked or untracked files, one entry per
/// file; ignored files aside).
pub fn worktree_changes(path: &Path) -> Result<Vec<String>> {
    status_paths(path, &[], "all")
}

/// How many commits HEAD of `worktree` has that `base` does not.
pub fn commits_since(worktree: &Path, base: &str) -> Result<usize> {
    let out = run(
        worktree,
        ["rev-list", "--count", &format!("{base}..HEAD"), "--"],
    )?;
    if !out.ok {
        return Err(Error::internal(format!(
            "cannot count the commits of {} since {base}: git rev-list failed: {}",
            worktree.display(),
            out.stderr
        )));
    }
    out.stdout.trim().parse().map_err(|_| {
        Error::internal(format!(
            "cannot count the commits of {}: git rev-list printed {:?}",
            worktree.display(),
            out.stdout.trim()
        ))
    })
}

/// Commits every change in `worktree` (tracked and untracked files, ignored ones
/// aside) on its current branch with `message`; returns the new commit. Uses the
/// user's git identity, or `orch <orch@localhost>` when git has none.
pub fn commit_all(worktree: &Path, message: &str) -> Result<String> {
    let add = run(worktree, ["add", "-A", "--", "."])?;
    if !add.ok {
        return Err(Error::internal(format!(
            "git add -A failed in {}: {}",
            worktree.display(),
            add.stderr
        )));
    }
    let has_identity = run(worktree, ["config", "user.email"])?.ok;
    let mut args: Vec<&str> = Vec::new();
    if !has_identity {
        args.extend(["-c", "user.name=orch", "-c", "user.email=orch@localhost"]);
    }
    args.extend(["commit", "-q", "--no-verify", "-m", message]);
    let commit = run(worktree, &args)?;
    if !commit.ok {
        return Err(Error::internal(format!(
            "git commit failed in {}: {}",
            worktree.display(),
            commit.stderr
        )));
    }
    let head = run(worktree, ["rev-parse", "HEAD"])?;
    Ok(head.stdout.trim().to_string())
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

/// The revisions of the commits a worktree's HEAD holds that no ref other than
/// `own_branch` reaches: HEAD, minus every local branch but `own_branch`, every
/// remote-tracking branch and every tag. `own_branch` goes into an `--exclude=` glob, so
/// its glob characters are escaped; it never stands alone as an argument.
fn unreachable_revs(own_branch: &str) -> Vec<String> {
    let mut revs = vec!["HEAD".to_string(), "--not".to_string()];
    if !own_branch.is_empty() {
        let mut pattern = String::with_capacity(own_branch.len());
        for c in own_branch.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        revs.push(format!("--exclude={pattern}"));
    }
    revs.extend(["--branches", "--remotes", "--tags"].map(String::from));
    revs
}

/// How many commits of the worktree's HEAD no ref other than `own_branch` (the
/// attempt's branch) reaches: work that is merged nowhere, or made on a detached HEAD.
pub fn unmerged_commits(worktree: &Path, own_branch: &str) -> Result<usize> {
    let mut args = vec!["rev-list".to_string(), "--count".to_string()];
    args.extend(unreachable_revs(own_branch));
    args.push("--".into());
    let out = run(worktree, &args)?;
    if !out.ok {
        return Err(Error::internal(format!(
            "cannot count the unmerged commits of {}: git rev-list failed: {}",
            worktree.display(),
            out.stderr
        )));
    }
    out.stdout.trim().parse().map_err(|_| {
        Error::internal(format!(
            "cannot count the unmerged commits of {}: git rev-list printed {:?}",
            worktree.display(),
            out.stdout.trim()
        ))
    })
}

/// Runs git in `dir` with its standard output written to a new file `file` (0600),
/// and optionally its own index file. On failure, the file is removed.
fn run_into_file(dir: &Path, args: &[&str], index: Option<&Path>, file: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let what = || format!("git {}", args.first().copied().unwrap_or_default());
    let out_file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(file)
        .and_then(|f| {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            Ok(f)
        })
        .map_err(|e| Error::internal(format!("cannot write {}: {e}", file.display())))?;
    let mut cmd = git(dir);
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let out = cmd
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out_file)
        .output();
    let failure = match out {
        Ok(out) if out.status.success() => return Ok(()),
        Ok(out) => format!(
            "{} failed: {}",
            what(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run git: {e}"),
    };
    let _ = std::fs::remove_file(file);
    Err(Error::internal(format!(
        "cannot write {}: {failure}",
        file.display()
    )))
}

/// Runs git in `dir` with `index` as its index file; fails with `what` and git's words.
fn run_with_index(dir: &Path, index: &Path, args: &[&OsStr], what: &str) -> Result<()> {
    let out = git(dir)
        .env("GIT_INDEX_FILE", index)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::internal(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "{what} failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Saves a worktree's uncommitted changes (tracked and untracked files, ignored ones
/// aside) as a binary patch against its HEAD at `patch`, and checks that the patch
/// applies to HEAD. The worktree's own index is not touched: the changes are staged
/// in `scratch_index`, a temporary index file (removed afterwards). Returns false, and
/// leaves no file, when the worktree does not differ from HEAD.
pub fn save_changes_patch(worktree: &Path, patch: &Path, scratch_index: &Path) -> Result<bool> {
    let result = write_and_check_patch(worktree, patch, scratch_index);
    let _ = std::fs::remove_file(scratch_index);
    if result.is_err() {
        let _ = std::fs::remove_file(patch);
    }
    result
}

fn write_and_check_patch(worktree: &Path, patch: &Path, index: &Path) -> Result<bool> {
    let os = |s: &'static str| OsStr::new(s);
    let read_head = [os("read-tree"), os("HEAD")];
    run_with_index(worktree, index, &read_head, "git read-tree HEAD")?;
    let add_all = [os("add"), os("--all"), os("--"), os(".")];
    run_with_index(
        worktree,
        index,
        &add_all,
        "git add --all (into a scratch index)",
    )?;
    let diff = [
        "diff-index",
        "--cached",
        "--patch",
        "--binary",
        "--full-index",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        "HEAD",
        "--",
    ];
    run_into_file(worktree, &diff, Some(index), patch)?;
    let empty = std::fs::metadata(patch)
        .map(|m| m.len() == 0)
        .map_err(|e| Error::internal(format!("cannot read {}: {e}", patch.display())))?;
    if empty {
        let _ = std::fs::remove_file(patch);
        return Ok(false);
    }
    run_with_index(worktree, index, &read_head, "git read-tree HEAD")?;
    let check = [
        os("apply"),
        os("--cached"),
        os("--check"),
        os("--"),
        patch.as_os_str(),
    ];
    run_with_index(
        worktree,
        index,
        &check,
        "checking that the patch applies to HEAD (git apply --check)",
    )?;
    Ok(true)
}

/// Saves the commits of a worktree's HEAD that no ref other than `own_branch` reaches
/// (see [`unmerged_commits`]) as a git bundle at `bundle`, its one ref named `HEAD`,
/// and checks it with `git bundle verify`. On failure, no file is left.
pub fn save_unmerged_bundle(worktree: &Path, own_branch: &str, bundle: &Path) -> Result<()> {
    let mut args = vec!["bundle", "create", "--quiet", "-"];
    let revs = unreachable_revs(own_branch);
    args.extend(revs.iter().map(String::as_str));
    run_into_file(worktree, &args, None, bundle)?;
    let out = run(
        worktree,
        [
            OsStr::new("bundle"),
            OsStr::new("verify"),
            OsStr::new("--quiet"),
            bundle.as_os_str(),
        ],
    )?;
    if !out.ok {
        let _ = std::fs::remove_file(bundle);
        return Err(Error::internal(format!(
            "the bundle of {} does not verify (git bundle verify): {}",
            worktree.display(),
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
