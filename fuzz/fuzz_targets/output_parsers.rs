//! Fuzz target `output_parsers`: worker output: the first byte picks the format, the adapter
//! patterns and the chunking; the rest runs line by line and in chunks through the
//! streaming path.
//! The body is `orch::adapter::fuzzing::output_parsers`, which tests/fuzz_corpus.rs also runs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| orch::adapter::fuzzing::output_parsers(data));
