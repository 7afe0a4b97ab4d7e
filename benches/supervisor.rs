//! Supervisor benchmarks (issue 3): real `orch dispatch --launch`, real supervisors,
//! real PTYs, the `shell` adapter.
//!
//! Run: `cargo bench --bench supervisor` (prints a Markdown table; docs/BENCHMARKS.md
//! keeps the results with the machine they ran on). Not a test: nothing asserts on time.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

struct World {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    db: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
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
    let db = repo.join(".orch/coord.db");
    World {
        _dir: dir,
        repo,
        db,
    }
}

fn orch(w: &World, args: &[&str]) -> String {
    let out = Command::new(ORCH)
        .arg("--db")
        .arg(&w.db)
        .arg("--json")
        .args(args)
        .current_dir(&w.repo)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "orch {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn field(json: &str, pointer: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    v.pointer(pointer).cloned().unwrap_or_default()
}

fn wait_for_outcome(w: &World, task: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let out = orch(w, &["attempts", "--run", "b", "--task", task]);
        let record = field(&out, "/data/attempts/0");
        if record["supervision"]["outcome"]
            .as_str()
            .is_some_and(|o| !o.is_empty())
        {
            return record;
        }
        assert!(Instant::now() < deadline, "attempt {task} did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn vm_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn epoch_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn main() {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let w = world();
    orch(&w, &["run", "init", "--run", "b"]);

    // 1. dispatch --launch return time, and time until the worker runs.
    let mut returns = Vec::new();
    let mut to_running = Vec::new();
    for i in 0..30 {
        let task = format!("s{i}");
        orch(
            &w,
            &[
                "task",
                "add",
                "--run",
                "b",
                "--task",
                &task,
                "--default-to",
                "shell",
                "--body",
                "date +%s.%N",
            ],
        );
        let started = epoch_secs();
        let t = Instant::now();
        orch(
            &w,
            &[
                "dispatch",
                "--run",
                "b",
                "--task",
                &task,
                "--execution-mode",
                "analysis",
                "--launch",
            ],
        );
        returns.push(t.elapsed().as_secs_f64() * 1000.0);
        let record = wait_for_outcome(&w, &task);
        let log =
            std::fs::read_to_string(record["supervision"]["log_path"].as_str().unwrap()).unwrap();
        let ran_at: f64 = log.trim().parse().unwrap();
        to_running.push((ran_at - started) * 1000.0);
    }
    rows.push((
        "`orch dispatch --launch` return time (analysis mode), median of 30".into(),
        format!("{:.1} ms", median(returns)),
        "≤ 30 ms".into(),
    ));
    rows.push((
        "dispatch start → worker's first instruction running, median of 30".into(),
        format!("{:.1} ms", median(to_running)),
        "≤ 50 ms".into(),
    ));

    // 2. 1 GiB through the PTY into the log, against `script` doing the same.
    let gib: u64 = 1 << 30;
    let producer = format!(
        "yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c {gib}"
    );
    let t = Instant::now();
    let status = Command::new("script")
        .args(["-qfc", &producer, "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let script_secs = t.elapsed().as_secs_f64();
    orch(
        &w,
        &[
            "task",
            "add",
            "--run",
            "b",
            "--task",
            "flood",
            "--default-to",
            "shell",
            "--body",
            &producer,
        ],
    );
    let t = Instant::now();
    let out = orch(
        &w,
        &[
            "dispatch",
            "--run",
            "b",
            "--task",
            "flood",
            "--execution-mode",
            "analysis",
            "--launch",
        ],
    );
    let sup_pid = field(&out, "/data/launch/supervisor_pid").as_u64().unwrap() as u32;
    let mut peak_rss = 0;
    while let Some(kib) = vm_kib(sup_pid, "VmHWM:") {
        peak_rss = peak_rss.max(kib);
        std::thread::sleep(Duration::from_millis(20));
    }
    let record = wait_for_outcome(&w, "flood");
    let orch_secs = t.elapsed().as_secs_f64();
    let log_len = std::fs::metadata(record["supervision"]["log_path"].as_str().unwrap())
        .unwrap()
        .len();
    let mib_s = |secs: f64| gib as f64 / (1 << 20) as f64 / secs;
    rows.push((
        "1 GiB through a PTY: `script -qfc … /dev/null`".into(),
        format!("{:.2} s ({:.0} MiB/s)", script_secs, mib_s(script_secs)),
        "baseline".into(),
    ));
    rows.push((
        "1 GiB through the supervisor's PTY into the log (dispatch to end)".into(),
        format!(
            "{:.2} s ({:.0} MiB/s), {:.2}× of `script`; log {} bytes",
            orch_secs,
            mib_s(orch_secs),
            script_secs / orch_secs,
            log_len
        ),
        "≥ 0.8×".into(),
    ));
    rows.push((
        "supervisor peak RSS during the 1 GiB flood (VmHWM)".into(),
        format!("{:.1} MiB", peak_rss as f64 / 1024.0),
        "≤ 16 MB".into(),
    ));

    // 3. An idle supervised worker: the supervisor's RSS and CPU.
    orch(
        &w,
        &[
            "task",
            "add",
            "--run",
            "b",
            "--task",
            "idle",
            "--default-to",
            "shell",
            "--body",
            "sleep 12",
        ],
    );
    let out = orch(
        &w,
        &[
            "dispatch",
            "--run",
            "b",
            "--task",
            "idle",
            "--execution-mode",
            "analysis",
            "--launch",
        ],
    );
    let sup_pid = field(&out, "/data/launch/supervisor_pid").as_u64().unwrap() as u32;
    std::thread::sleep(Duration::from_secs(1));
    let ticks0 = cpu_ticks(sup_pid);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let cpu = (cpu_ticks(sup_pid) - ticks0) as f64 / 100.0 / t.elapsed().as_secs_f64() * 100.0;
    let rss = vm_kib(sup_pid, "VmRSS:").unwrap_or(0);
    wait_for_outcome(&w, "idle");
    rows.push((
        "supervisor of an idle worker: RSS".into(),
        format!("{:.1} MiB", rss as f64 / 1024.0),
        "-".into(),
    ));
    rows.push((
        "supervisor of an idle worker: CPU over 10 s".into(),
        format!("{cpu:.2} % of one core"),
        "-".into(),
    ));

    println!("| measurement | result | target |");
    println!("|---|---|---|");
    for (a, b, c) in rows {
        println!("| {a} | {b} | {c} |");
    }
}
