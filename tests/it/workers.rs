//! `daefr restore DIR --workers N` through the real binary: several workers write the same bytes
//! as one, bad files are still reported and skipped, and `--workers 0` is refused.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::imageops::{self, FilterType};

/// Runs `daefr` with `RUST_LOG` set to `log` (`None`: the default, warnings only).
fn daefr(args: &[&str], log: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_daefr"));
    command.args(args).env_remove("RUST_LOG");
    if let Some(filter) = log {
        command.env("RUST_LOG", filter);
    }
    command.output().expect("run daefr")
}

/// Different photos made from the astronaut (so that a result written under the wrong name
/// shows): as it is, mirrored, smaller, larger, and cropped.
fn write_photos(dir: &Path) {
    let photo = astronaut();
    let (w, h) = photo.dimensions();
    let variants = [
        photo.clone(),
        imageops::flip_horizontal(&photo),
        imageops::resize(&photo, w * 3 / 4, h * 3 / 4, FilterType::Triangle),
        imageops::resize(&photo, w * 5 / 4, h * 5 / 4, FilterType::Triangle),
        imageops::crop_imm(&photo, 40, 0, w - 40, h - 60).to_image(),
        imageops::flip_horizontal(&imageops::resize(&photo, 400, 400, FilterType::Triangle)),
    ];
    for (i, variant) in variants.iter().enumerate() {
        variant
            .save(dir.join(format!("photo-{i}.png")))
            .expect("write photo");
    }
}

/// Square crops of different parts of the astronaut at different sizes.
fn write_crops(dir: &Path) {
    let photo = astronaut();
    for i in 0..10u32 {
        let side = 96 + 16 * (i % 4);
        let crop = imageops::crop_imm(&photo, 150 + 11 * i, 60 + 7 * i, side, side).to_image();
        let crop = imageops::resize(&crop, 40 + 4 * i, 40 + 4 * i, FilterType::Triangle);
        crop.save(dir.join(format!("crop-{i:02}.png")))
            .expect("write crop");
    }
}

/// Output file names and bytes, sorted by name.
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("read output"))
        })
        .collect();
    files.sort();
    files
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Restores `input` into `output` with `workers` workers and the tiny model; returns stderr.
fn restore(input: &Path, output: &Path, workers: &str, extra: &[&str]) -> (bool, String) {
    let (input, output) = (input.display().to_string(), output.display().to_string());
    let model = repo_arg("tests/fixtures/daefr-tiny.onnx");
    let mut args = vec![
        "restore",
        &input,
        "-o",
        &output,
        "--model",
        &model,
        "--workers",
        workers,
    ];
    args.extend_from_slice(extra);
    let out = daefr(&args, Some("daefr::cli=info"));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), err)
}

/// One and two workers write the same files with the same bytes.
fn assert_same_with_two_workers(input: &Path, extra: &[&str]) {
    let root = input.parent().expect("parent");
    let (one, two): (PathBuf, PathBuf) = (root.join("one"), root.join("two"));
    let (ok, err) = restore(input, &one, "1", extra);
    assert!(ok, "{err}");
    assert!(err.contains("1 worker(s)"), "{err}");
    let (ok, err) = restore(input, &two, "2", extra);
    assert!(ok, "{err}");
    if cores() >= 2 {
        assert!(err.contains("2 worker(s)"), "{err}");
    }
    let (one, two) = (outputs(&one), outputs(&two));
    let inputs = std::fs::read_dir(input).expect("input dir").count();
    assert_eq!(one.len(), inputs);
    assert_eq!(
        one.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        two.iter().map(|(name, _)| name).collect::<Vec<_>>()
    );
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert!(a == b, "{name}: 2 workers wrote other bytes than 1");
    }
}

/// Every stderr line is whole: one of the known messages, never two run together.
fn assert_whole_lines(err: &str) {
    for line in err.lines() {
        let known = line.starts_with("daefr: ")
            || line.starts_with('[')
            || line.contains(" face(s) found, ")
            || line.starts_with("restored ");
        assert!(known, "unexpected stderr line {line:?} in\n{err}");
        assert_eq!(
            line.matches("daefr: ").count(),
            line.starts_with("daefr: ") as usize
        );
    }
}

#[test]
fn two_workers_restore_whole_photos_byte_for_byte_like_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("photos");
    std::fs::create_dir(&input).expect("mkdir");
    write_photos(&input);
    assert_same_with_two_workers(&input, &[]);
}

#[test]
fn two_workers_restore_aligned_crops_byte_for_byte_like_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("crops");
    std::fs::create_dir(&input).expect("mkdir");
    write_crops(&input);
    assert_same_with_two_workers(&input, &["--aligned"]);
    // --keep-size goes through the workers too.
    std::fs::remove_dir_all(dir.path().join("one")).expect("rm");
    std::fs::remove_dir_all(dir.path().join("two")).expect("rm");
    assert_same_with_two_workers(&input, &["--aligned", "--keep-size"]);
}

/// Adds two bad files to `input`: text named .png, and an empty .jpg.
fn add_bad_files(input: &Path) {
    std::fs::write(input.join("broken.png"), b"not a png at all").expect("write");
    std::fs::write(input.join("empty.jpg"), b"").expect("write");
}

/// The bad files were reported once each and not written; everything else was.
fn assert_bad_files_skipped(input: &Path, output: &Path, err: &str) {
    for bad in ["broken.png", "empty.jpg"] {
        let reported = err
            .lines()
            .filter(|l| l.starts_with("daefr: ") && l.contains(bad))
            .count();
        assert_eq!(reported, 1, "{bad} reported {reported} times:\n{err}");
        assert!(!output.join(bad).exists(), "{bad} written");
    }
    let inputs = std::fs::read_dir(input).expect("input dir").count();
    assert_eq!(outputs(output).len(), inputs - 2, "{err}");
    assert_whole_lines(err);
}

#[test]
fn bad_crops_are_reported_and_skipped_with_two_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("crops");
    std::fs::create_dir(&input).expect("mkdir");
    write_crops(&input);
    add_bad_files(&input);
    let output = dir.path().join("out");
    let (ok, err) = restore(&input, &output, "2", &["--aligned"]);
    assert!(!ok, "a bad file must fail the run:\n{err}");
    assert!(err.contains("restored 10 of 12 images"), "{err}");
    assert!(err.contains("2 of 12 images failed"), "{err}");
    assert_bad_files_skipped(&input, &output, &err);
}

#[test]
fn bad_photos_are_reported_and_skipped_with_two_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("photos");
    std::fs::create_dir(&input).expect("mkdir");
    write_photos(&input);
    add_bad_files(&input);
    let output = dir.path().join("out");
    let (ok, err) = restore(&input, &output, "2", &[]);
    assert!(!ok, "a bad file must fail the run:\n{err}");
    assert!(err.contains("2 of 8 photos failed"), "{err}");
    assert_eq!(err.matches(" face(s) found, ").count(), 6, "{err}");
    assert_bad_files_skipped(&input, &output, &err);
}

#[test]
fn zero_workers_are_refused_before_any_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("crops");
    std::fs::create_dir(&input).expect("mkdir");
    write_crops(&input);
    let output = dir.path().join("out");
    let (ok, err) = restore(&input, &output, "0", &["--aligned"]);
    assert!(!ok);
    assert!(err.contains("--workers"), "{err}");
    assert!(err.contains("0 workers would restore nothing"), "{err}");
    assert!(!output.exists(), "output directory created");
    let (ok, err) = restore(&input, &output, "many", &["--aligned"]);
    assert!(!ok);
    assert!(err.contains("not a number of workers"), "{err}");
}

#[test]
fn more_workers_than_cores_are_capped_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("crops");
    std::fs::create_dir(&input).expect("mkdir");
    write_crops(&input);
    let output = dir.path().join("out");
    let asked = (cores() + 1).to_string();
    let (ok, err) = restore(&input, &output, &asked, &["--aligned"]);
    assert!(ok, "{err}");
    assert!(err.contains(&format!("{asked} workers asked for")), "{err}");
    assert_eq!(err.matches("workers asked for").count(), 1, "{err}");
    let used = cores().min(10);
    assert!(
        err.contains(&format!("{used} worker(s) x 1 matrix thread(s)")),
        "{err}"
    );
    assert_eq!(outputs(&output).len(), 10);
}

#[test]
fn a_bad_model_is_one_error_before_any_output_with_two_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("crops");
    std::fs::create_dir(&input).expect("mkdir");
    write_crops(&input);
    let output = dir.path().join("out");
    let (input, output_arg) = (input.display().to_string(), output.display().to_string());
    let model = repo_arg("tests/fixtures/models/not-onnx.onnx");
    for aligned in [true, false] {
        let mut args = vec![
            "restore",
            &input,
            "-o",
            &output_arg,
            "--model",
            &model,
            "--workers",
            "2",
        ];
        if aligned {
            args.push("--aligned");
        }
        let out = daefr(&args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert_eq!(err.lines().count(), 1, "one line expected:\n{err}");
        assert!(err.contains("not-onnx.onnx"), "{err}");
        assert!(!output.exists(), "output directory created");
    }
}

/// Restorers made by `Restorer::another` share the plan but not the run state: on two threads at
/// once they restore exactly what the loaded one does, with its fidelity weight, and the loaded
/// one still works afterwards.
#[test]
fn restorers_sharing_a_plan_restore_like_the_loaded_one() {
    use daefr::model::{LoadOptions, Restorer};
    use image::{Rgb, RgbImage};

    let options = LoadOptions {
        use_cache: false,
        fidelity: Some(daefr::model::Fidelity::Weight(0.7)),
        ..LoadOptions::default()
    };
    let loaded = Restorer::load(&repo("tests/fixtures/daefr-tiny.onnx"), &options).expect("load");
    let size = loaded.input_size();
    let faces: Vec<RgbImage> = (0..4u32)
        .map(|k| {
            RgbImage::from_fn(size, size, |x, y| {
                Rgb([(x * 8 + k * 40) as u8, (y * 8) as u8, (k * 60) as u8])
            })
        })
        .collect();
    let expected: Vec<RgbImage> = faces
        .iter()
        .map(|f| loaded.restore(f).expect("restore"))
        .collect();
    let others = [loaded.another(), loaded.another()];
    assert!(others
        .iter()
        .all(|r| r.fidelity() == Some(daefr::model::Fidelity::Weight(0.7))));
    std::thread::scope(|scope| {
        for other in &others {
            let (faces, expected) = (&faces, &expected);
            scope.spawn(move || {
                for _ in 0..3 {
                    for (face, want) in faces.iter().zip(expected) {
                        assert_eq!(&other.restore(face).expect("restore"), want);
                    }
                }
            });
        }
    });
    assert_eq!(loaded.restore(&faces[0]).expect("restore"), expected[0]);
}
