//! Integration tests: the real `orch` and `inbox` binaries against temp dirs, real git
//! repositories and concurrent processes.

mod cleanup;
mod common;
mod concurrency;
mod doctor;
mod hosts;
mod inbox;
mod liveness;
mod mcp;
mod notify;
mod orch;
mod pg_reconnect;
mod policy;
mod rate_limits;
mod real_clis;
mod redaction;
mod remote;
mod schema_parity;
mod skills;
mod standby;
mod status_rows;
mod supervisor;
mod up;
mod workflows;
