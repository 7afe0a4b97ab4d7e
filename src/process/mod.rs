//! Processes: the only module that touches pids, signals and PTY file descriptors.
//!
//! - [`pty`]: starting a worker in its own session on a pseudo-terminal;
//! - [`group`]: stopping a worker's process group (TERM, grace, KILL) and finding the
//!   descendants that escaped it but still hold its terminal;
//! - [`procfs`]: what `/proc` says about a pid (start time, CPU time, session);
//! - [`bounded`]: running a short command to its end with a time limit (checks, probes);
//! - [`detach`]: starting a supervisor that outlives the command that started it;
//! - [`memory`]: how the process's allocator keeps freed memory.

pub mod bounded;
pub mod detach;
pub mod group;
pub mod memory;
pub mod procfs;
pub mod pty;
