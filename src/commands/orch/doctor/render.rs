//! The plain-text report of `orch doctor`.

use super::*;

/// One line per worker, an indented line per problem and warning, then what each
/// adapter's levels let the workers do, then the verdict.
pub(super) fn render(style: &Style, report: &Report) -> String {
    let mut out = String::new();
    if report.workers.is_empty() {
        out.push_str("no workers to check: the run's tasks name no default worker\n");
        return out;
    }
    let width = report
        .workers
        .iter()
        .map(|w| label(w).chars().count())
        .max()
        .unwrap_or(0);
    for w in &report.workers {
        let line = format!("{:width$}  {}", label(w), state(style, w));
        out.push_str(line.trim_end());
        out.push('\n');
        for problem in &w.problems {
            out.push_str(&format!("  error: {problem}\n"));
        }
        for warning in &w.warnings {
            out.push_str(&format!("  warning: {warning}\n"));
        }
    }
    out.push_str(&levels(report));
    out.push_str(&verdict(report));
    out
}

/// Whether the worker's CLI is there, its version and whether it is logged in.
fn state(style: &Style, w: &WorkerReport) -> String {
    if w.adapter.is_empty() {
        return paint(style, false, "unknown worker");
    }
    if !w.installed {
        return format!("{} {}", w.program, paint(style, false, "not installed"));
    }
    let version = match (&w.version.found, w.version.status) {
        (Some(v), "verified") => format!("{v} (verified)"),
        (Some(v), _) => format!("{v} (unverified; {})", listed(&w.version.verified)),
        (None, _) if w.version.detail == NO_VERSION_COMMAND => "version not checked".to_string(),
        (None, _) => "version unknown".to_string(),
    };
    let login = match w.login.status {
        "logged_in" => paint(style, true, "logged in"),
        "not_logged_in" => paint(style, false, "not logged in"),
        _ if w.login.detail == NO_LOGIN_CHECK => "login not checked".into(),
        _ => "login unknown".into(),
    };
    format!("{} {version}, {login}", w.program)
}

/// What they may do, once per adapter and level, naming the workers at that level
/// (not for CLIs that are not there).
fn levels(report: &Report) -> String {
    let mut levels: BTreeMap<(String, String), (Vec<String>, &PermissionReport)> = BTreeMap::new();
    for w in report.workers.iter().filter(|w| w.installed) {
        for p in &w.permissions {
            levels
                .entry((w.adapter.clone(), p.level.clone()))
                .or_insert_with(|| (Vec::new(), p))
                .0
                .push(w.worker.clone());
        }
    }
    let mut out = String::new();
    if levels.is_empty() {
        return out;
    }
    out.push_str("\nwhat they may do:\n");
    for ((adapter, level), (names, p)) in &levels {
        out.push_str(&format!(
            "  {adapter} {level} ({}): {}",
            names.join(", "),
            p.describe
        ));
        if !p.args.is_empty() {
            out.push_str(&format!(" [{}]", shell_words(&p.args)));
        }
        out.push('\n');
    }
    out
}

/// `every worker can run`, or which cannot.
fn verdict(report: &Report) -> String {
    let cannot: Vec<&str> = report
        .workers
        .iter()
        .filter(|w| !w.can_run)
        .map(|w| w.worker.as_str())
        .collect();
    if cannot.is_empty() {
        "\nevery worker can run\n".to_string()
    } else {
        format!(
            "\n{} of {} workers cannot run: {}\n",
            cannot.len(),
            report.workers.len(),
            cannot.join(", ")
        )
    }
}

/// Green for good news, red for bad, on a terminal.
pub(super) fn paint(style: &Style, good: bool, text: &str) -> String {
    if style.color {
        format!("\x1b[{}m{text}\x1b[0m", if good { 32 } else { 31 })
    } else {
        text.to_string()
    }
}

/// A worker's name, with its adapter when it is a profile: `fast [claude]`.
pub(super) fn label(w: &WorkerReport) -> String {
    if w.profile.is_empty() || w.adapter.is_empty() {
        w.worker.clone()
    } else {
        format!("{} [{}]", w.worker, w.adapter)
    }
}
