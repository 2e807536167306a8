//! The fidelity knob (contract version 2) and the paste-back that does no harm: one plan for every
//! weight, clear errors outside 0..=1, version-1 files still load, `--blend`, change-mode paste, and
//! the bundled model leaving an undegraded portrait's face intact.

use crate::util::*;

use daefr::align::{align_face, paste_restored, PasteMode, PasteOptions};
use daefr::detect::FaceDetector;
use daefr::model::{Fidelity, LoadOptions, Restorer};
use daefr::photo::{restore_faces, FacePipeline, PhotoOptions};
use daefr::Error;
use image::{Rgb, RgbImage};

fn tiny(fidelity: Option<f32>) -> daefr::Result<Restorer> {
    Restorer::load(
        &repo("tests/fixtures/daefr-tiny.onnx"),
        &LoadOptions {
            use_cache: false,
            fidelity: fidelity.map(Fidelity::Weight),
            ..LoadOptions::default()
        },
    )
}

fn tiny_v1(fidelity: Option<f32>) -> Restorer {
    Restorer::load(
        &repo("tests/fixtures/daefr-tiny-v1.onnx"),
        &LoadOptions {
            use_cache: false,
            fidelity: fidelity.map(Fidelity::Weight),
            ..LoadOptions::default()
        },
    )
    .expect("a contract-1 model still loads")
}

fn face(size: u32) -> RgbImage {
    RgbImage::from_fn(size, size, |x, y| {
        Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x + y) * 3 % 256) as u8,
        ])
    })
}

/// PSNR (dB) of two equally sized images over the pixel box `[x0, y0, x1, y1)`.
fn psnr_box(a: &RgbImage, b: &RgbImage, bbox: [u32; 4]) -> f64 {
    let [x0, y0, x1, y1] = bbox;
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for y in y0..y1 {
        for x in x0..x1 {
            for c in 0..3 {
                let d = a.get_pixel(x, y)[c] as f64 - b.get_pixel(x, y)[c] as f64;
                sum += d * d;
                n += 1;
            }
        }
    }
    let mse = sum / n.max(1) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

#[test]
fn a_version_2_model_takes_its_default_weight_and_any_other_without_reloading() {
    let restorer = tiny(None).expect("loads");
    let default = restorer.metadata().fidelity_default.expect("version 2");
    assert_eq!(restorer.fidelity(), Some(Fidelity::Weight(default)));
    let input = face(32);
    let at = |w: f32| restorer.restore_at(&input, Some(w)).expect("restores");
    let (low, high) = (at(0.0), at(1.0));
    assert_ne!(low, high, "the weight must change the output");
    // the default run is the run at the default weight, bit for bit
    assert_eq!(restorer.restore(&input).expect("restores"), at(default));
    // the same plan gives the same answer again for an earlier weight
    assert_eq!(at(0.0), low);
}

#[test]
fn a_weight_outside_0_1_is_a_clear_error() {
    for bad in [1.5f32, -0.1, f32::NAN] {
        match tiny(Some(bad)) {
            Err(Error::FidelityOutOfRange { .. }) => {}
            other => panic!("fidelity {bad}: expected FidelityOutOfRange, got {other:?}"),
        }
        let restorer = tiny(None).expect("loads");
        let err = restorer.restore_at(&face(32), Some(bad)).unwrap_err();
        assert!(err.to_string().contains("outside 0..=1"), "{err}");
    }
}

#[test]
fn a_version_1_model_still_loads_and_ignores_a_fidelity() {
    let restorer = tiny_v1(Some(0.3));
    assert_eq!(restorer.metadata().format_version, 1);
    assert_eq!(restorer.fidelity(), None);
    let out = restorer.restore(&face(32)).expect("restores");
    assert_eq!(out.dimensions(), (32, 32));
    // the weight is not fed to a graph that has no such input, whatever it is
    assert_eq!(
        restorer.restore_at(&face(32), Some(0.9)).expect("restores"),
        out
    );
}

#[test]
fn the_cli_refuses_a_bad_fidelity_and_warns_for_a_version_1_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    face(32).save(&input).expect("write");
    let out_path = dir.path().join("out.png");
    let (i, o) = (input.display().to_string(), out_path.display().to_string());
    let tiny_model = repo("tests/fixtures/daefr-tiny.onnx").display().to_string();
    let v1_model = repo("tests/fixtures/daefr-tiny-v1.onnx")
        .display()
        .to_string();

    for bad in ["1.5", "-1", "abc", "nan"] {
        let flag = format!("--fidelity={bad}");
        let out = daefr(&[
            "restore",
            &i,
            "-o",
            &o,
            "--aligned",
            "--model",
            &tiny_model,
            &flag,
        ]);
        assert!(!out.status.success(), "--fidelity {bad} should fail");
        let err = stderr(&out);
        assert!(err.contains("0..=1") && !err.contains("panicked"), "{err}");
    }
    let out = daefr(&[
        "restore",
        &i,
        "-o",
        &o,
        "--aligned",
        "--model",
        &v1_model,
        "--fidelity",
        "0.3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no fidelity input"),
        "{}",
        stderr(&out)
    );
    assert!(out_path.is_file());

    let out = daefr(&[
        "restore",
        &i,
        "-o",
        &o,
        "--aligned",
        "--model",
        &tiny_model,
        "-w",
        "0.25",
        "--force",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = daefr(&["inspect", &tiny_model]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("fidelity: input `weight`") && text.contains("default"),
        "{text}"
    );
}

#[test]
fn a_restorer_that_changes_nothing_leaves_the_photo_exactly_as_it_was_in_change_mode() {
    let photo = astronaut();
    let faces = short_range_detector().detect(&photo).expect("detects");
    assert_eq!(faces.len(), 1);
    let template = *tiny(None).expect("loads").template();
    let identity = |crop: &RgbImage| Ok(crop.clone());
    let change = restore_faces(
        &photo,
        &faces,
        &template,
        128,
        &PhotoOptions::default(),
        identity,
    )
    .expect("restores");
    assert_eq!(change.image, photo, "change mode: no change, no harm");
    let replace = PhotoOptions {
        paste: PasteMode::Replace,
        ..PhotoOptions::default()
    };
    let replaced = restore_faces(&photo, &faces, &template, 128, &replace, identity).expect("ok");
    assert_ne!(replaced.image, photo, "replace mode resamples the face");
}

#[test]
fn blend_zero_keeps_the_original_and_blend_scales_the_change() {
    let photo = astronaut();
    let faces = short_range_detector().detect(&photo).expect("detects");
    let template = *tiny(None).expect("loads").template();
    let aligned = align_face(&photo, &faces[0], &template, 128).expect("aligns");
    let mut brighter = aligned.crop.clone();
    brighter
        .pixels_mut()
        .for_each(|p| p.0 = p.0.map(|v| v.saturating_add(40)));
    let paste = |amount: f32| {
        let mut frame = photo.clone();
        let options = PasteOptions {
            amount,
            ..PasteOptions::default()
        };
        paste_restored(&mut frame, &brighter, &aligned, &options);
        frame
    };
    assert_eq!(paste(0.0), photo);
    let centre = |img: &RgbImage| {
        let [x0, y0, x1, y1] = faces[0].bbox;
        let (x, y) = (((x0 + x1) / 2.0) as u32, ((y0 + y1) / 2.0) as u32);
        img.get_pixel(x, y)[1] as i32
    };
    let (orig, half, full) = (centre(&photo), centre(&paste(0.5)), centre(&paste(1.0)));
    assert!(full > half && half > orig, "{orig} {half} {full}");
    assert!(
        (half - orig - (full - orig) / 2).abs() <= 1,
        "{orig} {half} {full}"
    );
}

/// Issue 10's "do no harm" bar: the bundled model, at its default fidelity, restoring the
/// undegraded bundled portrait keeps the face box >= 30 dB against the original.
#[test]
fn the_bundled_model_does_no_harm_to_a_sharp_face() {
    let photo = astronaut();
    let model = daefr::model::require_default_model().expect("bundled model");
    let restorer = Restorer::load(
        &model,
        &LoadOptions {
            use_cache: false,
            ..LoadOptions::default()
        },
    )
    .expect("bundled model loads");
    assert!(
        restorer.fidelity().is_some(),
        "the bundled model has a fidelity input"
    );
    let out = FacePipeline::new(Box::new(short_range_detector()), restorer)
        .run(&photo, &PhotoOptions::default())
        .expect("restores");
    assert_eq!(out.restored(), 1);
    let bbox = out.faces[0].0.bbox;
    let clip = |v: f32, hi: u32| (v.max(0.0) as u32).min(hi);
    let (w, h) = photo.dimensions();
    let face_box = [
        clip(bbox[0], w),
        clip(bbox[1], h),
        clip(bbox[2], w),
        clip(bbox[3], h),
    ];
    let db = psnr_box(&out.image, &photo, face_box);
    eprintln!("bundled model, default fidelity, change paste: face box {face_box:?} {db:.2} dB");
    assert!(
        db >= 30.0,
        "face box {face_box:?}: {db:.2} dB against the original (bar: 30)"
    );
    // and it did something: the photo is not returned untouched
    assert_ne!(out.image, photo);
}

fn tiny_with_curve(
    dir: &std::path::Path,
    curve: &str,
    fidelity: Option<Fidelity>,
) -> daefr::Result<Restorer> {
    let path = onnx_with_metadata(
        &repo("tests/fixtures/daefr-tiny.onnx"),
        dir,
        "daefr.fidelity_auto",
        curve,
    );
    Restorer::load(
        &path,
        &LoadOptions {
            use_cache: false,
            fidelity,
            ..LoadOptions::default()
        },
    )
}

#[test]
fn auto_fidelity_reads_each_faces_weight_off_the_models_curve() {
    let dir = tempfile::tempdir().expect("tempdir");
    // weight = sharpness / 400 up to 1: a sharp face and a flat one get different weights
    let restorer = tiny_with_curve(dir.path(), "0:0,400:1", None).expect("loads");
    assert_eq!(
        restorer.fidelity(),
        Some(Fidelity::Auto),
        "a curve makes auto the default"
    );
    let sharp = face(32);
    let flat = RgbImage::from_pixel(32, 32, Rgb([120, 100, 90]));
    let s = daefr::model::sharpness(&sharp);
    assert!(
        s > 0.0 && s < 400.0,
        "sharpness {s} should fall inside the curve"
    );
    let w = restorer.weight_for(&sharp).expect("version 2");
    assert!((w - s / 400.0).abs() < 1e-6, "weight {w} for sharpness {s}");
    let w_flat = restorer.weight_for(&flat).expect("version 2");
    assert!(w_flat < 1e-6, "a flat face gets the prior: {w_flat}");
    // restore under auto is restore_at the face's own weight, bit for bit
    assert_eq!(
        restorer.restore(&sharp).expect("restores"),
        restorer.restore_at(&sharp, Some(w)).expect("restores")
    );
    assert_ne!(
        restorer.restore(&sharp).expect("restores"),
        restorer.restore_at(&sharp, Some(1.0)).expect("restores")
    );
    // a fixed weight beats the curve
    let fixed =
        tiny_with_curve(dir.path(), "0:0,400:1", Some(Fidelity::Weight(0.3))).expect("loads");
    assert_eq!(fixed.weight_for(&sharp), Some(0.3));
}

#[test]
fn auto_without_a_curve_uses_the_default_and_a_bad_curve_is_refused() {
    let restorer = tiny(None).expect("loads");
    let default = restorer.metadata().fidelity_default.expect("version 2");
    let auto = Restorer::load(
        &repo("tests/fixtures/daefr-tiny.onnx"),
        &LoadOptions {
            use_cache: false,
            fidelity: Some(Fidelity::Auto),
            ..LoadOptions::default()
        },
    )
    .expect("loads");
    assert_eq!(auto.fidelity(), Some(Fidelity::Weight(default)));
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["", "5:0.5,2:0.7", "2:1.5", "sharp"] {
        let err = tiny_with_curve(dir.path(), bad, None).unwrap_err();
        assert!(
            matches!(err.kind(), Error::ModelMetadata { .. })
                && err.to_string().contains("daefr.fidelity_auto"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn the_cli_takes_fidelity_auto() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    face(32).save(&input).expect("write");
    let model = onnx_with_metadata(
        &repo("tests/fixtures/daefr-tiny.onnx"),
        dir.path(),
        "daefr.fidelity_auto",
        "0:0,400:1",
    );
    let run = |fidelity: &str, name: &str| {
        let out_path = dir.path().join(name);
        let out = daefr(&[
            "restore",
            &s(&input),
            "-o",
            &s(&out_path),
            "--aligned",
            "--model",
            &s(&model),
            "--fidelity",
            fidelity,
        ]);
        assert!(
            out.status.success(),
            "--fidelity {fidelity}: {}",
            stderr(&out)
        );
        image::open(&out_path).expect("output").to_rgb8()
    };
    let w = daefr::model::sharpness(&face(32)) / 400.0;
    let auto = run("auto", "auto.png");
    assert_eq!(
        auto,
        run(&w.to_string(), "fixed.png"),
        "auto is the face's own weight"
    );
    assert_ne!(auto, run("1", "one.png"));
}

#[test]
fn sharpness_matches_the_toolchains_figure() {
    // models/tests/test_generalise.py checks the toolchain's sharpness against the same file
    let text =
        std::fs::read_to_string(repo("tests/fixtures/golden/sharpness.json")).expect("golden");
    let golden: std::collections::BTreeMap<String, f32> =
        serde_json::from_str(&text).expect("json");
    assert!(!golden.is_empty());
    for (name, want) in golden {
        let img = image::open(repo(&format!("tests/fixtures/golden/{name}")))
            .expect("image")
            .to_rgb8();
        let got = daefr::model::sharpness(&img);
        assert!(
            (got - want).abs() <= 1e-4 * want,
            "{name}: runtime {got}, toolchain {want}"
        );
    }
}
