//! The retry ladder (supervisor.md §6) as one pure function: from how an attempt ended
//! and the task's history, decide whether to retry the same worker, hand the task to a
//! fallback, park it until a rate limit resets, or stop and leave it failed for the leader.
//!
//! - `failed`, `stalled`: retry the same worker up to its budget (`max_attempts`,
//!   default 2), then the next fallback, then stop.
//! - `lost` (the attempt's supervisor died: orch's failure, not the worker's): retry the
//!   same worker without spending its budget, up to [`MAX_LOST_ATTEMPTS`] lost attempts
//!   per task; past that, as `failed`.
//! - `rate_limited`: the worker cools down until `reset_at` (or an exponential backoff);
//!   reassign at once to a free fallback, else park until the cooldown ends (at most
//!   `max_park`), else stop. A worker rate limited [`MAX_RATE_LIMITS_IN_A_ROW`] times in
//!   a row (its limit did not clear after the resets it announced) is not waited for
//!   again: a free fallback, else stop.
//! - `auth_failed`, `spawn_failed`: never that adapter again in this run; fallback or stop.
//! - `succeeded`, `cancelled`: nothing to do.
//!
//! Cooldowns are kept per account, not per CLI: the key is the worker profile's name (two
//! profiles of one adapter are two accounts, each with its own limit), or the adapter's
//! name for a worker that is a bare adapter ([`cooldown_key`]). Everything that reads or
//! writes a cooldown uses that key. Auth and spawn failures still ban the adapter.

use crate::config::{ResolvedWorker, Workers};
use crate::model::AttemptOutcome;
use std::collections::{HashMap, HashSet};

/// Attempts per worker when its profile sets no `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 2;
/// Attempts of one task lost to a dead supervisor before losses count as failures (a
/// supervisor that keeps dying on one task must not retry it forever).
pub const MAX_LOST_ATTEMPTS: u32 = 3;
/// The longest a task waits for a rate limit to reset before it is left failed.
pub const DEFAULT_MAX_PARK_MS: i64 = 6 * 60 * 60 * 1000;
/// Rate-limited attempts in a row on one worker after which its limit is taken as not
/// clearing: the first limit, then two more right after waiting for the announced reset.
/// The task then goes to a free fallback, or is given up; it is not parked again.
pub const MAX_RATE_LIMITS_IN_A_ROW: u32 = 3;

/// The key of a worker's cooldown: the account it runs on. A profile's name (profiles
/// `codex-a` and `codex-b` of adapter `codex` are two accounts, limited apart), or the
/// adapter's name when the worker is a bare adapter.
pub fn cooldown_key(worker: &ResolvedWorker) -> &str {
    if worker.profile.is_empty() {
        &worker.adapter.name
    } else {
        &worker.profile
    }
}

/// The cooldown key of a worker name ([`cooldown_key`]); a name that no longer resolves
/// (its profile removed from the configuration) is its own key.
pub fn cooldown_key_of(workers: &Workers, name: &str) -> String {
    workers
        .resolve(name)
        .map(|w| cooldown_key(&w).to_string())
        .unwrap_or_else(|_| name.to_string())
}

/// One earlier (or the current) attempt of the task.
#[derive(Debug, Clone)]
pub struct PastAttempt {
    pub worker: String,
    /// `None` for an attempt that never recorded an end (a worker the leader ran by
    /// hand): it counts against its worker's budget like a failure.
    pub outcome: Option<AttemptOutcome>,
}

/// Everything the decision depends on.
pub struct Situation<'a> {
    /// How the attempt ended.
    pub outcome: AttemptOutcome,
    /// The worker (profile or adapter name) the attempt ran with.
    pub worker: &'a str,
    /// Every attempt of the task, the current one included.
    pub history: &'a [PastAttempt],
    pub workers: &'a Workers,
    /// Workers cooling down, by [`cooldown_key`], with the time (Unix ms) they are free
    /// again.
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

fn budget(workers: &Workers, worker: &str) -> u32 {
    workers
        .resolve(worker)
        .ok()
        .and_then(|w| w.settings.max_attempts)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS)
        .max(1)
}

/// Attempts with `worker` that count against its budget: all but those lost to a dead
/// supervisor.
fn attempts_with(history: &[PastAttempt], worker: &str) -> u32 {
    history
        .iter()
        .filter(|a| a.worker == worker && a.outcome != Some(AttemptOutcome::Lost))
        .count() as u32
}

fn lost_attempts(history: &[PastAttempt]) -> u32 {
    history
        .iter()
        .filter(|a| a.outcome == Some(AttemptOutcome::Lost))
        .count() as u32
}

/// The task's latest attempts with `worker` that were rate limited, in a row, counted
/// from the newest (the current one included). An attempt of another worker or with
/// another outcome ends the run; a `lost` one (orch's failure) is passed over.
fn rate_limited_in_a_row(history: &[PastAttempt], worker: &str) -> u32 {
    history
        .iter()
        .rev()
        .filter(|a| a.outcome != Some(AttemptOutcome::Lost))
        .take_while(|a| a.worker == worker && a.outcome == Some(AttemptOutcome::RateLimited))
        .count() as u32
}

/// The fallbacks to consider, in order: the current worker's, then those of every worker
/// the task ran with before (the original worker's chain), each once.
fn fallbacks(s: &Situation) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut chain_of = |worker: &str| {
        if let Ok(w) = s.workers.resolve(worker) {
            for f in w.settings.fallback {
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

/// True when `worker` may run now: known, adapter not banned, not cooling, budget left.
fn usable(s: &Situation, worker: &str) -> bool {
    free(s, worker) && attempts_with(s.history, worker) < budget(s.workers, worker)
}

/// True when `worker` is known, its adapter not banned, and it (its [`cooldown_key`])
/// not cooling down.
fn free(s: &Situation, worker: &str) -> bool {
    let Ok(resolved) = s.workers.resolve(worker) else {
        return false;
    };
    !s.banned.contains(&resolved.adapter.name)
        && s.cooldowns
            .get(cooldown_key(&resolved))
            .is_none_or(|until| *until <= s.now_ms)
}

pub fn decide(s: &Situation) -> Decision {
    use AttemptOutcome as O;
    match s.outcome {
        O::Succeeded | O::Cancelled => Decision::Nothing,
        O::Failed | O::Stalled | O::Lost => {
            let lost_again = s.outcome == O::Lost
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
                        "{} ({} attempts with {}, {} allowed) and no fallback left",
                        s.outcome,
                        attempts_with(s.history, s.worker),
                        s.worker,
                        budget(s.workers, s.worker)
                    ),
                },
            }
        }
        O::AuthFailed | O::SpawnFailed => match fallbacks(s).into_iter().find(|f| usable(s, f)) {
            Some(worker) => Decision::Reassign { worker },
            None => Decision::Stop {
                reason: format!("{} with {} and no fallback left", s.outcome, s.worker),
            },
        },
        O::RateLimited => {
            if let Some(worker) = fallbacks(s).into_iter().find(|f| usable(s, f)) {
                return Decision::Reassign { worker };
            }
            // Limited again right after waiting for the reset, and again: the limit does
            // not clear (a reset misread, or a limit the CLI misreports). Waiting once more
            // could loop until the longest wait; leave it to the leader.
            let in_a_row = rate_limited_in_a_row(s.history, s.worker);
            if in_a_row >= MAX_RATE_LIMITS_IN_A_ROW {
                return Decision::Stop {
                    reason: format!(
                        "the rate limit of {} did not clear after {in_a_row} resets ({in_a_row} rate-limited attempts in a row); no fallback free",
                        s.worker
                    ),
                };
            }
            let key = cooldown_key_of(s.workers, s.worker);
            let until = s.cooldowns.get(&key).copied().unwrap_or(s.now_ms);
            if until - s.now_ms > s.max_park_ms {
                Decision::Stop {
                    reason: format!(
                        "{} rate limited until {}, longer than the longest wait ({} min); no fallback free",
                        s.worker,
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
    }
}

/// When a rate-limited worker is free again: the announced reset, else an exponential
/// backoff (1 min × 2^n, at most 1 h) with ±10 % jitter, `n` counting this worker's
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
#[path = "ladder_tests.rs"]
mod tests;
