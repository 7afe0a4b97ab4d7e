//! The `inbox` verbs (contract §3, §4, §10 inbox cases): behaviour, error codes, JSON shapes.
