//! `orch up` benchmarks (issue 4): draining many trivial tasks, ready-to-running latency,
//! and the cost of many idle supervised workers.
//!
//! Run: `cargo bench --bench up` (prints a Markdown table; docs/BENCHMARKS.md keeps it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

fn repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        assert!(
            Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(args)
                .env("GIT_AUTHOR_NAME", "b")
                .env("GIT_AUTHOR_EMAIL", "b@x")
                .env("GIT_COMMITTER_NAME", "b")
                .env("GIT_COMMITTER_EMAIL", "b@x")
                .status()
                .unwrap()
                .success()
        );
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "bench\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "init"]);
    repo
}

fn orch_json(db: &Path, repo: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(ORCH)
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "orch {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn up(db: &Path, repo: &Path, plan: &Path, concurrency: usize) -> Duration {
    let t = Instant::now();
    let status = Command::new(ORCH)
        .arg("--db")
        .arg(db)
        .args(["up", "--plan"])
        .arg(plan)
        .args(["--concurrency", &concurrency.to_string()])
        .current_dir(repo)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    t.elapsed()
}

fn write_plan(path: &Path, run: &str, tasks: &[(String, Vec<String>, String)]) {
    let mut text = format!("[run]\nid = \"{run}\"\n[defaults]\nworker = \"shell\"\n");
    for (id, deps, body) in tasks {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        text.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\ndepends_on = [{}]\nbody = '''{body}'''\n",
            deps.join(", ")
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn kib(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn main() {
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // 1. One trivial task alone, then 1,000 at concurrency 16.
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let db = dir.path().join("one.db");
    let plan = dir.path().join("one.toml");
    write_plan(&plan, "one", &[("t".into(), vec![], "true".into())]);
    let single = up(&db, &repo, &plan, 1).as_secs_f64();
    let db = dir.path().join("many.db");
    let plan = dir.path().join("many.toml");
    let tasks: Vec<_> = (0..1000)
        .map(|i| (format!("t{i:04}"), vec![], "true".to_string()))
        .collect();
    write_plan(&plan, "many", &tasks);
    let many = up(&db, &repo, &plan, 16).as_secs_f64();
    let ideal = single * 1000.0 / 16.0;
    rows.push((
        "one trivial shell task through `orch up` (plan to exit)".into(),
        format!("{:.0} ms", single * 1000.0),
        "-".into(),
    ));
    rows.push((
        "`orch up` draining 1,000 trivial shell tasks at concurrency 16".into(),
        format!(
            "{:.1} s, {:.1} tasks/s; ideal (1000 × one task / 16) {:.1} s: {:.2}× of ideal",
            many,
            1000.0 / many,
            ideal,
            ideal / many
        ),
        "-".into(),
    ));

    // 2. Ready → running: a chain, each task printing its own clock when it starts.
    let db = dir.path().join("chain.db");
    let plan = dir.path().join("chain.toml");
    let chain: Vec<_> = (0..21)
        .map(|i| {
            (
                format!("c{i:02}"),
                if i == 0 {
                    vec![]
                } else {
                    vec![format!("c{:02}", i - 1)]
                },
                "date +%s%N".to_string(),
            )
        })
        .collect();
    write_plan(&plan, "chain", &chain);
    up(&db, &repo, &plan, 4);
    let mut latencies = Vec::new();
    let events = orch_json(&db, &repo, &["attempts", "--run", "chain"]);
    for record in events["data"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
    {
        let task = record["attempt"]["task_id"].as_str().unwrap();
        let log =
            std::fs::read_to_string(record["supervision"]["log_path"].as_str().unwrap()).unwrap();
        let ran_ns: u128 = log.trim().parse().unwrap();
        let ready = orch_json(
            &db,
            &repo,
            &[
                "wait",
                "--run",
                "chain",
                "--for",
                "task_ready",
                "--after-event",
                "0",
                "--timeout-seconds",
                "1",
            ],
        );
        let _ = ready;
        // The ready event of this task: scan the events by task.
        let mut after = 0i64;
        let ready_ms = loop {
            let e = orch_json(
                &db,
                &repo,
                &[
                    "wait",
                    "--run",
                    "chain",
                    "--for",
                    "task_ready",
                    "--after-event",
                    &after.to_string(),
                    "--timeout-seconds",
                    "1",
                ],
            );
            after = e["data"]["next_event_id"].as_i64().unwrap();
            if e["data"]["event"]["task_id"] == task {
                let at = e["data"]["event"]["created_at"]
                    .as_str()
                    .unwrap()
                    .parse::<jiff::Timestamp>()
                    .unwrap();
                break at.as_millisecond() as f64;
            }
        };
        latencies.push(ran_ns as f64 / 1e6 - ready_ms);
    }
    rows.push((
        "task ready → its worker running under `orch up`, median of 20".into(),
        format!("{:.1} ms", median(latencies)),
        "≤ 50 ms".into(),
    ));

    // 3. 50 idle supervised workers: orch up's CPU and RSS, each supervisor's memory.
    let db = dir.path().join("idle.db");
    let plan = dir.path().join("idle.toml");
    let idle: Vec<_> = (0..50)
        .map(|i| (format!("s{i:02}"), vec![], "sleep 25".to_string()))
        .collect();
    write_plan(&plan, "idle", &idle);
    let mut child = Command::new(ORCH)
        .arg("--db")
        .arg(&db)
        .args(["up", "--plan"])
        .arg(&plan)
        .args(["--concurrency", "50"])
        .current_dir(&repo)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let up_pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let supervisors: Vec<u32> = loop {
        let out = Command::new(ORCH)
            .arg("--db")
            .arg(&db)
            .args(["--json", "attempts", "--run", "idle"])
            .output()
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if !out.status.success() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let pids: Vec<u32> = list["data"]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["supervision"]["worker_pid"].is_i64())
            .map(|a| a["supervision"]["supervisor_pid"].as_i64().unwrap() as u32)
            .collect();
        if pids.len() == 50 {
            break pids;
        }
        assert!(Instant::now() < deadline, "50 workers did not start");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(1));
    let up0 = cpu_ticks(up_pid);
    let sup0: u64 = supervisors.iter().map(|p| cpu_ticks(*p)).sum();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let secs = t.elapsed().as_secs_f64();
    let up_cpu = (cpu_ticks(up_pid) - up0) as f64 / 100.0 / secs * 100.0;
    let sup_cpu =
        (supervisors.iter().map(|p| cpu_ticks(*p)).sum::<u64>() - sup0) as f64 / 100.0 / secs
            * 100.0;
    let up_rss = kib(up_pid, "status", "VmRSS:");
    let rss: Vec<u64> = supervisors
        .iter()
        .map(|p| kib(*p, "status", "VmRSS:"))
        .collect();
    let pss: Vec<u64> = supervisors
        .iter()
        .map(|p| kib(*p, "smaps_rollup", "Pss:"))
        .collect();
    let anon: Vec<u64> = supervisors
        .iter()
        .map(|p| kib(*p, "smaps_rollup", "Anonymous:"))
        .collect();
    let avg = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64 / 1024.0;
    rows.push((
        "`orch up` CPU with 50 idle supervised workers (10 s)".into(),
        format!("{up_cpu:.2} % of one core"),
        "≤ 2 %".into(),
    ));
    rows.push((
        "the 50 supervisors' CPU together (10 s)".into(),
        format!("{sup_cpu:.2} % of one core"),
        "-".into(),
    ));
    rows.push((
        "`orch up` RSS".into(),
        format!("{:.1} MiB", up_rss as f64 / 1024.0),
        "-".into(),
    ));
    rows.push((
        "per supervisor: RSS / PSS / anonymous (mean of 50)".into(),
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            avg(&rss),
            avg(&pss),
            avg(&anon)
        ),
        "≤ 8 MB".into(),
    ));
    let _ = child.wait();

    println!("| measurement | result | target |");
    println!("|---|---|---|");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}
