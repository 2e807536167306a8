//! `daefr restore` without `--aligned` (whole photos), through the real binary.

use crate::util::*;

use image::{Rgb, RgbImage};

#[test]
fn a_photo_without_a_face_is_written_unchanged_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("sky.png");
    let output = dir.path().join("out.png");
    let sky = RgbImage::from_fn(300, 200, |x, y| {
        Rgb([40, (90 + y / 4) as u8, (160 + x / 8) as u8])
    });
    sky.save(&input).expect("write");
    let out = daefr(&[
        "restore",
        &input.display().to_string(),
        "-o",
        &output.display().to_string(),
        "--model",
        &repo_arg("tests/fixtures/models/identity-32.onnx"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("no face"), "{err}");
    assert_eq!(image::open(&output).expect("output").to_rgb8(), sky);
}

#[test]
fn the_portrait_is_restored_and_boxes_and_faces_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("out.png");
    let faces = dir.path().join("faces");
    let out = daefr(&[
        "restore",
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        &output.display().to_string(),
        "--model",
        &repo_arg("tests/fixtures/models/identity-32.onnx"),
        "--detector",
        "short-range",
        "--save-faces",
        &faces.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1 face(s) found, 1 restored"), "{err}");
    let restored = image::open(&output).expect("output").to_rgb8();
    assert_eq!(restored.dimensions(), (512, 512));
    assert!(faces.join("face-00-aligned.png").is_file());
    assert!(faces.join("face-00-restored.png").is_file());
    let bad = daefr(&[
        "restore",
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        "x.png",
        "--detector",
        "sideways",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sideways"));
}

#[test]
fn a_bad_photo_in_a_directory_is_reported_and_skipped_and_outputs_get_their_folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).expect("mkdir");
    std::fs::copy(
        repo_arg("tests/fixtures/astronaut.png"),
        inputs.join("b.png"),
    )
    .expect("copy");
    std::fs::write(inputs.join("a.png"), b"not a png").expect("write");
    // The bad file sorts first, so it must not stop the good one. The output folder does not exist yet, two levels deep.
    let outputs = dir.path().join("out/nested");
    let out = daefr(&[
        "restore",
        &inputs.display().to_string(),
        "-o",
        &outputs.display().to_string(),
        "--model",
        &repo_arg("tests/fixtures/models/identity-32.onnx"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "one photo failed, so must the exit code: {err}"
    );
    assert!(err.contains("a.png"), "the bad file is named: {err}");
    assert!(
        outputs.join("b.png").is_file(),
        "the good photo is still written: {err}"
    );
    assert!(!outputs.join("a.png").exists());
}
