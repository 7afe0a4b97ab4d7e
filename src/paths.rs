//! Where things live: the default database path (`$ORCH_DB`, else `.orch/coord.db` at the
//! top of the main git worktree, else under the current directory), where `cleanup
//! --force` saves work (`<state>/salvage/`), and keeping orch's state directory out of
//! `git status`.

use std::path::{Path, PathBuf};

/// orch's state directory name at the repository top.
pub const STATE_DIR: &str = ".orch";

/// The top-level directory of the main worktree of the git repository containing
/// `start`, found without running git: the nearest ancestor with a `.git` entry; for a
/// linked worktree (`.git` is a file), the main worktree that owns it.
pub fn main_worktree_top(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let dot_git = d.join(".git");
        if dot_git.is_dir() {
            return Some(d.to_path_buf());
        }
        if dot_git.is_file() {
            // A linked worktree: follow gitdir, then commondir, to the main repository.
            if let Some(common) = common_dir_of_file(&dot_git)
                && common.file_name().is_some_and(|n| n == ".git")
            {
                return common.parent().map(Path::to_path_buf);
            }
            return Some(d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

fn common_dir_of_file(dot_git_file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dot_git_file).ok()?;
    let gitdir = text.strip_prefix("gitdir:")?.trim();
    let base = dot_git_file.parent()?;
    let gitdir = base.join(gitdir);
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = gitdir.join(common.trim());
    common.canonicalize().ok()
}

/// The top of the worktree containing `start` (the nearest ancestor with a `.git`
/// entry), found without running git.
pub fn worktree_top(start: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(start).ok()?;
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// The database path when `--db`/`$ORCH_DB` is not given.
pub fn default_db_path() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let top = main_worktree_top(&cwd).unwrap_or(cwd);
    top.join(STATE_DIR).join("coord.db")
}

/// When the state directory `state` is `<top>/.orch/` of a git repository, lists
/// `/.orch/` in that repository's `info/exclude`, so orch's own files never make the
/// repository dirty.
pub fn exclude_state_dir(state: &Path) {
    if state.file_name().is_none_or(|n| n != STATE_DIR) {
        return;
    }
    let Some(top) = state.parent() else { return };
    let git_dir = top.join(".git");
    if !git_dir.is_dir() {
        return;
    }
    let exclude = git_dir.join("info").join("exclude");
    let line = format!("/{STATE_DIR}/");
    let current = std::fs::read_to_string(&exclude).unwrap_or_default();
    if current.lines().any(|l| l.trim() == line) {
        return;
    }
    let _ = std::fs::create_dir_all(git_dir.join("info"));
    let mut text = current;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    let _ = std::fs::write(&exclude, text);
}

/// `path` made absolute against `base` (without touching the file system).
pub fn absolute(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Where `orch cleanup --force` saves what removing an attempt's worktree would lose:
/// `<state>/salvage/<run>/<task>-<attempt>/`, `<state>` being the state directory
/// (`.orch/` by default), made absolute against the current directory.
pub fn salvage_dir(state: &Path, run_id: &str, task_id: &str, attempt_no: i64) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    absolute(&cwd, state)
        .join("salvage")
        .join(run_id)
        .join(format!("{task_id}-{attempt_no}"))
}

/// Creates `dir` and its missing parents readable by their owner only (0700); an
/// existing `dir` is narrowed to 0700 too.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// [`create_private_dir`] with an error that names the directory.
pub fn ensure_private_dir(dir: &Path) -> crate::error::Result<()> {
    create_private_dir(dir)
        .map_err(|e| crate::error::Error::internal(format!("cannot create {}: {e}", dir.display())))
}

/// Opens (creating it, 0600, never truncating) the file `path` that a lock is taken on;
/// the error names the file.
pub fn open_lock_file(path: &Path) -> crate::error::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| crate::error::Error::internal(format!("cannot open {}: {e}", path.display())))
}
