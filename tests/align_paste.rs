//! Alignment and paste-back on the committed portrait: the crop puts the keypoints on the
//! template, pasting an unchanged crop leaves the photo unchanged, a changed crop blends in with
//! no seam, and faces at the frame border are handled.

use std::path::Path;

use daefr::align::{align_face, estimate_similarity, paste_face, AlignedFace};
use daefr::detect::{detector_path, BlazeFace, DetectorKind, DetectorOptions, Face, FaceDetector};
use daefr::model::Template;
use image::{imageops, RgbImage};

/// The template of docs/model-contract.md's example (128-px crop).
const TEMPLATE: Template = Template {
    right_eye: [44.1, 58.0],
    left_eye: [83.9, 58.0],
    nose_tip: [64.0, 80.2],
    mouth_center: [64.0, 97.5],
};

fn astronaut() -> RgbImage {
    image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/astronaut.png"))
        .expect("fixture")
        .to_rgb8()
}

fn detector() -> BlazeFace {
    let path = detector_path(DetectorKind::ShortRange).expect("bundled detector");
    BlazeFace::load(&path, &DetectorOptions::default()).expect("loads")
}

fn astronaut_face(frame: &RgbImage) -> Face {
    let faces = detector().detect(frame).expect("detect");
    assert_eq!(faces.len(), 1);
    faces[0]
}

fn diff(a: &RgbImage, b: &RgbImage) -> Vec<f32> {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as f32 - y as f32).abs())
        .collect()
}

#[test]
fn aligned_crop_puts_the_detected_keypoints_on_the_template() {
    let frame = astronaut();
    let face = astronaut_face(&frame);
    let aligned = align_face(&frame, &face, &TEMPLATE, 128).expect("align");
    assert_eq!(aligned.crop.dimensions(), (128, 128));
    // Transform of the keypoints: close to the template (least squares over 4 points).
    for (p, t) in face.alignment_points().iter().zip(TEMPLATE.points()) {
        let q = aligned.transform.apply(*p);
        assert!((q[0] - t[0]).hypot(q[1] - t[1]) < 6.0, "{q:?} vs {t:?}");
    }
    // Independent check on pixels: the detector, run on the crop (scaled up so the face fills a
    // natural share of the frame), finds the eyes where the template says.
    let mut canvas = RgbImage::from_pixel(256, 256, image::Rgb([0, 0, 0]));
    imageops::replace(&mut canvas, &aligned.crop, 64, 64);
    let again = detector().detect(&canvas).expect("detect crop");
    assert_eq!(again.len(), 1, "{again:?}");
    for (p, t) in again[0].alignment_points().iter().zip(TEMPLATE.points()) {
        let q = [p[0] - 64.0, p[1] - 64.0];
        assert!((q[0] - t[0]).hypot(q[1] - t[1]) < 8.0, "{q:?} vs {t:?}");
    }
}

#[test]
fn pasting_the_unchanged_crop_leaves_the_photo_unchanged() {
    let frame = astronaut();
    let face = astronaut_face(&frame);
    let aligned = align_face(&frame, &face, &TEMPLATE, 128).expect("align");
    let mut out = frame.clone();
    paste_face(&mut out, &aligned.crop.clone(), &aligned);
    let d = diff(&out, &frame);
    let mean = d.iter().sum::<f32>() / d.len() as f32;
    // Two bilinear resamplings blur a little; nothing shifts or changes colour.
    assert!(mean < 1.0, "mean abs diff {mean}");
    assert_ne!(out, frame, "the face region was written");
}

#[test]
fn a_changed_crop_blends_in_without_a_seam_and_touches_only_the_face() {
    let frame = astronaut();
    let face = astronaut_face(&frame);
    let aligned = align_face(&frame, &face, &TEMPLATE, 128).expect("align");
    // Flat grey photo, flat white "restored" face: the pasted change is the mask alone, and a
    // hard paste would leave a 150-level step at the crop border.
    let grey = RgbImage::from_pixel(frame.width(), frame.height(), image::Rgb([100, 100, 100]));
    let white = RgbImage::from_pixel(128, 128, image::Rgb([250, 250, 250]));
    let mut out = grey.clone();
    paste_face(&mut out, &white, &aligned);
    let (w, h) = frame.dimensions();
    let change = |x: u32, y: u32| out.get_pixel(x, y).0[0] as f32 - 100.0;
    // The middle of the face got the full change, the picture's corners none.
    let [cx, cy] = face.keypoints[2];
    assert_eq!(change(cx as u32, cy as u32), 150.0);
    for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
        assert_eq!(change(x, y), 0.0);
    }
    // No seam: neighbouring pixels differ little anywhere (a ramp over ~15 px, not a step).
    let mut worst = 0.0f32;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let c = change(x, y);
            worst = worst
                .max((c - change(x + 1, y)).abs())
                .max((c - change(x, y + 1)).abs());
        }
    }
    assert!(worst < 16.0, "largest step between neighbours: {worst}");
    assert!(worst > 2.0, "the mask does ramp: {worst}");
}

#[test]
fn faces_at_the_frame_border_align_with_mirrored_borders_and_paste_clipped() {
    let frame = astronaut();
    let face = astronaut_face(&frame);
    // Shift the portrait so the face is cut by the top-left corner.
    let (dx, dy) = (190i64, 90i64);
    let mut shifted = RgbImage::new(400, 300);
    imageops::replace(&mut shifted, &frame, -dx, -dy);
    let mut moved = face;
    moved.bbox = [
        face.bbox[0] - dx as f32,
        face.bbox[1] - dy as f32,
        face.bbox[2] - dx as f32,
        face.bbox[3] - dy as f32,
    ];
    for kp in moved.keypoints.iter_mut() {
        kp[0] -= dx as f32;
        kp[1] -= dy as f32;
    }
    let aligned: AlignedFace = align_face(&shifted, &moved, &TEMPLATE, 128).expect("align");
    // The crop has no black band: mirrored pixels instead of fill.
    let dark = aligned.crop.pixels().filter(|p| p.0 == [0, 0, 0]).count();
    assert!(dark < 50, "{dark} pure black pixels in the crop");
    let mut out = shifted.clone();
    paste_face(&mut out, &aligned.crop, &aligned);
    assert_eq!(out.dimensions(), shifted.dimensions());
}

#[test]
fn a_face_entirely_outside_the_frame_changes_nothing() {
    let frame = astronaut();
    let face = astronaut_face(&frame);
    let aligned = align_face(&frame, &face, &TEMPLATE, 128).expect("align");
    let mut small = RgbImage::new(100, 60);
    let before = small.clone();
    paste_face(&mut small, &aligned.crop, &aligned);
    assert_eq!(small, before);
}

#[test]
fn degenerate_keypoints_are_an_error_not_a_panic() {
    let frame = astronaut();
    let face = Face {
        bbox: [10.0, 10.0, 20.0, 20.0],
        score: 0.9,
        keypoints: [[15.0, 15.0]; 6],
    };
    assert!(align_face(&frame, &face, &TEMPLATE, 128).is_err());
    assert!(align_face(&frame, &astronaut_face(&frame), &TEMPLATE, 0).is_err());
    assert!(estimate_similarity(&face.alignment_points(), &TEMPLATE.points()).is_none());
}
