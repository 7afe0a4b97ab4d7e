//! Control-plane benchmarks (issue 2): real `orch` processes against real databases.
//!
//! Run: `cargo bench --bench control_plane` (results go to stdout as a Markdown table;
//! docs/BENCHMARKS.md keeps them with the machine they ran on). Not a test: nothing
//! here asserts on time.

use orch::store::Store;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/status_fixture.rs"]
mod status_fixture;
use status_fixture::{status_fixture, task};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

fn orch(db: &Path) -> Command {
    let mut cmd = Command::new(ORCH);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("--db")
        .arg(db)
        .arg("--json")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn run_ok(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let status = cmd.status().expect("run orch");
    let took = start.elapsed();
    assert!(status.success(), "orch failed: {cmd:?}");
    took
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A JSON plan of 10,000 tasks and 20,000 edges: 1,000 roots, then each task depends
/// on 2 or 3 earlier ones.
fn big_plan(path: &Path) {
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut tasks = Vec::new();
    let mut edges = 0;
    for i in 0..10_000usize {
        let mut deps: Vec<String> = Vec::new();
        if i >= 1000 {
            let want = if edges + (10_000 - i) * 2 < 20_000 {
                3
            } else {
                2
            };
            while deps.len() < want {
                let d = format!("t{:05}", next(i));
                if !deps.contains(&d) {
                    deps.push(d);
                }
            }
        }
        edges += deps.len();
        tasks.push(serde_json::json!({"id": format!("t{i:05}"), "title": format!("task {i}"), "depends_on": deps}));
    }
    assert_eq!(edges, 20_000);
    let plan = serde_json::json!({"run": {"id": "plan10k", "goal": "bench"}, "defaults": {"worker": "shell", "execution_mode": "analysis"}, "tasks": tasks});
    std::fs::write(path, plan.to_string()).unwrap();
}

fn proc_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of /proc/PID/stat (1-based); after the
    // command name they are at indices 11 and 12.
    fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
}

struct Dir(PathBuf);
impl Dir {
    fn path(&self) -> &Path {
        &self.0
    }
}

fn main() {
    // ORCH_BENCH_DIR keeps the databases for profiling; otherwise a temp dir.
    let temp = tempfile::tempdir().unwrap();
    let dir_path = std::env::var_os("ORCH_BENCH_DIR").map(PathBuf::from);
    if let Some(d) = &dir_path {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir_all(d).unwrap();
    }
    let dir_path = dir_path.unwrap_or_else(|| temp.path().to_path_buf());
    let dir = Dir(dir_path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // 1. status --json on 1,000 tasks with 10,000 messages, interleaved with the
    // baseline (the cost of starting the binary at all) so that both see the same
    // machine: this virtual machine's speed drifts by tens of percent over minutes.
    let db1 = dir.path().join("status.db");
    let t = Instant::now();
    rt.block_on(async {
        let store = Store::open(&db1).await.unwrap();
        status_fixture(&store).await;
        store.close().await;
    });
    eprintln!("status fixture built in {:?}", t.elapsed());
    let mut baseline_runs = Vec::new();
    let mut status = Vec::new();
    for _ in 0..100 {
        let mut c = Command::new(ORCH);
        c.arg("--version").stdout(Stdio::null());
        baseline_runs.push(run_ok(c));
        let mut c = orch(&db1);
        c.args(["status", "--run", "big"]);
        status.push(run_ok(c));
    }
    let baseline = median(baseline_runs);
    rows.push((
        "`orch --version` (process start baseline), median of 100".into(),
        ms(baseline),
        "-".into(),
    ));
    let status_median = median(status);
    rows.push((
        "`orch status --json`, 1,000 tasks / 10,000 messages (800 done, 25 failed, 20 running, 5 blocked, 150 waiting), median of 100".into(),
        ms(status_median),
        "≤ 10 ms".into(),
    ));

    // 2. 1,000 sequential `orch task add` processes.
    let db2 = dir.path().join("add.db");
    let mut c = orch(&db2);
    c.args(["run", "init", "--run", "adds"]);
    run_ok(c);
    let start = Instant::now();
    for i in 0..1000 {
        let mut c = orch(&db2);
        c.args([
            "task",
            "add",
            "--run",
            "adds",
            "--task",
            &format!("t{i}"),
            "--title",
            "a task",
        ]);
        run_ok(c);
    }
    let adds = start.elapsed();
    rows.push((
        "1,000 sequential `orch task add` processes, total".into(),
        format!("{:.2} s", adds.as_secs_f64()),
        "≤ 10 s".into(),
    ));

    // 3. plan apply of 10,000 tasks with 20,000 edges.
    let plan = dir.path().join("plan.json");
    big_plan(&plan);
    let db3 = dir.path().join("plan.db");
    let mut c = orch(&db3);
    c.args(["plan", "apply", "--file"]).arg(&plan);
    let apply = run_ok(c);
    rows.push((
        "`orch plan apply`, 10,000 tasks + 20,000 edges (one process)".into(),
        ms(apply),
        "≤ 1 s".into(),
    ));

    // 4. ready on that plan.
    let ready = median(
        (0..30)
            .map(|_| {
                let mut c = orch(&db3);
                c.args(["ready", "--run", "plan10k"]);
                run_ok(c)
            })
            .collect(),
    );
    rows.push((
        "`orch ready --json` on that plan (1,000 ready tasks), median of 30".into(),
        ms(ready),
        "≤ 20 ms".into(),
    ));

    // 5. wake latency of `orch wait` and its idle CPU.
    let db5 = dir.path().join("wait.db");
    let mut c = orch(&db5);
    c.args(["run", "init", "--run", "w"]);
    run_ok(c);
    let store = rt.block_on(Store::open(&db5)).unwrap();
    let mut latencies = Vec::new();
    for i in 0..40 {
        let mut c = orch(&db5);
        c.args([
            "wait",
            "--run",
            "w",
            "--for",
            "task_added",
            "--timeout-seconds",
            "30",
        ])
        .stdout(Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let committed = Instant::now();
        rt.block_on(store.add_task("w", &task(format!("w{i}"))))
            .unwrap();
        let commit_took = committed.elapsed();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // Latency from the commit's end to the waiter's output.
        latencies.push(committed.elapsed().saturating_sub(commit_took));
        assert!(line.contains("\"woke\":true"), "{line}");
        child.wait().unwrap();
    }
    let p50 = percentile(latencies.clone(), 0.5);
    let p95 = percentile(latencies, 0.95);
    rows.push((
        "`orch wait` wake latency after a commit by another process, p50 of 40".into(),
        ms(p50),
        "-".into(),
    ));
    rows.push((
        "`orch wait` wake latency, p95 of 40".into(),
        ms(p95),
        "p95 ≤ 50 ms".into(),
    ));

    let mut c = orch(&db5);
    c.args([
        "wait",
        "--run",
        "w",
        "--for",
        "never_happens",
        "--timeout-seconds",
        "12",
    ]);
    let mut child = c.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let ticks0 = proc_cpu_ticks(child.id());
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let ticks1 = proc_cpu_ticks(child.id());
    let elapsed = t0.elapsed().as_secs_f64();
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (ticks1 - ticks0) as f64 / hz / elapsed * 100.0;
    let _ = child.kill();
    let _ = child.wait();
    rows.push((
        "idle `orch wait` CPU over 10 s (utime+stime, all threads)".into(),
        format!("{cpu:.2} % of one core"),
        "next to none".into(),
    ));

    println!("| measurement | result | target |");
    println!("|---|---|---|");
    for (what, result, target) in rows {
        println!("| {what} | {result} | {target} |");
    }
    println!();
    println!(
        "Ratio of `status` to the process-start baseline: {:.2}x",
        status_median.as_secs_f64() / baseline.as_secs_f64()
    );
}
