//! Secrets never reach logs, threads or printed argv.
