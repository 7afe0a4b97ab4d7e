//! PostgreSQL beside SQLite (issue 13): the same measurements on both backends, taken
//! in one invocation (interleaved where a measurement is short, back to back in
//! alternating order where it is long), so that the ratios compare like with like on a
//! machine whose speed drifts.
//!
//! Run: `cargo bench --bench backends` (prints Markdown tables; docs/BENCHMARKS.md keeps
//! them). Needs a PostgreSQL server: `ORCH_BENCH_PG_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`), a URL naming any database on it; each
//! measurement gets scratch databases of its own (`orch::store::scratch`), dropped at
//! the end. Knobs: `ORCH_BENCH_DRAIN_ROUNDS` (rounds of the 1,000-task drain, default
//! 2), `ORCH_BENCH_HOST_CONCURRENCY` (each host's slots, default 16),
//! `ORCH_BENCH_HOLD_SECS` (how long each task of the two-host drain holds its slot,
//! default 2), `ORCH_BENCH_ONLY` (a comma-separated subset of `ready,status,wait,drain,
//! hosts`). Not a test: nothing here asserts on time.

use orch::store::{Location, Store, scratch};
use std::collections::{BTreeMap, HashMap, HashSet};

#[path = "common/status_fixture.rs"]
mod status_fixture;
use status_fixture::{status_fixture, task};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORCH: &str = env!("CARGO_BIN_EXE_orch");

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
}

/// Both backends, SQLite first on even rounds and PostgreSQL first on odd ones.
fn order(round: usize) -> [Kind; 2] {
    if round.is_multiple_of(2) {
        [Kind::Sqlite, Kind::Postgres]
    } else {
        [Kind::Postgres, Kind::Sqlite]
    }
}

/// One database: a SQLite file, or a scratch PostgreSQL database with a state
/// directory of its own for each host.
#[derive(Clone)]
struct Db {
    kind: Kind,
    arg: String,
    state: PathBuf,
}

impl Db {
    fn location(&self) -> Location {
        Location::parse(&self.arg)
    }

    /// `orch --db DB`, with `ORCH_STATE_DIR` set for PostgreSQL (`host` picks the
    /// host's own state directory), stdout and stderr to /dev/null.
    fn orch(&self, cwd: &Path, host: Option<&str>) -> Command {
        let mut cmd = Command::new(ORCH);
        cmd.env_remove("ORCH_DB")
            .env_remove("ORCH_HOST")
            .env_remove("ORCH_STATE_DIR")
            .arg("--db")
            .arg(&self.arg)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.kind == Kind::Postgres {
            let state = match host {
                Some(h) => self.state.join(h),
                None => self.state.clone(),
            };
            cmd.env("ORCH_STATE_DIR", state);
        }
        cmd
    }

    fn json(&self, cwd: &Path, args: &[&str]) -> serde_json::Value {
        let out = self
            .orch(cwd, None)
            .arg("--json")
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "orch {args:?} on {}: {}{}",
            self.kind.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

struct Bench {
    dir: PathBuf,
    repo: PathBuf,
    server: String,
    rt: tokio::runtime::Runtime,
    scratch: Vec<String>,
    n: usize,
}

impl Bench {
    fn db(&mut self, kind: Kind, name: &str) -> Db {
        self.n += 1;
        let state = self.dir.join(format!("state-{}-{name}", self.n));
        std::fs::create_dir_all(&state).unwrap();
        let arg = match kind {
            // Its own directory: the state directory is beside the file.
            Kind::Sqlite => {
                let dir = self.dir.join(format!("{name}-{}", self.n));
                std::fs::create_dir_all(&dir).unwrap();
                dir.join("coord.db").display().to_string()
            }
            Kind::Postgres => {
                let url = self.rt.block_on(scratch::create(&self.server)).unwrap();
                self.scratch.push(url.clone());
                url
            }
        };
        Db { kind, arg, state }
    }

    fn store(&self, db: &Db) -> Store {
        self.rt.block_on(Store::open_at(&db.location())).unwrap()
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@x")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@x")
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

/// A repository with a bare origin (PostgreSQL refuses a run without a remote to push
/// code attempts to; these tasks are analysis tasks, which push nothing).
fn repo(dir: &Path) -> PathBuf {
    let origin = dir.join("origin.git");
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(dir, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "bench\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    git(
        &repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git(&repo, &["push", "-q", "origin", "main"]);
    repo
}

/// A plan of analysis-mode `shell` tasks: (id, prerequisites, body).
fn write_plan(path: &Path, run: &str, tasks: &[(String, Vec<String>, String)]) {
    let mut text = format!(
        "[run]\nid = \"{run}\"\n[defaults]\nworker = \"shell\"\nexecution_mode = \"analysis\"\n"
    );
    for (id, deps, body) in tasks {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        text.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\ndepends_on = [{}]\nbody = '''{body}'''\n",
            deps.join(", ")
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn run_ok(mut cmd: Command) -> Duration {
    let start = Instant::now();
    let status = cmd.status().expect("run orch");
    let took = start.elapsed();
    assert!(status.success(), "orch failed: {cmd:?}");
    took
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i]
}

fn median(xs: Vec<f64>) -> f64 {
    percentile(xs, 0.5)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Per backend: the figures of one measurement.
type Figures = BTreeMap<&'static str, Vec<f64>>;

fn push(figures: &mut HashMap<Kind, Figures>, kind: Kind, what: &'static str, x: f64) {
    figures
        .entry(kind)
        .or_default()
        .entry(what)
        .or_default()
        .push(x);
}

struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    fn row(&mut self, what: &str, sqlite: String, pg: String, ratio: String, target: &str) {
        eprintln!("{what}: SQLite {sqlite}, PostgreSQL {pg} ({ratio})");
        self.rows
            .push([what.into(), sqlite, pg, ratio, target.into()]);
    }
}

/// Figure 1: Ready → running under `orch up` (up.rs's measurement): a chain of 21 tasks, each
/// printing its own clock first; for each task after the first, from its `task_ready`
/// event (the commit that made it ready) to that clock.
fn ready_to_running(b: &mut Bench, table: &mut Table) {
    let rounds = 3;
    let mut figures: HashMap<Kind, Figures> = HashMap::new();
    let plan = b.dir.join("chain.toml");
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
    for round in 0..rounds {
        for kind in order(round) {
            let db = b.db(kind, "chain");
            let mut up = db.orch(&b.repo, None);
            up.args(["up", "--plan"])
                .arg(&plan)
                .args(["--concurrency", "4"]);
            run_ok(up);
            let store = b.store(&db);
            let events =
                b.rt.block_on(store.events_after("chain", 0, 100_000))
                    .unwrap();
            b.rt.block_on(store.close());
            let mut ready_at: HashMap<String, i64> = HashMap::new();
            for e in events.iter().filter(|e| e.event_type == "task_ready") {
                ready_at.insert(e.subject.task_id.clone().unwrap(), e.created_at);
            }
            let attempts = db.json(&b.repo, &["attempts", "--run", "chain"]);
            for record in attempts["data"]["attempts"].as_array().unwrap() {
                let task = record["attempt"]["task_id"].as_str().unwrap();
                if task == "c00" {
                    continue;
                }
                let log =
                    std::fs::read_to_string(record["supervision"]["log_path"].as_str().unwrap())
                        .unwrap();
                let ran_ns: u128 = log
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("log of {task}: {log:?}"));
                let ready_ms = ready_at[task] as f64;
                push(
                    &mut figures,
                    kind,
                    "latency",
                    ran_ns as f64 / 1e6 - ready_ms,
                );
            }
        }
    }
    let s = median(figures[&Kind::Sqlite]["latency"].clone());
    let p = median(figures[&Kind::Postgres]["latency"].clone());
    let n = figures[&Kind::Sqlite]["latency"].len();
    table.row(
        &format!("task ready → its worker running under `orch up`, median of {n}"),
        format!("{s:.1} ms"),
        format!("{p:.1} ms"),
        format!("{:.2}×", p / s),
        "PostgreSQL ≤ 2× SQLite",
    );
}

/// Figure 2: `orch status --json` on control_plane.rs's 1,000 tasks, interleaved with the
/// `--version` baseline and `run show` (open, one query, close) on both.
fn status(b: &mut Bench, table: &mut Table) {
    let mut dbs = Vec::new();
    for kind in order(0) {
        let db = b.db(kind, "status");
        let store = b.store(&db);
        let t = Instant::now();
        b.rt.block_on(status_fixture(&store));
        b.rt.block_on(store.close());
        eprintln!("{} status fixture built in {:?}", kind.name(), t.elapsed());
        dbs.push(db);
    }
    let mut figures: HashMap<Kind, Figures> = HashMap::new();
    let mut version = Vec::new();
    for round in 0..100 {
        let mut c = Command::new(ORCH);
        c.arg("--version").stdout(Stdio::null());
        version.push(ms(run_ok(c)));
        for kind in order(round) {
            let db = dbs.iter().find(|d| d.kind == kind).unwrap();
            let mut c = db.orch(&b.repo, None);
            c.args(["--json", "status", "--run", "big"]);
            push(&mut figures, kind, "status", ms(run_ok(c)));
            let mut c = db.orch(&b.repo, None);
            c.args(["--json", "run", "show", "--run", "big"]);
            push(&mut figures, kind, "show", ms(run_ok(c)));
        }
    }
    let v = median(version);
    table.row(
        "`orch --version` (process start baseline), median of 100",
        format!("{v:.2} ms"),
        format!("{v:.2} ms"),
        "-".into(),
        "-",
    );
    let s = median(figures[&Kind::Sqlite]["show"].clone());
    let p = median(figures[&Kind::Postgres]["show"].clone());
    table.row(
        "`orch run show --json` (open, one query, close), median of 100",
        format!("{s:.2} ms"),
        format!("{p:.2} ms"),
        format!("{:.2}×", p / s),
        "-",
    );
    let s = median(figures[&Kind::Sqlite]["status"].clone());
    let p = median(figures[&Kind::Postgres]["status"].clone());
    table.row(
        "`orch status --json`, 1,000 tasks / 10,000 messages, median of 100",
        format!("{s:.2} ms"),
        format!("{p:.2} ms"),
        format!("{:.2}×", p / s),
        "PostgreSQL ≤ 2× SQLite",
    );
}

/// Figure 5: `orch wait` wake latency after a commit on another connection (control_plane.rs's
/// measurement), the two backends alternating.
fn wake(b: &mut Bench, table: &mut Table) {
    let mut stores = Vec::new();
    for kind in order(0) {
        let db = b.db(kind, "wait");
        let mut c = db.orch(&b.repo, None);
        c.args(["run", "init", "--run", "w"]);
        run_ok(c);
        let store = b.store(&db);
        stores.push((db, store));
    }
    let mut figures: HashMap<Kind, Figures> = HashMap::new();
    for i in 0..40 {
        for kind in order(i) {
            let (db, store) = stores.iter().find(|(d, _)| d.kind == kind).unwrap();
            let mut c = db.orch(&b.repo, None);
            c.args([
                "--json",
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
            b.rt.block_on(store.add_task("w", &task(format!("w{i}"))))
                .unwrap();
            let commit_took = committed.elapsed();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let latency = committed.elapsed().saturating_sub(commit_took);
            assert!(line.contains("\"woke\":true"), "{line}");
            child.wait().unwrap();
            push(&mut figures, kind, "wake", ms(latency));
        }
    }
    for (_, store) in &stores {
        b.rt.block_on(store.close());
    }
    for (what, p) in [("p50", 0.5), ("p95", 0.95)] {
        let s = percentile(figures[&Kind::Sqlite]["wake"].clone(), p);
        let g = percentile(figures[&Kind::Postgres]["wake"].clone(), p);
        table.row(
            &format!("`orch wait` wake latency after a commit on another connection, {what} of 40"),
            format!("{s:.2} ms"),
            format!("{g:.2} ms"),
            format!("{:.2}×", g / s),
            if what == "p95" {
                "PostgreSQL p95 ≤ 50 ms"
            } else {
                "-"
            },
        );
    }
}

/// Figure 3: One `orch up` draining 1,000 trivial tasks (`true`) at concurrency 16; rounds in
/// alternating order.
fn drain(b: &mut Bench, table: &mut Table) {
    let rounds: usize = std::env::var("ORCH_BENCH_DRAIN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let plan = b.dir.join("many.toml");
    let tasks: Vec<_> = (0..1000)
        .map(|i| (format!("t{i:04}"), vec![], "true".to_string()))
        .collect();
    write_plan(&plan, "many", &tasks);
    let mut figures: HashMap<Kind, Figures> = HashMap::new();
    for round in 0..rounds {
        for kind in order(round) {
            let db = b.db(kind, "many");
            let mut up = db.orch(&b.repo, None);
            up.args(["up", "--plan"])
                .arg(&plan)
                .args(["--concurrency", "16"]);
            let secs = run_ok(up).as_secs_f64();
            let status = db.json(&b.repo, &["status", "--run", "many"]);
            assert_eq!(status["data"]["run"]["status"], "done");
            eprintln!("drain round {round} {}: {secs:.1} s", kind.name());
            push(&mut figures, kind, "secs", secs);
        }
    }
    let show = |xs: &Vec<f64>| {
        xs.iter()
            .map(|s| format!("{s:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let s = &figures[&Kind::Sqlite]["secs"];
    let p = &figures[&Kind::Postgres]["secs"];
    let (sm, pm) = (median(s.clone()), median(p.clone()));
    table.row(
        &format!(
            "one `orch up` draining 1,000 trivial tasks at concurrency 16, seconds ({rounds} rounds, alternating)"
        ),
        format!("{} s ({:.1} tasks/s)", show(s), 1000.0 / sm),
        format!("{} s ({:.1} tasks/s)", show(p), 1000.0 / pm),
        format!("PostgreSQL throughput {:.2}× SQLite's", sm / pm),
        "PostgreSQL ≥ 1× SQLite",
    );
}

/// Figure 4: Two hosts: 1,000 tasks that each hold their slot for `ORCH_BENCH_HOLD_SECS`
/// (standing in for agent work), drained by one `orch up --host a`, then (a fresh
/// database) by `orch up --host a` and `--host b` together, each at the same fixed
/// concurrency, each from its own clone of the repository. Duplicates from
/// `orch attempts --json`.
fn hosts(b: &mut Bench, table: &mut Table) {
    let concurrency: usize = std::env::var("ORCH_BENCH_HOST_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let hold: String = std::env::var("ORCH_BENCH_HOLD_SECS").unwrap_or_else(|_| "2".into());
    let plan = b.dir.join("hosts.toml");
    let tasks: Vec<_> = (0..1000)
        .map(|i| (format!("h{i:04}"), vec![], format!("sleep {hold}")))
        .collect();
    write_plan(&plan, "hosts", &tasks);
    let clones: Vec<PathBuf> = ["a", "b"]
        .iter()
        .map(|h| {
            let clone = b.dir.join(format!("host-{h}"));
            if !clone.exists() {
                let origin = b.dir.join("origin.git");
                git(
                    &b.dir,
                    &[
                        "clone",
                        "-q",
                        origin.to_str().unwrap(),
                        clone.to_str().unwrap(),
                    ],
                );
            }
            clone
        })
        .collect();
    let ideal_one = 1000.0 / concurrency as f64 * hold.parse::<f64>().unwrap();
    for kind in order(0) {
        let mut secs = Vec::new();
        let mut notes = Vec::new();
        for n_hosts in [1, 2] {
            let db = b.db(kind, "hosts");
            let mut apply = db.orch(&b.repo, None);
            apply.args(["plan", "apply", "--file"]).arg(&plan);
            run_ok(apply);
            let start = Instant::now();
            for h in ["a", "b"] {
                std::fs::create_dir_all(db.state.join(h)).unwrap();
            }
            let children: Vec<(&str, Child)> = ["a", "b"][..n_hosts]
                .iter()
                .zip(&clones)
                .map(|(h, clone)| {
                    let mut up = db.orch(clone, Some(h));
                    up.args(["up", "--run", "hosts", "--host", h])
                        .args(["--concurrency", &concurrency.to_string()])
                        .stderr(Stdio::inherit());
                    (*h, up.spawn().unwrap())
                })
                .collect();
            for (h, mut child) in children {
                let status = child.wait().unwrap();
                assert!(status.success(), "orch up --host {h} failed");
            }
            let took = start.elapsed().as_secs_f64();
            let status = db.json(&b.repo, &["status", "--run", "hosts"]);
            assert_eq!(status["data"]["run"]["status"], "done");
            let attempts = db.json(&b.repo, &["attempts", "--run", "hosts"]);
            let attempts = attempts["data"]["attempts"].as_array().unwrap();
            let tasks: HashSet<&str> = attempts
                .iter()
                .map(|r| r["attempt"]["task_id"].as_str().unwrap())
                .collect();
            let taken_over = attempts
                .iter()
                .filter(|r| {
                    r["supervision"]["epoch"].as_i64() != Some(1)
                        || r["supervision"].get("taken_by").is_some()
                })
                .count();
            let failed = attempts
                .iter()
                .filter(|r| r["supervision"]["outcome"] != "succeeded")
                .count();
            let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
            for r in attempts {
                let h = r["supervision"]["host"].as_str().unwrap_or("?").to_string();
                *per_host.entry(h).or_default() += 1;
            }
            let dups = attempts.len() - tasks.len();
            eprintln!(
                "{} {n_hosts} host(s): {took:.1} s; {} attempts for {} tasks ({dups} duplicates), {taken_over} taken over, {failed} not succeeded; per host {per_host:?}",
                kind.name(),
                attempts.len(),
                tasks.len()
            );
            notes.push(format!(
                "{n_hosts} host(s): {} attempts / {} tasks, {dups} duplicate, {taken_over} taken over, split {}",
                attempts.len(),
                tasks.len(),
                per_host
                    .iter()
                    .map(|(h, n)| format!("{h} {n}"))
                    .collect::<Vec<_>>()
                    .join(" / ")
            ));
            secs.push(took);
        }
        table.row(
            &format!(
                "{}: 1,000 tasks of `sleep {hold}`, each host at concurrency {concurrency} (ideal for one host {ideal_one:.1} s): one host / two hosts",
                kind.name()
            ),
            if kind == Kind::Sqlite {
                format!("{:.1} s / {:.1} s", secs[0], secs[1])
            } else {
                "-".into()
            },
            if kind == Kind::Postgres {
                format!("{:.1} s / {:.1} s", secs[0], secs[1])
            } else {
                "-".into()
            },
            format!(
                "two hosts {:.2}× one host's throughput; {}",
                secs[0] / secs[1],
                notes.join("; ")
            ),
            "PostgreSQL: 0 duplicates, two hosts ≥ 1.6× one",
        );
    }
}

fn main() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().to_path_buf();
    let server = std::env::var("ORCH_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into());
    let only = std::env::var("ORCH_BENCH_ONLY").unwrap_or_default();
    let wanted = |what: &str| only.is_empty() || only.split(',').any(|w| w.trim() == what);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let repo = repo(&dir);
    let mut b = Bench {
        dir,
        repo,
        server,
        rt,
        scratch: Vec::new(),
        n: 0,
    };
    let mut table = Table { rows: Vec::new() };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if wanted("ready") {
            ready_to_running(&mut b, &mut table);
        }
        if wanted("status") {
            status(&mut b, &mut table);
        }
        if wanted("wait") {
            wake(&mut b, &mut table);
        }
        if wanted("drain") {
            drain(&mut b, &mut table);
        }
        if wanted("hosts") {
            hosts(&mut b, &mut table);
        }
    }));
    for url in std::mem::take(&mut b.scratch) {
        if let Err(e) = b.rt.block_on(scratch::drop(&url)) {
            eprintln!("could not drop {url}: {e}");
        }
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    println!("| measurement | SQLite | PostgreSQL | PostgreSQL / SQLite | target |");
    println!("|---|---|---|---|---|");
    for [a, s, p, r, t] in table.rows {
        println!("| {a} | {s} | {p} | {r} | {t} |");
    }
}
