//! A store on PostgreSQL whose connection a server restart cut goes on: a read that
//! met the dead connection is run again once reconnected (repeating a read is always
//! safe), and so is a change detector's first read, and a supervisor's check of its
//! fence. A supervisor whose read right after its worker started failed that way
//! exited, leaving the worker's output unlogged (a chaos trial's database outage); one
//! whose fence check failed so took it for a takeover and stopped its worker. A
//! database dropped under a live run ends `orch up` and the supervisors at once, with
//! the server's reason. Needs a PostgreSQL server, so it is ignored by a plain
//! `cargo test`; `.ci/run` runs it with `--include-ignored` in its PostgreSQL pass.

use crate::common::{Env, block_on, pg_server};
use orch::store::{Location, NewRun, Store, scratch};
use sqlx::Connection;

/// Terminates every other connection to the database at `url`, as a restart would.
async fn cut_connections(url: &str) -> u64 {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    cut.len() as u64
}

#[test]
#[ignore = "needs PostgreSQL: ORCH_TEST_PG_URL=postgres://root@127.0.0.1:5432/test cargo test --test it -- --include-ignored pg_reconnect"]
fn reads_after_a_cut_connection_are_run_again_once_reconnected() {
    let server = pg_server().expect("ORCH_TEST_PG_URL");
    block_on(async {
        let url = scratch::create(&server).await.unwrap();
        let store = Store::open_at(&Location::Postgres(url.clone()))
            .await
            .unwrap();
        let run = NewRun {
            run_id: "r".to_string(),
            goal: "g".to_string(),
            ..NewRun::default()
        };
        store.create_run(&run).await.unwrap();
        for round in 0..3 {
            assert!(
                cut_connections(&url).await >= 1,
                "round {round}: nothing cut"
            );
            // The first statement on the dead connection fails; the read is run again.
            let config = store.run_config("r").await;
            assert!(config.is_ok(), "round {round}: {config:?}");
            assert!(
                cut_connections(&url).await >= 1,
                "round {round}: nothing cut"
            );
            let detector = store.change_detector_listening_later().await;
            assert!(detector.is_ok(), "round {round}: {:?}", detector.err());
            // `orch up`'s read of its run each tick, and a reply's read (a worker's
            // `inbox wait-reply`): not-found is an answer, a lost connection is not.
            assert!(
                cut_connections(&url).await >= 1,
                "round {round}: nothing cut"
            );
            let run = store.run("r").await;
            assert!(run.is_ok(), "round {round}: {:?}", run.err());
            assert!(
                cut_connections(&url).await >= 1,
                "round {round}: nothing cut"
            );
            let reply = store
                .next_reply("none", &["answer".to_string()], 0, 0, None)
                .await;
            assert!(matches!(reply, Ok(None)), "round {round}: {reply:?}");
        }
        assert!(orch::store::connections_lost() >= 10);
        store.close().await;
        scratch::drop(&url).await.unwrap();
    });
}

#[test]
#[ignore = "needs PostgreSQL: ORCH_TEST_PG_URL=postgres://root@127.0.0.1:5432/test cargo test --test it -- --include-ignored pg_reconnect"]
fn a_fence_check_after_a_cut_connection_is_no_takeover() {
    assert!(pg_server().is_some(), "ORCH_TEST_PG_URL");
    let env = Env::new();
    assert!(env.is_pg());
    env.run_with_tasks("r", &["t"]);
    let thread = env.dispatch_analysis("r", "t");
    let url = env.db.display().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open_at(&env.location()).await.unwrap();
        let claim = store
            .claim_supervision(&thread, 4242, 1, "here")
            .await
            .unwrap();
        let orch::store::Claim::Ours { epoch } = claim else {
            panic!("{claim:?}");
        };
        store.fence(&thread, epoch);
        for round in 0..3 {
            assert!(
                cut_connections(&url).await >= 1,
                "round {round}: nothing cut"
            );
            let holds = store.fence_holds().await;
            assert!(matches!(holds, Ok(true)), "round {round}: {holds:?}");
            assert!(!store.is_fenced(), "round {round}");
        }
        store.close().await;
    });
}

/// The database dropped under a live run: `orch up` ends at once with the server's
/// reason, and so do the run's supervisors (the standby too), each stopping its worker;
/// nothing retries for ever. (Before, each reconnected for 60 s a statement, again and
/// again: still at it after minutes.)
#[test]
#[ignore = "needs PostgreSQL: ORCH_TEST_PG_URL=postgres://root@127.0.0.1:5432/test cargo test --test it -- --include-ignored pg_reconnect"]
fn a_dropped_database_ends_orch_up_and_its_supervisors_with_the_reason() {
    use crate::common::{ORCH, wait_until};
    use std::process::Stdio;
    assert!(pg_server().is_some(), "ORCH_TEST_PG_URL");
    let env = Env::new();
    assert!(env.is_pg());
    let repo = env.repo();
    let plan = env.path().join("plan.toml");
    let mut text = String::from("[run]\nid = \"r\"\n[defaults]\nworker = \"shell\"\n");
    for i in 0..2 {
        text.push_str(&format!(
            "[[tasks]]\nid = \"t{i}\"\nexecution_mode = \"analysis\"\nbody = \"sleep 120\"\n"
        ));
    }
    std::fs::write(&plan, text).unwrap();
    let url = env.db.display().to_string();
    let mut up = env
        .command(ORCH)
        .args(["--db", &url, "up", "--plan", plan.to_str().unwrap()])
        .current_dir(&repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both workers run.
    let mut pids = Vec::new();
    wait_until("both workers running", 60, || {
        // The run is there once `orch up` applied the plan.
        let out = env.orch(&["attempts", "--run", "r"]);
        if out.code != 0 {
            return false;
        }
        let attempts = out.data()["attempts"].clone();
        pids = attempts
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| {
                ["supervisor_pid", "worker_pid"].map(|which| a["supervision"][which].as_i64())
            })
            .collect::<Option<Vec<i64>>>()
            .unwrap_or_default();
        pids.len() == 4
    });
    block_on(scratch::drop(&url)).unwrap();
    // It ends on its own (before, it reconnected for 60 s a statement, again and again).
    wait_until("orch up to end after the drop", 45, || {
        up.try_wait().unwrap().is_some()
    });
    let out = up.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cannot connect again") && stderr.contains("does not exist"),
        "{stdout}\n{stderr}"
    );
    let alive = |pid: i64| orch::process::procfs::stat(pid as u32).is_some_and(|s| s.state != 'Z');
    wait_until("the supervisors and workers to end", 45, || {
        pids.iter().all(|pid| !alive(*pid))
    });
    // Made again, empty, for the environment's checks and its drop.
    let name = url.rsplit('/').next().unwrap();
    block_on(admin_sql(
        &pg_server().unwrap(),
        format!("CREATE DATABASE {name}"),
    ));
}

/// A worker blocked in `inbox wait-reply` through cut connections (a server restart,
/// twice) still gets its answer, and exits 0 with it: its store reconnects (after an
/// idle second it pings first; a read that meets the cut anyway is run again), and its
/// listener, reconnected, wakes it. (It passed before `next_reply`'s read was made
/// one to run again too: the ping catches a cut made while it waits.)
#[test]
#[ignore = "needs PostgreSQL: ORCH_TEST_PG_URL=postgres://root@127.0.0.1:5432/test cargo test --test it -- --include-ignored pg_reconnect"]
fn a_worker_waiting_for_its_answer_through_a_restart_gets_it() {
    use crate::common::{INBOX, finish, spawn};
    assert!(pg_server().is_some(), "ORCH_TEST_PG_URL");
    let env = Env::new();
    assert!(env.is_pg());
    let thread = env
        .inbox(
            Some("leader"),
            &["send", "--to", "worker", "--subject", "s"],
        )
        .data()["thread"]["thread_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.inbox(Some("worker"), &["claim", "--thread", &thread])
        .data();
    let waiter = spawn(
        &env,
        INBOX,
        &["wait-reply", "--thread", &thread, "--timeout-seconds", "60"],
        Some("worker"),
    );
    let url = env.db.display().to_string();
    // Two cuts, each once the waiter is connected (again): it reconnects when it next
    // reads, which on a loaded machine may take a while.
    let mut cuts = 0;
    while cuts < 2 {
        crate::common::wait_until("the waiter's connections", 60, || {
            block_on(waiting_backends(&url)) >= 1
        });
        if block_on(cut_connections(&url)) >= 1 {
            cuts += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let reply = env.inbox(
        Some("leader"),
        &["reply", "--thread", &thread, "--body", "the answer"],
    );
    let reply_id = reply.data()["message"]["message_id"].clone();
    let out = finish(waiter);
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.data()["message"]["message_id"], reply_id, "{out:#?}");
    assert_eq!(out.data()["message"]["body"], "the answer");
}

/// How many other connections the database at `url` has.
async fn waiting_backends(url: &str) -> i64 {
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    n
}

/// A role the server stops letting in mid-run (here `ALTER ROLE … NOLOGIN`, as an
/// operator revoking it would) is not waited for: the store's next statement fails at
/// once with the server's reason, as for a dropped database.
#[test]
#[ignore = "needs PostgreSQL: ORCH_TEST_PG_URL=postgres://root@127.0.0.1:5432/test cargo test --test it -- --include-ignored pg_reconnect"]
fn a_role_refused_mid_run_fails_at_once_with_the_reason() {
    let server = pg_server().expect("ORCH_TEST_PG_URL");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = scratch::create(&server).await.unwrap();
        let (name, role) = {
            let name = url.rsplit('/').next().unwrap().to_string();
            let role = format!("{name}_role");
            (name, role)
        };
        // Names made of a fixed prefix and digits: safe to splice.
        let admin_sql = |sql: String| admin_sql(&server, sql);
        admin_sql(format!("CREATE ROLE {role} LOGIN")).await;
        admin_sql(format!("ALTER DATABASE {name} OWNER TO {role}")).await;
        let as_role = url.replacen("://root@", &format!("://{role}@"), 1);
        assert_ne!(as_role, url, "{url}");
        let store = Store::open_at(&Location::Postgres(as_role.clone()))
            .await
            .unwrap();
        let run = NewRun {
            run_id: "r".to_string(),
            goal: "g".to_string(),
            ..NewRun::default()
        };
        store.create_run(&run).await.unwrap();
        admin_sql(format!("ALTER ROLE {role} NOLOGIN")).await;
        assert!(cut_connections(&url).await >= 1, "nothing cut");
        let read = store.run("r").await;
        let err = read.expect_err("a read after the role was refused");
        assert!(
            err.message.contains("cannot connect again")
                && err.message.contains("not permitted to log in"),
            "{err:?}"
        );
        // ("cannot connect again" is the refusal no retry mends; a server only away
        // would have been retried for 60 s a try and failed without it.)
        assert!(store.database_gone().is_some());
        store.close().await;
        scratch::drop(&url).await.unwrap();
        admin_sql(format!("DROP ROLE {role}")).await;
    });
}

/// Runs `sql` over an admin connection to the server at `server`.
async fn admin_sql(server: &str, sql: String) {
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
}
