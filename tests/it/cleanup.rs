//! Cleanup never loses work: salvage of uncommitted changes and unreachable commits.
