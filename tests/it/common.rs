//! The test environment: a temp dir with its own database and HOME, the real `orch`
//! and `inbox` binaries run with a cleared environment, git fixtures, and helpers to
//! check exit codes and the JSON envelope together.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

pub const ORCH: &str = env!("CARGO_BIN_EXE_orch");
pub const INBOX: &str = env!("CARGO_BIN_EXE_inbox");
pub const FAKE_AGENT: &str = env!("CARGO_BIN_EXE_fake-agent");

/// `ORCH_TEST_PG_URL`: when set (e.g. `postgres://root@127.0.0.1:5432/test`), every
/// [`Env`] gets a scratch database of its own on that PostgreSQL server instead of a
/// SQLite file, and the whole suite runs against the PostgreSQL backend.
pub fn pg_server() -> Option<String> {
    std::env::var("ORCH_TEST_PG_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// One isolated world: a temp dir, `TMP/coord.db` (or a scratch PostgreSQL database,
/// see [`pg_server`]), a HOME and a git identity.
pub struct Env {
    pub dir: TempDir,
    /// What `--db` is given: the SQLite path, or the scratch database's URL.
    pub db: PathBuf,
    /// Put first on PATH (the fake agent CLIs).
    pub path_prefix: Option<PathBuf>,
    /// Set for every command, after the defaults (the real CLIs' provider settings).
    pub extra_env: Vec<(String, String)>,
}

/// What a command did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub json: Value,
}

impl Out {
    fn from_output(out: Output) -> Out {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            json,
        }
    }

    /// Asserts success (exit 0, `ok: true`) and returns `data`.
    #[track_caller]
    pub fn data(&self) -> &Value {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        assert_eq!(self.json["ok"], true, "expected ok envelope, got {self:#?}");
        &self.json["data"]
    }

    /// Asserts a failure with this exit code and error code; returns the message.
    #[track_caller]
    pub fn error(&self, exit: i32, code: &str) -> String {
        assert_eq!(self.code, exit, "expected exit {exit}, got {self:#?}");
        assert_eq!(
            self.json["ok"], false,
            "expected an error envelope, got {self:#?}"
        );
        assert_eq!(
            self.json["error"]["code"], code,
            "wrong error code in {self:#?}"
        );
        let message = self.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(!message.is_empty(), "error without a message: {self:#?}");
        message
    }
}

/// Every test's database ends sound: SQLite's own checks pass and each task's stored
/// `orch status` row equals a fresh rendering of it (the triggers that keep the rows
/// missed nothing the test did).
impl Drop for Env {
    fn drop(&mut self) {
        // ORCH_TEST_KEEP=1: leave the temp dir (logs, database) for a post-mortem.
        if std::env::var_os("ORCH_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
            eprintln!("kept {}", dir.keep().display());
        }
        let pg = self.is_pg();
        let problems = if std::thread::panicking() || !(pg || self.db.exists()) {
            Vec::new()
        } else {
            self.database_problems()
        };
        if pg {
            let url = self.db.display().to_string();
            if let Err(e) = block_on(orch::store::scratch::drop(&url)) {
                eprintln!("cannot drop scratch database {url}: {e}");
            }
        }
        assert!(
            problems.is_empty(),
            "database problems at the end of the test: {problems:#?}"
        );
    }
}

impl Env {
    pub fn new() -> Env {
        Env::in_dir(tempfile::tempdir().expect("temp dir"))
    }

    /// An environment in a temp dir under `base` (the real-CLI tests keep theirs out of
    /// /tmp, which codex's sandbox always lets a worker write).
    pub fn new_in(base: &Path) -> Env {
        std::fs::create_dir_all(base).unwrap();
        Env::in_dir(tempfile::tempdir_in(base).expect("temp dir"))
    }

    fn in_dir(dir: TempDir) -> Env {
        let mut extra_env = Vec::new();
        let db = match pg_server() {
            Some(server) => {
                // Logs, locks and salvage where the SQLite file's would be.
                extra_env.push(("ORCH_STATE_DIR".into(), dir.path().display().to_string()));
                let url = block_on(orch::store::scratch::create(&server))
                    .unwrap_or_else(|e| panic!("ORCH_TEST_PG_URL={server}: {e}"));
                PathBuf::from(url)
            }
            None => dir.path().join("coord.db"),
        };
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        // Workers get HOME but not the test's GIT_* variables: give git an identity.
        std::fs::write(
            dir.path().join("home/.gitconfig"),
            "[user]\n\tname = orch-test\n\temail = orch-test@example.invalid\n",
        )
        .unwrap();
        Env {
            dir,
            db,
            path_prefix: None,
            extra_env,
        }
    }

    /// Opens the test's database with the library's store, runs `read` on it, closes it.
    pub fn with_store<T>(&self, read: impl AsyncFnOnce(&orch::store::Store) -> T) -> T {
        block_on(async {
            let store = orch::store::Store::open_at(&self.location()).await.unwrap();
            let out = read(&store).await;
            store.close().await;
            out
        })
    }

    /// Whether this environment's database is a PostgreSQL one.
    pub fn is_pg(&self) -> bool {
        self.location().spans_hosts()
    }

    /// The database as the store names it.
    pub fn location(&self) -> orch::store::Location {
        orch::store::Location::parse(&self.db.display().to_string())
    }

    /// An environment whose PATH has `codex`, `claude` and `cursor-agent` playing the
    /// scripted fake agent.
    pub fn with_fake_agents() -> Env {
        let mut env = Env::new();
        let bin = env.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["codex", "claude", "cursor-agent", "fake-text"] {
            std::os::unix::fs::symlink(FAKE_AGENT, bin.join(name)).unwrap();
        }
        env.path_prefix = Some(bin);
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A command with a clean environment: PATH, a private HOME, fixed git identity.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let mut path = std::env::var_os("PATH").unwrap_or_default();
        if let Some(prefix) = &self.path_prefix {
            let mut joined = prefix.clone().into_os_string();
            joined.push(":");
            joined.push(&path);
            path = joined;
        }
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "orch-test")
            .env("GIT_AUTHOR_EMAIL", "orch-test@example.invalid")
            .env("GIT_COMMITTER_NAME", "orch-test")
            .env("GIT_COMMITTER_EMAIL", "orch-test@example.invalid")
            .env("NO_COLOR", "1")
            // A rate-limited task is left failed rather than parked for hours.
            .env("ORCH_MAX_PARK", "0s")
            .current_dir(self.path());
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `orch --db TMP/coord.db --json ARGS`.
    pub fn orch(&self, args: &[&str]) -> Out {
        self.run(ORCH, args, None)
    }

    /// `inbox --db TMP/coord.db --json [--agent AGENT] ARGS`.
    pub fn inbox(&self, agent: Option<&str>, args: &[&str]) -> Out {
        self.run(INBOX, args, agent)
    }

    fn run(&self, program: &str, args: &[&str], agent: Option<&str>) -> Out {
        let mut cmd = self.command(program);
        cmd.arg("--db").arg(&self.db).arg("--json");
        if let Some(agent) = agent {
            cmd.arg("--agent").arg(agent);
        }
        cmd.args(args);
        Out::from_output(cmd.output().expect("run binary"))
    }

    /// Runs a binary with exactly these arguments (no --db/--json added), in `cwd`.
    pub fn raw(&self, program: &str, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Out {
        let mut cmd = self.command(program);
        cmd.current_dir(cwd).args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Out::from_output(cmd.output().expect("run binary"))
    }

    /// `orch --db TMP/coord.db ARGS` (no `--json` added), asserting success; returns stdout.
    #[track_caller]
    pub fn orch_raw_logs(&self, args: &[&str]) -> String {
        let out = self
            .command(ORCH)
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .output()
            .expect("run orch");
        assert!(
            out.status.success(),
            "orch {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `orch dispatch --execution-mode MODE --launch` from the repository; returns `data`.
    #[track_caller]
    pub fn launch(&self, repo: &Path, run: &str, task: &str, mode: &str) -> Value {
        self.dispatch_launch(repo, run, task, mode, &[])
            .data()
            .clone()
    }

    /// [`Env::launch`] with extra environment variables, returning the whole output.
    pub fn dispatch_launch(
        &self,
        repo: &Path,
        run: &str,
        task: &str,
        mode: &str,
        envs: &[(&str, &str)],
    ) -> Out {
        let db = self.db.to_str().unwrap();
        self.raw(
            ORCH,
            &[
                "--db",
                db,
                "--json",
                "dispatch",
                "--run",
                run,
                "--task",
                task,
                "--execution-mode",
                mode,
                "--launch",
            ],
            repo,
            envs,
        )
    }

    /// `orch attempts` of a task: `[{attempt, supervision}]`, oldest first.
    #[track_caller]
    pub fn attempts(&self, run: &str, task: &str) -> Vec<Value> {
        self.orch(&["attempts", "--run", run, "--task", task])
            .data()["attempts"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// `git -C dir ARGS`, asserting success; returns stdout.
    #[track_caller]
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self
            .command("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `TMP/repo`: a git repository with one committed file (`README.md`) on `main`.
    /// On PostgreSQL (a database that spans hosts, where code attempts must be pushed)
    /// it also has the bare `TMP/remote.git` as `origin`, with `main` pushed there.
    pub fn repo(&self) -> PathBuf {
        let repo = self.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        self.git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "hello\n").unwrap();
        self.git(&repo, &["add", "README.md"]);
        self.git(&repo, &["commit", "-q", "-m", "initial"]);
        if self.is_pg() {
            let remote = self.path().join("remote.git");
            let remote = remote.to_str().unwrap();
            self.git(self.path(), &["init", "-q", "--bare", "-b", "main", remote]);
            self.git(&repo, &["remote", "add", "origin", remote]);
            self.git(&repo, &["push", "-q", "origin", "main"]);
        }
        repo
    }

    /// On PostgreSQL, pushes every branch and tag of `repo` to its `origin`, as a user
    /// sharing a database across hosts must before basing attempts on local commits;
    /// nothing on SQLite (no remote needed there).
    pub fn publish(&self, repo: &Path) {
        if self.is_pg() {
            self.git(repo, &["push", "-q", "origin", "--all"]);
            self.git(repo, &["push", "-q", "origin", "--tags"]);
        }
    }

    /// Creates a run with these tasks (all with default worker `worker-a`).
    pub fn run_with_tasks(&self, run: &str, tasks: &[&str]) {
        self.orch(&["run", "init", "--run", run, "--goal", "test goal"])
            .data();
        for task in tasks {
            self.orch(&[
                "task",
                "add",
                "--run",
                run,
                "--task",
                task,
                "--title",
                &format!("title of {task}"),
                "--default-to",
                "worker-a",
            ])
            .data();
        }
    }

    /// What `Store::integrity_problems` finds in the test's database (nothing when it
    /// cannot be opened: a test of exactly that has nothing to check).
    pub fn database_problems(&self) -> Vec<String> {
        block_on(orch::store::Store::integrity_problems_at(&self.location())).unwrap_or_default()
    }

    /// One task's row of `orch status`.
    #[track_caller]
    pub fn task_row(&self, run: &str, task: &str) -> Value {
        let data = self.orch(&["status", "--run", run]).data().clone();
        data["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["task_id"] == task)
            .unwrap_or_else(|| panic!("task {task} not in status: {data:#}"))
            .clone()
    }

    /// Dispatches a task in analysis mode; returns the attempt's thread id.
    pub fn dispatch_analysis(&self, run: &str, task: &str) -> String {
        let out = self.orch(&[
            "dispatch",
            "--run",
            run,
            "--task",
            task,
            "--execution-mode",
            "analysis",
        ]);
        out.data()["attempt"]["thread_id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Starts a binary in the background (for blocking verbs); collect with [`finish`].
pub fn spawn(env: &Env, program: &str, args: &[&str], agent: Option<&str>) -> std::process::Child {
    let mut cmd = env.command(program);
    cmd.arg("--db").arg(&env.db).arg("--json");
    if let Some(agent) = agent {
        cmd.arg("--agent").arg(agent);
    }
    cmd.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().expect("spawn binary")
}

/// Polls `done` every 100 ms for up to `secs` seconds; fails naming `what`.
#[track_caller]
pub fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub fn finish(child: std::process::Child) -> Out {
    Out::from_output(child.wait_with_output().expect("wait for binary"))
}

/// Writes the user adapter `fake-text` (the fake agent in plain-text mode, the prompt as
/// its argument) into the repository's `.orch/adapters/`, with these extra TOML `keys`
/// (`term_grace`, `stall_timeout`, patterns...).
pub fn fake_text_adapter(repo: &Path, keys: &str) {
    std::fs::create_dir_all(repo.join(".orch/adapters")).unwrap();
    std::fs::write(
        repo.join(".orch/adapters/fake-text.toml"),
        format!(
            "name = \"fake-text\"\ncommand = [\"fake-text\", \"{{prompt}}\"]\noutput = \"text\"\n{keys}"
        ),
    )
    .unwrap();
}

/// Waits (bounded) until the task's current attempt has an outcome; returns the
/// attempt's `{attempt, supervision}` record.
pub fn wait_for_end(env: &Env, run: &str, task: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = env.orch(&["attempts", "--run", run, "--task", task]);
        let rows = out.data()["attempts"].as_array().unwrap().clone();
        if let Some(last) = rows.last()
            && !last["supervision"]["outcome"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        {
            return last.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the attempt did not end: {rows:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Adds task `task` to `run` with its default worker and its body.
pub fn add_task(env: &Env, run: &str, task: &str, worker: &str, body: &str) {
    env.orch(&[
        "task",
        "add",
        "--run",
        run,
        "--task",
        task,
        "--default-to",
        worker,
        "--body",
        body,
    ])
    .data();
}

/// A command line's words (split on spaces): `&words("dispatch --run r --task t")`.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}
