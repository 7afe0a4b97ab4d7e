//! `orch doctor`: fake CLIs (shell scripts) on a PATH of their own report their version
//! and login state; a CLI that is not there is reported missing; `--run` checks only the
//! run's workers and their fallbacks; the exit code says whether every worker can run.

use crate::common::{Env, ORCH, Out};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A fake `codex`: version 0.169.0 (verified), logged in only when it gets
/// `OPENAI_API_KEY` (then it prints the key, which orch must redact). A fake `claude`:
/// version 2.1.150 (not verified), logged out. Both record every call in `calls.log`
/// and refuse anything but the two checks.
fn fake_clis(env: &Env) -> PathBuf {
    let bin = env.path().join("fakebin");
    let calls = env.path().join("calls.log");
    let calls = calls.display();
    script(
        &bin,
        "codex",
        &format!(
            r#"echo "codex $*" >> '{calls}'
case "$*" in
  --version) echo "codex-cli 0.169.0" ;;
  "login status")
    if [ -n "$OPENAI_API_KEY" ]; then
      echo "Logged in using an API key - $OPENAI_API_KEY" >&2; exit 0
    fi
    echo "Not logged in" >&2; exit 1 ;;
  *) echo "not a check: $*" >&2; exit 99 ;;
esac
"#
        ),
    );
    script(
        &bin,
        "claude",
        &format!(
            r#"echo "claude $* ${{IS_SANDBOX:+(IS_SANDBOX=$IS_SANDBOX)}}" >> '{calls}'
case "$*" in
  --version) echo "2.1.150 (Claude Code)" ;;
  "auth status") echo '{{"loggedIn":false}}'; exit 1 ;;
  *) echo "not a check: $*" >&2; exit 99 ;;
esac
"#
        ),
    );
    bin
}

fn script(bin: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).unwrap();
    let path = bin.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `orch doctor ARGS` from `repo`, with only `bin` and the system directories on PATH
/// (so no real agent CLI is found), plus `envs`.
fn doctor(env: &Env, repo: &Path, bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Out {
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let db = env.db.to_str().unwrap();
    let mut argv = vec!["--db", db];
    argv.extend(args);
    let mut all = vec![("PATH", path.as_str())];
    all.extend(envs);
    env.raw(ORCH, &argv, repo, &all)
}

/// The report of one worker, by name.
fn worker<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["worker"] == name)
        .unwrap_or_else(|| panic!("no worker {name} in {data:#}"))
}

fn names(data: &Value) -> Vec<&str> {
    data["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["worker"].as_str().unwrap())
        .collect()
}

/// A successful reply whatever the exit code: doctor's report is `ok: true` also when
/// a worker cannot run.
#[track_caller]
fn report(out: &Out, exit: i32) -> &Value {
    assert_eq!(out.code, exit, "expected exit {exit}: {out:#?}");
    assert_eq!(out.json["ok"], true, "{out:#?}");
    assert_eq!(out.json["command"], "doctor", "{out:#?}");
    &out.json["data"]
}

/// The `describe` of a built-in adapter's permission level, from its file.
fn builtin_describe(adapter: &str, level: &str) -> String {
    let text = match adapter {
        "claude" => include_str!("../../adapters/claude.toml"),
        "codex" => include_str!("../../adapters/codex.toml"),
        other => panic!("no adapter file for {other}"),
    };
    let table: toml::Table = toml::from_str(text).unwrap();
    table["permissions"][level]["describe"]
        .as_str()
        .unwrap()
        .to_string()
}

fn write_config(repo: &Path, text: &str) {
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    std::fs::write(repo.join(".orch/config.toml"), text).unwrap();
}

const KEY: &str = "sk-doctor-test-0123456789abcdef";

#[test]
fn every_profile_and_adapter_is_checked_without_a_run() {
    let env = Env::new();
    let repo = env.repo();
    let bin = fake_clis(&env);
    write_config(
        &repo,
        r#"
[workers.wild]
adapter = "claude"
permissions = "full"

[workers.ro]
adapter = "cursor"
permissions = "read-only"

[workers.backup]
adapter = "codex"
"#,
    );
    let out = doctor(
        &env,
        &repo,
        &bin,
        &["--json", "doctor"],
        &[("OPENAI_API_KEY", KEY)],
    );
    assert!(!out.stdout.contains(KEY), "the key leaked: {}", out.stdout);
    let data = report(&out, 1);
    assert_eq!(data["run"], Value::Null);
    assert_eq!(data["can_run"], false);
    assert_eq!(
        names(data),
        [
            "backup", "ro", "wild", "claude", "codex", "cursor", "gemini", "opencode", "shell"
        ]
    );

    // Installed, verified, logged in (through the variable it was passed, redacted).
    let codex = worker(data, "codex");
    assert_eq!(codex["installed"], true);
    assert_eq!(codex["program"], "codex");
    assert_eq!(codex["path"], bin.join("codex").display().to_string());
    assert_eq!(
        codex["version"],
        json!({"status": "verified", "found": "0.169.0", "verified": ["0.169.0"], "detail": ""})
    );
    assert_eq!(codex["login"]["status"], "logged_in");
    assert_eq!(
        codex["login"]["detail"],
        "Logged in using an API key - [REDACTED]"
    );
    assert_eq!(codex["passed_env"], json!(["OPENAI_API_KEY"]));
    assert_eq!(codex["can_run"], true);
    assert_eq!(codex["problems"], json!([]));
    assert_eq!(codex["warnings"], json!([]));
    let code = &codex["permissions"][0];
    assert_eq!(code["level"], "code");
    assert_eq!(code["modes"], json!(["code"]));
    assert_eq!(code["describe"], builtin_describe("codex", "code"));
    // {state_dir} is filled: the directory of the database.
    let state_dir = std::fs::canonicalize(env.path()).unwrap();
    assert!(
        code["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains(&*state_dir.to_string_lossy())),
        "{code:#}"
    );
    assert_eq!(codex["permissions"][1]["level"], "analysis");
    assert_eq!(
        codex["permissions"][1]["describe"],
        builtin_describe("codex", "analysis")
    );
    // A profile of the same adapter: the same report, under its own name.
    let backup = worker(data, "backup");
    assert_eq!(backup["profile"], "backup");
    assert_eq!(backup["adapter"], "codex");
    assert_eq!(backup["login"]["status"], "logged_in");

    // Installed, a version nobody verified, not logged in.
    let claude = worker(data, "claude");
    assert_eq!(claude["installed"], true);
    assert_eq!(
        claude["version"],
        json!({"status": "unverified", "found": "2.1.150", "verified": ["2.1.197"], "detail": ""})
    );
    assert_eq!(
        claude["login"],
        json!({"status": "not_logged_in", "detail": "{\"loggedIn\":false}"})
    );
    assert_eq!(claude["can_run"], false);
    assert_eq!(
        claude["problems"],
        json!(["not logged in: `claude auth status` exited 1: {\"loggedIn\":false}"])
    );
    assert_eq!(
        claude["warnings"],
        json!(["version 2.1.150 is not one the adapter was verified with (verified: 2.1.197)"])
    );

    // A profile asking for `full`: one level for both modes, its description and flag.
    let wild = worker(data, "wild");
    assert_eq!(wild["adapter"], "claude");
    assert_eq!(
        wild["permissions"],
        json!([{
            "level": "full",
            "modes": ["code", "analysis"],
            "describe": builtin_describe("claude", "full"),
            "args": ["--permission-mode", "bypassPermissions"],
        }])
    );

    // Not on the worker's PATH.
    let cursor = worker(data, "cursor");
    assert_eq!(cursor["installed"], false);
    assert_eq!(cursor["path"], Value::Null);
    assert_eq!(cursor["program"], "cursor-agent");
    assert_eq!(cursor["version"]["status"], "unknown");
    assert_eq!(cursor["login"]["status"], "unknown");
    assert_eq!(cursor["can_run"], false);
    assert_eq!(
        cursor["problems"],
        json!(["cursor-agent is not installed: not found on the worker's PATH"])
    );
    // A level the adapter lacks, asked for by a profile: the launch would be refused.
    let ro = worker(data, "ro");
    assert!(
        ro["problems"].as_array().unwrap().iter().any(|p| p
            .as_str()
            .unwrap()
            .contains("no permission level \"read-only\"")),
        "{ro:#}"
    );
    // No version command, no login check: nothing to hold against it.
    let shell = worker(data, "shell");
    assert_eq!(shell["installed"], true);
    assert_eq!(shell["version"]["status"], "unknown");
    assert_eq!(shell["login"]["status"], "unknown");
    assert_eq!(shell["can_run"], true);

    // Nothing but the checks ran, each in its worker's environment (`full` adds
    // IS_SANDBOX=1 for claude); the same command in the same environment ran once
    // (`codex` and `backup`).
    let calls = std::fs::read_to_string(env.path().join("calls.log")).unwrap();
    let mut calls: Vec<&str> = calls.lines().map(str::trim_end).collect();
    calls.sort();
    assert_eq!(
        calls,
        [
            "claude --version",
            "claude --version (IS_SANDBOX=1)",
            "claude auth status",
            "claude auth status (IS_SANDBOX=1)",
            "codex --version",
            "codex login status"
        ]
    );
}

#[test]
fn the_report_has_one_shape_for_every_worker() {
    let env = Env::new();
    let repo = env.repo();
    let bin = fake_clis(&env);
    let out = doctor(&env, &repo, &bin, &["--json", "doctor"], &[]);
    let data = report(&out, 1);
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(data), ["can_run", "run", "workers"]);
    for w in data["workers"].as_array().unwrap() {
        assert_eq!(
            keys(w),
            [
                "adapter",
                "can_run",
                "installed",
                "login",
                "passed_env",
                "path",
                "permissions",
                "problems",
                "profile",
                "program",
                "version",
                "warnings",
                "worker"
            ],
            "{w:#}"
        );
        assert_eq!(
            keys(&w["version"]),
            ["detail", "found", "status", "verified"]
        );
        assert_eq!(keys(&w["login"]), ["detail", "status"]);
        for p in w["permissions"].as_array().unwrap() {
            assert_eq!(keys(p), ["args", "describe", "level", "modes"]);
        }
    }
    // The envelope is one compact line.
    assert_eq!(out.stdout.trim_end().lines().count(), 1);
    // Without OPENAI_API_KEY the fake codex is logged out.
    assert_eq!(worker(data, "codex")["login"]["status"], "not_logged_in");
    assert_eq!(worker(data, "codex")["login"]["detail"], "Not logged in");
}

#[test]
fn plain_text_is_a_line_per_worker_and_a_line_per_problem() {
    let env = Env::new();
    let repo = env.repo();
    let bin = fake_clis(&env);
    write_config(
        &repo,
        "[workers.wild]\nadapter = \"claude\"\npermissions = \"full\"\n",
    );
    let out = doctor(&env, &repo, &bin, &["doctor"], &[("OPENAI_API_KEY", KEY)]);
    assert_eq!(out.code, 1, "{out:#?}");
    let text = &out.stdout;
    let lines: Vec<&str> = text.lines().collect();
    let line = |start: &str| {
        *lines
            .iter()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{text}"))
    };
    assert!(
        line("codex ").ends_with("codex 0.169.0 (verified), logged in"),
        "{text}"
    );
    assert!(
        line("claude ").ends_with("claude 2.1.150 (unverified; verified: 2.1.197), not logged in"),
        "{text}"
    );
    assert!(line("wild [claude] ").ends_with("not logged in"), "{text}");
    assert!(
        line("cursor ").ends_with("cursor-agent not installed"),
        "{text}"
    );
    assert!(
        line("shell ").ends_with("sh version not checked, login not checked"),
        "{text}"
    );
    assert!(
        lines.contains(
            &"  error: not logged in: `claude auth status` exited 1: {\"loggedIn\":false}"
        )
    );
    assert!(
        lines.contains(&"  error: cursor-agent is not installed: not found on the worker's PATH")
    );
    assert!(lines.contains(
        &"  warning: version 2.1.150 is not one the adapter was verified with (verified: 2.1.197)"
    ));
    // What they may do: each installed adapter's levels, once, naming its workers.
    assert!(
        line("  claude full (wild): ").contains(&builtin_describe("claude", "full")),
        "{text}"
    );
    assert!(line("  claude full (wild): ").ends_with("[--permission-mode bypassPermissions]"));
    assert!(line("  claude code (claude): ").contains(&builtin_describe("claude", "code")));
    assert!(!text.contains("  cursor code"), "{text}");
    assert_eq!(
        lines.last().copied(),
        Some("5 of 7 workers cannot run: wild, claude, cursor, gemini, opencode")
    );
    assert!(!text.contains(KEY), "{text}");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn a_run_checks_its_tasks_workers_and_their_fallbacks() {
    let env = Env::new();
    let repo = env.repo();
    let bin = fake_clis(&env);
    // `fast` falls back to `backup` (from the config), `backup` to `fast` again and to
    // the adapter `codex`; `unused` is named by no task.
    write_config(
        &repo,
        r#"
[workers.fast]
adapter = "claude"
fallback = ["backup"]

[workers.unused]
adapter = "cursor"
"#,
    );
    let plan = env.path().join("plan.toml");
    std::fs::write(
        &plan,
        r#"
[run]
id = "r"

[workers.backup]
adapter = "codex"
fallback = ["fast", "codex"]

[[tasks]]
id = "a"
worker = "fast"

[[tasks]]
id = "b"
worker = "shell"

[[tasks]]
id = "c"
worker = "nobody"

[[tasks]]
id = "d"
worker = "fast"
"#,
    )
    .unwrap();
    env.orch(&["plan", "apply", "--file", plan.to_str().unwrap()])
        .data();
    let out = doctor(
        &env,
        &repo,
        &bin,
        &["--json", "doctor", "--run", "r"],
        &[("OPENAI_API_KEY", KEY)],
    );
    let data = report(&out, 1);
    assert_eq!(data["run"], "r");
    assert_eq!(names(data), ["fast", "shell", "nobody", "backup", "codex"]);
    assert_eq!(worker(data, "fast")["login"]["status"], "not_logged_in");
    // The plan's profile is used.
    assert_eq!(worker(data, "backup")["adapter"], "codex");
    assert_eq!(worker(data, "backup")["can_run"], true);
    let nobody = worker(data, "nobody");
    assert_eq!(nobody["can_run"], false);
    assert_eq!(nobody["adapter"], "");
    assert!(
        nobody["problems"][0]
            .as_str()
            .unwrap()
            .contains("unknown worker \"nobody\""),
        "{nobody:#}"
    );

    // A run whose workers can all run: exit 0.
    env.orch(&["run", "init", "--run", "good"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "good",
        "--task",
        "t",
        "--default-to",
        "codex",
    ])
    .data();
    let out = doctor(
        &env,
        &repo,
        &bin,
        &["--json", "doctor", "--run", "good"],
        &[("OPENAI_API_KEY", KEY)],
    );
    let data = report(&out, 0);
    assert_eq!(data["can_run"], true);
    assert_eq!(names(data), ["codex"]);
    let out = doctor(
        &env,
        &repo,
        &bin,
        &["doctor", "--run", "good"],
        &[("OPENAI_API_KEY", KEY)],
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.ends_with("\nevery worker can run\n"),
        "{}",
        out.stdout
    );

    // An unknown run is not found, as for every verb.
    let out = doctor(
        &env,
        &repo,
        &bin,
        &["--json", "doctor", "--run", "nope"],
        &[],
    );
    out.error(40, "not_found");
}

#[test]
fn a_check_that_hangs_is_killed_with_its_children_and_reported_unknown() {
    let env = Env::new();
    let repo = env.repo();
    let bin = env.path().join("fakebin");
    let pid_file = env.path().join("sleeper.pid");
    // `gemini --version` leaves a child behind in its process group and never ends.
    script(
        &bin,
        "gemini",
        &format!("sleep 300 &\necho $! > '{}'\nwait\n", pid_file.display()),
    );
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "gemini",
    ])
    .data();
    let started = std::time::Instant::now();
    let out = doctor(&env, &repo, &bin, &["--json", "doctor", "--run", "r"], &[]);
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    // Installed, no login check to fail: it can run; the version is a warning.
    let data = report(&out, 0);
    let gemini = worker(data, "gemini");
    assert_eq!(gemini["installed"], true);
    assert_eq!(gemini["version"]["status"], "unknown");
    assert_eq!(
        gemini["version"]["detail"],
        "`gemini --version` timed out after 5 s"
    );
    assert_eq!(
        gemini["warnings"],
        json!(["version unknown: `gemini --version` timed out after 5 s"])
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    crate::common::wait_until("the check's child to be killed", 10, || {
        std::fs::read_to_string(&stat)
            .map(|s| {
                let state = s.rsplit(')').next().unwrap_or("").trim_start();
                state.starts_with('Z') || state.starts_with('X')
            })
            .unwrap_or(true)
    });
}
