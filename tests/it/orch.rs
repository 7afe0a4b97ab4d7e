//! The `orch` verbs (contract §5, §6, §8, §10): behaviour, error codes, JSON shapes, worktrees.
