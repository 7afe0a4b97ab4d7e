//! Integration tests: the real `orch` and `inbox` binaries against temp dirs, real git
//! repositories and concurrent processes.

mod common;
mod concurrency;
mod inbox;
mod orch;
mod skills;
mod supervisor;
mod workflows;
