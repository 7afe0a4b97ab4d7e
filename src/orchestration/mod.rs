//! What happens around attempts, above the execution of any one of them
//! ([`crate::supervisor`]):
//!
//! - [`factory`]: every new attempt — first, retry, reassign — made in one place (workspace,
//!   record, hand-over, started supervisor), for the leader's verbs, `orch up` and the
//!   retry ladder alike;
//! - [`workspace`]: an attempt's worktree and base commit;
//! - [`launch`]: checking a worker and starting an attempt's detached supervisor, or
//!   handing the attempt to the [`standby`] supervisor `orch up` keeps on PostgreSQL;
//! - [`after_attempt`]: what runs once an attempt has ended — its completion checks
//!   ([`checks`]), then the retry [`ladder`] and the step it decides;
//! - [`scheduler`]: `orch up`, which fills free slots with ready tasks and recovers the
//!   attempts whose supervisor died ([`recovery`]), and records that it runs the run
//!   ([`presence`]); with several hosts on one run ([`hosts`]: this host's name and
//!   heartbeat timing), each supervises its own attempts and takes over those of a host
//!   whose heartbeat lapsed.

pub mod after_attempt;
pub mod checks;
pub mod factory;
pub mod hosts;
pub mod ladder;
pub mod launch;
pub mod presence;
pub mod recovery;
pub mod scheduler;
pub mod standby;
pub mod workspace;
