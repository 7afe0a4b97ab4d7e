//! Code on many hosts, the remote's part (issue 13): with `[remote]`, a code attempt's
//! base must be on the shared remote (a bare repository here), its branch is pushed there
//! when it ends with commits, and a push that fails is reported on the attempt and the
//! thread and keeps the worktree from `cleanup`; without it nothing changes.

use crate::common::{Env, add_task, wait_for_end, words};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The shell worker's body: leaves a file uncommitted (the supervisor commits it) and
/// says it finished.
const WORK: &str = "echo work > work.txt\necho finished";
const BRANCH: &str = "orch/r/t/attempt-1";

/// `TMP/repo` with the bare `TMP/remote.git` as `origin` and `main` pushed there, and
/// `.orch/config.toml` holding `config` (no file for `None`). `.orch/` is excluded, as orch
/// does when its database lives there (here it is `TMP/coord.db`).
fn repo_with_remote(env: &Env, config: Option<&str>) -> (PathBuf, PathBuf) {
    let repo = env.repo();
    let remote = env.path().join("remote.git");
    let remote_arg = remote.to_str().unwrap();
    if !env.is_pg() {
        // On PostgreSQL `env.repo()` made it already.
        env.git(
            env.path(),
            &["init", "-q", "--bare", "-b", "main", remote_arg],
        );
        env.git(&repo, &["remote", "add", "origin", remote_arg]);
        env.git(&repo, &["push", "-q", "origin", "main"]);
    }
    let exclude = repo.join(".git/info/exclude");
    let mut text = std::fs::read_to_string(&exclude).unwrap_or_default();
    text.push_str("/.orch/\n");
    std::fs::write(&exclude, text).unwrap();
    if let Some(config) = config {
        configure(&repo, config);
    }
    (repo, remote)
}

fn configure(repo: &Path, config: &str) {
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    std::fs::write(repo.join(".orch/config.toml"), config).unwrap();
}

/// Run `r` with task `t` for the shell worker, doing `body`.
fn task(env: &Env, body: &str) {
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(env, "r", "t", "shell", body);
}

/// The commit `reference` names in `dir`, `None` when it names none.
fn rev(env: &Env, dir: &Path, reference: &str) -> Option<String> {
    let out = env
        .command("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "--quiet", reference])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Every message body on the attempt's thread, joined.
fn thread_text(env: &Env) -> String {
    let shown = env.inbox(None, &["show", "--thread", "r/t/attempt-1"]);
    let messages = shown.data()["messages"].as_array().unwrap().clone();
    let bodies: Vec<&str> = messages.iter().filter_map(|m| m["body"].as_str()).collect();
    bodies.join("\n---\n")
}

fn dispatch_code(env: &Env, repo: &Path) -> crate::common::Out {
    let repo_arg = format!("--repo-path={}", repo.display());
    let mut args = words("dispatch --run r --task t --execution-mode code");
    args.push(&repo_arg);
    env.orch(&args)
}

#[test]
fn a_base_commit_not_on_the_remote_is_refused_and_nothing_is_created() {
    let env = Env::new();
    let (repo, _remote) = repo_with_remote(&env, Some("[remote]\nname = \"origin\"\n"));
    std::fs::write(repo.join("local.txt"), "only here\n").unwrap();
    env.git(&repo, &["add", "local.txt"]);
    env.git(&repo, &["commit", "-q", "-m", "local only"]);
    let head = rev(&env, &repo, "HEAD").unwrap();
    task(&env, WORK);
    let message = dispatch_code(&env, &repo).error(30, "invalid_state");
    for needle in [
        head.as_str(),
        "(HEAD)",
        "\"origin\"",
        "remote.git",
        "nothing was created",
    ] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    // Nothing was created: no worktree, no branch, no attempt; the task is still ready.
    assert!(!repo.join(".orch/worktrees/r/t/attempt-1").exists());
    assert_eq!(env.git(&repo, &["branch", "--list", "orch/*"]), "");
    assert!(env.attempts("r", "t").is_empty());
    assert_eq!(env.task_row("r", "t")["status"], "ready");
    // A remote the repository does not have is refused the same way, naming it.
    configure(&repo, "[remote]\nname = \"upstream\"\n");
    let message = dispatch_code(&env, &repo).error(30, "invalid_state");
    assert!(
        message.contains("\"upstream\"") && message.contains("git remote add upstream"),
        "{message}"
    );
    // Once the base is on the remote, the dispatch goes through; the push is pending.
    configure(&repo, "[remote]\nname = \"origin\"\n");
    env.git(&repo, &["push", "-q", "origin", "main"]);
    let data = dispatch_code(&env, &repo).data().clone();
    assert_eq!(data["attempt"]["base_commit"], head.as_str());
    let rows = env.attempts("r", "t");
    let push = &rows[0]["push"];
    assert_eq!(push["state"], "pending", "{push}");
    assert_eq!(
        (push["remote"].as_str(), push["branch"].as_str()),
        (Some("origin"), Some(BRANCH))
    );
    assert_eq!(push["commit"], Value::Null);
    // The check fetched into orch's own refs, not the user's remote-tracking branches.
    assert_eq!(
        rev(&env, &repo, "refs/orch/remote/origin/heads/main"),
        Some(head)
    );
}

#[test]
fn an_attempt_with_commits_is_pushed_and_its_record_says_where() {
    let env = Env::new();
    let (repo, remote) = repo_with_remote(&env, Some("[remote]\n"));
    task(&env, WORK);
    let data = env.launch(&repo, "r", "t", "code");
    let worktree = PathBuf::from(data["attempt"]["worktree_path"].as_str().unwrap());
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    let head = rev(&env, &worktree, "HEAD").unwrap();
    let push = &record["push"];
    let supervisor_log = record["supervision"]["log_path"]
        .as_str()
        .map(|log| {
            let log = PathBuf::from(log).with_extension("supervisor.log");
            std::fs::read_to_string(log).unwrap_or_default()
        })
        .unwrap_or_default();
    assert_eq!(
        push["state"], "pushed",
        "{record:#}\nsupervisor log:\n{supervisor_log}"
    );
    assert_eq!(push["remote"], "origin");
    assert_eq!(push["branch"], BRANCH);
    assert_eq!(push["commit"], head.as_str());
    assert_eq!(push["error"], Value::Null);
    // The bare remote has the branch at the recorded commit.
    assert_eq!(
        rev(&env, &remote, &format!("refs/heads/{BRANCH}")),
        Some(head.clone())
    );
    // The thread and the plain text say so.
    let thread = thread_text(&env);
    assert!(
        thread.contains(&format!("orch pushed {BRANCH} to origin: {head}")),
        "{thread}"
    );
    let text = env.orch_raw_logs(&["attempts", "--run", "r", "--task", "t"]);
    assert!(
        text.contains(&format!("pushed {BRANCH} to origin at {head}")),
        "{text}"
    );
    // Pushed work is safe: cleanup removes the worktree without --force.
    env.orch(&["cleanup", "--run", "r", "--task", "t"]).data();
    assert!(!worktree.exists());
}

#[test]
fn a_failed_push_is_reported_and_keeps_the_worktree_from_cleanup() {
    let env = Env::new();
    let (repo, remote) = repo_with_remote(&env, Some("[remote]\nname = \"origin\"\npush = true\n"));
    // The remote takes no push from now on (fetching still works).
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'pushes are frozen' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    task(&env, WORK);
    let data = env.launch(&repo, "r", "t", "code");
    let worktree = PathBuf::from(data["attempt"]["worktree_path"].as_str().unwrap());
    let record = wait_for_end(&env, "r", "t");
    // The push's failure does not make the attempt's outcome.
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    let push = &record["push"];
    assert_eq!(push["state"], "failed", "{record:#}");
    assert_eq!(push["commit"], Value::Null);
    let error = push["error"].as_str().unwrap();
    assert!(
        error.contains("pushes are frozen") && error.contains("git push"),
        "{error}"
    );
    assert_eq!(rev(&env, &remote, &format!("refs/heads/{BRANCH}")), None);
    let thread = thread_text(&env);
    assert!(
        thread.contains(&format!("orch could not push {BRANCH} to origin"))
            && thread.contains("pushes are frozen")
            && thread.contains("The worktree is kept"),
        "{thread}"
    );
    assert!(worktree.join("work.txt").is_file());
    // Even with the commits on another local branch (so none is unmerged), the worktree is
    // kept: the remote lacks them.
    env.git(&repo, &["branch", "keep", BRANCH]);
    let message = env
        .orch(&["cleanup", "--run", "r", "--task", "t"])
        .error(30, "invalid_state");
    assert!(
        message.contains("commits not pushed to origin: 1")
            && message.contains("the push failed")
            && message.contains("pushes are frozen")
            && !message.contains("unmerged commits"),
        "{message}"
    );
    assert!(worktree.join("work.txt").is_file());
    // --force removes it; the branch stays.
    env.orch(&["cleanup", "--run", "r", "--task", "t", "--force"])
        .data();
    assert!(!worktree.exists());
    assert!(rev(&env, &repo, &format!("refs/heads/{BRANCH}")).is_some());
}

#[test]
fn with_pushing_off_nothing_is_checked_or_pushed() {
    for config in [None, Some("[remote]\npush = false\n")] {
        let env = Env::new();
        let (repo, remote) = repo_with_remote(&env, config);
        if env.is_pg() {
            // A database shared by hosts: pushing is never off.
            task(&env, WORK);
            if config.is_some() {
                let message = dispatch_code(&env, &repo).error(30, "invalid_input");
                assert!(message.contains("shared by several hosts"), "{message}");
                assert!(env.attempts("r", "t").is_empty());
                continue;
            }
            dispatch_code(&env, &repo).data();
            assert_eq!(
                env.attempts("r", "t")[0]["push"]["remote"],
                "origin",
                "{:#}",
                env.attempts("r", "t")[0]
            );
            continue;
        }
        // The base is not on the remote: no matter when pushing is off.
        std::fs::write(repo.join("local.txt"), "only here\n").unwrap();
        env.git(&repo, &["add", "local.txt"]);
        env.git(&repo, &["commit", "-q", "-m", "local only"]);
        task(&env, WORK);
        env.launch(&repo, "r", "t", "code");
        let record = wait_for_end(&env, "r", "t");
        assert_eq!(
            record["supervision"]["outcome"], "succeeded",
            "{config:?}: {record:#}"
        );
        assert_eq!(record["supervision"]["work"]["commits"], 1, "{record:#}");
        assert!(record.get("push").is_none(), "{config:?}: {record:#}");
        assert_eq!(rev(&env, &remote, &format!("refs/heads/{BRANCH}")), None);
        assert_eq!(rev(&env, &repo, "refs/orch/remote/origin/heads/main"), None);
        let text = env.orch_raw_logs(&["attempts", "--run", "r", "--task", "t"]);
        assert!(!text.contains("push"), "{text}");
        assert!(!thread_text(&env).contains("push"));
    }
}

#[test]
fn a_bad_remote_section_is_refused_before_anything_is_created() {
    let env = Env::new();
    let (repo, _remote) =
        repo_with_remote(&env, Some("[remote]\nname = \"origin\"\nforce = true\n"));
    task(&env, WORK);
    let message = dispatch_code(&env, &repo).error(30, "invalid_input");
    assert!(message.contains("unknown field `force`"), "{message}");
    assert!(env.attempts("r", "t").is_empty());
}
