//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) on the stable toolchain:
//! every file of every target goes through the same `orch::adapter::fuzzing` function the
//! `cargo fuzz` target calls, and none may panic. The crash inputs the fuzzers found are
//! part of that corpus, so this is also their regression test (see docs/fuzzing.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[test]
fn every_corpus_file_of_every_target_runs_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut failures = Vec::new();
    for (target, run) in orch::adapter::fuzzing::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {target}");
        for file in &files {
            let data = std::fs::read(file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failures.push(format!("{target}: {}", file.display()));
            }
        }
        eprintln!("{target}: {} files", files.len());
    }
    assert!(failures.is_empty(), "panicked on:\n{}", failures.join("\n"));
}
