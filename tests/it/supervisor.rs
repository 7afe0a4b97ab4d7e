//! Supervised workers (issue 3), end to end: real `orch supervise` processes, real PTYs,
//! real git, and the scripted fake agent standing in for codex, claude and cursor-agent.

use crate::common::{Env, ORCH, add_task, wait_for_end};
use std::time::{Duration, Instant};

#[test]
fn a_fake_codex_worker_commits_in_its_worktree_and_its_thread_ends_done() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(
        &env,
        "r",
        "feat",
        "codex",
        "say Looking at the repository\nrun echo feature > feature.txt && git add feature.txt && git commit -q -m feature\nsay Added feature.txt and committed it.",
    );
    let data = env.launch(&repo, "r", "feat", "code");
    let launch = &data["launch"];
    assert_eq!(launch["adapter"], "codex");
    let argv: Vec<&str> = launch["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&argv[..5], &["codex", "exec", "--json", "--color", "never"]);
    assert!(
        argv.contains(&"sandbox_mode=\"workspace-write\"") && !argv.contains(&"--full-auto"),
        "{argv:?}"
    );
    let worktree = data["attempt"]["worktree_path"]
        .as_str()
        .unwrap()
        .to_string();
    let record = wait_for_end(&env, "r", "feat");
    let supervision = &record["supervision"];
    assert_eq!(supervision["outcome"], "succeeded", "{record:#}");
    assert!(
        supervision["session_id"]
            .as_str()
            .unwrap()
            .starts_with("0199"),
        "{record:#}"
    );
    assert_eq!(supervision["usage"]["input_tokens"], 120);
    // The worker's commit is on the attempt's branch.
    let log = env.git(std::path::Path::new(&worktree), &["log", "--oneline", "-1"]);
    assert!(log.ends_with("feature"), "{log}");
    // The thread ended done, carrying the final agent message.
    let thread = env
        .inbox(None, &["show", "--thread", "r/feat/attempt-1"])
        .data()
        .clone();
    assert_eq!(thread["thread"]["status"], "done");
    let last = thread["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "result");
    assert_eq!(last["body"], "Added feature.txt and committed it.");
    // The log holds every byte the worker printed.
    let log_path = supervision["log_path"].as_str().unwrap();
    let bytes = std::fs::read_to_string(log_path).unwrap();
    assert!(
        bytes.contains("\"thread.started\"") && bytes.contains("Added feature.txt"),
        "{bytes}"
    );
    let status = env.orch(&["status", "--run", "r"]);
    assert_eq!(status.data()["tasks"][0]["status"], "done");
}

#[test]
fn a_worker_that_blocks_on_a_question_gets_the_answer_and_finishes() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(
        &env,
        "r",
        "q",
        "claude",
        "ask Postgres or SQLite?\nsay Going with it.",
    );
    env.launch(&repo, "r", "q", "analysis");
    // The leader sees the question, answers it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let blocked = env.orch(&["blocked", "--run", "r"]).data().clone();
        if let Some(first) = blocked["tasks"].as_array().unwrap().first() {
            assert_eq!(first["question"]["summary"], "Postgres or SQLite?");
            break;
        }
        assert!(Instant::now() < deadline, "the worker never asked");
        std::thread::sleep(Duration::from_millis(100));
    }
    env.orch(&["answer", "--run", "r", "--task", "q", "--body", "SQLite"])
        .data();
    let record = wait_for_end(&env, "r", "q");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    let shown = env
        .inbox(None, &["show", "--thread", "r/q/attempt-1"])
        .data()
        .clone();
    let result = shown["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(result["body"], "Going with it.");
    assert!(
        shown["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["summary"] == "answered: SQLite")
    );
}

#[test]
fn a_missing_binary_ends_spawn_failed_naming_it() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch/adapters")).unwrap();
    std::fs::write(
        repo.join(".orch/adapters/ghost.toml"),
        "name = \"ghost\"\ncommand = [\"no-such-agent-binary\", \"{prompt}\"]\noutput = \"text\"\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "ghost", "say hi");
    env.launch(&repo, "r", "t", "analysis");
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(
        record["supervision"]["outcome"], "spawn_failed",
        "{record:#}"
    );
    assert!(
        record["supervision"]["reason"]
            .as_str()
            .unwrap()
            .contains("no-such-agent-binary"),
        "{record:#}"
    );
    assert_eq!(
        env.orch(&["status", "--run", "r"]).data()["tasks"][0]["status"],
        "failed"
    );
}

#[test]
fn an_unknown_worker_is_refused_before_anything_is_created() {
    let env = Env::new();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "nobody", "say hi");
    let out = env.dispatch_launch(&repo, "r", "t", "analysis", &[]);
    let message = out.error(30, "invalid_input");
    assert!(
        message.contains("nobody") && message.contains("codex") && message.contains("shell"),
        "{message}"
    );
    assert_eq!(
        env.orch(&["status", "--run", "r"]).data()["tasks"][0]["status"],
        "ready"
    );
}

#[test]
fn not_logged_in_ends_auth_failed() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "claude", "notloggedin");
    env.launch(&repo, "r", "t", "analysis");
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(
        record["supervision"]["outcome"], "auth_failed",
        "{record:#}"
    );
    assert!(
        record["supervision"]["reason"]
            .as_str()
            .unwrap()
            .contains("Not logged in")
    );
}

#[test]
fn rate_limit_samples_end_rate_limited_with_their_reset_time() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    crate::common::fake_text_adapter(&repo, "rate_limit_patterns = [\"(?i)usage limit\"]\n");
    env.orch(&["run", "init", "--run", "r"]).data();
    // (worker, script, the reset time the sample announces)
    let samples = [
        ("claude", "ratelimit", Some("2030-01-01T00:00:00.000Z")),
        ("cursor", "ratelimit", Some("2025-11-17T00:00:00.000Z")),
        (
            "codex",
            "ratelimit You've hit your usage limit. Try again at Aug 8th, 2031 12:30 PM.",
            // Stated to the minute: the end of that minute, plus 5 s.
            Some("2031-08-08T12:31:05.000Z"),
        ),
        // Claude's structured event wins over the text it repeats.
        (
            "claude",
            "ratelimit Claude AI usage limit reached|1762952400",
            Some("2030-01-01T00:00:00.000Z"),
        ),
        // Claude 1.0's text alone: epoch seconds after the bar.
        (
            "fake-text",
            "ratelimit Claude AI usage limit reached|1762952400",
            Some("2025-11-12T13:00:00.000Z"),
        ),
    ];
    for (i, (worker, script, _)) in samples.iter().enumerate() {
        add_task(&env, "r", &format!("t{i}"), worker, script);
        env.launch(&repo, "r", &format!("t{i}"), "analysis");
    }
    for (i, (_, _, reset)) in samples.iter().enumerate() {
        let record = wait_for_end(&env, "r", &format!("t{i}"));
        assert_eq!(
            record["supervision"]["outcome"], "rate_limited",
            "{record:#}"
        );
        assert_eq!(
            record["supervision"]["reset_at"].as_str(),
            *reset,
            "sample {i}: {record:#}"
        );
    }
}

#[test]
fn codex_rate_limit_same_day_time_is_read_in_utc() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "codex", "ratelimit");
    env.launch(&repo, "r", "t", "analysis");
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(
        record["supervision"]["outcome"], "rate_limited",
        "{record:#}"
    );
    let reset = record["supervision"]["reset_at"].as_str().unwrap();
    // `3:28 PM`: the end of that minute plus 5 s, or now plus 5 s when run in the 15
    // minutes after 15:28 UTC (a reset that has just passed).
    let from_now = reset.parse::<jiff::Timestamp>().unwrap().as_millisecond()
        - jiff::Timestamp::now().as_millisecond();
    assert!(
        reset.ends_with("T15:29:05.000Z") || from_now.abs() < 60_000,
        "{reset}"
    );
}

#[test]
fn cancel_kills_a_worker_that_ignores_sigterm_and_its_grandchildren() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(
        &env,
        "r",
        "t",
        "fake-text",
        "ignoreterm\nfork 3\nsetsid-hold\nsay working\nsleep 300",
    );
    // A user adapter with a short grace, so the test does not wait 10 s.
    crate::common::fake_text_adapter(&repo, "term_grace = \"1s\"\n");
    env.launch(&repo, "r", "t", "analysis");
    // Wait until it is running and has said something.
    let deadline = Instant::now() + Duration::from_secs(30);
    let worker_pid = loop {
        let record =
            env.orch(&["attempts", "--run", "r", "--task", "t"]).data()["attempts"][0].clone();
        if record["supervision"]["worker_pid"].is_i64() && record["attempt"]["status"] == "claimed"
        {
            let shown = env
                .inbox(None, &["show", "--thread", "r/t/attempt-1"])
                .data()
                .clone();
            if shown["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["kind"] == "output")
            {
                break record["supervision"]["worker_pid"].as_i64().unwrap() as u32;
            }
        }
        assert!(Instant::now() < deadline, "the worker never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    let session: Vec<u32> = session_members(worker_pid);
    assert!(
        session.len() >= 4,
        "worker and its grandchildren: {session:?}"
    );
    env.orch(&["cancel", "--run", "r", "--task", "t", "--reason", "stop"])
        .data();
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "cancelled", "{record:#}");
    std::thread::sleep(Duration::from_millis(300));
    let alive: Vec<u32> = session.iter().copied().filter(|p| is_alive(*p)).collect();
    assert!(alive.is_empty(), "left running: {alive:?}");
    // The descendant that escaped with setsid (and kept the terminal) is gone too.
    let log = std::fs::read_to_string(record["supervision"]["log_path"].as_str().unwrap()).unwrap();
    let holder: u32 = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("holder pid "))
        .expect("the fake agent reports its escaped child")
        .trim()
        .parse()
        .unwrap();
    assert!(!session.contains(&holder), "the holder left the session");
    assert!(
        !is_alive(holder),
        "the setsid escapee {holder} is still alive"
    );
    // It kept the terminal open, so it is recorded as leaked (and was killed).
    assert_eq!(record["supervision"]["leaked"], true);
}

fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = text.rsplit(')').next()?;
    Some(after.split_whitespace().map(str::to_string).collect())
}

fn is_alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f[0] != "Z" && f[0] != "X")
}

fn session_members(session: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).is_some_and(|f| f[3] == session.to_string()))
        .collect()
}

#[test]
fn logs_follow_started_before_the_worker_streams_and_exits_at_the_end() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    env.orch(&[
        "task",
        "add",
        "--run",
        "r",
        "--task",
        "t",
        "--default-to",
        "shell",
        "--body",
        "sleep 0.5; echo first line; sleep 0.5; echo second line",
    ])
    .data();
    // Dispatch without launching, start the follower, then launch.
    env.raw(
        ORCH,
        &[
            "--db",
            env.db.to_str().unwrap(),
            "--json",
            "dispatch",
            "--run",
            "r",
            "--task",
            "t",
            "--execution-mode",
            "analysis",
        ],
        &repo,
        &[],
    )
    .data();
    let follower = env
        .command(ORCH)
        .args([
            "--db",
            env.db.to_str().unwrap(),
            "logs",
            "--run",
            "r",
            "--task",
            "t",
            "-f",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.raw(
        ORCH,
        &[
            "--db",
            env.db.to_str().unwrap(),
            "--json",
            "launch",
            "--run",
            "r",
            "--task",
            "t",
        ],
        &repo,
        &[],
    )
    .data();
    let out = follower.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "first line\nsecond line\n");
    assert_eq!(
        wait_for_end(&env, "r", "t")["supervision"]["outcome"],
        "succeeded"
    );
}

#[test]
fn a_flood_goes_to_the_log_not_the_thread_and_invalid_utf8_is_kept() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    crate::common::fake_text_adapter(&repo, "");
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(
        &env,
        "r",
        "t",
        "fake-text",
        "badutf8\nflood 20000000\nsay finished the flood",
    );
    env.launch(&repo, "r", "t", "analysis");
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    let log = std::fs::read(record["supervision"]["log_path"].as_str().unwrap()).unwrap();
    assert!(
        log.len() > 20_000_000,
        "every byte is in the log: {}",
        log.len()
    );
    // The raw bytes, invalid UTF-8 and escapes included, are kept as printed.
    assert!(
        log.windows(4).any(|w| w == b"\xff\xfe\xc3 "),
        "invalid UTF-8 kept raw"
    );
    // The thread got a bounded digest, not a row per line.
    let shown = env
        .inbox(None, &["show", "--thread", "r/t/attempt-1"])
        .data()
        .clone();
    let outputs = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "output")
        .count();
    assert!(outputs < 100, "{outputs} output messages");
    let result = shown["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(result["body"], "finished the flood");
    // The text log view strips escapes and replaces invalid bytes.
    let text = env.orch_raw_logs(&["logs", "--run", "r", "--task", "t", "-n", "2"]);
    assert_eq!(text.lines().last(), Some("finished the flood"), "{text}");
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn worker_profiles_give_model_and_args_and_logs_json_prints_parsed_events() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch")).unwrap();
    std::fs::write(
        repo.join(".orch/config.toml"),
        "[workers.fast]\nadapter = \"claude\"\nmodel = \"sonnet-x\"\nargs = [\"--max-turns\", \"7\"]\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "fast", "tool ls -la\nsay All good.");
    let data = env.launch(&repo, "r", "t", "analysis");
    let argv: Vec<&str> = data["launch"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(data["launch"]["profile"], "fast");
    assert!(
        argv.windows(2).any(|w| w == ["--model", "sonnet-x"]),
        "{argv:?}"
    );
    assert!(
        argv.windows(2).any(|w| w == ["--max-turns", "7"]),
        "{argv:?}"
    );
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    assert_eq!(record["supervision"]["cost_usd"], 0.0123);
    let events = env.orch_raw_logs(&["--json", "logs", "--run", "r", "--task", "t"]);
    let parsed: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        parsed
            .iter()
            .any(|e| e["type"] == "tool_call" && e["summary"] == "Bash ls -la"),
        "{events}"
    );
    assert!(
        parsed
            .iter()
            .any(|e| e["type"] == "final" && e["text"] == "All good."),
        "{events}"
    );
}

#[test]
fn a_supervisor_told_to_stop_stops_its_worker_first() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "shell", "echo started; sleep 300");
    let data = env.launch(&repo, "r", "t", "analysis");
    let supervisor = data["launch"]["supervisor_pid"].as_i64().unwrap() as u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    let worker = loop {
        let record =
            env.orch(&["attempts", "--run", "r", "--task", "t"]).data()["attempts"][0].clone();
        if let Some(pid) = record["supervision"]["worker_pid"].as_i64() {
            break pid as u32;
        }
        assert!(Instant::now() < deadline, "the worker never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    // The supervisor starts with its stop signals blocked; its worker must not.
    let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
    let blocked = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
    assert!(
        blocked
            .trim_start_matches("SigBlk:")
            .trim()
            .chars()
            .all(|c| c == '0'),
        "{blocked}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "cancelled", "{record:#}");
    assert!(
        record["supervision"]["reason"]
            .as_str()
            .unwrap()
            .contains("supervisor was stopped")
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!is_alive(worker), "the worker outlived its supervisor");
}

/// A second stop signal while the worker is being stopped does not wait out its grace:
/// the worker (which ignores SIGTERM, with a grace longer than the wait below) is killed
/// at once, and the attempt still ends `cancelled`.
#[test]
fn a_second_stop_signal_kills_a_worker_that_ignores_sigterm_at_once() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    // A grace far longer than the test waits for the end.
    crate::common::fake_text_adapter(&repo, "term_grace = \"300s\"\n");
    env.orch(&["run", "init", "--run", "r"]).data();
    let script = "ignoreterm\nsay working\nsleep 300";
    add_task(&env, "r", "t", "fake-text", script);
    let data = env.launch(&repo, "r", "t", "analysis");
    let supervisor =
        nix::unistd::Pid::from_raw(data["launch"]["supervisor_pid"].as_i64().unwrap() as i32);
    let supervisor_log = std::path::PathBuf::from(data["launch"]["log_path"].as_str().unwrap())
        .with_extension("supervisor.log");
    // Wait until it runs and has said something (it ignores SIGTERM by then).
    let deadline = Instant::now() + Duration::from_secs(30);
    let worker = loop {
        let record =
            env.orch(&["attempts", "--run", "r", "--task", "t"]).data()["attempts"][0].clone();
        let log = std::fs::read_to_string(record["supervision"]["log_path"].as_str().unwrap_or(""))
            .unwrap_or_default();
        if let Some(pid) = record["supervision"]["worker_pid"].as_i64()
            && log.contains("working")
        {
            break pid as u32;
        }
        assert!(Instant::now() < deadline, "the worker never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stop = || nix::sys::signal::kill(supervisor, nix::sys::signal::Signal::SIGTERM).unwrap();
    stop();
    // The first one is taken (the supervisor says so), and the worker outlives it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&supervisor_log)
        .unwrap_or_default()
        .contains("the supervisor was told to stop")
    {
        assert!(
            Instant::now() < deadline,
            "the supervisor never took the signal"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_alive(worker), "the worker ignores SIGTERM");
    stop();
    // Well before the 300 s grace.
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "cancelled", "{record:#}");
    assert!(
        record["supervision"]["reason"]
            .as_str()
            .unwrap()
            .contains("supervisor was stopped")
    );
    assert_eq!(record["supervision"]["exit_signal"], 9, "{record:#}");
    assert!(!is_alive(worker), "the worker outlived its supervisor");
}

/// A stop signal the moment the supervisor exists, before it can have its handlers in,
/// is held (the launcher starts it with the stop signals blocked) rather than fatal: the
/// attempt still ends `cancelled`, and no worker is left running.
#[test]
fn a_supervisor_stopped_the_moment_it_starts_still_ends_its_attempt() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "shell", "echo started; sleep 300");
    let data = env.launch(&repo, "r", "t", "analysis");
    let supervisor = data["launch"]["supervisor_pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "cancelled", "{record:#}");
    if let Some(worker) = record["supervision"]["worker_pid"].as_i64() {
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !is_alive(worker as u32),
            "the worker outlived its supervisor"
        );
    }
}

#[test]
fn an_adapter_on_orch_adapter_path_replaces_a_built_in() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    let dir = env.path().join("my-adapters");
    std::fs::create_dir_all(&dir).unwrap();
    // "codex" now runs the text-format fake under another name.
    std::fs::write(
        dir.join("codex.toml"),
        "name = \"codex\"\ncommand = [\"fake-text\", \"{prompt}\"]\noutput = \"text\"\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "codex", "say from my own adapter");
    let out = env.dispatch_launch(
        &repo,
        "r",
        "t",
        "analysis",
        &[("ORCH_ADAPTER_PATH", dir.to_str().unwrap())],
    );
    assert_eq!(out.data()["launch"]["argv"][0], "fake-text");
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    let shown = env
        .inbox(None, &["show", "--thread", "r/t/attempt-1"])
        .data()
        .clone();
    assert_eq!(
        shown["messages"].as_array().unwrap().last().unwrap()["body"],
        "from my own adapter"
    );
}

#[test]
fn a_prompt_file_adapter_reads_the_brief_from_the_file() {
    let env = Env::new();
    let repo = env.repo();
    std::fs::create_dir_all(repo.join(".orch/adapters")).unwrap();
    std::fs::write(
        repo.join(".orch/adapters/from-file.toml"),
        "name = \"from-file\"\ncommand = [\"sh\", \"-c\", \"grep -c '^## Workflow' \\\"$0\\\"\", \"{prompt_file}\"]\nprompt = \"file\"\noutput = \"text\"\n",
    )
    .unwrap();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "from-file", "read the brief");
    env.launch(&repo, "r", "t", "analysis");
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    let shown = env
        .inbox(None, &["show", "--thread", "r/t/attempt-1"])
        .data()
        .clone();
    // The file held the brief (one Workflow heading), not its own path.
    assert_eq!(
        shown["messages"].as_array().unwrap().last().unwrap()["body"],
        "1"
    );
}

/// Adapter argv never passes through a shell: a brief full of shell syntax reaches the
/// worker as one argument, byte for byte, and runs nothing.
#[test]
fn a_brief_with_shell_syntax_reaches_the_worker_as_one_argument_and_runs_nothing() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    let marker = env.path().join("pwned");
    let hostile = format!(
        "say quoting $(touch {m}1) `touch {m}2`; touch {m}3 && touch {m}4 | touch {m}5 > {m}6 '\"",
        m = marker.display()
    );
    add_task(&env, "r", "t", "claude", &hostile);
    env.launch(&repo, "r", "t", "analysis");
    let record = wait_for_end(&env, "r", "t");
    assert_eq!(record["supervision"]["outcome"], "succeeded", "{record:#}");
    for i in 1..=6 {
        let path = format!("{}{i}", marker.display());
        assert!(!std::path::Path::new(&path).exists(), "{path} was created");
    }
    // The worker said the line exactly as written (its script is its one prompt argument).
    let thread = env
        .inbox(None, &["show", "--thread", "r/t/attempt-1"])
        .data()
        .clone();
    let said = hostile.strip_prefix("say ").unwrap();
    let last = thread["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["body"], said, "{thread:#}");
}

/// `orch logs` where the attempt's log file is not (another host of a shared database
/// ran it; here the file is moved away): the output its supervisor posted to the thread,
/// and `--raw`/`--json` name the host's log they need.
#[test]
fn logs_of_an_attempt_run_elsewhere_come_from_the_thread() {
    let env = Env::with_fake_agents();
    let repo = env.repo();
    env.orch(&["run", "init", "--run", "r"]).data();
    add_task(&env, "r", "t", "shell", "echo first line; echo second line");
    env.launch(&repo, "r", "t", "analysis");
    let end = wait_for_end(&env, "r", "t");
    assert_eq!(end["supervision"]["outcome"], "succeeded", "{end}");
    let here = env.orch_raw_logs(&["logs", "--run", "r", "--task", "t"]);
    let log = end["supervision"]["log_path"].as_str().unwrap().to_string();
    std::fs::rename(&log, format!("{log}.elsewhere")).unwrap();
    let elsewhere = env.orch_raw_logs(&["logs", "--run", "r", "--task", "t"]);
    assert_eq!(here, "first line\nsecond line\n");
    assert_eq!(elsewhere, "first line\nsecond line\n");
    let last = env.orch_raw_logs(&["logs", "--run", "r", "--task", "t", "-n", "1"]);
    assert_eq!(last.lines().count(), 1, "{last}");
    for flag in ["--raw", "--json"] {
        let refused = env.orch(&["logs", "--run", "r", "--task", "t", flag]);
        let message = refused.error(40, "not_found");
        assert!(message.contains("ran on another host"), "{message}");
        assert!(
            message.contains(flag) && message.contains(&log),
            "{message}"
        );
    }
}
