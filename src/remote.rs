//! The shared remote of issue 13 (code on many hosts). With pushing on ([`push_target`]:
//! `[remote]` in `.orch/config.toml`, or a store that spans hosts), a code attempt's base
//! commit must be on the remote before its worktree is made ([`require_base_on_remote`]),
//! its branch is pushed there when it ends with commits ([`push_branch`]), and commits the
//! remote lacks count as work `orch cleanup` would lose ([`unpushed_commits`]).
//!
//! The base check fetches the remote's branches and tags into orch's own namespace,
//! `refs/orch/remote/<name>/`, pruned, and asks whether one of them contains the base:
//! exact (the refs are the remote's at that moment, and a commit's history never
//! changes), cheap (an up-to-date fetch is one exchange of ref names, and only what
//! other hosts pushed since is downloaded), and it never moves the user's own
//! remote-tracking branches. Every command that talks to the remote runs bounded by
//! `[remote] timeout`, without a terminal prompt; what git says is redacted (secrets,
//! and the credentials of a URL) before orch shows or records it.

use crate::config::RemoteConfig;
use crate::error::{Error, Result};
use crate::process::bounded::{Bounded, run_bounded};
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

/// Where orch mirrors a remote's refs for the base check: `refs/orch/remote/<name>/`.
fn mirror_prefix(remote: &str) -> String {
    format!("refs/orch/remote/{remote}/")
}

/// The most of git's words orch keeps in a message or record, in bytes.
const MAX_GIT_WORDS: usize = 4000;

/// Whether code attempts must be pushed whatever `[remote]` says: when the store spans
/// hosts, a branch left on one host's disk is work no other host can see or continue.
/// Always false for one host's SQLite file, always true for a PostgreSQL server
/// ([`Store::spans_hosts`]).
pub fn push_required(store: &Store) -> bool {
    store.spans_hosts()
}

/// The remote code attempts in `repo` are pushed to, or `None` when pushing is off:
/// `[remote]` turns it on (unless `push = false`); without `[remote]` it is off, unless
/// [`push_required`] (then `origin`). `push = false` on a store that spans hosts is
/// `invalid_input`.
pub fn push_target(store: &Store, repo: &Path) -> Result<Option<RemoteConfig>> {
    let config = crate::config::load_remote(repo)?;
    let required = push_required(store);
    match config {
        Some(c) if c.push => Ok(Some(c)),
        Some(_) if required => Err(Error::invalid_input(format!(
            "[remote] push = false in {}, but this database is shared by several hosts: their code attempts must be pushed to be seen; remove `push = false`",
            repo.join(crate::paths::STATE_DIR)
                .join("config.toml")
                .display()
        ))),
        Some(_) => Ok(None),
        None if required => Ok(Some(RemoteConfig::default())),
        None => Ok(None),
    }
}

/// Refuses (`invalid_state`) a base commit that no branch or tag of the remote holds,
/// or a remote that is not configured or cannot be fetched. Creates nothing but orch's
/// mirror refs (see the module doc).
pub async fn require_base_on_remote(
    repo: &Path,
    remote: &RemoteConfig,
    base_label: &str,
    base_commit: &str,
) -> Result<()> {
    let name = remote.name.as_str();
    let url = remote_url(repo, name)?;
    let _lock = lock_remote(repo, name, remote.timeout).await?;
    let prefix = mirror_prefix(name);
    let heads = format!("+refs/heads/*:{prefix}heads/*");
    let tags = format!("+refs/tags/*:{prefix}tags/*");
    let fetch = [
        "fetch",
        "--quiet",
        "--no-tags",
        "--prune",
        "--no-write-fetch-head",
        "--end-of-options",
        name,
        &heads,
        &tags,
    ];
    let shown = format!("git fetch {name}");
    if let Err(why) = bounded_git(repo, &fetch, &shown, remote.timeout).await {
        return Err(Error::invalid_state(format!(
            "cannot check that base commit {base_commit} is on remote {name:?} ({url}): {why}; nothing was created"
        )));
    }
    let contains = format!("--contains={base_commit}");
    let found = local_git(
        repo,
        &[
            "for-each-ref",
            "--count=1",
            "--format=%(refname)",
            &contains,
            &prefix,
        ],
    )?;
    if found.trim().is_empty() {
        let label = if base_label.is_empty() || base_label == base_commit {
            String::new()
        } else {
            format!(" ({base_label})")
        };
        return Err(Error::invalid_state(format!(
            "base commit {base_commit}{label} is not on remote {name:?} ({url}): no branch or tag there contains it, so another host could not check it out; push it first (e.g. `git push {name} HEAD`), or choose a base that is there with --base-ref; nothing was created"
        )));
    }
    Ok(())
}

/// Pushes `branch` of `repo` to the same branch on the remote, never forced; the commit
/// pushed, or why the push failed (git's words, redacted).
pub async fn push_branch(
    repo: &Path,
    remote: &RemoteConfig,
    branch: &str,
) -> std::result::Result<String, String> {
    let name = remote.name.as_str();
    let head = format!("refs/heads/{branch}");
    let verify = [
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &head,
    ];
    let commit = match run_local(repo, &verify) {
        Ok((true, stdout)) if !stdout.trim().is_empty() => stdout.trim().to_string(),
        Ok(_) => return Err(format!("branch {branch} does not exist")),
        Err(e) => return Err(e.message),
    };
    let refspec = format!("{head}:{head}");
    let push = ["push", "--quiet", "--end-of-options", name, &refspec];
    let shown = format!("git push {name} {branch}");
    bounded_git(repo, &push, &shown, remote.timeout).await?;
    Ok(commit)
}

/// How many commits of the worktree's HEAD the remote is not known to hold: none of
/// `on_remote` (the base checked at dispatch, the commit pushed), the remote's
/// remote-tracking branches and orch's mirror of it reach them.
pub fn unpushed_commits(worktree: &Path, remote: &str, on_remote: &[&str]) -> Result<usize> {
    let mut args = vec!["rev-list".to_string(), "--count".into(), "HEAD".into()];
    args.push("--not".into());
    args.extend(
        on_remote
            .iter()
            .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|c| c.to_string()),
    );
    args.push(format!("--remotes={remote}/*"));
    args.push(format!("--glob={}*", mirror_prefix(remote)));
    args.push("--".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let printed = local_git(worktree, &args)?;
    printed.trim().parse().map_err(|_| {
        Error::internal(format!(
            "git rev-list --count printed {:?} in {}, not a count",
            printed.trim(),
            worktree.display()
        ))
    })
}

/// The remote's URL, shown without credentials; `invalid_state` when no such remote.
fn remote_url(repo: &Path, name: &str) -> Result<String> {
    let (exists, url) = run_local(repo, &["remote", "get-url", "--", name])?;
    if !exists {
        return Err(Error::invalid_state(format!(
            "code attempts are pushed to remote {name:?} ([remote] in .orch/config.toml; always when the database is shared by hosts), but {} has no remote of that name; add it (`git remote add {name} URL`) or name another in [remote] name",
            repo.display()
        )));
    }
    Ok(redact_git_words(url.trim()))
}

/// Runs a local git command in `dir` (no network); its stdout, or `internal_error`
/// naming the command and git's words.
fn local_git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = crate::worktree::git(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::internal(format!("cannot run git in {}: {e}", dir.display())))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            redact_git_words(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a local git command in `dir` whose failure is an answer: whether it succeeded,
/// and its stdout.
fn run_local(dir: &Path, args: &[&str]) -> Result<(bool, String)> {
    let out = crate::worktree::git(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::internal(format!("cannot run git in {}: {e}", dir.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok((out.status.success(), stdout))
}

/// Runs a git command that talks to the remote, bounded by `limit`; on failure, why
/// (the command as `shown`, and git's words redacted, or the timeout).
async fn bounded_git(
    dir: &Path,
    args: &[&str],
    shown: &str,
    limit: Duration,
) -> std::result::Result<(), String> {
    let mut command = tokio::process::Command::from(crate::worktree::git(dir));
    command.args(args);
    match run_bounded(command, limit).await {
        Bounded::Exited(out) if out.success => Ok(()),
        Bounded::Exited(out) => {
            let words = redact_git_words(out.stderr.trim());
            let exit = out
                .code
                .map_or("was killed".to_string(), |c| format!("exited with {c}"));
            Err(format!("`{shown}` {exit}: {words}"))
        }
        Bounded::TimedOut => Err(format!(
            "`{shown}` did not finish within {} and was stopped",
            humantime::format_duration(limit)
        )),
        Bounded::CannotStart(e) | Bounded::Failed(e) => Err(format!("cannot run `{shown}`: {e}")),
    }
}

/// git's words as orch shows and records them, each line's end trimmed: the credentials of a URL
/// (`https://TOKEN@host`, `scheme://user:PASSWORD@host`) and every secret the process's
/// redactor knows replaced, at most [`MAX_GIT_WORDS`] bytes.
pub fn redact_git_words(text: &str) -> String {
    static HTTP_USERINFO: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(https?://)[^/@\s]+@").expect("a built-in pattern")
    });
    static PASSWORD: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://[^/@\s:]+):[^/@\s]+@")
            .expect("a built-in pattern")
    });
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let text = lines.join("\n");
    let text = HTTP_USERINFO.replace_all(&text, "${1}[REDACTED]@");
    let text = PASSWORD.replace_all(&text, "${1}:[REDACTED]@");
    let mut text = crate::redact::process().redact_str(&text).into_owned();
    if text.len() > MAX_GIT_WORDS {
        let mut end = MAX_GIT_WORDS;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// An exclusive lock on fetching `remote` into `repo`'s mirror refs, in git's common
/// directory (`orch-remote-<name>.lock`), so two dispatches never fight over a ref lock.
/// Waits without blocking the runtime, at most `limit`.
async fn lock_remote(
    repo: &Path,
    name: &str,
    limit: Duration,
) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let common = local_git(repo, &["rev-parse", "--git-common-dir"])?;
    let common = PathBuf::from(common.trim());
    let common = if common.is_absolute() {
        common
    } else {
        repo.join(common)
    };
    let path = common.join(format!("orch-remote-{name}.lock"));
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let file = crate::paths::open_lock_file(&path)?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err((_, e)) => {
                return Err(Error::invalid_state(format!(
                    "cannot lock {} to fetch remote {name:?}: {e}",
                    path.display()
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_redacted_from_gits_words() {
        let words = "fatal: unable to access 'https://ghx_token1234@example.com/r.git/': 403\n\
                     To ssh://deploy:hunter2hunter2@host/r.git\n\
                     From git@example.com:r.git";
        let redacted = redact_git_words(words);
        assert!(!redacted.contains("ghx_token1234"), "{redacted}");
        assert!(!redacted.contains("hunter2"), "{redacted}");
        assert!(
            redacted.contains("https://[REDACTED]@example.com/r.git/"),
            "{redacted}"
        );
        assert!(
            redacted.contains("ssh://deploy:[REDACTED]@host"),
            "{redacted}"
        );
        // A user name alone (scp-like or ssh://git@) is not a secret.
        assert!(redacted.contains("git@example.com:r.git"), "{redacted}");
        let long = "x".repeat(MAX_GIT_WORDS + 10);
        assert!(redact_git_words(&long).len() <= MAX_GIT_WORDS + '…'.len_utf8());
    }
}
