//! Fuzz target `reset_time`: rate-limit messages: the reset time read from the text against
//! several "now"s.
//! The body is `orch::adapter::fuzzing::reset_time`, which tests/fuzz_corpus.rs also runs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| orch::adapter::fuzzing::reset_time(data));
