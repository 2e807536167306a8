//! The `daefr` binary: restore (file and directory), inspect, convert; errors are one line on
//! stderr with a non-zero exit, never a panic.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Output;

use image::{Rgb, RgbImage};

fn model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models/identity-32.onnx")
        .display()
        .to_string()
}

fn face(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 3) as u8, (y * 5) as u8, 77]))
}

/// Failure: non-zero exit, no panic, and every line of stderr starts with `daefr: `.
fn assert_clean_failure(out: &Output, needle: &str) {
    assert_failure_lines(out, needle, &[]);
}

/// [`assert_clean_failure`], where the lines in `status` (a directory run's summary) may appear
/// too: every other line of stderr starts with `daefr: `.
fn assert_failure_lines(out: &Output, needle: &str, status: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.trim().is_empty(), "a failure says why on stderr");
    for line in err.lines() {
        assert!(
            line.starts_with("daefr: ") || status.contains(&line),
            "stderr line {line:?} does not start with `daefr: `, in:\n{err}"
        );
    }
}

#[test]
fn restore_one_file_at_model_size() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("face.png");
    let output = dir.path().join("out.png");
    face(32, 32).save(&input).unwrap();
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&output),
        "--aligned",
        "--model",
        &model(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The identity model returns its input.
    assert_eq!(image::open(&output).unwrap().to_rgb8(), face(32, 32));
}

#[test]
fn restore_resizes_to_model_and_keep_size_resizes_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("face.jpg");
    face(100, 100).save(&input).unwrap();
    let small = dir.path().join("small.png");
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&small),
        "--aligned",
        "--model",
        &model(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(image::image_dimensions(&small).unwrap(), (32, 32));

    let kept = dir.path().join("kept.png");
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&kept),
        "--aligned",
        "--keep-size",
        "--model",
        &model(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(image::image_dimensions(&kept).unwrap(), (100, 100));
}

#[test]
fn restore_directory_skips_bad_files_and_fails_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    face(32, 32).save(input.join("a.png")).unwrap();
    std::fs::write(input.join("b.jpg"), b"").unwrap();
    face(40, 40).save(input.join("c.jpg")).unwrap();
    std::fs::write(input.join("notes.txt"), b"not an image, not listed").unwrap();
    let output = dir.path().join("out");
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&output),
        "--aligned",
        "--model",
        &model(),
    ]);
    // Besides the `daefr: ` lines, a directory run prints one summary line.
    let summary = format!("restored 2 of 3 images into {}", output.display());
    assert_failure_lines(&out, "b.jpg", &[&summary]);
    assert!(
        stderr(&out).contains("1 of 3 images failed"),
        "{}",
        stderr(&out)
    );
    assert!(output.join("a.png").is_file());
    assert!(output.join("c.jpg").is_file());
    assert!(!output.join("b.jpg").exists());
}

#[test]
fn restore_directory_all_good_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for name in ["x.png", "y.PNG", "z.jpeg"] {
        face(32, 32)
            .save_with_format(
                input.join(name),
                image::ImageFormat::from_path(input.join(name.to_lowercase())).unwrap(),
            )
            .unwrap();
    }
    let output = dir.path().join("out");
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&output),
        "--aligned",
        "--model",
        &model(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&output).unwrap().count(), 3);
}

#[test]
fn restore_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let o = s(&dir.path().join("o.png"));
    let out = daefr(&[
        "restore",
        &s(&missing),
        "-o",
        &o,
        "--aligned",
        "--model",
        &model(),
    ]);
    assert_clean_failure(&out, "missing.png");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let out = daefr(&[
        "restore",
        &s(&empty),
        "-o",
        &o,
        "--aligned",
        "--model",
        &model(),
    ]);
    assert_clean_failure(&out, "empty.png: cannot decode image: file is empty");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
    for (bad, needle) in [
        ("not-onnx.onnx", "not an ONNX file"),
        ("no-metadata.onnx", "daefr.format_version"),
        ("wrong-shape.onnx", "[1, 3, 16, 16]"),
        ("nothing-here.onnx", "nothing-here.onnx"),
    ] {
        face(32, 32).save(dir.path().join("f.png")).unwrap();
        let model = s(&fixtures.join(bad));
        let f = s(&dir.path().join("f.png"));
        let out = daefr(&["restore", &f, "-o", &o, "--aligned", "--model", &model]);
        assert_clean_failure(&out, needle);
        assert!(stderr(&out).contains(bad), "{}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
}

// Whole-photo mode (restore without --aligned) is tested in tests/it/photo_cli.rs.

#[test]
fn inspect_prints_metadata_ops_and_macs() {
    let out = daefr(&["inspect", &model()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("daefr.input_size = 32"), "{text}");
    assert!(text.contains("template"), "{text}");
    // 1x1 conv, 3 -> 3 channels over 32x32: 9 * 1024 MACs.
    assert!(
        text.contains("MACs per face (tract cost model): 9216 "),
        "{text}"
    );
    assert!(text.contains("operators (3 nodes"), "{text}");
}

#[test]
fn inspect_profile_lists_every_node_or_the_slowest() {
    let out = daefr(&["inspect", &model(), "--profile", "2", "--all-nodes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    // "profile: ... ms per face in N nodes", then one line per node.
    let nodes: usize = text
        .lines()
        .find_map(|l| l.split(" ms per face in ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no node count in: {text}"));
    let listed = text
        .lines()
        .skip_while(|l| !l.starts_with("every node"))
        .skip(1)
        .filter(|l| l.contains(" ms "))
        .count();
    assert!(
        nodes > 0 && listed == nodes,
        "{nodes} nodes, {listed} listed: {text}"
    );
    let out = daefr(&["inspect", &model(), "--all-nodes"]);
    assert!(
        !out.status.success(),
        "--all-nodes without --profile is refused"
    );
}

#[test]
fn inspect_reports_missing_metadata() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
    let out = daefr(&["inspect", &s(&fixtures.join("no-metadata.onnx"))]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("not a daefr restorer (no daefr.format_version)"),
        "{text}"
    );
    assert!(
        text.contains("MACs per run"),
        "the graph is still described: {text}"
    );
}

#[test]
fn convert_writes_a_cache_that_restore_uses() {
    let dir = tempfile::tempdir().unwrap();
    let onnx: PathBuf = dir.path().join("m.onnx");
    std::fs::copy(model(), &onnx).unwrap();
    let out = daefr(&["convert", &s(&onnx)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cache = dir.path().join("m.nnef.tar");
    assert!(cache.is_file());

    let out = daefr(&["inspect", &s(&cache)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("(NNEF)") && text.contains("daefr.input_size = 32"),
        "{text}"
    );

    let input = dir.path().join("face.png");
    face(32, 32).save(&input).unwrap();
    let output = dir.path().join("out.png");
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&output),
        "--aligned",
        "--model",
        &s(&onnx),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(image::open(&output).unwrap().to_rgb8(), face(32, 32));
}
