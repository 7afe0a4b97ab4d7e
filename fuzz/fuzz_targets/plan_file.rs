//! Fuzz target `plan_file`: plan files (TOML and JSON) through `orch::plan::parse`.
//! The body is `orch::adapter::fuzzing::plan_file`, which tests/fuzz_corpus.rs also runs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| orch::adapter::fuzzing::plan_file(data));
