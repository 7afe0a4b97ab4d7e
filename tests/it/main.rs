//! Integration tests: the real `orch` and `inbox` binaries against temp dirs, real git
//! repositories and concurrent processes.

mod common;
mod concurrency;
mod inbox;
mod liveness;
mod orch;
mod policy;
mod real_clis;
mod skills;
mod supervisor;
mod up;
mod workflows;
