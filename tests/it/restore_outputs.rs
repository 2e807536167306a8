//! `daefr restore`'s outputs and reports, through the real binary: `-r`, `--suffix`,
//! `--skip-existing`, `--compare`, `--json`, `--only`, `--min-score`, `-q`, other image formats,
//! and the detector named by kind in `$DAEFR_DETECTOR`.

use std::path::Path;

use crate::util::*;

use image::{Rgb, RgbImage};

/// A picture without a face.
fn sky(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([40, (90 + y / 4) as u8, (160 + x / 8) as u8])
    })
}

/// `daefr restore ARGS... --model identity-32 --detector short-range`.
fn restore(args: &[&str]) -> std::process::Output {
    let model = repo_arg("tests/fixtures/models/identity-32.onnx");
    let mut all: Vec<&str> = vec!["restore"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--model", &model, "--detector", "short-range"]);
    daefr(&all)
}

#[test]
fn recursive_runs_with_a_suffix_write_beside_the_inputs_and_skip_existing_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("sub")).expect("mkdir");
    sky(120, 80).save(photos.join("a.png")).expect("write");
    std::fs::copy(
        repo("tests/fixtures/astronaut.png"),
        photos.join("sub/b.png"),
    )
    .expect("copy");
    let p = s(&photos);

    let refused = restore(&[&p, "-o", &p, "-r"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--suffix"),
        "{}",
        stderr(&refused)
    );

    let out = restore(&[&p, "-o", &p, "-r", "--suffix", "_r"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(photos.join("a_r.png").is_file());
    assert!(photos.join("sub/b_r.png").is_file());
    let flat = restore(&[&p, "-o", &s(&dir.path().join("flat"))]);
    assert!(flat.status.success(), "{}", stderr(&flat));
    assert!(
        !dir.path().join("flat/sub").exists(),
        "without -r subfolders are not read"
    );

    // again: the outputs exist; the earlier outputs are not inputs
    let again = restore(&[&p, "-o", &p, "-r", "--suffix", "_r"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let skipped = restore(&[&p, "-o", &p, "-r", "--suffix", "_r", "--skip-existing"]);
    let err = stderr(&skipped);
    assert!(skipped.status.success(), "{err}");
    assert!(
        err.contains("2 input(s) left out: their output exists"),
        "{err}"
    );
    assert!(
        err.contains("2 input(s) already end in --suffix _r"),
        "{err}"
    );
    assert!(!photos.join("a_r_r.png").exists());
    let both = restore(&[&p, "-o", &p, "--suffix", "_r", "--skip-existing", "--force"]);
    assert!(
        !both.status.success(),
        "--skip-existing and --force conflict"
    );
}

#[test]
fn compare_and_json_report_each_face_and_only_picks_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("out.png");
    let cmp = dir.path().join("cmp");
    let report = dir.path().join("report.json");
    let out = restore(&[
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        &s(&output),
        "--compare",
        &s(&cmp),
        "--json",
        &s(&report),
        "--only",
        "largest",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let side = image::open(cmp.join("out.png"))
        .expect("side by side")
        .to_rgb8();
    assert_eq!(side.dimensions(), (1024, 512));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    let photo = &json["photos"][0];
    assert_eq!(photo["restored"], 1);
    assert_eq!(photo["faces"][0]["outcome"], "restored");
    assert_eq!(
        photo["faces"][0]["keypoints"].as_array().map(Vec::len),
        Some(6)
    );
    assert!(photo["faces"][0]["score"].as_f64().is_some_and(|s| s > 0.5));
    for stage in ["decode", "detect", "align", "restore", "paste", "encode"] {
        assert!(photo["ms"][stage].as_f64().is_some(), "{stage}: {photo}");
    }

    // a report is never replaced without --force; `-` goes to standard output
    let again = restore(&[
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        &s(&dir.path().join("2.png")),
        "--json",
        &s(&report),
    ]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("--json report already exists"),
        "{}",
        stderr(&again)
    );
    let piped = restore(&[
        &repo_arg("tests/fixtures/astronaut.png"),
        "-o",
        &s(&dir.path().join("3.png")),
        "--json",
        "-",
        "--only",
        "4",
    ]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    let json: serde_json::Value = serde_json::from_slice(&piped.stdout).expect("JSON on stdout");
    let face = &json["photos"][0]["faces"][0];
    assert_eq!(face["outcome"], "not-selected");
    assert_eq!(face["reason"], "not picked by --only");
    assert_eq!(json["photos"][0]["status"], "unchanged");
    assert!(
        stderr(&piped).contains("1 not picked by --only"),
        "{}",
        stderr(&piped)
    );
}

#[test]
fn min_score_quiet_and_other_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let portrait = repo_arg("tests/fixtures/astronaut.png");
    let out = restore(&[
        &portrait,
        "-o",
        &s(&dir.path().join("a.png")),
        "--min-score",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("no face found"), "{}", stderr(&out));
    let bad = restore(&[
        &portrait,
        "-o",
        &s(&dir.path().join("b.png")),
        "--min-score",
        "2",
    ]);
    assert!(!bad.status.success());

    let quiet = restore(&[&portrait, "-o", &s(&dir.path().join("c.png")), "-q"]);
    assert!(quiet.status.success());
    assert_eq!(stderr(&quiet), "", "-q prints nothing on success");

    // BMP in, BMP out (untouched: copied byte for byte); a face in a WebP is found
    let bmp = dir.path().join("sky.bmp");
    sky(64, 48).save(&bmp).expect("bmp");
    let out_bmp = dir.path().join("out.bmp");
    let out = restore(&[&s(&bmp), "-o", &s(&out_bmp)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&bmp).expect("in"),
        std::fs::read(&out_bmp).expect("out")
    );
    let webp = dir.path().join("portrait.webp");
    astronaut().save(&webp).expect("webp");
    let out = restore(&[&s(&webp), "-o", &s(&dir.path().join("portrait-out.webp"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 face(s) found, 1 restored"),
        "{}",
        stderr(&out)
    );
    assert!(Path::new(&dir.path().join("portrait-out.webp")).is_file());
}

#[test]
fn the_detector_environment_variable_takes_a_kind_or_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = repo_arg("tests/fixtures/models/identity-32.onnx");
    let run = |value: &str, name: &str| {
        daefr_cmd()
            .args(["restore", &repo_arg("tests/fixtures/astronaut.png"), "-o"])
            .arg(dir.path().join(name))
            .args(["--model", &model])
            .env("DAEFR_DETECTOR", value)
            .output()
            .expect("run daefr")
    };
    let by_kind = run("short-range", "kind.png");
    assert!(by_kind.status.success(), "{}", stderr(&by_kind));
    let by_file = run(
        &repo_arg("models/blazeface/face_detection_front_128x128_barracuda.onnx"),
        "file.png",
    );
    assert!(by_file.status.success(), "{}", stderr(&by_file));
    let neither = run("sideways", "no.png");
    assert!(!neither.status.success());
    assert!(
        stderr(&neither).contains("DAEFR_DETECTOR"),
        "{}",
        stderr(&neither)
    );
}

#[test]
fn inspect_names_outputs_as_the_file_does_and_reads_blazeface() {
    let out = daefr(&["inspect", &repo_arg("models/daefr-lite-128-int8.onnx")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("output 0: output "), "{text}");
    let out = daefr(&[
        "inspect",
        &repo_arg("models/blazeface/face_detection_front_128x128_barracuda.onnx"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("kind: BlazeFace face detector, 128x128 input"),
        "{text}"
    );
    assert!(text.contains("MACs per run"), "{text}");
}

/// A 4:4:4 Y4M stream of `frames` frames: the portrait at 256 px, moved 3 px right per frame.
fn portrait_video(frames: u32) -> Vec<u8> {
    let small = image::imageops::resize(
        &astronaut(),
        256,
        256,
        image::imageops::FilterType::Triangle,
    );
    let mut bytes = b"YUV4MPEG2 W256 H256 F25:1 Ip A1:1 C444\n".to_vec();
    for f in 0..frames {
        let frame = RgbImage::from_fn(256, 256, |x, y| {
            *small.get_pixel(x.saturating_sub(3 * f), y)
        });
        let yuv: Vec<[u8; 3]> = frame
            .pixels()
            .map(|p| daefr::capture::yuv::rgb_to_yuv(p.0))
            .collect();
        bytes.extend_from_slice(b"FRAME\n");
        for plane in 0..3 {
            bytes.extend(yuv.iter().map(|v| v[plane]));
        }
    }
    bytes
}

/// `daefr restore - -o - EXTRA...` (identity model, short-range detector) fed `input` on
/// standard input.
fn restore_piped(input: Vec<u8>, extra: &[&str]) -> std::process::Output {
    let model = repo_arg("tests/fixtures/models/identity-32.onnx");
    let mut child = daefr_cmd()
        .args([
            "restore",
            "-",
            "-o",
            "-",
            "--model",
            &model,
            "--detector",
            "short-range",
        ])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let feed = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let out = child.wait_with_output().expect("wait");
    feed.join().expect("feeder").expect("fed");
    out
}

#[test]
fn a_y4m_video_is_restored_frame_by_frame_to_a_file_or_through_pipes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("clip.y4m");
    let video = portrait_video(4);
    std::fs::write(&input, &video).expect("write");
    let output = dir.path().join("out.y4m");
    let out = restore(&[&s(&input), "-o", &s(&output)]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("4 frame(s), 4 face(s) restored in 4 frame(s)"),
        "{err}"
    );
    let written = std::fs::read(&output).expect("output");
    let header = |b: &[u8]| b.iter().position(|&c| c == b'\n').expect("header") + 1;
    let frames = |b: &[u8]| b[header(b)..].to_vec();
    // the identity model changes no pixel: every frame passes through bit for bit
    assert_eq!(frames(&written), frames(&video));
    let head = String::from_utf8_lossy(&written[..header(&written)]).into_owned();
    for field in ["W256", "H256", "F25:1", "C444"] {
        assert!(head.contains(field), "{field} in {head}");
    }

    // again without --force: refused, the first output kept
    let again = restore(&[&s(&input), "-o", &s(&output)]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let bad_name = restore(&[&s(&input), "-o", &s(&dir.path().join("out.png"))]);
    assert!(!bad_name.status.success());
    assert!(stderr(&bad_name).contains(".y4m"), "{}", stderr(&bad_name));

    // standard input to standard output gives the same bytes
    let piped = restore_piped(video, &["-q"]);
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(piped.stdout, written);
}

#[test]
fn an_image_goes_through_standard_input_and_output_in_its_own_format() {
    let png = std::fs::read(repo("tests/fixtures/astronaut.png")).expect("fixture");
    let out = restore_piped(png, &["--threads", "2"]);
    if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        // a stream run resolves its threads against the machine's cores like any other run
        assert!(!stderr(&out).contains("asked for"), "{}", stderr(&out));
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        image::guess_format(&out.stdout).ok(),
        Some(image::ImageFormat::Png)
    );
    let restored = image::load_from_memory(&out.stdout).expect("PNG").to_rgb8();
    assert_eq!(restored.dimensions(), (512, 512));
    assert!(
        stderr(&out).contains("<stdin>: 1 face(s) found, 1 restored -> -"),
        "{}",
        stderr(&out)
    );
    let none = daefr(&["restore", "-", "-o", "x.png", "--aligned"]);
    assert!(!none.status.success());
    assert!(stderr(&none).contains("--aligned"), "{}", stderr(&none));
}

/// An EXIF block (big-endian TIFF) with one tag: Orientation = `orientation`.
fn exif_with_orientation(orientation: u16) -> Vec<u8> {
    let mut exif = b"MM\0*\0\0\0\x08".to_vec();
    exif.extend_from_slice(&1u16.to_be_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    exif.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_be_bytes()); // one value
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0]); // padding of the 4-byte value field
    exif.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    exif
}

#[test]
fn a_restored_jpeg_keeps_its_colour_profile_and_exif_with_the_orientation_made_upright() {
    use image::{ImageDecoder, ImageEncoder};
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("phone.jpg");
    // stored sideways with Orientation 6 (rotate 90 clockwise to show), as phones do
    let sideways = image::imageops::rotate270(&astronaut());
    let icc = b"fake ICC profile bytes, carried as they are".to_vec();
    {
        let file = std::fs::File::create(&input).expect("create");
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 95);
        encoder.set_icc_profile(icc.clone()).expect("icc");
        encoder
            .set_exif_metadata(exif_with_orientation(6))
            .expect("exif");
        let (w, h) = sideways.dimensions();
        encoder
            .write_image(sideways.as_raw(), w, h, image::ExtendedColorType::Rgb8)
            .expect("encode");
    }
    let output = dir.path().join("out.jpg");
    let out = restore(&[&s(&input), "-o", &s(&output)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 restored"),
        "upright before detection: {}",
        stderr(&out)
    );
    let file = std::io::BufReader::new(std::fs::File::open(&output).expect("open"));
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(file).expect("jpeg");
    assert_eq!(decoder.icc_profile().expect("icc"), Some(icc));
    let exif = decoder.exif_metadata().expect("exif").expect("EXIF kept");
    assert_eq!(
        image::metadata::Orientation::from_exif_chunk(&exif),
        Some(image::metadata::Orientation::NoTransforms),
        "the pixels are upright, so the EXIF must say so"
    );
    assert_eq!(decoder.dimensions(), (512, 512));
}
