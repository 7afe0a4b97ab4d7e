//! Reading `/proc/PID/stat`: a process's start time (to tell a reused pid from ours),
//! its CPU time (and its reaped children's), its parent, session and process group; and
//! `/proc/PID/environ`, to find the descendants of a worker that left its session and its
//! terminal.

use std::path::Path;

/// The fields of `/proc/PID/stat` orch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// One of R, S, D, Z, T, t, X, I.
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub session: u32,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// User plus system CPU time of the children it has waited for, in clock ticks
    /// (fields 16 and 17): a reaped child's CPU time moves here.
    pub children_cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub start_time: u64,
}

/// Parses the text of `/proc/PID/stat`. The command name (field 2) may contain spaces
/// and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).copied();
    Some(Stat {
        pid,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        cpu_ticks: field(14)?.parse::<u64>().ok()? + field(15)?.parse::<u64>().ok()?,
        children_cpu_ticks: field(16)?.parse::<u64>().ok()? + field(17)?.parse::<u64>().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

/// The stat of a live (or zombie) process, `None` when there is no such pid.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// True when `pid` runs and is the process that started at `start_time` (not a zombie).
pub fn is_same_process(pid: u32, start_time: u64) -> bool {
    stat(pid).is_some_and(|s| s.start_time == start_time && s.state != 'Z' && s.state != 'X')
}

/// This process: its pid and start time (0 when `/proc` cannot say), as
/// [`is_same_process`] checks them later.
pub fn this_process() -> (u32, u64) {
    let pid = std::process::id();
    (pid, stat(pid).map_or(0, |s| s.start_time))
}

/// The machine's hostname (`/proc/sys/kernel/hostname`), if `/proc` says.
pub fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_string()).filter(|n| !n.is_empty())
}

/// This boot of the machine (`/proc/sys/kernel/random/boot_id`, a random id the kernel
/// draws at each boot): two machines alive at once never share it.
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty())
}

/// Every pid in `/proc`.
pub fn all_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Live processes of a session (the worker's session id is its pid).
pub fn session_members(session: u32) -> Vec<Stat> {
    all_pids()
        .into_iter()
        .filter_map(stat)
        .filter(|s| s.session == session && s.state != 'Z' && s.state != 'X')
        .collect()
}

/// Clock ticks a second, the unit of [`Stat::cpu_ticks`] (`sysconf(_SC_CLK_TCK)`).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions and only reads a constant.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(100)
}

/// The CPU time, in clock ticks, of a worker and everything it started: see
/// [`worker_cpu_ticks_of`].
pub fn worker_cpu_ticks(worker: u32) -> u64 {
    let all: Vec<Stat> = all_pids().into_iter().filter_map(stat).collect();
    worker_cpu_ticks_of(&all, worker)
}

/// The CPU time of the worker's processes among `all`: the members of its session (the
/// worker's pid is its session id) and its descendants by parent pid, wherever they
/// moved (Claude Code and Codex start each tool command in a session of its own), each
/// with the CPU time of the children it reaped, so a short-lived child's work is still
/// counted once it has exited. A zombie counts until it is reaped (its time then moves
/// to its parent). The sum can drop only when a process is reaped outside the worker's
/// processes (an orphan adopted by init).
pub fn worker_cpu_ticks_of(all: &[Stat], worker: u32) -> u64 {
    let mut members: std::collections::HashSet<u32> = all
        .iter()
        .filter(|s| s.session == worker)
        .map(|s| s.pid)
        .collect();
    members.insert(worker);
    // Descendants: repeat until no process with a member parent is left out (a parent's
    // pid is usually lower than its child's, so one pass in pid order finds most).
    let mut sorted: Vec<&Stat> = all.iter().collect();
    sorted.sort_by_key(|s| s.pid);
    loop {
        let before = members.len();
        for s in &sorted {
            if members.contains(&s.ppid) {
                members.insert(s.pid);
            }
        }
        if members.len() == before {
            break;
        }
    }
    all.iter()
        .filter(|s| members.contains(&s.pid))
        .map(|s| s.cpu_ticks + s.children_cpu_ticks)
        .sum()
}

/// Pids (other than `except`) with an open file descriptor on `path` (a terminal).
pub fn holders_of(path: &Path, except: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for pid in all_pids() {
        if pid == except {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        if fds
            .filter_map(Result::ok)
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
        {
            found.push(pid);
        }
    }
    found
}

/// Live processes (other than `except`) whose environment holds every one of `pairs`
/// (`NAME=value`): a worker's descendants carry the `ORCH_THREAD` and `ORCH_DB` orch
/// gave the worker, wherever they moved (another session, no terminal).
pub fn with_environment(pairs: &[(&str, &str)], except: u32) -> Vec<u32> {
    let wanted: Vec<Vec<u8>> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect();
    all_pids()
        .into_iter()
        .filter(|pid| *pid != except)
        .filter(|pid| stat(*pid).is_some_and(|s| s.state != 'Z' && s.state != 'X'))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
                let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
                wanted.iter().all(|w| vars.contains(&w.as_slice()))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_spaces_and_parens_in_the_name() {
        let line = "4242 (my (odd) name) S 1 4242 4242 34816 4242 4194304 100 0 0 0 7 3 5 1 20 0 1 0 98765 1000 200 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 4242);
        assert_eq!(s.session, 4242);
        assert_eq!(s.cpu_ticks, 10);
        assert_eq!(s.children_cpu_ticks, 6);
        assert_eq!(s.start_time, 98765);
    }

    #[test]
    fn finds_a_child_by_its_environment() {
        let marker = format!("orch-test-{}", std::process::id());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("ORCH_TEST_MARKER", &marker)
            .spawn()
            .unwrap();
        let found = with_environment(&[("ORCH_TEST_MARKER", &marker)], 0);
        assert_eq!(found, vec![child.id()]);
        assert!(with_environment(&[("ORCH_TEST_MARKER", &marker), ("NOPE", "x")], 0).is_empty());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(with_environment(&[("ORCH_TEST_MARKER", &marker)], 0).is_empty());
    }

    fn proc(pid: u32, ppid: u32, session: u32, cpu: u64, children: u64) -> Stat {
        Stat {
            pid,
            state: 'S',
            ppid,
            pgrp: session,
            session,
            cpu_ticks: cpu,
            children_cpu_ticks: children,
            start_time: 0,
        }
    }

    #[test]
    fn a_workers_cpu_counts_its_session_and_its_descendants_in_other_sessions() {
        let all = [
            // the worker, with 7 ticks of children it reaped
            proc(100, 1, 100, 10, 7),
            // a helper in its session
            proc(101, 100, 100, 1, 0),
            // a tool command in a session of its own, and the tool's own child
            proc(90, 100, 90, 200, 0),
            proc(95, 90, 90, 300, 0),
            // a descendant that left the session
            proc(96, 95, 96, 4, 0),
            // an orphan adopted by init, still in the worker's session
            proc(102, 1, 100, 2, 0),
            // strangers: the supervisor above the worker and an unrelated session
            proc(50, 1, 50, 1000, 0),
            proc(300, 1, 300, 1000, 0),
        ];
        assert_eq!(
            worker_cpu_ticks_of(&all, 100),
            10 + 7 + 1 + 200 + 300 + 4 + 2
        );
        assert_eq!(worker_cpu_ticks_of(&all, 90), 200 + 300 + 4);
        assert_eq!(worker_cpu_ticks_of(&all, 4242), 0);
    }

    #[test]
    fn reads_the_cpu_time_of_a_child_in_another_session() {
        // A shell (the worker) whose child leaves for a session of its own and burns a
        // core, the way the agent CLIs run their tool commands; `; true` keeps the shell
        // from exec'ing its child in place.
        let mut worker = std::process::Command::new("sh")
            .args(["-c", "setsid sh -c 'while :; do :; done'; true"])
            // Not the shell's "Killed" when the test kills its child.
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let root = worker.id();
        let started = std::time::Instant::now();
        let tool = loop {
            let all: Vec<Stat> = all_pids().into_iter().filter_map(stat).collect();
            if let Some(tool) = all.iter().find(|s| s.ppid == root && s.session != root) {
                break tool.pid;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(20));
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        // 20 ticks are 0.2 s of CPU at 100 ticks a second; the loop burns a whole core
        // while its parent only waits.
        while worker_cpu_ticks(root) < 20 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "the CPU time of a child in another session is not counted"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(stat(root).unwrap().cpu_ticks < 20);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(tool as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        worker.wait().unwrap();
        assert!(ticks_per_second() > 0);
    }

    #[test]
    fn reads_our_own_stat() {
        let me = stat(std::process::id()).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(is_same_process(me.pid, me.start_time));
        assert!(!is_same_process(me.pid, me.start_time + 1));
    }
}
