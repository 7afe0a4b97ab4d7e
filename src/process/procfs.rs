//! Reading `/proc/PID/stat`: a process's start time (to tell a reused pid from ours),
//! its CPU time, and its session and process group; and `/proc/PID/environ`, to find the
//! descendants of a worker that left its session and its terminal.

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

/// Total CPU ticks of a session's processes: a worker that computes without printing
/// still makes progress.
pub fn session_cpu_ticks(session: u32) -> u64 {
    session_members(session).iter().map(|s| s.cpu_ticks).sum()
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
        let line = "4242 (my (odd) name) S 1 4242 4242 34816 4242 4194304 100 0 0 0 7 3 0 0 20 0 1 0 98765 1000 200 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 4242);
        assert_eq!(s.session, 4242);
        assert_eq!(s.cpu_ticks, 10);
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

    #[test]
    fn reads_our_own_stat() {
        let me = stat(std::process::id()).unwrap();
        assert_eq!(me.pid, std::process::id());
        assert!(is_same_process(me.pid, me.start_time));
        assert!(!is_same_process(me.pid, me.start_time + 1));
    }
}
