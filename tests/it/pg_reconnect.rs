//! A store on PostgreSQL whose connection a server restart cut goes on: a read that
//! met the dead connection is run again once reconnected (repeating a read is always
//! safe), and so is a change detector's first read, and a supervisor's check of its
//! fence. A supervisor whose read right after its worker started failed that way
//! exited, leaving the worker's output unlogged (a chaos trial's database outage); one
//! whose fence check failed so took it for a takeover and stopped its worker. Needs a PostgreSQL server, so it is ignored by a plain
//! `cargo test`; `.ci/run` runs it with `--include-ignored` in its PostgreSQL pass.

use crate::common::{Env, pg_server};
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
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
        }
        assert!(orch::store::connections_lost() >= 6);
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
