//! What a finished attempt left behind, read once its worker is gone and before its end
//! is classified: in code mode the commits on its branch, after the supervisor has
//! committed whatever the worker left uncommitted (nothing is lost: a CLI whose sandbox
//! cannot commit, or a worker that forgot, still leaves its work on the branch); for
//! every attempt, the tool calls its CLI refused to run, and which of those kept the
//! attempt from delivering.

use super::output::Findings;
use crate::model::{Attempt, ExecutionMode};
use crate::worktree;
use serde_json::{Value, json};

/// The supervisor's commit of the changes a worker left.
#[derive(Debug, Clone, PartialEq)]
pub struct Autocommit {
    pub commit: String,
    pub files: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Work {
    /// Whether the attempt works in a worktree (code mode with one).
    pub code: bool,
    /// Commits on the attempt's branch since its base, the supervisor's included.
    pub commits: usize,
    pub autocommit: Option<Autocommit>,
    /// Every tool call the CLI refused (`tool: detail`).
    pub denials: Vec<String>,
    /// What could not be read or committed (the attempt is not a success then).
    pub problem: Option<String>,
}

impl Work {
    /// Reads (and, for leftovers, commits) what `attempt` left.
    pub fn collect(attempt: &Attempt, findings: &Findings) -> Work {
        let mut work = Work {
            denials: findings.denials.clone(),
            ..Work::default()
        };
        let Some(worktree) = attempt
            .workspace
            .worktree_path
            .as_deref()
            .filter(|w| attempt.execution_mode == ExecutionMode::Code && w.is_dir())
        else {
            return work;
        };
        work.code = true;
        match worktree::worktree_changes(worktree) {
            Ok(changes) if !changes.is_empty() => {
                let message = format!(
                    "orch: the changes {} left uncommitted in attempt {}\n\nCommitted by orch's supervisor when the worker ended, so nothing is lost.",
                    attempt.assigned_to, attempt.attempt_no
                );
                match worktree::commit_all(worktree, &message) {
                    Ok(commit) => {
                        work.autocommit = Some(Autocommit {
                            commit,
                            files: changes.len(),
                        })
                    }
                    Err(e) => work.problem = Some(e.to_string()),
                }
            }
            Ok(_) => {}
            Err(e) => work.problem = Some(e.to_string()),
        }
        match worktree::commits_since(
            worktree,
            attempt.workspace.base_commit.as_deref().unwrap_or(""),
        ) {
            Ok(n) => work.commits = n,
            Err(e) => work.problem = work.problem.take().or(Some(e.to_string())),
        }
        work
    }

    /// Why the attempt cannot count as a success whatever its CLI said, if so: its
    /// branch is empty and the worker never reported done, or a refused command kept it
    /// from delivering (`inbox` refused and no result on the thread; `git add`/`commit`
    /// refused and nothing on the branch), or the work could not be read.
    pub fn shortfall(&self, reported_done: bool, branch: &str) -> Option<String> {
        if let Some(problem) = &self.problem {
            return Some(format!("orch could not check the worktree: {problem}"));
        }
        let refused = |what: &dyn Fn(&str) -> bool| -> Vec<&str> {
            self.denials
                .iter()
                .map(String::as_str)
                .filter(|d| what(d))
                .collect()
        };
        let inbox = refused(&|d| runs(d, &["inbox"]));
        if !inbox.is_empty() && !reported_done {
            return Some(format!(
                "the CLI refused the worker's inbox commands: {}",
                inbox.join("; ")
            ));
        }
        if self.code && self.commits == 0 {
            let git = refused(&|d| runs(d, &["git commit", "git add"]));
            if !git.is_empty() {
                return Some(format!(
                    "the CLI refused the worker's git commands and nothing is on {branch}: {}",
                    git.join("; ")
                ));
            }
            if !reported_done {
                return Some(format!(
                    "no commits on {branch} and no `inbox done`: the attempt left nothing"
                ));
            }
        }
        None
    }

    /// As recorded on the attempt (`work` in `orch attempts`).
    pub fn to_json(&self) -> Value {
        json!({
            "commits": self.code.then_some(self.commits),
            "autocommit": self.autocommit.as_ref().map(|a| json!({"commit": a.commit, "files": a.files})),
            "permission_denials": self.denials,
        })
    }

    /// A note for the thread about what orch did or saw, if anything.
    pub fn note(&self, branch: &str) -> Option<String> {
        let mut lines = Vec::new();
        if let Some(a) = &self.autocommit {
            lines.push(format!(
                "orch committed {} file(s) the worker left uncommitted on {branch}: {}",
                a.files, a.commit
            ));
        }
        if !self.denials.is_empty() {
            lines.push(format!(
                "the CLI refused {} tool call(s): {}",
                self.denials.len(),
                self.denials.join("; ")
            ));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }
}

/// Whether a refused call (`Bash: git add x && git commit -m y`) runs one of these
/// commands as one of its parts.
fn runs(denial: &str, commands: &[&str]) -> bool {
    let command = denial.split_once(": ").map_or(denial, |(_, c)| c);
    command
        .split(['&', '|', ';', '\n', '(', ')'])
        .map(str::trim)
        .any(|part| {
            commands
                .iter()
                .any(|c| part == *c || part.starts_with(&format!("{c} ")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(code: bool, commits: usize, denials: &[&str]) -> Work {
        Work {
            code,
            commits,
            denials: denials.iter().map(|d| d.to_string()).collect(),
            ..Work::default()
        }
    }

    /// What `shortfall` says of branch `b`, `""` when nothing falls short.
    fn shortfall(work: Work, done: bool) -> String {
        work.shortfall(done, "b").unwrap_or_default()
    }

    #[test]
    fn a_code_attempt_needs_commits_or_done() {
        assert!(shortfall(work(true, 0, &[]), false).contains("no commits on b"));
        assert_eq!(shortfall(work(true, 1, &[]), false), "");
        assert_eq!(shortfall(work(true, 0, &[]), true), "");
        assert_eq!(shortfall(work(false, 0, &[]), false), "");
    }

    #[test]
    fn refused_commands_fail_the_attempt_only_when_they_kept_it_from_delivering() {
        let inbox = ["Bash: inbox update --status blocked --summary 'q'"];
        assert!(shortfall(work(false, 0, &inbox), false).contains("inbox"));
        assert_eq!(shortfall(work(false, 0, &inbox), true), "");
        let git = ["Bash: echo x > f && git add f && git commit -m x"];
        assert!(shortfall(work(true, 0, &git), true).contains("git commands"));
        // orch committed the work for it: the branch holds it.
        assert_eq!(shortfall(work(true, 1, &git), true), "");
        // Another refused command is recorded, not fatal.
        assert_eq!(shortfall(work(true, 1, &["Bash: git push"]), false), "");
        assert!(!runs("Bash: echo inboxes", &["inbox"]));
        assert!(runs("Bash: cd x; inbox done --summary y", &["inbox"]));
    }
}
