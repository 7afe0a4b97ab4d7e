//! The retry ladder's unit tests: every outcome, budgets, fallbacks, cooldowns and parks.
use super::*;

/// The profiles of the tests, as a run's plan gives them.
fn workers() -> Workers {
    let profiles = serde_json::json!({"workers": {
        "cx": {"adapter": "codex", "fallback": ["cl", "sh"], "max_attempts": 2},
        "cl": {"adapter": "claude", "max_attempts": 1},
        "sh": {"adapter": "shell"},
        // Two accounts of one CLI.
        "ca": {"adapter": "claude", "fallback": ["cb"]},
        "cb": {"adapter": "claude"},
    }});
    Workers::load(None, &profiles).unwrap()
}

/// A task's attempts, oldest first, written `worker:outcome` and separated by spaces.
fn past(history: &str) -> Vec<PastAttempt> {
    history
        .split_whitespace()
        .map(|attempt| {
            let (worker, outcome) = attempt.split_once(':').expect("worker:outcome");
            PastAttempt {
                worker: worker.to_string(),
                outcome: Some(AttemptOutcome::parse(outcome).expect("an outcome")),
            }
        })
        .collect()
}

fn retry(worker: &str) -> Decision {
    Decision::Retry {
        worker: worker.into(),
    }
}

fn reassign(worker: &str) -> Decision {
    Decision::Reassign {
        worker: worker.into(),
    }
}

fn decide_with(
    outcome: &str,
    worker: &str,
    history: &str,
    cooldowns: &[(&str, i64)],
    banned: &[&str],
) -> Decision {
    let workers = workers();
    let history = past(history);
    let cooldowns: HashMap<String, i64> =
        cooldowns.iter().map(|(a, t)| (a.to_string(), *t)).collect();
    let banned: HashSet<String> = banned.iter().map(|b| b.to_string()).collect();
    decide(&Situation {
        outcome: AttemptOutcome::parse(outcome).expect("an outcome"),
        worker,
        history: &history,
        workers: &workers,
        cooldowns: &cooldowns,
        banned: &banned,
        now_ms: 1_000_000,
        max_park_ms: DEFAULT_MAX_PARK_MS,
    })
}

#[test]
fn a_lost_attempt_is_retried_without_spending_the_budget_up_to_the_loss_limit() {
    // cl has a budget of one, but losses are orch's, not the worker's.
    let mut history = "cx:failed cx:failed cl:lost".to_string();
    assert_eq!(decide_with("lost", "cl", &history, &[], &[]), retry("cl"));
    history.push_str(" cl:lost cl:lost");
    assert_eq!(decide_with("lost", "cl", &history, &[], &[]), retry("cl"));
    // A lost attempt does not use up cl's one real attempt either.
    history.push_str(" cl:failed");
    assert_eq!(
        decide_with("failed", "cl", &history, &[], &[]),
        reassign("sh")
    );
    // Past the loss limit a loss counts as a failure: cl's budget is spent.
    let history = "cx:failed cx:failed cl:lost cl:lost cl:lost cl:failed cl:lost";
    assert_eq!(decide_with("lost", "cl", history, &[], &[]), reassign("sh"));
    // A cooling adapter is not retried at once even after a loss.
    assert_eq!(
        decide_with(
            "lost",
            "cl",
            "cx:failed cx:failed cl:lost",
            &[("cl", 2_000_000)],
            &[]
        ),
        reassign("sh")
    );
}

#[test]
fn success_and_cancel_need_nothing() {
    assert_eq!(
        decide_with("succeeded", "cx", "cx:succeeded", &[], &[]),
        Decision::Nothing
    );
    assert_eq!(
        decide_with("cancelled", "cx", "cx:cancelled", &[], &[]),
        Decision::Nothing
    );
}

#[test]
fn failures_retry_the_same_worker_then_fall_back_then_stop() {
    assert_eq!(
        decide_with("failed", "cx", "cx:failed", &[], &[]),
        retry("cx")
    );
    assert_eq!(
        decide_with("stalled", "cx", "cx:failed cx:stalled", &[], &[]),
        reassign("cl")
    );
    // cl has a budget of one: after its failure the chain of cx goes on to sh.
    assert_eq!(
        decide_with("failed", "cl", "cx:failed cx:failed cl:failed", &[], &[]),
        reassign("sh")
    );
    let all = "cx:failed cx:failed cl:failed sh:failed sh:failed";
    assert!(matches!(
        decide_with("failed", "sh", all, &[], &[]),
        Decision::Stop { .. }
    ));
}

#[test]
fn adapters_without_a_profile_get_the_default_budget() {
    assert_eq!(
        decide_with("failed", "shell", "shell:failed", &[], &[]),
        retry("shell")
    );
    assert!(matches!(
        decide_with("failed", "shell", "shell:failed shell:failed", &[], &[]),
        Decision::Stop { .. }
    ));
}

#[test]
fn rate_limits_reassign_to_a_free_fallback_or_park() {
    let cooling = [("cx", 2_000_000)];
    assert_eq!(
        decide_with("rate_limited", "cx", "cx:rate_limited", &cooling, &[]),
        reassign("cl")
    );
    // The fallbacks cool down too: park until cx is free.
    let all_cooling = [("cx", 2_000_000), ("cl", 3_000_000), ("sh", 3_000_000)];
    assert_eq!(
        decide_with("rate_limited", "cx", "cx:rate_limited", &all_cooling, &[]),
        Decision::Park {
            worker: "cx".into(),
            until_ms: 2_000_000
        }
    );
    // Beyond the longest wait: stop.
    let far = [
        ("cx", 1_000_000 + DEFAULT_MAX_PARK_MS + 1),
        ("cl", i64::MAX),
        ("sh", i64::MAX),
    ];
    assert!(matches!(
        decide_with("rate_limited", "cx", "cx:rate_limited", &far, &[]),
        Decision::Stop { .. }
    ));
}

#[test]
fn cooldowns_are_per_profile_not_per_adapter() {
    let w = workers();
    assert_eq!(cooldown_key(&w.resolve("ca").unwrap()), "ca");
    assert_eq!(cooldown_key(&w.resolve("claude").unwrap()), "claude");
    assert_eq!(cooldown_key_of(&w, "cb"), "cb");
    assert_eq!(cooldown_key_of(&w, "gone"), "gone");
    // ca is limited (its account): cb, the same CLI on another account, runs at once.
    let far = 1_000_000 + DEFAULT_MAX_PARK_MS * 10;
    assert_eq!(
        decide_with("rate_limited", "ca", "ca:rate_limited", &[("ca", far)], &[]),
        reassign("cb")
    );
    // The bare adapter cooling (its own account) does not hold the profiles back.
    assert_eq!(
        decide_with(
            "rate_limited",
            "ca",
            "ca:rate_limited",
            &[("ca", far), ("claude", far)],
            &[]
        ),
        reassign("cb")
    );
    // Once cb is limited too (its reset far off), nothing is free: stop.
    assert!(matches!(
        decide_with(
            "rate_limited",
            "cb",
            "ca:rate_limited cb:rate_limited",
            &[("ca", far), ("cb", far)],
            &[]
        ),
        Decision::Stop { .. }
    ));
    // A failure is retried on the same profile while another profile of its adapter
    // cools down.
    assert_eq!(
        decide_with("failed", "cb", "cb:failed", &[("ca", far)], &[]),
        retry("cb")
    );
}

#[test]
fn a_limit_that_does_not_clear_after_three_resets_falls_back_or_gives_up() {
    let cooling = [("sh", 2_000_000)];
    let limited = |n: usize| vec!["sh:rate_limited"; n].join(" ");
    // sh has no fallback: the first and second limits park until the reset.
    for n in 1..MAX_RATE_LIMITS_IN_A_ROW as usize {
        assert_eq!(
            decide_with("rate_limited", "sh", &limited(n), &cooling, &[]),
            Decision::Park {
                worker: "sh".into(),
                until_ms: 2_000_000
            },
            "{n} in a row"
        );
    }
    // The third in a row: the limit did not clear, no more waiting.
    let third = decide_with("rate_limited", "sh", &limited(3), &cooling, &[]);
    let Decision::Stop { reason } = third else {
        panic!("expected a stop, got {third:?}");
    };
    assert!(
        reason.contains("rate limit of sh did not clear after 3 resets"),
        "{reason}"
    );
    // A lost attempt between them does not break the run (given up); a failure does
    // (parked again).
    for (between, gives_up) in [("lost", true), ("failed", false)] {
        let history = format!("sh:rate_limited sh:{between} sh:rate_limited sh:rate_limited");
        let decision = decide_with("rate_limited", "sh", &history, &cooling, &[]);
        let stopped = matches!(decision, Decision::Stop { .. });
        let parked = matches!(decision, Decision::Park { .. });
        assert!(
            stopped == gives_up && parked != gives_up,
            "{between}: {decision:?}"
        );
    }
    // Limits of another worker before them do not count (cx's chain goes on to cl,
    // cooling too).
    let after_cx = "cx:rate_limited sh:rate_limited sh:rate_limited";
    assert!(matches!(
        decide_with(
            "rate_limited",
            "sh",
            after_cx,
            &[("sh", 2_000_000), ("cx", i64::MAX), ("cl", i64::MAX)],
            &[]
        ),
        Decision::Park { .. }
    ));
    // With a fallback free by the third limit (cl's cooldown is over), it goes there.
    let cx3 = "cx:rate_limited cx:rate_limited cx:rate_limited";
    let cl_free = [("cx", 2_000_000), ("cl", 500_000), ("sh", 2_000_000)];
    assert_eq!(
        decide_with("rate_limited", "cx", cx3, &cl_free, &[]),
        reassign("cl")
    );
    // With every fallback cooling, cx is given up even though its reset is near.
    let none_free = [("cx", 2_000_000), ("cl", 2_000_000), ("sh", 2_000_000)];
    assert!(matches!(
        decide_with("rate_limited", "cx", cx3, &none_free, &[]),
        Decision::Stop { reason } if reason.contains("rate limit of cx did not clear after 3 resets")
    ));
    // Two in a row with every fallback cooling: parked once more.
    assert_eq!(
        decide_with(
            "rate_limited",
            "cx",
            "cx:rate_limited cx:rate_limited",
            &none_free,
            &[]
        ),
        Decision::Park {
            worker: "cx".into(),
            until_ms: 2_000_000
        }
    );
}

#[test]
fn auth_and_spawn_failures_never_use_that_adapter_again() {
    assert_eq!(
        decide_with("auth_failed", "cx", "cx:auth_failed", &[], &["codex"]),
        reassign("cl")
    );
    assert!(matches!(
        decide_with(
            "spawn_failed",
            "shell",
            "shell:spawn_failed",
            &[],
            &["shell"]
        ),
        Decision::Stop { .. }
    ));
}

#[test]
fn cooldown_uses_the_reset_time_or_backs_off() {
    assert_eq!(cooldown_until(Some(5_000_000), 1_000_000, 0, 7), 5_000_000);
    let first = cooldown_until(None, 0, 0, 12345);
    assert!((54_000..=66_000).contains(&first), "{first}");
    let later = cooldown_until(None, 0, 3, 12345);
    assert!((432_000..=528_000).contains(&later), "{later}");
    assert!(cooldown_until(None, 0, 30, 1) <= 3_960_000);
    // A reset time already past backs off instead.
    assert!(cooldown_until(Some(10), 1_000, 0, 0) > 1_000);
}
