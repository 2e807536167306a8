//! The layers only look down (docs/architecture.md): a source file of a lower layer never names a
//! module of a higher one. Checked on the source text, so a new `use` that breaks the rule fails
//! here before it spreads.

use crate::util::*;

/// The core: geometry, alignment, tracking, scheduling. No tract, no I/O, no configuration.
const CORE: &[&str] = &[
    "src/geometry.rs",
    "src/align/mod.rs",
    "src/align/similarity.rs",
    "src/align/warp.rs",
    "src/align/blend.rs",
    "src/detect/nms.rs",
    "src/detect/anchors.rs",
    "src/pipeline/tracker.rs",
    "src/pipeline/smoothing.rs",
    "src/pipeline/scheduler.rs",
    "src/pipeline/mailbox.rs",
];

/// Inference and I/O: may use the core and each other's files, never the profile schema, the
/// whole-photo path or the live loop.
const INFER_AND_IO: &[&str] = &[
    "src/model",
    "src/detect/mod.rs",
    "src/detect/blazeface.rs",
    "src/bundled.rs",
    "src/tuning.rs",
    "src/image_io.rs",
    "src/atomic.rs",
    "src/capture",
    "src/display",
];

/// What a core file may not name.
const ABOVE_CORE: &[&str] = &[
    "crate::model",
    "crate::detect::",
    "crate::detect::{",
    "crate::bundled",
    "crate::tuning",
    "crate::image_io",
    "crate::atomic",
    "crate::capture",
    "crate::display",
    "crate::config",
    "crate::photo",
    "crate::Error",
    "crate::Result",
    "crate::{",
    "super::live",
    "super::stages",
    "super::compose",
    "tract",
    "std::fs",
];

/// What an inference or I/O file may not name.
const APPLICATION: &[&str] = &[
    "crate::config",
    "crate::photo",
    "crate::pipeline",
    "super::config",
];

/// Every `.rs` file under `path` (a file or a folder), with its text minus comments.
fn sources(path: &str) -> Vec<(String, String)> {
    let full = repo(path);
    let files: Vec<std::path::PathBuf> = if full.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&full)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        files
    } else {
        vec![full]
    };
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("read source");
            let code: String = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            (file.display().to_string(), code)
        })
        .collect()
}

fn violations(files: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in files {
        let listed = sources(path);
        assert!(
            !listed.is_empty(),
            "{path}: no source found (moved? update this list)"
        );
        for (file, code) in listed {
            for name in forbidden {
                if code.contains(name) {
                    found.push(format!("{file} names {name}"));
                }
            }
        }
    }
    found
}

#[test]
fn the_core_names_no_higher_layer() {
    let found = violations(CORE, ABOVE_CORE);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn inference_and_io_never_name_the_application() {
    let found = violations(INFER_AND_IO, APPLICATION);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_check_finds_a_violation_when_there_is_one() {
    // The live loop (application) names the capture layer: the scan must see it.
    assert!(!violations(&["src/pipeline/live.rs"], &["crate::capture"]).is_empty());
}
