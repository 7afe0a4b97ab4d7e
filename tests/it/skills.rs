//! The skills' examples are run for real: every ```sh block of `skills/*/SKILL.md`, in
//! order, as one `set -e` script in a fresh git repository, with the hidden test steps
//! (`<!-- test: CMD -->`) that play the other side. Any `"ok":false` fails the test.

use crate::common::{Env, ORCH};
use std::path::Path;

/// The script of a SKILL.md: its sh blocks and hidden test steps, in order.
fn script_of(markdown: &str) -> String {
    let mut script = String::from("set -eu\n");
    let mut in_block = false;
    for line in markdown.lines() {
        let trimmed = line.trim();
        if in_block {
            if trimmed == "```" {
                in_block = false;
            } else {
                script.push_str(line);
                script.push('\n');
            }
        } else if trimmed == "```sh" {
            in_block = true;
        } else if let Some(step) = trimmed
            .strip_prefix("<!-- test:")
            .and_then(|s| s.strip_suffix("-->"))
        {
            script.push_str(step.trim());
            script.push('\n');
        }
    }
    script
}

fn run_skill(env: &Env, skill: &str, cwd: &Path, envs: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(skill)).unwrap();
    let script = script_of(&text);
    let bin_dir = Path::new(ORCH).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = env.command("sh");
    cmd.arg("-c")
        .arg(&script)
        .current_dir(cwd)
        .env("PATH", path);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{skill} examples failed ({:?})\nscript:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(doc["ok"], true, "{skill}: a command failed: {line}");
    }
    stdout
}

#[test]
fn every_example_of_the_orch_skill_runs() {
    let env = Env::new();
    let repo = env.repo();
    let stdout = run_skill(&env, "skills/orch/SKILL.md", &repo, &[]);
    assert!(stdout.contains("\"command\":\"cleanup\""));
    // The default database lives in the repository's .orch/, which git ignores.
    assert!(repo.join(".orch/coord.db").exists());
    assert_eq!(env.git(&repo, &["status", "--porcelain"]), "");
}

#[test]
fn every_example_of_the_inbox_skill_runs() {
    let env = Env::new();
    env.run_with_tasks("demo", &["api", "other"]);
    let thread = env.dispatch_analysis("demo", "api");
    env.dispatch_analysis("demo", "other");
    // The leader answers the worker's question as soon as it is asked.
    let answerer = env
        .command("sh")
        .arg("-c")
        .arg(format!(
            "\"{ORCH}\" --db \"$DB\" --json wait --run demo --for task_blocked --after-event 0 --timeout-seconds 60 >/dev/null && \
             \"{ORCH}\" --db \"$DB\" --json answer --run demo --task api --body json >/dev/null"
        ))
        .env("DB", &env.db)
        .spawn()
        .unwrap();
    let db = env.db.display().to_string();
    run_skill(
        &env,
        "skills/inbox/SKILL.md",
        env.path(),
        &[
            ("ORCH_DB", &db),
            ("ORCH_AGENT", "worker-a"),
            ("ORCH_THREAD", &thread),
        ],
    );
    let mut answerer = answerer;
    assert!(answerer.wait().unwrap().success());
    let status = env.orch(&["status", "--run", "demo"]);
    assert_eq!(status.data()["tasks"][0]["status"], "done");
    assert_eq!(status.data()["tasks"][1]["status"], "failed");
}
