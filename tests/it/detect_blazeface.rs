//! BlazeFace on real and synthetic frames: the committed public-domain portrait, blank frames,
//! grayscale, extreme aspect ratios and very large frames.

use crate::util::*;
use std::path::Path;

use daefr::detect::{
    default_detector_path, detector_path, keypoint, BlazeFace, DetectorKind, DetectorOptions, Face,
    FaceDetector, TiledDetector,
};
use image::{imageops, Rgb, RgbImage};

fn detector(kind: DetectorKind) -> BlazeFace {
    let path = detector_path(kind).expect("bundled BlazeFace model under models/blazeface/");
    BlazeFace::load(&path, &DetectorOptions::default()).expect("BlazeFace loads")
}

fn inside(p: [f32; 2], bbox: [f32; 4]) -> bool {
    p[0] >= bbox[0] && p[0] <= bbox[2] && p[1] >= bbox[1] && p[1] <= bbox[3]
}

/// Eyes above nose above mouth, subject's right eye on the image's left, all four inside the box.
fn assert_upright_face(face: &Face) {
    let k = face.keypoints;
    let (re, le, nose, mouth) = (
        k[keypoint::RIGHT_EYE],
        k[keypoint::LEFT_EYE],
        k[keypoint::NOSE_TIP],
        k[keypoint::MOUTH_CENTER],
    );
    assert!(re[0] < le[0], "right eye is on the image's left: {k:?}");
    assert!(
        re[1] < nose[1] && le[1] < nose[1],
        "eyes above the nose: {k:?}"
    );
    assert!(nose[1] < mouth[1], "nose above the mouth: {k:?}");
    for p in [re, le, nose, mouth] {
        assert!(inside(p, face.bbox), "{p:?} inside {:?}", face.bbox);
    }
}

#[test]
fn default_path_finds_the_bundled_short_range_model() {
    let path = default_detector_path(DetectorKind::ShortRange).expect("bundled detector");
    assert!(path.ends_with("face_detection_front_128x128_barracuda.onnx"));
}

#[test]
fn astronaut_has_one_upright_face_with_sane_keypoints() {
    let frame = astronaut();
    for kind in [DetectorKind::ShortRange, DetectorKind::LongRange] {
        let faces = detector(kind).detect(&frame).expect("detect");
        assert_eq!(faces.len(), 1, "{kind:?}: {faces:?}");
        let face = &faces[0];
        assert!(face.score > 0.7, "{kind:?}: score {}", face.score);
        // The face is in the upper middle of the 512x512 portrait, roughly 100 px wide.
        assert!(
            face.width() > 60.0 && face.width() < 160.0,
            "{kind:?}: {face:?}"
        );
        let centre_x = (face.bbox[0] + face.bbox[2]) / 2.0;
        assert!(centre_x > 150.0 && centre_x < 300.0, "{kind:?}: {face:?}");
        assert_upright_face(face);
    }
}

#[test]
fn detections_map_back_to_the_frame_whatever_its_size_and_shape() {
    let small = astronaut();
    let reference = detector(DetectorKind::ShortRange)
        .detect(&small)
        .expect("detect")[0];
    let mut det = detector(DetectorKind::ShortRange);

    // A very large frame (4x): same face, coordinates 4x.
    let big = imageops::resize(&small, 2048, 2048, imageops::FilterType::Triangle);
    let faces = det.detect(&big).expect("detect big");
    assert_eq!(faces.len(), 1);
    for (a, b) in faces[0].bbox.iter().zip(reference.bbox) {
        assert!(
            (a / 4.0 - b).abs() < 6.0,
            "{:?} vs 4 x {:?}",
            faces[0].bbox,
            reference.bbox
        );
    }

    // The portrait in the right half of a wide letterboxed frame (the face is small there: the
    // long-range model).
    let mut long = detector(DetectorKind::LongRange);
    let reference = long.detect(&small).expect("detect")[0];
    let mut wide = RgbImage::from_pixel(1024, 512, Rgb([90, 90, 90]));
    imageops::replace(&mut wide, &small, 512, 0);
    let faces = long.detect(&wide).expect("detect wide");
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(
        (faces[0].bbox[0] - 512.0 - reference.bbox[0]).abs() < 12.0,
        "{faces:?}"
    );
    assert!(
        (faces[0].bbox[1] - reference.bbox[1]).abs() < 12.0,
        "{faces:?}"
    );
    assert_upright_face(&faces[0]);
}

#[test]
fn blank_and_noise_frames_have_no_face() {
    let mut det = detector(DetectorKind::ShortRange);
    let grey = RgbImage::from_pixel(640, 480, Rgb([128, 128, 128]));
    assert!(det.detect(&grey).expect("detect").is_empty());
    // Deterministic pseudo-random noise.
    let mut state = 0x2545_f491_u32;
    let noise = RgbImage::from_fn(320, 240, |_, _| {
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        };
        Rgb([next(), next(), next()])
    });
    assert!(det.detect(&noise).expect("detect").is_empty());
}

#[test]
fn grayscale_frames_work() {
    let grey =
        image::DynamicImage::ImageLuma8(image::DynamicImage::ImageRgb8(astronaut()).to_luma8())
            .to_rgb8();
    let faces = detector(DetectorKind::ShortRange)
        .detect(&grey)
        .expect("detect");
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert_upright_face(&faces[0]);
}

#[test]
fn extreme_aspect_ratios_and_tiny_frames_do_not_panic() {
    let mut det = detector(DetectorKind::ShortRange);
    for (w, h) in [(4000, 3), (3, 4000), (1, 1), (2, 700)] {
        let frame = RgbImage::from_pixel(w, h, Rgb([200, 150, 100]));
        let faces = det.detect(&frame).expect("detect");
        for face in faces {
            assert!(face.bbox[0] >= 0.0 && face.bbox[2] <= w as f32);
        }
    }
    assert!(det.detect(&RgbImage::new(0, 0)).is_err());
}

#[test]
fn a_file_that_is_not_blazeface_is_refused_with_its_name() {
    let other = repo("tests/fixtures/daefr-tiny.onnx");
    assert!(
        other.is_file(),
        "fixture {} is missing: it is committed, restore it with `git checkout -- tests/fixtures`",
        other.display()
    );
    let err = BlazeFace::load(&other, &DetectorOptions::default()).expect_err("not BlazeFace");
    assert!(err.to_string().contains("daefr-tiny.onnx"), "{err}");
    let missing = BlazeFace::load(
        Path::new("/nonexistent/bf.onnx"),
        &DetectorOptions::default(),
    )
    .expect_err("missing");
    assert!(
        missing.to_string().contains("/nonexistent/bf.onnx"),
        "{missing}"
    );
}

#[test]
fn tiles_find_small_faces_in_a_large_photo_that_the_whole_photo_pass_misses() {
    let path = daefr::detect::detector_path(DetectorKind::LongRange).expect("bundled long-range");
    let detector = BlazeFace::load(&path, &DetectorOptions::default()).expect("loads");
    // three ~30-px faces on a 3200x2400 grey photo (a 4:3 phone picture, scaled down)
    let small = image::imageops::resize(
        &astronaut(),
        200,
        200,
        image::imageops::FilterType::Triangle,
    );
    let mut photo = RgbImage::from_pixel(3200, 2400, image::Rgb([120, 120, 120]));
    let spots = [(300, 400), (1500, 1100), (2800, 1900)];
    for (x, y) in spots {
        image::imageops::replace(&mut photo, &small, x, y);
    }
    let mut whole = detector.clone();
    let alone = whole.detect(&small).expect("detect")[0];
    let centre = (
        (alone.bbox[0] + alone.bbox[2]) / 2.0,
        (alone.bbox[1] + alone.bbox[3]) / 2.0,
    );
    assert!(
        whole.detect(&photo).expect("detect").is_empty(),
        "the whole-photo pass finds them"
    );
    let mut tiled = TiledDetector::new(detector, 1024, 0.3);
    let faces = tiled.detect(&photo).expect("detect");
    assert_eq!(faces.len(), 3, "{faces:?}");
    assert!(
        tiled.last_runs() > 1 && tiled.last_runs() <= 65,
        "{}",
        tiled.last_runs()
    );
    for (x, y) in spots {
        let found = faces.iter().any(|f| {
            let (cx, cy) = ((f.bbox[0] + f.bbox[2]) / 2.0, (f.bbox[1] + f.bbox[3]) / 2.0);
            (cx - x as f32 - centre.0).abs() < 6.0 && (cy - y as f32 - centre.1).abs() < 6.0
        });
        assert!(found, "no face at {x},{y}: {faces:?}");
    }
    // a photo that fits one tile costs one run, as before
    let faces = tiled.detect(&astronaut()).expect("detect");
    assert_eq!((faces.len(), tiled.last_runs()), (1, 1));
}
