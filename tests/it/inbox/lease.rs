//! Leases: `claim` (with takeover of an expired lease) and `renew`.

use super::*;

// ---------------------------------------------------------------------------------------
// claim
// ---------------------------------------------------------------------------------------

#[test]
fn claim_moves_a_pending_thread_to_claimed_and_writes_an_event_message() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "claim me");
    let out = env.inbox(Some("worker"), &["claim", "--thread", &thread]);
    let data = ok(&out, "claim");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["status"], "claimed");
    assert_eq!(data["thread"]["assigned_to"], "worker");
    let message = written_message(data);
    assert_eq!(message["kind"], "event");
    assert_eq!(message["summary"], "thread claimed");
    assert_eq!(message["from_agent"], "worker");
    assert_eq!(message["to_agent"], "leader");
    assert_eq!(
        message["payload_json"]["lease_seconds"], 900,
        "default lease is 900 s"
    );

    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["status"], "claimed");
    let last = messages(&shown).pop().unwrap();
    assert_eq!(last["kind"], "event");
    assert_eq!(last["summary"], "thread claimed");

    // Event thread_claim, seen by a watcher of the worker's threads.
    let out = env.inbox(
        Some("worker"),
        &[
            "watch",
            "--after-event",
            "0",
            "--status",
            "claimed",
            "--timeout-seconds",
            "5",
        ],
    );
    let event = &ok(&out, "watch")["event"];
    assert_eq!(event["event_type"], "thread_claim");
    assert_eq!(event["thread_id"], thread.as_str());
}

#[test]
fn claim_by_another_agent_can_take_a_thread_assigned_elsewhere() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "anyone");
    let out = env.inbox(Some("worker-b"), &["claim", "--thread", &thread]);
    assert_eq!(ok(&out, "claim")["thread"]["assigned_to"], "worker-b");
}

#[test]
fn claim_lease_seconds_zero_or_negative_means_900() {
    let env = Env::new();
    let a = new_thread(&env, "worker", "zero");
    let out = env.inbox(
        Some("worker"),
        &["claim", "--thread", &a, "--lease-seconds", "0"],
    );
    assert_eq!(
        ok(&out, "claim")["message"]["payload_json"]["lease_seconds"],
        900
    );
    let b = new_thread(&env, "worker", "negative");
    let out = env.inbox(
        Some("worker"),
        &["claim", "--thread", &b, "--lease-seconds", "-5"],
    );
    assert_eq!(
        ok(&out, "claim")["message"]["payload_json"]["lease_seconds"],
        900
    );
    let c = new_thread(&env, "worker", "explicit");
    let out = env.inbox(
        Some("worker"),
        &["claim", "--thread", &c, "--lease-seconds", "120"],
    );
    assert_eq!(
        ok(&out, "claim")["message"]["payload_json"]["lease_seconds"],
        120
    );
}

#[test]
fn claim_by_another_agent_while_leased_is_lease_conflict() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker-a");
    let before = messages(&show(&env, &thread)).len();
    let message = env
        .inbox(Some("worker-b"), &["claim", "--thread", &thread])
        .error(20, "lease_conflict");
    assert!(
        message.contains("worker-a"),
        "the message names the holder: {message}"
    );
    let shown = show(&env, &thread);
    assert_eq!(shown["thread"]["assigned_to"], "worker-a");
    assert_eq!(shown["thread"]["status"], "claimed");
    assert_eq!(messages(&shown).len(), before, "nothing was written");
}

#[test]
fn claim_again_by_the_lease_holder_refreshes_the_lease() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "refresh");
    env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "1"],
    )
    .data();
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "on it",
        ],
    )
    .data();
    // Our decision: the holder claiming again succeeds, keeps the status, refreshes the lease.
    let out = env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "60"],
    );
    let data = ok(&out, "claim");
    assert_eq!(data["thread"]["status"], "in_progress");
    assert_eq!(data["thread"]["assigned_to"], "worker-a");
    assert_eq!(data["message"]["kind"], "event");
    assert_eq!(data["message"]["payload_json"]["lease_seconds"], 60);
    // The first lease (1 s) would have expired; the refreshed one has not.
    pause(1200);
    env.inbox(Some("worker-b"), &["claim", "--thread", &thread])
        .error(20, "lease_conflict");
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "still",
        ],
    )
    .data();
}

#[test]
fn claim_of_an_unknown_thread_is_not_found() {
    let env = Env::new();
    env.inbox(None, &["init"]).data();
    env.inbox(Some("worker"), &["claim", "--thread", "no-such-thread"])
        .error(40, "not_found");
}

#[test]
fn claim_of_a_terminal_thread_is_invalid_state() {
    let env = Env::new();
    let done = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["done", "--thread", &done])
        .data();
    env.inbox(Some("worker"), &["claim", "--thread", &done])
        .error(30, "invalid_state");
    env.inbox(Some("other"), &["claim", "--thread", &done])
        .error(30, "invalid_state");
    assert_eq!(thread_status(&env, &done), "done");

    let cancelled = new_thread(&env, "worker", "c");
    env.inbox(Some("leader"), &["cancel", "--thread", &cancelled])
        .data();
    env.inbox(Some("worker"), &["claim", "--thread", &cancelled])
        .error(30, "invalid_state");
}

#[test]
fn claim_takes_over_an_expired_lease_and_records_it() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "takeover");
    env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "1"],
    )
    .data();
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "started",
        ],
    )
    .data();
    pause(1200);
    // Expired and not yet taken over: the old holder has no active lease any more.
    env.inbox(
        Some("worker-a"),
        &["update", "--thread", &thread, "--summary", "late"],
    )
    .error(30, "invalid_state");
    env.inbox(Some("worker-a"), &["renew", "--thread", &thread])
        .error(30, "invalid_state");
    env.inbox(Some("worker-a"), &["done", "--thread", &thread])
        .error(30, "invalid_state");
    let out = env.inbox(Some("worker-b"), &["claim", "--thread", &thread]);
    let data = ok(&out, "claim");
    assert_eq!(data["thread"]["status"], "claimed");
    assert_eq!(data["thread"]["assigned_to"], "worker-b");
    let message = written_message(data);
    assert_eq!(message["kind"], "event");
    assert_eq!(message["from_agent"], "worker-b");
    assert_eq!(message["payload_json"]["takeover_from"], "worker-a");

    let last = last_message(&env, &thread);
    assert_eq!(last["kind"], "event");
    assert_eq!(last["payload_json"]["takeover_from"], "worker-a");
    // The old holder has lost the thread.
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "x",
        ],
    )
    .error(20, "lease_conflict");
    env.inbox(
        Some("worker-b"),
        &["done", "--thread", &thread, "--summary", "finished by b"],
    )
    .data();
}

// ---------------------------------------------------------------------------------------
// renew
// ---------------------------------------------------------------------------------------

#[test]
fn renew_by_the_owner_extends_the_lease() {
    let env = Env::new();
    let thread = new_thread(&env, "worker-a", "renew");
    env.inbox(
        Some("worker-a"),
        &["claim", "--thread", &thread, "--lease-seconds", "1"],
    )
    .data();
    let out = env.inbox(
        Some("worker-a"),
        &["renew", "--thread", &thread, "--lease-seconds", "60"],
    );
    let data = ok(&out, "renew");
    assert_thread_json(&data["thread"]);
    assert_eq!(data["thread"]["status"], "claimed");
    let message = written_message(data);
    assert_eq!(message["kind"], "event");
    assert_eq!(message["from_agent"], "worker-a");
    assert_eq!(message["payload_json"]["lease_seconds"], 60);
    assert_eq!(
        last_message(&env, &thread)["payload_json"]["lease_seconds"],
        60
    );
    // Past the original 1 s, the renewed lease still holds.
    pause(1200);
    env.inbox(Some("worker-b"), &["claim", "--thread", &thread])
        .error(20, "lease_conflict");
    env.inbox(
        Some("worker-a"),
        &[
            "update",
            "--thread",
            &thread,
            "--status",
            "in_progress",
            "--summary",
            "ok",
        ],
    )
    .data();
}

#[test]
fn renew_by_another_agent_is_lease_conflict() {
    let env = Env::new();
    let thread = claimed_thread(&env, "worker-a");
    let before = messages(&show(&env, &thread)).len();
    env.inbox(Some("worker-b"), &["renew", "--thread", &thread])
        .error(20, "lease_conflict");
    assert_eq!(messages(&show(&env, &thread)).len(), before);
}

#[test]
fn renew_without_a_lease_is_invalid_state() {
    let env = Env::new();
    let thread = new_thread(&env, "worker", "unclaimed");
    env.inbox(Some("worker"), &["renew", "--thread", &thread])
        .error(30, "invalid_state");
    env.inbox(Some("worker"), &["renew", "--thread", "no-such-thread"])
        .error(40, "not_found");
    // After done the lease is released: renew is refused too.
    let done = claimed_thread(&env, "worker");
    env.inbox(Some("worker"), &["done", "--thread", &done])
        .data();
    env.inbox(Some("worker"), &["renew", "--thread", &done])
        .error(30, "invalid_state");
}
