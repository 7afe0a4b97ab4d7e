//! The process table as the harness sees it: which live processes belong to a workspace
//! (its path in their command line, working directory or environment), and how much
//! memory a process holds at its peak.

use std::path::Path;

/// One live process that belongs to the workspace.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub cmdline: String,
    /// Where its standard error goes (read when it was found): a standby supervisor,
    /// whose command line names no attempt, sends it to its attempt's
    /// `.supervisor.log` once handed one.
    pub stderr: Option<std::path::PathBuf>,
}

fn read(path: impl AsRef<Path>) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Live (non-zombie) processes, other than this one, whose command line, working
/// directory or environment mentions `marker` (a workspace path).
pub fn belonging_to(marker: &Path) -> Vec<Proc> {
    let needle = marker.to_string_lossy().into_owned().into_bytes();
    matching(|cmdline, environ, cwd| {
        contains(cmdline, &needle) || contains(environ, &needle) || contains(cwd, &needle)
    })
}

/// The processes of one simulated host: its `orch up` and everything it started carry
/// `ORCH_STATE_DIR=<state_dir>` in their environment (supervisors and workers are given
/// it), and what runs in its clone has its working directory there.
pub fn of_host(state_dir: &Path, clone: &Path) -> Vec<Proc> {
    let var = format!("ORCH_STATE_DIR={}", state_dir.display()).into_bytes();
    let clone = clone.to_string_lossy().into_owned().into_bytes();
    matching(|_, environ, cwd| {
        environ
            .split(|b| *b == 0)
            .any(|entry| entry == var.as_slice())
            || cwd == clone.as_slice()
            || (cwd.starts_with(&clone) && cwd.get(clone.len()) == Some(&b'/'))
    })
}

/// Live (non-zombie) processes, other than this one, for which `test(cmdline, environ,
/// cwd)` holds.
fn matching(test: impl Fn(&[u8], &[u8], &[u8]) -> bool) -> Vec<Proc> {
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || matches!(state(pid), None | Some('Z') | Some('X')) {
            continue;
        }
        let cmdline = read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let environ = read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
            .map(|p| p.to_string_lossy().into_owned().into_bytes())
            .unwrap_or_default();
        if test(&cmdline, &environ, &cwd) {
            found.push(Proc {
                pid,
                cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
                stderr: std::fs::read_link(format!("/proc/{pid}/fd/2")).ok(),
            });
        }
    }
    found
}

/// Waits up to `secs` for every process of the workspace to go; returns those left.
pub fn wait_gone(marker: &Path, secs: f64) -> Vec<Proc> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    loop {
        let left = belonging_to(marker);
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// SIGKILL to each (the harness cleaning up after a failed check).
pub fn kill_all(procs: &[Proc]) {
    for p in procs {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// SIGKILL to one process.
pub fn kill9(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The peak resident set (VmHWM) of a live process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `orch supervise` processes of this database: (pid, attempt thread id).
pub fn supervisors(db: &Path) -> Vec<(u32, String)> {
    belonging_to(db)
        .into_iter()
        .filter_map(|p| Some((p.pid, supervised(&p)?)))
        .collect()
}

/// The attempt thread an `orch supervise` process supervises; `None` for any other
/// (and for a standby not handed an attempt yet). A standby's attempt is read from
/// where its output went: `logs/RUN/TASK/attempt-N.supervisor.log`.
pub fn supervised(p: &Proc) -> Option<String> {
    let words: Vec<&str> = p.cmdline.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "supervise")?;
    if words[at..].contains(&"--standby") {
        let log = p.stderr.as_ref()?;
        let attempt = log.file_name()?.to_str()?.strip_suffix(".supervisor.log")?;
        let task = log.parent()?;
        let run = task.parent()?;
        return attempt.starts_with("attempt-").then(|| {
            format!(
                "{}/{}/{attempt}",
                run.file_name().unwrap_or_default().to_string_lossy(),
                task.file_name().unwrap_or_default().to_string_lossy()
            )
        });
    }
    let thread = words
        .iter()
        .skip(at)
        .skip_while(|w| **w != "--attempt")
        .nth(1)?;
    Some(thread.to_string())
}

/// A signal to one process.
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

/// A small deterministic random source (xorshift64*), seeded per trial so a failing
/// trial can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}
