//! The reliability harness (issue 5): chaos trials with `kill -9`, a contention run, and
//! misbehaving workers, each checked and measured. `cargo test` runs a short version of
//! everything; the long runs are `ORCH_CHAOS_TRIALS=50 cargo test --release --test
//! reliability` and friends (docs/RELIABILITY.md lists them). With `ORCH_TEST_PG_URL`
//! the chaos trials run on PostgreSQL, with a second host, a host kill and a database
//! outage per trial.
//!
//! Settings (environment): `ORCH_RELIABILITY` = `chaos`, `contention`, `misbehave` or
//! `all` (default); `ORCH_CHAOS_TRIALS` (default 2), `ORCH_CHAOS_SEED` (first trial's
//! seed, default from the clock), `ORCH_CHAOS_KILLS` (kills per trial, default 4);
//! `ORCH_CONTENTION_TASKS` (default 40), `ORCH_CONTENTION_LEADERS` (default 8);
//! `ORCH_FLOOD_BYTES` (default 1 GiB).

// Shared with the integration tests (it allows its own dead code).
#[path = "../it/common.rs"]
mod common;

mod chaos;
mod contention;
mod misbehave;
mod procs;

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test` passes harness flags (e.g. `--test-threads`, a filter): accepted and
    // ignored, except `--list`, which lists nothing (there are no libtest tests here).
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let what = std::env::var("ORCH_RELIABILITY").unwrap_or_else(|_| "all".into());
    let mut failed = false;
    if what == "all" || what == "chaos" {
        failed |= !run_chaos();
    }
    if what == "all" || what == "contention" {
        failed |= !run_contention();
    }
    if what == "all" || what == "misbehave" {
        failed |= !run_misbehave();
    }
    if failed {
        eprintln!("reliability: FAILED");
        std::process::exit(1);
    }
    eprintln!("reliability: all checks passed");
}

fn run_chaos() -> bool {
    let trials: u64 = setting("ORCH_CHAOS_TRIALS", 2);
    let kills: u32 = setting("ORCH_CHAOS_KILLS", 4);
    let first_seed: u64 = setting(
        "ORCH_CHAOS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
    );
    println!("## Chaos: {trials} trials, {kills} kills each, first seed {first_seed}\n");
    println!(
        "| trial | seed | s | up kills | supervisor kills | host kills | taken over | outages | connections cut | attempts | tasks not done | dup | lost | bytes checked | bytes lost | in flight at kill | procs left | integrity | stray worktrees |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut totals = chaos::Trial::default();
    let mut passed = 0;
    for i in 0..trials {
        let t = chaos::trial(first_seed + i, kills, (10, 40), 300);
        println!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            i + 1,
            t.seed,
            t.seconds,
            t.up_kills,
            t.supervisor_kills,
            t.host_kills,
            t.taken_over,
            t.outages,
            t.connections_cut,
            t.attempts,
            t.tasks_not_done.len(),
            t.attempts_duplicated.len(),
            t.attempts_lost.len(),
            t.bytes_checked,
            t.bytes_lost,
            t.bytes_in_flight_at_kill,
            t.processes_left.len(),
            t.integrity.len(),
            t.stray_worktrees.len()
        );
        if !t.passed() {
            eprintln!("trial {} (seed {}) failed: {t:#?}", i + 1, t.seed);
        } else {
            passed += 1;
        }
        totals.seconds += t.seconds;
        totals.up_kills += t.up_kills;
        totals.supervisor_kills += t.supervisor_kills;
        totals.host_kills += t.host_kills;
        totals.taken_over += t.taken_over;
        totals.outages += t.outages;
        totals.connections_cut += t.connections_cut;
        totals.attempts += t.attempts;
        totals.tasks_not_done.extend(t.tasks_not_done);
        totals.attempts_duplicated.extend(t.attempts_duplicated);
        totals.attempts_lost.extend(t.attempts_lost);
        totals.bytes_checked += t.bytes_checked;
        totals.bytes_lost += t.bytes_lost;
        totals.bytes_in_flight_at_kill += t.bytes_in_flight_at_kill;
        totals.processes_left.extend(t.processes_left);
        totals.integrity.extend(t.integrity);
        totals.stray_worktrees.extend(t.stray_worktrees);
        if t.up_failure.is_some() {
            totals
                .log_mismatches
                .push(format!("trial {}: orch up failed", i + 1));
        }
    }
    println!(
        "| **all** | | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        totals.seconds,
        totals.up_kills,
        totals.supervisor_kills,
        totals.host_kills,
        totals.taken_over,
        totals.outages,
        totals.connections_cut,
        totals.attempts,
        totals.tasks_not_done.len(),
        totals.attempts_duplicated.len(),
        totals.attempts_lost.len(),
        totals.bytes_checked,
        totals.bytes_lost,
        totals.bytes_in_flight_at_kill,
        totals.processes_left.len(),
        totals.integrity.len(),
        totals.stray_worktrees.len()
    );
    println!("{passed} of {trials} trials passed every check.\n");
    passed == trials
}

fn run_misbehave() -> bool {
    // 1 GiB in a release build; a debug build (plain `cargo test`, CI) floods 128 MiB,
    // as its fake agent and supervisor are several times slower.
    let default_flood = if cfg!(debug_assertions) {
        128 << 20
    } else {
        1 << 30
    };
    let flood: u64 = setting("ORCH_FLOOD_BYTES", default_flood);
    let results = misbehave::run_all(flood);
    println!("## Misbehaving workers (flood: {flood} bytes)\n");
    println!(
        "| worker | outcome | supervisor peak RSS | contained in | counted from | total | log bytes | left running |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut ok = true;
    for r in &results {
        println!(
            "| {} | {} | {:.1} MiB | {:.2} s | {} | {:.1} s | {} | {} |",
            r.name,
            r.outcome,
            r.peak_rss_kib as f64 / 1024.0,
            r.contain_secs,
            r.contain_from,
            r.total_secs,
            r.log_bytes,
            r.left.len()
        );
        if !r.problems.is_empty() {
            ok = false;
            eprintln!(
                "{}: {:?} (reason: {}; left: {:?})",
                r.name, r.problems, r.reason, r.left
            );
        }
    }
    println!();
    ok
}

fn run_contention() -> bool {
    let tasks: usize = setting("ORCH_CONTENTION_TASKS", 40);
    let leaders: usize = setting("ORCH_CONTENTION_LEADERS", 8);
    let r = contention::run(tasks, leaders);
    println!("## Contention: {tasks} tasks under `orch up`, {leaders} leader processes\n");
    println!(
        "| tasks | leaders | s | leader commands | `database is locked` | other failures | progress written / found | questions | answers sent / found (refused: answered first by another leader) | tasks not done | integrity |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.1} | {} | {} | {} | {} / {} | {} | {} / {} ({}) | {} | {} |\n",
        r.tasks,
        r.leaders,
        r.seconds,
        r.leader_commands,
        r.locked_failures,
        r.other_failures.len(),
        r.progress_expected,
        r.progress_found,
        r.questions,
        r.answers_sent,
        r.answers_found,
        r.answers_refused,
        r.tasks_not_done,
        r.integrity.len()
    );
    if !r.passed() {
        eprintln!("contention failed: {r:#?}");
    }
    r.passed()
}
