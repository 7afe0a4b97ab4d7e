//! Git, through the `git` command line: finding the repository, resolving the base
//! commit, the dirty-repository rule, creating and removing attempt worktrees at
//! `<root>/<run>/<task>/attempt-<n>` on branch `orch/<run>/<task>/attempt-<n>`, and
//! what removing one would lose (uncommitted changes, commits no other ref reaches) and
//! saving it first (a patch, a bundle).
//! Every ref and path is passed after `--end-of-options` or `--`, never as an option.

use crate::error::{IoContext, IoError};
use crate::ids::IdError;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What went wrong with git or a worktree.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    #[error("repository path {} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} is not inside a git repository ({stderr})", path.display())]
    NotARepository { path: PathBuf, stderr: String },
    #[error(transparent)]
    BadRef(#[from] IdError),
    #[error("base ref {reference:?} does not name a commit in {}", repo.display())]
    NotACommit { reference: String, repo: PathBuf },
    /// Something is already where the worktree would go.
    #[error("worktree path {} already exists; nothing was created", .0.display())]
    PathInTheWay(PathBuf),
    #[error("branch {0} already exists; nothing was created")]
    BranchExists(String),
    /// git itself could not be started.
    #[error("cannot run {command} in {}: {source}", dir.display())]
    GitNotRun {
        command: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// git ran and exited with a failure.
    #[error("{command} failed in {}: {stderr}", dir.display())]
    GitFailed {
        command: String,
        dir: PathBuf,
        stderr: String,
    },
    #[error("{command} printed {printed:?} in {}, not a count", dir.display())]
    NotACount {
        command: String,
        dir: PathBuf,
        printed: String,
    },
    #[error("the bundle of {} does not verify (git bundle verify): {stderr}", worktree.display())]
    BundleUnverified { worktree: PathBuf, stderr: String },
    #[error(transparent)]
    Io(#[from] IoError),
}

pub type Result<T, E = WorktreeError> = std::result::Result<T, E>;

/// `git -C dir` with no terminal prompt, C locale and none of the caller's `GIT_DIR`,
/// `GIT_WORK_TREE` or `GIT_INDEX_FILE` (also for [`crate::remote`]).
pub(crate) fn git(dir: &Path) -> Command {
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

/// One git command line to run in `dir`, optionally with its own index file and its
/// standard output written to a file.
struct Git<'a> {
    dir: &'a Path,
    args: Vec<OsString>,
    index: Option<&'a Path>,
    stdout: Option<std::fs::File>,
}

#[derive(Debug)]
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl<'a> Git<'a> {
    fn new<I, S>(dir: &'a Path, args: I) -> Git<'a>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Git {
            dir,
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            index: None,
            stdout: None,
        }
    }

    /// The command line as one would type it, for messages: `git worktree add …`. A
    /// word with a line break (a commit message) is shown up to it.
    fn command_line(&self) -> String {
        let mut line = String::from("git");
        for arg in &self.args {
            let arg = arg.to_string_lossy();
            line.push(' ');
            match arg.split_once('\n') {
                Some((first, _)) => {
                    line.push_str(first);
                    line.push('…');
                }
                None => line.push_str(&arg),
            }
        }
        line
    }

    /// Runs it; a failure to start git is an error, git's own failure is not.
    fn output(self) -> Result<(Output, Self)> {
        let mut cmd = git(self.dir);
        cmd.args(&self.args).stdin(std::process::Stdio::null());
        if let Some(index) = self.index {
            cmd.env("GIT_INDEX_FILE", index);
        }
        let mut call = self;
        if let Some(file) = call.stdout.take() {
            cmd.stdout(file);
        }
        let out = cmd.output().map_err(|source| WorktreeError::GitNotRun {
            command: call.command_line(),
            dir: call.dir.to_path_buf(),
            source,
        })?;
        let output = Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        };
        Ok((output, call))
    }

    /// Runs it; git's failure is an error naming the command line, the directory and
    /// git's words.
    fn succeed(self) -> Result<Output> {
        let (out, call) = self.output()?;
        if !out.ok {
            return Err(WorktreeError::GitFailed {
                command: call.command_line(),
                dir: call.dir.to_path_buf(),
                stderr: out.stderr,
            });
        }
        Ok(out)
    }

    /// Runs it for the number it prints (`git rev-list --count`).
    fn count(self) -> Result<usize> {
        let command = self.command_line();
        let dir = self.dir.to_path_buf();
        let out = self.succeed()?;
        out.stdout
            .trim()
            .parse()
            .map_err(|_| WorktreeError::NotACount {
                command,
                dir,
                printed: out.stdout.trim().to_string(),
            })
    }
}

/// Runs git in `dir`; a failure to start git is an error, git's own failure is not.
fn run<I, S>(dir: &Path, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Git::new(dir, args).output().map(|(out, _)| out)
}

/// Runs git in `dir`; its failure is an error too.
fn run_ok<I, S>(dir: &Path, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Git::new(dir, args).succeed()
}

/// The top-level directory of the worktree containing `path`.
pub fn toplevel(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        return Err(WorktreeError::NotADirectory(path.to_path_buf()));
    }
    let out = run(path, ["rev-parse", "--show-toplevel"])?;
    if !out.ok {
        return Err(WorktreeError::NotARepository {
            path: path.to_path_buf(),
            stderr: out.stderr,
        });
    }
    Ok(PathBuf::from(out.stdout.trim()))
}

/// The commit a ref names.
pub fn resolve_commit(repo: &Path, reference: &str) -> Result<String> {
    crate::ids::validate_ref(reference)?;
    let out = verify_rev(repo, &format!("{reference}^{{commit}}"))?;
    if !out.ok || out.stdout.trim().is_empty() {
        return Err(WorktreeError::NotACommit {
            reference: reference.to_string(),
            repo: repo.to_path_buf(),
        });
    }
    Ok(out.stdout.trim().to_string())
}

/// How often `git worktree list` is tried when another process's `worktree add` or
/// `remove` in the same repository makes it fail.
const WORKTREE_LIST_TRIES: u32 = 8;

/// The directories of every worktree registered in the repository.
///
/// `git worktree list` reads every worktree's administrative files, and fails when
/// another process is creating or removing one at that moment (`fatal: failed to read
/// '.git/worktrees/attempt-1/locked'`, or `…/commondir`): supervisors and `orch up`
/// on one repository do that all the time. Such a failure (git names a file under
/// `worktrees/`) is tried again after a short pause; any other is an error at once.
pub fn registered_worktrees(repo: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_worktrees(repo)?
        .split('\0')
        .filter_map(|field| field.strip_prefix("worktree "))
        .map(PathBuf::from)
        .collect())
}

/// `git worktree list --porcelain -z`, tried again as [`registered_worktrees`] says.
fn list_worktrees(repo: &Path) -> Result<String> {
    let args = ["worktree", "list", "--porcelain", "-z"];
    let mut tries = 1;
    let out = loop {
        let (out, call) = Git::new(repo, args).output()?;
        if out.ok {
            break out;
        }
        if tries >= WORKTREE_LIST_TRIES || !out.stderr.contains("worktrees/") {
            return Err(WorktreeError::GitFailed {
                command: call.command_line(),
                dir: call.dir.to_path_buf(),
                stderr: out.stderr,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10 << tries.min(4)));
        tries += 1;
    };
    Ok(out.stdout)
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
    let out = run_ok(repo, &args)?;
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
    Ok(verify_rev(repo, &format!("refs/heads/{branch}"))?.ok)
}

/// `git rev-parse --verify` of one revision, never read as an option.
fn verify_rev(repo: &Path, rev: &str) -> Result<Output> {
    run(
        repo,
        ["rev-parse", "--verify", "--quiet", "--end-of-options", rev],
    )
}

/// Creates a worktree at `path` on a new branch `branch` starting at `commit`.
pub fn add_worktree(repo: &Path, path: &Path, branch: &str, commit: &str) -> Result<()> {
    if path.exists() {
        return Err(WorktreeError::PathInTheWay(path.to_path_buf()));
    }
    if branch_exists(repo, branch)? {
        return Err(WorktreeError::BranchExists(branch.to_string()));
    }
    if let Some(parent) = path.parent() {
        // `<root>/<run>/<task>` (and `.orch/` itself when the database lives elsewhere):
        // private to the owner, like the rest of orch's state.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .at(parent)?;
    }
    run_ok(
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
    Ok(())
}

/// A worktree whose `git worktree add` never finished: git still lists it `locked`
/// with reason `initializing` (the lock `worktree add` takes first and drops once the
/// checkout is done). Nothing can have worked in it: its checkout is incomplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HalfMade {
    pub path: PathBuf,
    /// Its branch (`refs/heads/` left off), if git recorded one.
    pub branch: Option<String>,
}

/// The half-made worktrees of `repo` ([`HalfMade`]).
pub fn half_made_worktrees(repo: &Path) -> Result<Vec<HalfMade>> {
    let listed = list_worktrees(repo)?;
    let mut found = Vec::new();
    // Records are runs of fields, each ended by an empty field.
    for record in listed.split("\0\0") {
        let fields: Vec<&str> = record.split('\0').collect();
        let path = fields.iter().find_map(|f| f.strip_prefix("worktree "));
        let initializing = fields.contains(&"locked initializing");
        if let (Some(path), true) = (path, initializing) {
            found.push(HalfMade {
                path: PathBuf::from(path),
                branch: fields
                    .iter()
                    .find_map(|f| f.strip_prefix("branch refs/heads/"))
                    .map(str::to_string),
            });
        }
    }
    Ok(found)
}

/// Removes a half-made worktree ([`half_made_worktrees`]): its directory and its
/// registration, and its branch when no commit of it is missing from every other ref
/// (a new branch still at its base commit). Returns whether the branch went too.
pub fn discard_half_made(repo: &Path, half: &HalfMade) -> Result<bool> {
    // `--force` twice: git refuses a locked worktree otherwise.
    let path = half.path.as_os_str();
    run_ok(
        repo,
        [
            OsStr::new("worktree"),
            OsStr::new("remove"),
            OsStr::new("--force"),
            OsStr::new("--force"),
            OsStr::new("--"),
            path,
        ],
    )?;
    let Some(branch) = half.branch.as_deref() else {
        return Ok(false);
    };
    if branch_only_commits(repo, branch)? > 0 {
        return Ok(false);
    }
    run_ok(repo, ["branch", "-D", "--", branch])?;
    Ok(true)
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
        match branch_only_commits(repo, branch) {
            Ok(0) => {}
            Ok(_) | Err(WorktreeError::GitFailed { .. } | WorktreeError::NotACount { .. }) => {
                return Ok(false);
            }
            Err(e) => return Err(e),
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
    Git::new(
        worktree,
        ["rev-list", "--count", &format!("{base}..HEAD"), "--"],
    )
    .count()
}

/// Commits every change in `worktree` (tracked and untracked files, ignored ones
/// aside) on its current branch with `message`; returns the new commit. Uses the
/// user's git identity, or `orch <orch@localhost>` when git has none.
pub fn commit_all(worktree: &Path, message: &str) -> Result<String> {
    run_ok(worktree, ["add", "-A", "--", "."])?;
    let has_identity = run(worktree, ["config", "user.email"])?.ok;
    let mut args: Vec<&str> = Vec::new();
    if !has_identity {
        args.extend(["-c", "user.name=orch", "-c", "user.email=orch@localhost"]);
    }
    args.extend(["commit", "-q", "--no-verify", "-m", message]);
    run_ok(worktree, &args)?;
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
    run_ok(repo, args)?;
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

/// How many commits of branch `branch` of `repo` no other ref reaches.
fn branch_only_commits(repo: &Path, branch: &str) -> Result<usize> {
    let mut args = vec!["rev-list".to_string(), "--count".to_string()];
    args.extend(unreachable_revs(branch));
    args[2] = format!("refs/heads/{branch}");
    args.push("--".into());
    Git::new(repo, &args).count()
}

/// How many commits of the worktree's HEAD no ref other than `own_branch` (the
/// attempt's branch) reaches: work that is merged nowhere, or made on a detached HEAD.
pub fn unmerged_commits(worktree: &Path, own_branch: &str) -> Result<usize> {
    let mut args = vec!["rev-list".to_string(), "--count".to_string()];
    args.extend(unreachable_revs(own_branch));
    args.push("--".into());
    Git::new(worktree, &args).count()
}

/// Runs git in `dir` with its standard output written to a new file `file` (0600),
/// and optionally its own index file. On failure, the file is removed.
fn run_into_file(dir: &Path, args: &[&str], index: Option<&Path>, file: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
        .at(file)?;
    let mut call = Git::new(dir, args);
    call.index = index;
    call.stdout = Some(out_file);
    let result = call.succeed().map(drop);
    if result.is_err() {
        let _ = std::fs::remove_file(file);
    }
    result
}

/// Runs git in `dir` with `index` as its index file; its failure is an error.
fn run_with_index(dir: &Path, index: &Path, args: &[&OsStr]) -> Result<()> {
    let mut call = Git::new(dir, args);
    call.index = Some(index);
    call.succeed().map(drop)
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
    run_with_index(worktree, index, &read_head)?;
    let add_all = [os("add"), os("--all"), os("--"), os(".")];
    run_with_index(worktree, index, &add_all)?;
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
    let empty = std::fs::metadata(patch).map(|m| m.len() == 0).at(patch)?;
    if empty {
        let _ = std::fs::remove_file(patch);
        return Ok(false);
    }
    run_with_index(worktree, index, &read_head)?;
    let check = [
        os("apply"),
        os("--cached"),
        os("--check"),
        os("--"),
        patch.as_os_str(),
    ];
    run_with_index(worktree, index, &check)?;
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
        return Err(WorktreeError::BundleUnverified {
            worktree: worktree.to_path_buf(),
            stderr: out.stderr,
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_git_command_names_its_command_line_and_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_ok(dir.path(), ["rev-parse", "--verify", "HEAD"]).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, WorktreeError::GitFailed { .. }), "{message}");
        let expected = format!(
            "git rev-parse --verify HEAD failed in {}: ",
            dir.path().display()
        );
        assert!(message.starts_with(&expected), "{message}");
        let err = toplevel(dir.path()).unwrap_err();
        assert!(matches!(err, WorktreeError::NotARepository { .. }), "{err}");
    }

    /// Another process adding and removing worktrees (other attempts' supervisors, `orch
    /// up`) makes a bare `git worktree list` fail now and then (about 1 call in 100 on
    /// the test VM with two such processes); the listing tries those again.
    #[test]
    fn listing_worktrees_survives_other_processes_adding_and_removing_them() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        run_ok(repo, ["init", "-q"]).unwrap();
        run_ok(
            repo,
            [
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "i",
            ],
        )
        .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churners: Vec<_> = (0..2)
            .map(|k| {
                let (repo, stop) = (repo.to_path_buf(), stop.clone());
                std::thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let path = repo.join(format!("wt/{k}/{i}/attempt-1"));
                        let path = path.to_str().unwrap();
                        let branch = format!("b{k}-{i}");
                        run(&repo, ["worktree", "add", "-q", "-b", &branch, path]).unwrap();
                        run(&repo, ["worktree", "remove", "--force", path]).unwrap();
                        i += 1;
                    }
                })
            })
            .collect();
        let listed: Vec<_> = (0..300).map(|_| registered_worktrees(repo)).collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for churner in churners {
            churner.join().unwrap();
        }
        for result in listed {
            let worktrees = result.unwrap();
            assert!(
                worktrees.contains(&repo.canonicalize().unwrap()),
                "{worktrees:?}"
            );
        }
    }

    #[test]
    fn a_multi_line_argument_is_shown_up_to_its_first_line_break() {
        let call = Git::new(Path::new("."), ["commit", "-m", "first\n\nmore"]);
        assert_eq!(call.command_line(), "git commit -m first…");
    }
}
