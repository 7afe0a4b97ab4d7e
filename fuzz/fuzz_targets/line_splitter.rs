//! Fuzz target `line_splitter`: the line splitter (with a small line bound, so inputs
//! reach the cut) against chunking and a plain model, and the escape stripper.
//! The body is `orch::adapter::fuzzing::line_splitter`, which tests/fuzz_corpus.rs also runs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| orch::adapter::fuzzing::line_splitter(data));
