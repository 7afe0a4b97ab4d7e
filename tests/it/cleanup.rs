//! Cleanup never loses work: salvage of uncommitted changes and unreachable commits.
//! Also the other hardening points around it: orch's state is private to its owner, and
//! ids or refs that look like options or climb out of the workspace root never reach git.

use crate::common::{Env, ORCH, finish, wait_until, words};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One dispatched code attempt.
struct Attempt {
    worktree: PathBuf,
    branch: String,
    thread: String,
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

fn dispatch(env: &Env, repo: &Path, run: &str, task: &str) -> Attempt {
    let repo_arg = format!("--repo-path={}", repo.display());
    let mut args = words("dispatch --execution-mode code --run");
    args.extend([run, "--task", task, &repo_arg]);
    let out = env.orch(&args);
    let attempt = &out.data()["attempt"];
    Attempt {
        worktree: PathBuf::from(text(&attempt["worktree_path"])),
        branch: text(&attempt["branch_name"]),
        thread: text(&attempt["thread_id"]),
    }
}

/// The worker finishes its thread with `done`; the task is done.
fn done(env: &Env, run: &str, attempt: &Attempt) {
    let thread = attempt.thread.as_str();
    env.inbox(Some("worker-a"), &["claim", "--thread", thread])
        .data();
    env.inbox(
        Some("worker-a"),
        &["done", "--thread", thread, "--summary", "finished"],
    )
    .data();
    env.orch(&["reconcile", "--run", run]).data();
}

fn commit(env: &Env, dir: &Path, file: &str, content: &str) {
    std::fs::write(dir.join(file), content).unwrap();
    env.git(dir, &["add", "--", file]);
    env.git(dir, &["commit", "-q", "-m", &format!("add {file}")]);
}

fn workspace_status(env: &Env, run: &str, task: &str) -> String {
    let rows = env.attempts(run, task);
    text(&rows.last().unwrap()["attempt"]["workspace_status"])
}

#[track_caller]
fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in {message:?}");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Everything `git status` and the files say about a worktree, to show it untouched.
fn snapshot(env: &Env, dir: &Path) -> (String, String, Vec<(String, Vec<u8>)>) {
    let status = env.git(dir, &["status", "--porcelain", "--untracked-files=all"]);
    let head = env.git(dir, &["rev-parse", "HEAD"]);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() && entry.file_name() != ".git" {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.push((name, std::fs::read(entry.path()).unwrap()));
        }
    }
    files.sort();
    (status, head, files)
}

// ---------------------------------------------------------------------------------------
// refusing without --force
// ---------------------------------------------------------------------------------------

#[test]
fn uncommitted_changes_are_refused_and_the_worktree_is_untouched() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let a = dispatch(&env, &repo, "r", "t1");
    std::fs::write(a.worktree.join("README.md"), "edited\n").unwrap();
    std::fs::write(a.worktree.join("notes.txt"), "not committed\n").unwrap();
    done(&env, "r", &a);
    let before = snapshot(&env, &a.worktree);
    for selector in [&["--task", "t1"][..], &["--all-completed"][..]] {
        let mut args = vec!["cleanup", "--run", "r"];
        args.extend_from_slice(selector);
        let message = env.orch(&args).error(30, "invalid_state");
        assert_mentions(
            &message,
            &[
                a.worktree.to_str().unwrap(),
                "uncommitted changes: 2 files",
                "--force",
                "save",
            ],
        );
        assert!(
            !message.contains("unmerged commits"),
            "nothing was committed: {message}"
        );
    }
    assert_eq!(snapshot(&env, &a.worktree), before, "the worktree changed");
    assert_eq!(workspace_status(&env, "r", "t1"), "created");
    assert!(
        !env.path().join("salvage").exists(),
        "a refusal saved files"
    );
}

#[test]
fn unmerged_commits_are_refused_also_on_a_detached_head() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["on_branch", "detached", "clean"]);
    let on_branch = dispatch(&env, &repo, "r", "on_branch");
    commit(&env, &on_branch.worktree, "feature.txt", "the feature\n");
    // A worker that detached HEAD and committed: the commit is on no branch at all.
    let detached = dispatch(&env, &repo, "r", "detached");
    env.git(&detached.worktree, &["checkout", "-q", "--detach"]);
    commit(&env, &detached.worktree, "a.txt", "one\n");
    commit(&env, &detached.worktree, "b.txt", "two\n");
    let clean = dispatch(&env, &repo, "r", "clean");
    for a in [&on_branch, &detached, &clean] {
        done(&env, "r", a);
    }
    let message = env
        .orch(&["cleanup", "--run", "r", "--task", "on_branch"])
        .error(30, "invalid_state");
    assert_mentions(
        &message,
        &[
            on_branch.worktree.to_str().unwrap(),
            "unmerged commits: 1",
            "--force",
        ],
    );
    assert!(!message.contains("uncommitted"), "{message}");
    // With several candidates, the clean one goes and the others are listed as kept.
    let heads: Vec<String> = [&on_branch, &detached]
        .iter()
        .map(|a| env.git(&a.worktree, &["rev-parse", "HEAD"]))
        .collect();
    let out = env.orch(&["cleanup", "--run", "r", "--all-completed"]);
    let data = out.data();
    assert_eq!(data["cleaned"].as_array().unwrap().len(), 1);
    assert_eq!(data["cleaned"][0]["task_id"], "clean");
    assert_eq!(data["cleaned"][0]["salvaged"], Value::Null);
    let refused = data["refused"].as_array().unwrap();
    let by_task = |task: &str| refused.iter().find(|r| r["task_id"] == task).unwrap();
    assert_eq!(by_task("on_branch")["unmerged_commits"], 1);
    assert_eq!(by_task("on_branch")["uncommitted_changes"], 0);
    assert_eq!(by_task("detached")["unmerged_commits"], 2);
    assert!(text(&by_task("detached")["reason"]).contains("unmerged commits: 2"));
    assert!(!clean.worktree.exists());
    for (a, head) in [&on_branch, &detached].iter().zip(heads) {
        assert!(a.worktree.is_dir(), "{} was removed", a.worktree.display());
        assert_eq!(env.git(&a.worktree, &["rev-parse", "HEAD"]), head);
    }
    assert!(!env.path().join("salvage").exists());
}

#[test]
fn commits_merged_into_another_branch_or_tagged_are_not_refused() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["merged", "tagged"]);
    let merged = dispatch(&env, &repo, "r", "merged");
    commit(&env, &merged.worktree, "feature.txt", "the feature\n");
    let tagged = dispatch(&env, &repo, "r", "tagged");
    commit(&env, &tagged.worktree, "other.txt", "other\n");
    done(&env, "r", &merged);
    done(&env, "r", &tagged);
    env.orch(&["cleanup", "--run", "r", "--task", "merged"])
        .error(30, "invalid_state");
    let mut merge = words("merge -q --no-ff -m merged");
    merge.push(&merged.branch);
    env.git(&repo, &merge);
    let mut tag = words("tag -a -m keep v-other");
    tag.push(&tagged.branch);
    env.git(&repo, &tag);
    env.publish(&repo);
    let out = env.orch(&["cleanup", "--run", "r", "--all-completed"]);
    let data = out.data();
    assert_eq!(data["cleaned"].as_array().unwrap().len(), 2);
    assert_eq!(data["refused"].as_array().unwrap().len(), 0);
    for c in data["cleaned"].as_array().unwrap() {
        assert_eq!(c["salvaged"], Value::Null, "nothing needed saving: {c}");
    }
    assert!(!merged.worktree.exists() && !tagged.worktree.exists());
    assert_eq!(
        env.git(&repo, &["show", &format!("{}:feature.txt", merged.branch)]),
        "the feature",
        "the attempt's branch is kept"
    );
    assert!(!env.path().join("salvage").exists());
}

#[test]
fn a_worktree_dirty_only_with_ignored_files_is_not_refused() {
    let env = Env::new();
    let repo = env.repo();
    commit(&env, &repo, ".gitignore", "target/\n*.log\n");
    env.publish(&repo);
    env.run_with_tasks("r", &["t1"]);
    let a = dispatch(&env, &repo, "r", "t1");
    std::fs::create_dir_all(a.worktree.join("target")).unwrap();
    std::fs::write(a.worktree.join("target/out.bin"), [0u8, 1, 2]).unwrap();
    std::fs::write(a.worktree.join("build.log"), "compiling\n").unwrap();
    done(&env, "r", &a);
    let out = env.orch(&["cleanup", "--run", "r", "--task", "t1"]);
    assert_eq!(out.data()["cleaned"][0]["task_id"], "t1");
    assert_eq!(out.data()["cleaned"][0]["salvaged"], Value::Null);
    assert!(!a.worktree.exists());
    assert!(!env.path().join("salvage").exists());
}

#[test]
fn nothing_matched_is_still_exit_10_and_touches_nothing() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["busy", "t1"]);
    // An unfinished task's worktree with work in it is no candidate: not refused, not
    // saved, just not matched.
    let busy = dispatch(&env, &repo, "r", "busy");
    commit(&env, &busy.worktree, "wip.txt", "work in progress\n");
    std::fs::write(busy.worktree.join("scratch.txt"), "uncommitted\n").unwrap();
    let before = snapshot(&env, &busy.worktree);
    for args in [
        &["cleanup", "--run", "r", "--all-completed"][..],
        &["cleanup", "--run", "r", "--all-completed", "--force"][..],
    ] {
        env.orch(args).error(10, "no_matching_work");
    }
    assert_eq!(snapshot(&env, &busy.worktree), before);
    // Cleaned once, there is nothing left to match, with or without --force.
    let a = dispatch(&env, &repo, "r", "t1");
    done(&env, "r", &a);
    env.orch(&["cleanup", "--run", "r", "--task", "t1"]).data();
    env.orch(&["cleanup", "--run", "r", "--task", "t1", "--force"])
        .error(10, "no_matching_work");
    assert!(!env.path().join("salvage").exists());
}

// ---------------------------------------------------------------------------------------
// --force saves first
// ---------------------------------------------------------------------------------------

/// A finished attempt whose worktree holds two commits of its own, a modified and a
/// deleted tracked file, new text and binary files, and an ignored file. Returns the
/// attempt and its worktree's HEAD.
fn messy_attempt(env: &Env, repo: &Path, task: &str) -> (Attempt, String) {
    let a = dispatch(env, repo, "r", task);
    let w = &a.worktree;
    // Contents differ per task, or two tasks' commits would be the same objects.
    commit(env, w, "feature.txt", &format!("the feature of {task}\n"));
    commit(env, w, "doomed.txt", "to be deleted\n");
    std::fs::write(w.join("README.md"), "hello\nedited, not committed\n").unwrap();
    std::fs::remove_file(w.join("doomed.txt")).unwrap();
    std::fs::create_dir_all(w.join("src")).unwrap();
    std::fs::write(w.join("src/new.rs"), "fn main() {}\n").unwrap();
    std::fs::write(w.join("blob.bin"), [0u8, 159, 146, 150, 0, 255]).unwrap();
    std::fs::write(w.join("ignored.log"), "build output\n").unwrap();
    std::fs::write(w.join(".gitignore"), "*.log\n").unwrap();
    let head = env.git(w, &["rev-parse", "HEAD"]);
    done(env, "r", &a);
    (a, head)
}

#[test]
fn force_saves_a_patch_and_a_bundle_and_prints_their_paths() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1", "t2"]);
    let (t1, _) = messy_attempt(&env, &repo, "t1");
    let (t2, _) = messy_attempt(&env, &repo, "t2");
    let out = env.orch(&["cleanup", "--run", "r", "--task", "t1", "--force"]);
    let cleaned = &out.data()["cleaned"][0];
    assert_eq!(cleaned["workspace_status"], "cleaned");
    assert_eq!(cleaned["branch_name"], t1.branch.as_str());
    let dir = env.path().join("salvage/r/t1-1");
    let patch = PathBuf::from(text(&cleaned["salvaged"]["patch"]));
    let bundle = PathBuf::from(text(&cleaned["salvaged"]["bundle"]));
    assert_eq!(patch, dir.join("uncommitted.patch"));
    assert_eq!(bundle, dir.join("unmerged.bundle"));
    assert!(!t1.worktree.exists());
    // Private: directories 0700, files 0600; and nothing else left behind.
    for d in [
        env.path().join("salvage"),
        env.path().join("salvage/r"),
        dir.clone(),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&patch), 0o600);
    assert_eq!(mode(&bundle), 0o600);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["uncommitted.patch", "unmerged.bundle"]);
    // The human reply names both files too.
    let human = env.orch_raw_logs(&["cleanup", "--run", "r", "--task", "t2", "--force"]);
    let dir2 = env.path().join("salvage/r/t2-1");
    let removed = format!("removed {}", t2.worktree.display());
    let patch2 = dir2.join("uncommitted.patch").display().to_string();
    let bundle2 = dir2.join("unmerged.bundle").display().to_string();
    assert_mentions(&human, &[&removed, &patch2, &bundle2]);
    assert!(dir2.join("unmerged.bundle").is_file());
}

#[test]
fn the_saved_bundle_verifies_and_restores_the_commits_and_the_patch_applies() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1"]);
    let (held, head) = messy_attempt(&env, &repo, "t1");
    let expected = snapshot(&env, &held.worktree).2;
    let out = env.orch(&["cleanup", "--run", "r", "--task", "t1", "--force"]);
    let salvaged = &out.data()["cleaned"][0]["salvaged"];
    let patch = text(&salvaged["patch"]);
    let bundle = text(&salvaged["bundle"]);
    // Even with the attempt's branch gone, the bundle brings the commits back.
    env.git(&repo, &["branch", "-D", "--", &held.branch]);
    env.git(&repo, &["bundle", "verify", "--quiet", &bundle]);
    env.git(&repo, &["fetch", "-q", &bundle, "HEAD:refs/heads/restored"]);
    assert_eq!(env.git(&repo, &["rev-parse", "restored"]), head);
    // The patch applies with `git apply` on that HEAD and gives back every file.
    let check = env.path().join("check");
    env.git(
        &repo,
        &["worktree", "add", "-q", check.to_str().unwrap(), "restored"],
    );
    env.git(&check, &["apply", "--check", &patch]);
    env.git(&check, &["apply", &patch]);
    let restored = snapshot(&env, &check).2;
    let without_ignored: Vec<_> = expected
        .into_iter()
        .filter(|(name, _)| name != "ignored.log")
        .collect();
    assert_eq!(restored, without_ignored);
    assert_eq!(
        std::fs::read_to_string(check.join("src/new.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(!check.join("doomed.txt").exists());
    assert!(
        !std::fs::read_to_string(&patch)
            .unwrap()
            .contains("build output"),
        "the patch holds an ignored file"
    );
}

#[test]
fn if_saving_fails_nothing_is_removed_and_the_error_says_why() {
    let env = Env::new();
    let repo = env.repo();
    env.run_with_tasks("r", &["t1", "t2"]);
    let (t1, _) = messy_attempt(&env, &repo, "t1");
    let t2 = dispatch(&env, &repo, "r", "t2");
    done(&env, "r", &t2);
    // `salvage` is a file, so no salvage directory can be made.
    std::fs::write(env.path().join("salvage"), "in the way\n").unwrap();
    let before = snapshot(&env, &t1.worktree);
    let message = env
        .orch(&["cleanup", "--run", "r", "--all-completed", "--force"])
        .error(50, "internal_error");
    assert_mentions(
        &message,
        &[
            "nothing was removed",
            t1.worktree.to_str().unwrap(),
            "cannot create",
        ],
    );
    assert_eq!(snapshot(&env, &t1.worktree), before);
    // Not even the clean worktree went: every save comes before any removal.
    assert!(t2.worktree.is_dir());
    assert_eq!(workspace_status(&env, "r", "t1"), "created");
    assert_eq!(workspace_status(&env, "r", "t2"), "created");
    // Once the way is clear, the same call saves and removes.
    std::fs::remove_file(env.path().join("salvage")).unwrap();
    let out = env.orch(&["cleanup", "--run", "r", "--all-completed", "--force"]);
    assert_eq!(out.data()["cleaned"].as_array().unwrap().len(), 2);
    assert!(env.path().join("salvage/r/t1-1/unmerged.bundle").is_file());
}

// ---------------------------------------------------------------------------------------
// private state
// ---------------------------------------------------------------------------------------

/// `orch ARGS` in `cwd` under `umask 0`, with the default database location.
fn orch_umask0(env: &Env, cwd: &Path) -> Command {
    let mut cmd = env.command("sh");
    cmd.current_dir(cwd)
        .arg("-c")
        .arg("umask 0 && exec \"$0\" \"$@\"")
        .arg(ORCH)
        .arg("--json");
    cmd
}

fn run_umask0(env: &Env, cwd: &Path, args: &[&str]) -> Value {
    let out = orch_umask0(env, cwd).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "orch {args:?}: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Every directory under `dir` is 0700 and every file 0600 (`skip` directories aside).
fn assert_private(dir: &Path, skip: &[&str]) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if skip.iter().any(|s| entry.file_name() == *s) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            assert_private(&path, skip);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

#[test]
fn the_state_directory_database_and_logs_are_private_even_under_umask_0() {
    let env = Env::new();
    let repo = env.repo();
    let state = repo.join(".orch");
    run_umask0(&env, &repo, &["run", "init", "--run", "r"]);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("coord.db")), 0o600);
    let mut add = words("task add --run r --task t --default-to shell --body");
    add.push("echo hello from the worker");
    run_umask0(&env, &repo, &add);
    let dispatch = words("dispatch --run r --task t --execution-mode code --launch");
    let launched = run_umask0(&env, &repo, &dispatch);
    let log = PathBuf::from(text(&launched["data"]["launch"]["log_path"]));
    assert!(log.starts_with(&state), "{}", log.display());
    wait_until("the shell worker to finish", 60, || {
        let rows = run_umask0(&env, &repo, &["attempts", "--run", "r", "--task", "t"]);
        rows["data"]["attempts"][0]["supervision"]["outcome"]
            .as_str()
            .is_some_and(|o| !o.is_empty())
    });
    // A waiting process keeps the database open: its -wal and -shm files exist. Its
    // cursor is the start of the run, so the cancel below wakes it however late it
    // starts.
    let waiter = orch_umask0(&env, &repo)
        .args([
            "wait",
            "--run",
            "r",
            "--for",
            "run_cancelled",
            "--after-event",
            "0",
        ])
        .args(["--timeout-seconds", "120"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wal = state.join("coord.db-wal");
    let shm = state.join("coord.db-shm");
    wait_until("the -wal and -shm files", 60, || {
        wal.exists() && shm.exists()
    });
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&shm), 0o600);
    assert!(log.is_file());
    // The directories orch made for the worktree are private too (git makes the
    // checkout itself, as readable as the repository).
    for d in ["worktrees", "worktrees/r", "worktrees/r/t"] {
        assert_eq!(mode(&state.join(d)), 0o700, "{d}");
    }
    assert_private(&state, &["worktrees"]);
    run_umask0(&env, &repo, &["cancel", "--run", "r"]);
    let waited = finish(waiter);
    assert_eq!(waited.code, 0, "{waited:#?}");
}

// ---------------------------------------------------------------------------------------
// ids and refs that look like options
// ---------------------------------------------------------------------------------------

#[test]
fn ids_and_refs_that_look_like_options_or_climb_out_never_reach_git() {
    let env = Env::new();
    let repo = env.repo();
    let option_like = ["--upload-pack=touch pwned", "-x", "--output=x"];
    let climbing = ["..", "../x", "a..b", "x/../../y"];
    // `--run=VALUE` hands the value over even when it starts with `-`.
    for bad in option_like.iter().chain(climbing.iter()) {
        let message = env
            .orch(&["run", "init", &format!("--run={bad}")])
            .error(30, "invalid_input");
        assert_mentions(&message, &["run id", bad]);
    }
    env.run_with_tasks("r", &["t1"]);
    let file = env.path().join("plan.json");
    let plan = |id: &str| format!(r#"{{"run": {{"id": "r"}}, "tasks": [{{"id": {id:?}}}]}}"#);
    let apply = || env.orch(&["plan", "apply", "--file", file.to_str().unwrap()]);
    std::fs::write(&file, plan("t2")).unwrap();
    apply().data();
    for bad in option_like.iter().chain(climbing.iter()) {
        let message = env
            .orch(&["task", "add", "--run", "r", &format!("--task={bad}")])
            .error(30, "invalid_input");
        assert_mentions(&message, &["task id", bad]);
        std::fs::write(&file, plan(bad)).unwrap();
        apply().error(30, "invalid_input");
        // Naming an existing run or task with such an id finds nothing.
        let task = format!("--task={bad}");
        for args in [
            &["dispatch", "--run", "r", &task, "--execution-mode", "code"][..],
            &["cleanup", "--run", "r", &task, "--force"][..],
        ] {
            let out = env.orch(args);
            assert!(
                matches!(out.code, 30 | 40),
                "{args:?} was accepted: {out:#?}"
            );
        }
        env.orch(&["cleanup", &format!("--run={bad}"), "--all-completed"])
            .error(40, "not_found");
    }
    // A base ref that looks like an option is refused before git runs; a range names
    // no commit. Either way nothing is created.
    let repo_arg = format!("--repo-path={}", repo.display());
    for bad in [
        "--upload-pack=touch pwned",
        "-x",
        "--output=x",
        "main..HEAD",
    ] {
        let base = format!("--base-ref={bad}");
        let mut args = words("dispatch --run r --task t1 --execution-mode code");
        args.extend([repo_arg.as_str(), &base]);
        let message = env.orch(&args).error(30, "invalid_input");
        assert_mentions(&message, &["base", bad]);
    }
    // A retry with such a base ref creates no attempt either.
    let a = dispatch(&env, &repo, "r", "t1");
    env.inbox(Some("worker-a"), &["claim", "--thread", &a.thread])
        .data();
    env.inbox(
        Some("worker-a"),
        &["fail", "--thread", &a.thread, "--summary", "no"],
    )
    .data();
    for bad in ["--upload-pack=touch pwned", "-x"] {
        let base = format!("--base-ref={bad}");
        let mut args = words("retry --run r --task t1");
        args.push(&base);
        let message = env.orch(&args).error(30, "invalid_input");
        assert_mentions(&message, &["--base-ref", bad]);
    }
    assert_eq!(env.attempts("r", "t1").len(), 1);
    // Nothing was made anywhere but the one attempt: one branch, one worktree.
    assert_eq!(
        env.git(&repo, &["branch", "--list", "orch/*"]),
        format!("+ {}", a.branch)
    );
    let runs: Vec<_> = std::fs::read_dir(repo.join(".orch/worktrees"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(runs, ["r"]);
    for stray in ["pwned", "x", "y", "a"] {
        assert!(!env.path().join(stray).exists(), "{stray} appeared");
        assert!(!repo.join(stray).exists(), "{stray} appeared in the repo");
    }
}
