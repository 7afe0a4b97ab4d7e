//! Whole leader/worker workflows of contract §10, driven through both binaries.
