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
fn a_close_blurred_portrait_that_long_range_misses_is_found_by_the_short_range_fallback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("close.png");
    // The portrait's face filling the picture, blurred: long-range BlazeFace finds nothing.
    let close = image::imageops::crop_imm(&astronaut(), 157, 60, 135, 135).to_image();
    image::imageops::blur(&close, 4.0)
        .save(&input)
        .expect("write");
    let restore = |extra: &[&str]| {
        let mut cmd = daefr_cmd();
        cmd.env_remove("DAEFR_DETECTOR").args([
            "restore",
            &input.display().to_string(),
            "-o",
            &dir.path().join("out.png").display().to_string(),
            "--force",
            "--model",
            &repo_arg("tests/fixtures/models/identity-32.onnx"),
        ]);
        let out = cmd.args(extra).output().expect("run daefr");
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    let named = restore(&["--detector", "long-range"]);
    assert!(named.contains("no face"), "long-range alone: {named}");
    let default = restore(&[]);
    assert!(
        default.contains("1 face(s) found, 1 restored"),
        "default detector: {default}"
    );
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

/// `daefr restore INPUT -o OUTPUT --save-faces FACES [extra]` with the identity model.
fn restore_saving_faces(
    input: &std::path::Path,
    output: &std::path::Path,
    faces: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "restore".to_string(),
        s(input),
        "-o".into(),
        s(output),
        "--model".into(),
        repo_arg("tests/fixtures/models/identity-32.onnx"),
        "--detector".into(),
        "short-range".into(),
        "--save-faces".into(),
        s(faces),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    daefr(&args)
}

#[test]
fn save_faces_never_replaces_an_input_or_earlier_crops_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faces = dir.path().join("faces");
    let portrait = repo("tests/fixtures/astronaut.png");
    // a first run writes the crops
    let out = restore_saving_faces(&portrait, &dir.path().join("a.png"), &faces, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let crop = faces.join("face-00-restored.png");
    let before = std::fs::read(&crop).expect("crop");
    // a second run into the same folder is refused without --force, and changes nothing
    let out = restore_saving_faces(&portrait, &dir.path().join("b.png"), &faces, &[]);
    assert!(!out.status.success(), "earlier crops were overwritten");
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert!(!dir.path().join("b.png").exists());
    assert_eq!(std::fs::read(&crop).expect("crop"), before);
    assert!(
        restore_saving_faces(&portrait, &dir.path().join("b.png"), &faces, &["--force"])
            .status
            .success()
    );
    // an input photo that carries a crop's name inside the crop folder is never written over
    let input = faces.join("face-00-aligned.png");
    std::fs::copy(&portrait, &input).expect("copy");
    let input_bytes = std::fs::read(&input).expect("input");
    let out = restore_saving_faces(&input, &dir.path().join("c.png"), &faces, &["--force"]);
    assert!(
        !out.status.success(),
        "the input photo was replaced by a crop"
    );
    assert!(
        stderr(&out).contains("over this input photo"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&input).expect("input"), input_bytes);
}

#[test]
fn photos_that_share_a_stem_get_their_own_crop_folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let portrait = image::open(repo("tests/fixtures/astronaut.png"))
        .expect("portrait")
        .to_rgb8();
    portrait.save(input.join("a.png")).expect("png");
    portrait.save(input.join("a.jpg")).expect("jpg");
    portrait.save(input.join("b.png")).expect("png");
    let faces = dir.path().join("faces");
    let out = restore_saving_faces(&input, &dir.path().join("out"), &faces, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    for folder in ["a.png", "a.jpg", "b"] {
        assert!(
            faces.join(folder).join("face-00-aligned.png").is_file(),
            "{folder}: {}",
            stderr(&out)
        );
    }
    assert!(!faces.join("a").exists());
}

#[test]
fn a_grayscale_photo_comes_back_grayscale() {
    let dir = tempfile::tempdir().expect("tempdir");
    let portrait = image::open(repo("tests/fixtures/astronaut.png"))
        .expect("portrait")
        .to_luma8();
    let input = dir.path().join("grey.png");
    portrait.save(&input).expect("write");
    let output = dir.path().join("out.png");
    // the tiny random model paints colour into any face
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&output),
        "--model",
        &repo_arg("tests/fixtures/daefr-tiny.onnx"),
        "--detector",
        "short-range",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 restored"), "{}", stderr(&out));
    let restored = image::open(&output).expect("output").to_rgb8();
    assert!(
        restored.pixels().all(|p| p[0] == p[1] && p[1] == p[2]),
        "colour in a grey photo"
    );
    assert_ne!(
        image::open(&output).expect("output").to_luma8(),
        portrait,
        "the face was not restored"
    );
}

#[test]
fn an_untouched_photo_is_copied_byte_for_byte_and_jpeg_quality_is_the_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sky = RgbImage::from_fn(300, 200, |x, y| {
        Rgb([40, (90 + y / 4) as u8, (160 + x / 8) as u8])
    });
    let input = dir.path().join("sky.jpg");
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 97)
        .encode_image(&sky)
        .expect("encode");
    std::fs::write(&input, &bytes).expect("write");
    let output = dir.path().join("nested/out.jpg");
    let model = repo_arg("tests/fixtures/models/identity-32.onnx");
    let out = daefr(&["restore", &s(&input), "-o", &s(&output), "--model", &model]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&output).expect("output"),
        bytes,
        "a photo without a face was re-encoded"
    );

    // a photo with a face is encoded at --jpeg-quality (default 95, not the encoder's 75)
    let portrait = image::open(repo("tests/fixtures/astronaut.png"))
        .expect("portrait")
        .to_rgb8();
    let face = dir.path().join("face.png");
    portrait.save(&face).expect("write");
    let size_at = |q: Option<&str>, name: &str| {
        let path = dir.path().join(name);
        let mut args = vec![
            "restore",
            "--detector",
            "short-range",
            "--model",
            &model,
            "-o",
        ];
        let p = s(&path);
        let f = s(&face);
        args.push(&p);
        args.push(&f);
        if let Some(q) = q {
            args.extend(["--jpeg-quality", q]);
        }
        let out = daefr(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("1 restored"), "{}", stderr(&out));
        std::fs::metadata(&path).expect("output").len()
    };
    let (default, q75, q100) = (
        size_at(None, "d.jpg"),
        size_at(Some("75"), "q75.jpg"),
        size_at(Some("100"), "q100.jpg"),
    );
    assert!(
        q75 < default && default < q100,
        "sizes {q75} < {default} < {q100}"
    );
    let bad = daefr(&["restore", &s(&face), "-o", "x.jpg", "--jpeg-quality", "0"]);
    assert!(!bad.status.success());
}

#[test]
fn file_names_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("evil\u{1b}]0;owned\u{7}\u{1b}[2J.png");
    std::fs::write(&input, b"not a picture").expect("write");
    let out = daefr(&["restore", &s(&input), "-o", &s(&dir.path().join("out.png"))]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{7}'),
        "raw control characters: {err:?}"
    );
    assert!(err.contains("evil\\u{1b}]0;owned"), "{err}");
    for line in err.lines() {
        assert!(line.starts_with("daefr: "), "{line}");
    }
}

#[test]
fn the_report_says_why_a_face_was_not_restored_and_no_face_is_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = daefr(&[
        "restore",
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        &s(&dir.path().join("a.png")),
        "--model",
        &repo_arg("tests/fixtures/models/identity-32.onnx"),
        "--min-face",
        "400",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 restored (1 narrower than --min-face 400 px)"),
        "{}",
        stderr(&out)
    );
    let sky = dir.path().join("sky.png");
    RgbImage::from_pixel(200, 150, Rgb([30, 90, 200]))
        .save(&sky)
        .expect("write");
    let out = daefr(&[
        "restore",
        &s(&sky),
        "-o",
        &s(&dir.path().join("b.png")),
        "--model",
        &repo_arg("tests/fixtures/models/identity-32.onnx"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("no face found").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn rust_log_debug_shows_daefr_not_tracts_graph_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = daefr_cmd()
        .args([
            "restore",
            &repo_arg("tests/fixtures/astronaut.png"),
            "-o",
            &s(&dir.path().join("a.png")),
        ])
        .args(["--model", &repo_arg("tests/fixtures/daefr-tiny.onnx")])
        .env("RUST_LOG", "debug")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stderr(&out).lines().count();
    assert!(lines < 200, "{lines} lines of debug output");
    assert!(stderr(&out).contains("daefr: debug:"), "{}", stderr(&out));
}

#[test]
fn flags_that_do_not_apply_are_named_not_ignored_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = repo_arg("tests/fixtures/models/identity-32.onnx");
    let out = daefr(&[
        "restore",
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        &s(&dir.path().join("a.png")),
        "--model",
        &model,
        "--keep-size",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--keep-size has no effect without --aligned"),
        "{}",
        stderr(&out)
    );
    let out = daefr(&[
        "restore",
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        &s(&dir.path().join("b.png")),
        "--model",
        &model,
        "--aligned",
        "--blend",
        "0.5",
        "--draw-boxes",
        "--min-face",
        "10",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--blend, --draw-boxes, --min-face has no effect with --aligned"),
        "{}",
        stderr(&out)
    );
}
