//! The fuzz targets' corpora (fuzz/corpus/<target>/: seeds, and any input a fuzzing run found
//! and that was fixed) replayed through the same functions on every test run, on stable: a crash
//! once fixed stays fixed without nightly. The fuzzing itself: fuzz/README.md.

#[path = "../../fuzz/fuzz_targets/common.rs"]
mod common;

use crate::util::*;

/// Runs `target` over every file of `fuzz/corpus/<name>/`; returns how many.
fn replay(name: &str, target: fn(&[u8])) -> usize {
    let dir = repo(&format!("fuzz/corpus/{name}"));
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read seed");
        target(&bytes);
        // every prefix of a seed too: truncated files are what disks and pipes hand over
        for cut in [
            1,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len().saturating_sub(1),
        ] {
            target(&bytes[..cut.min(bytes.len())]);
        }
        count += 1;
    }
    count
}

#[test]
fn every_fuzz_corpus_replays_without_a_panic() {
    assert!(replay("image_read", common::image_read) >= 5);
    assert!(replay("model_metadata", common::model_metadata) >= 3);
    assert!(replay("profile", common::profile) >= 5);
    assert!(replay("nnef_cache", common::nnef_cache) >= 2);
}
