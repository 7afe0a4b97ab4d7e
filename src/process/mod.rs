//! Processes: the only module that touches pids, signals and PTY file descriptors.
//!
//! - [`pty`]: starting a worker in its own session on a pseudo-terminal;
//! - [`group`]: stopping a worker's process group (TERM, grace, KILL) and finding the
//!   descendants that escaped it but still hold its terminal;
//! - [`procfs`]: what `/proc` says about a pid (start time, CPU time, session);
//! - [`detach`]: starting a supervisor that outlives the command that started it.

pub mod detach;
pub mod group;
pub mod procfs;
pub mod pty;
