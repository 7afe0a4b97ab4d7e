//! Fuzz target `adapter_file`: adapter files (TOML) through `Adapter::from_toml`, then argv
//! building and a parser fed by its patterns.
//! The body is `orch::adapter::fuzzing::adapter_file`, which tests/fuzz_corpus.rs also runs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| orch::adapter::fuzzing::adapter_file(data));
