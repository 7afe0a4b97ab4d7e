//! The retry ladder (supervisor.md §6) as one pure function: from how an attempt ended
//! and the task's history, decide whether to retry the same worker, hand the task to a
//! fallback, park it until a rate limit resets, or stop and leave it failed for the leader.
//!
//! - `failed`, `stalled`: retry the same worker up to its budget (`max_attempts`,
//!   default 2), then the next fallback, then stop.
//! - `lost` (the attempt's supervisor died: orch's failure, not the worker's): retry the
//!   same worker without spending its budget, up to [`MAX_LOST_ATTEMPTS`] lost attempts
//!   per task; past that, as `failed`.
//! - `rate_limited`: the adapter cools down until `reset_at` (or an exponential backoff);
//!   reassign at once to a fallback whose adapter is free, else park until the cooldown
//!   ends (at most `max_park`), else stop.
//! - `auth_failed`, `spawn_failed`: never that adapter again in this run; fallback or stop.
//! - `succeeded`, `cancelled`: nothing to do.

use crate::config::Workers;
use std::collections::{HashMap, HashSet};

/// Attempts per worker when its profile sets no `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 2;
/// Attempts of one task lost to a dead supervisor before losses count as failures (a
/// supervisor that keeps dying on one task must not retry it forever).
pub const MAX_LOST_ATTEMPTS: u32 = 3;
/// The longest a task waits for a rate limit to reset before it is left failed.
pub const DEFAULT_MAX_PARK_MS: i64 = 6 * 60 * 60 * 1000;

/// One earlier (or the current) attempt of the task.
#[derive(Debug, Clone)]
pub struct PastAttempt {
    pub worker: String,
    pub outcome: String,
}

/// Everything the decision depends on.
pub struct Situation<'a> {
    /// How the attempt ended.
    pub outcome: &'a str,
    /// The worker (profile or adapter name) the attempt ran with.
    pub worker: &'a str,
    /// Every attempt of the task, the current one included.
    pub history: &'a [PastAttempt],
    pub workers: &'a Workers,
    /// Adapters cooling down, with the time (Unix ms) they are free again.
    pub cooldowns: &'a HashMap<String, i64>,
    /// Adapters that failed to start or to authenticate in this run.
    pub banned: &'a HashSet<String>,
    pub now_ms: i64,
    pub max_park_ms: i64,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Nothing: the task is done or was cancelled.
    Nothing,
    /// A new attempt with the same worker.
    Retry { worker: String },
    /// A new attempt with a fallback worker.
    Reassign { worker: String },
    /// Wait until `until_ms`, then a new attempt with `worker`.
    Park { worker: String, until_ms: i64 },
    /// Leave the task failed for the leader.
    Stop { reason: String },
}

fn adapter_of(workers: &Workers, worker: &str) -> Option<String> {
    workers.resolve(worker).ok().map(|w| w.adapter.name)
}

fn budget(workers: &Workers, worker: &str) -> u32 {
    workers
        .resolve(worker)
        .ok()
        .and_then(|w| w.max_attempts)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS)
        .max(1)
}

/// Attempts with `worker` that count against its budget: all but those lost to a dead
/// supervisor.
fn attempts_with(history: &[PastAttempt], worker: &str) -> u32 {
    history
        .iter()
        .filter(|a| a.worker == worker && a.outcome != "lost")
        .count() as u32
}

fn lost_attempts(history: &[PastAttempt]) -> u32 {
    history.iter().filter(|a| a.outcome == "lost").count() as u32
}

/// The fallbacks to consider, in order: the current worker's, then those of every worker
/// the task ran with before (the original worker's chain), each once.
fn fallbacks(s: &Situation) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut chain_of = |worker: &str| {
        if let Ok(w) = s.workers.resolve(worker) {
            for f in w.fallback {
                if f != s.worker && !order.contains(&f) {
                    order.push(f);
                }
            }
        }
    };
    chain_of(s.worker);
    for past in s.history {
        chain_of(&past.worker);
    }
    order
}

/// True when `worker` may run now: known, adapter not banned or cooling, budget left.
fn usable(s: &Situation, worker: &str) -> bool {
    free(s, worker) && attempts_with(s.history, worker) < budget(s.workers, worker)
}

/// True when `worker` is known and its adapter neither banned nor cooling down.
fn free(s: &Situation, worker: &str) -> bool {
    let Some(adapter) = adapter_of(s.workers, worker) else {
        return false;
    };
    !s.banned.contains(&adapter)
        && s.cooldowns
            .get(&adapter)
            .is_none_or(|until| *until <= s.now_ms)
}

pub fn decide(s: &Situation) -> Decision {
    match s.outcome {
        "succeeded" | "cancelled" => Decision::Nothing,
        "failed" | "stalled" | "lost" => {
            let lost_again = s.outcome == "lost"
                && lost_attempts(s.history) <= MAX_LOST_ATTEMPTS
                && free(s, s.worker);
            if lost_again || usable(s, s.worker) {
                return Decision::Retry {
                    worker: s.worker.to_string(),
                };
            }
            match fallbacks(s).into_iter().find(|f| usable(s, f)) {
                Some(worker) => Decision::Reassign { worker },
                None => Decision::Stop {
                    reason: format!(
                        "{} ({} of {} attempts with {}) and no fallback left",
                        s.outcome,
                        attempts_with(s.history, s.worker),
                        budget(s.workers, s.worker),
                        s.worker
                    ),
                },
            }
        }
        "auth_failed" | "spawn_failed" => match fallbacks(s).into_iter().find(|f| usable(s, f)) {
            Some(worker) => Decision::Reassign { worker },
            None => Decision::Stop {
                reason: format!("{} with {} and no fallback left", s.outcome, s.worker),
            },
        },
        "rate_limited" => {
            if let Some(worker) = fallbacks(s).into_iter().find(|f| usable(s, f)) {
                return Decision::Reassign { worker };
            }
            let adapter = adapter_of(s.workers, s.worker).unwrap_or_default();
            let until = s.cooldowns.get(&adapter).copied().unwrap_or(s.now_ms);
            if until - s.now_ms > s.max_park_ms {
                Decision::Stop {
                    reason: format!(
                        "rate limited until {}, longer than the longest wait ({} min); no fallback free",
                        crate::time::rfc3339(until),
                        s.max_park_ms / 60_000
                    ),
                }
            } else {
                Decision::Park {
                    worker: s.worker.to_string(),
                    until_ms: until,
                }
            }
        }
        other => Decision::Stop {
            reason: format!("unknown outcome {other:?}"),
        },
    }
}

/// When a rate-limited adapter is free again: the announced reset, else an exponential
/// backoff (1 min × 2^n, at most 1 h) with ±10 % jitter, `n` counting this adapter's
/// earlier limits in the run.
pub fn cooldown_until(
    reset_at: Option<i64>,
    now_ms: i64,
    earlier_limits: u32,
    jitter_seed: u64,
) -> i64 {
    if let Some(reset) = reset_at.filter(|r| *r > now_ms) {
        return reset;
    }
    let base = 60_000i64
        .saturating_mul(1 << earlier_limits.min(6))
        .min(3_600_000);
    // A cheap deterministic jitter from the seed: within ±10 %.
    let spread = base / 10;
    let jitter = (jitter_seed % (2 * spread as u64 + 1)) as i64 - spread;
    now_ms + base + jitter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::WorkerProfile;

    fn workers() -> Workers {
        let mut w = Workers::load(None, &serde_json::json!({})).unwrap();
        w.profiles.insert(
            "cx".into(),
            WorkerProfile {
                adapter: Some("codex".into()),
                fallback: vec!["cl".into(), "sh".into()],
                max_attempts: Some(2),
                ..WorkerProfile::default()
            },
        );
        w.profiles.insert(
            "cl".into(),
            WorkerProfile {
                adapter: Some("claude".into()),
                max_attempts: Some(1),
                ..WorkerProfile::default()
            },
        );
        w.profiles.insert(
            "sh".into(),
            WorkerProfile {
                adapter: Some("shell".into()),
                ..WorkerProfile::default()
            },
        );
        w
    }

    fn past(list: &[(&str, &str)]) -> Vec<PastAttempt> {
        list.iter()
            .map(|(w, o)| PastAttempt {
                worker: w.to_string(),
                outcome: o.to_string(),
            })
            .collect()
    }

    fn decide_with(
        outcome: &str,
        worker: &str,
        history: &[(&str, &str)],
        cooldowns: &[(&str, i64)],
        banned: &[&str],
    ) -> Decision {
        let workers = workers();
        let history = past(history);
        let cooldowns: HashMap<String, i64> =
            cooldowns.iter().map(|(a, t)| (a.to_string(), *t)).collect();
        let banned: HashSet<String> = banned.iter().map(|b| b.to_string()).collect();
        decide(&Situation {
            outcome,
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
        let mut history = vec![("cx", "failed"), ("cx", "failed"), ("cl", "lost")];
        assert_eq!(
            decide_with("lost", "cl", &history, &[], &[]),
            Decision::Retry {
                worker: "cl".into()
            }
        );
        history.extend([("cl", "lost"), ("cl", "lost")]);
        assert_eq!(
            decide_with("lost", "cl", &history, &[], &[]),
            Decision::Retry {
                worker: "cl".into()
            }
        );
        // A lost attempt does not use up cl's one real attempt either.
        history.push(("cl", "failed"));
        assert_eq!(
            decide_with("failed", "cl", &history, &[], &[]),
            Decision::Reassign {
                worker: "sh".into()
            }
        );
        // Past the loss limit a loss counts as a failure: cl's budget is spent.
        let history = [
            ("cx", "failed"),
            ("cx", "failed"),
            ("cl", "lost"),
            ("cl", "lost"),
            ("cl", "lost"),
            ("cl", "failed"),
            ("cl", "lost"),
        ];
        assert_eq!(
            decide_with("lost", "cl", &history, &[], &[]),
            Decision::Reassign {
                worker: "sh".into()
            }
        );
        // A cooling adapter is not retried at once even after a loss.
        assert_eq!(
            decide_with(
                "lost",
                "cl",
                &[("cx", "failed"), ("cx", "failed"), ("cl", "lost")],
                &[("claude", 2_000_000)],
                &[]
            ),
            Decision::Reassign {
                worker: "sh".into()
            }
        );
    }

    #[test]
    fn success_and_cancel_need_nothing() {
        assert_eq!(
            decide_with("succeeded", "cx", &[("cx", "succeeded")], &[], &[]),
            Decision::Nothing
        );
        assert_eq!(
            decide_with("cancelled", "cx", &[("cx", "cancelled")], &[], &[]),
            Decision::Nothing
        );
    }

    #[test]
    fn failures_retry_the_same_worker_then_fall_back_then_stop() {
        assert_eq!(
            decide_with("failed", "cx", &[("cx", "failed")], &[], &[]),
            Decision::Retry {
                worker: "cx".into()
            }
        );
        assert_eq!(
            decide_with(
                "stalled",
                "cx",
                &[("cx", "failed"), ("cx", "stalled")],
                &[],
                &[]
            ),
            Decision::Reassign {
                worker: "cl".into()
            }
        );
        // cl has a budget of one: after its failure the chain of cx goes on to sh.
        assert_eq!(
            decide_with(
                "failed",
                "cl",
                &[("cx", "failed"), ("cx", "failed"), ("cl", "failed")],
                &[],
                &[]
            ),
            Decision::Reassign {
                worker: "sh".into()
            }
        );
        let all = [
            ("cx", "failed"),
            ("cx", "failed"),
            ("cl", "failed"),
            ("sh", "failed"),
            ("sh", "failed"),
        ];
        assert!(matches!(
            decide_with("failed", "sh", &all, &[], &[]),
            Decision::Stop { .. }
        ));
    }

    #[test]
    fn adapters_without_a_profile_get_the_default_budget() {
        assert_eq!(
            decide_with("failed", "shell", &[("shell", "failed")], &[], &[]),
            Decision::Retry {
                worker: "shell".into()
            }
        );
        assert!(matches!(
            decide_with(
                "failed",
                "shell",
                &[("shell", "failed"), ("shell", "failed")],
                &[],
                &[]
            ),
            Decision::Stop { .. }
        ));
    }

    #[test]
    fn rate_limits_reassign_to_a_free_fallback_or_park() {
        let cooling = [("codex", 2_000_000)];
        assert_eq!(
            decide_with(
                "rate_limited",
                "cx",
                &[("cx", "rate_limited")],
                &cooling,
                &[]
            ),
            Decision::Reassign {
                worker: "cl".into()
            }
        );
        // The fallbacks' adapters cool down too: park until codex is free.
        let all_cooling = [
            ("codex", 2_000_000),
            ("claude", 3_000_000),
            ("shell", 3_000_000),
        ];
        assert_eq!(
            decide_with(
                "rate_limited",
                "cx",
                &[("cx", "rate_limited")],
                &all_cooling,
                &[]
            ),
            Decision::Park {
                worker: "cx".into(),
                until_ms: 2_000_000
            }
        );
        // Beyond the longest wait: stop.
        let far = [
            ("codex", 1_000_000 + DEFAULT_MAX_PARK_MS + 1),
            ("claude", i64::MAX),
            ("shell", i64::MAX),
        ];
        assert!(matches!(
            decide_with("rate_limited", "cx", &[("cx", "rate_limited")], &far, &[]),
            Decision::Stop { .. }
        ));
    }

    #[test]
    fn auth_and_spawn_failures_never_use_that_adapter_again() {
        assert_eq!(
            decide_with(
                "auth_failed",
                "cx",
                &[("cx", "auth_failed")],
                &[],
                &["codex"]
            ),
            Decision::Reassign {
                worker: "cl".into()
            }
        );
        assert!(matches!(
            decide_with(
                "spawn_failed",
                "shell",
                &[("shell", "spawn_failed")],
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
}
