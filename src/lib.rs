//! orch: a process supervisor for AI coding agents.
//!
//! The library behind the `orch` (leader) and `inbox` (worker) binaries: a SQLite
//! control plane of runs, tasks, attempts and inbox threads ([`store`]), git worktrees
//! per attempt ([`worktree`]), plan files ([`plan`]), the worker brief ([`brief`]) and
//! the command-line surface ([`cli`], [`commands`]).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod adapter;
pub mod brief;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod ids;
pub mod mcp;
pub mod model;
pub mod notify;
pub mod orchestration;
pub mod output;
pub mod paths;
pub mod plan;
pub mod process;
pub mod redact;
pub mod remote;
pub mod store;
pub mod supervisor;
pub mod time;
pub mod worktree;
