//! Alignment and paste-back on the committed portrait: the crop puts the keypoints on the
//! template, pasting an unchanged crop leaves the photo unchanged, a changed crop blends in with
//! no seam, and faces at the frame border are handled.

use crate::util::*;

use daefr::align::{align_face, estimate_similarity, paste_face, AlignedFace, BlendMask};
use daefr::detect::{Face, FaceDetector};
use daefr::geometry::Template;
use image::{imageops, RgbImage};

/// The template of docs/model-contract.md's example (128-px crop).
const TEMPLATE: Template = Template {
    right_eye: [44.1, 58.0],
    left_eye: [83.9, 58.0],
    nose_tip: [64.0, 80.2],
    mouth_center: [64.0, 97.5],
};

fn astronaut_face(frame: &RgbImage) -> Face {
    let faces = short_range_detector().detect(frame).expect("detect");
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

/// Weight of the default mask at frame pixel `(x, y)` for `aligned`'s 128-px crop, mapped the way
/// the paste maps it (pixel centre into the crop); 0 outside the crop.
fn mask_weight(aligned: &AlignedFace, x: u32, y: u32) -> f32 {
    let side = aligned.crop.width() as f32;
    let [u, v] = aligned.transform.apply([x as f32 + 0.5, y as f32 + 0.5]);
    if u > 0.0 && v > 0.0 && u < side && v < side {
        BlendMask::default().weight(u, v, side)
    } else {
        0.0
    }
}

/// A smooth test card of `w` x `h`: cosines with a 48-px period, even around pixel 0 in both
/// directions, so the mirrored border samples of a face cut by the top or left edge continue it
/// exactly, and two bilinear resamplings reproduce it to within rounding. A 1-px shift moves a
/// pixel by up to 13 levels.
fn smooth_frame(w: u32, h: u32) -> RgbImage {
    let c = |i: u32| (2.0 * std::f32::consts::PI * i as f32 / 48.0).cos();
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (128.0 + 100.0 * c(x)).round() as u8,
            (128.0 + 100.0 * c(y)).round() as u8,
            (128.0 + 60.0 * c(x) * c(y)).round() as u8,
        ])
    })
}

/// Aligns `face` in `frame`, pastes the crop back unchanged and checks the result: every pixel
/// outside the mask is exactly as it was, and under the mask the face only went through two
/// bilinear resamplings (a slight blur of the photo's edges; on a smooth picture, rounding only).
fn assert_unchanged_crop_pasted_back(frame: &RgbImage, face: &Face) {
    let smooth = smooth_frame(frame.width(), frame.height());
    for (name, before) in [("photo", frame), ("smooth card", &smooth)] {
        let aligned = align_face(before, face, &TEMPLATE, 128).expect("align");
        let mut after = before.clone();
        paste_face(&mut after, &aligned.crop, &aligned);
        let (mut pasted, mut sum, mut worst) = (0usize, 0.0f32, 0.0f32);
        for (x, y, a) in after.enumerate_pixels() {
            let b = before.get_pixel(x, y);
            if mask_weight(&aligned, x, y) == 0.0 {
                assert_eq!(a, b, "{name}: ({x}, {y}) is outside the mask but changed");
                continue;
            }
            pasted += 1;
            for (&p, &q) in a.0.iter().zip(&b.0) {
                let d = (p as f32 - q as f32).abs();
                sum += d;
                worst = worst.max(d);
            }
        }
        assert!(pasted > 2000, "{name}: only {pasted} pixels under the mask");
        let mean = sum / (3 * pasted) as f32;
        if name == "photo" {
            assert!(mean < 4.0, "{name}: mean abs diff under the mask {mean}");
        } else {
            assert!(worst <= 1.0, "{name}: largest diff under the mask {worst}");
        }
    }
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
    let again = short_range_detector().detect(&canvas).expect("detect crop");
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
    assert_unchanged_crop_pasted_back(&frame, &face);
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
    // No seam: neighbouring pixels differ by at most the mask ramp's steepest step (smoothstep's
    // slope peaks at 1.5 over the feather, a few frame pixels wide here), never by the 150 levels
    // of a hard paste.
    let crop_in_frame = 128.0 / aligned.transform.a.hypot(aligned.transform.b);
    let ramp_px = BlendMask::default().feather * crop_in_frame;
    let steepest = 150.0 * 1.5 / ramp_px + 2.0; // + rounding and bilinear sampling
    let mut worst = 0.0f32;
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let c = change(x, y);
            worst = worst
                .max((c - change(x + 1, y)).abs())
                .max((c - change(x, y + 1)).abs());
        }
    }
    assert!(
        worst <= steepest && worst < 150.0 / 4.0,
        "largest step between neighbours: {worst} (ramp of {ramp_px:.1} px allows {steepest:.1})"
    );
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
    // The face really is cut: the crop's footprint in the frame starts left of and above it.
    let to_frame = aligned.transform.inverse().expect("invertible");
    let corners =
        [[0.0, 0.0], [128.0, 0.0], [0.0, 128.0], [128.0, 128.0]].map(|p| to_frame.apply(p));
    assert!(
        corners.iter().any(|p| p[0] < 0.0) && corners.iter().any(|p| p[1] < 0.0),
        "the footprint {corners:?} is not cut by the top-left corner"
    );
    // The crop has no black band: mirrored pixels instead of fill.
    let dark = aligned.crop.pixels().filter(|p| p.0 == [0, 0, 0]).count();
    assert!(dark < 50, "{dark} pure black pixels in the crop");

    // The unchanged crop pasted back: nothing outside the mask moves, the rest only blurs.
    assert_unchanged_crop_pasted_back(&shifted, &moved);

    // A flat white face shows exactly which pixels the paste wrote: all of the mask that lies in
    // the frame, clipped at the frame's edge (not shifted, not wrapped onto another row), and
    // nothing else.
    let white = RgbImage::from_pixel(128, 128, image::Rgb([250, 250, 250]));
    let mut out = shifted.clone();
    paste_face(&mut out, &white, &aligned);
    let (mut full, mut full_on_edge, mut ramp) = (0, 0, 0);
    for (x, y, after) in out.enumerate_pixels() {
        let before = shifted.get_pixel(x, y);
        let w = mask_weight(&aligned, x, y);
        if w == 0.0 {
            assert_eq!(after, before, "({x}, {y}) is outside the mask but changed");
        } else if w == 1.0 {
            assert_eq!(
                after.0, [250; 3],
                "({x}, {y}) is inside the mask but not pasted"
            );
            full += 1;
            if x == 0 || y == 0 {
                full_on_edge += 1;
            }
        } else {
            for (&b, a) in before.0.iter().zip(after.0) {
                assert!(
                    (b.min(250)..=b.max(250)).contains(&a),
                    "({x}, {y}): {a} is not between the photo's {b} and the face's 250 (weight {w})"
                );
            }
            ramp += 1;
        }
    }
    assert!(full > 2000, "only {full} pixels fully pasted");
    assert!(ramp > 500, "only {ramp} pixels on the feathered ramp");
    assert!(
        full_on_edge > 20,
        "the fully pasted face reaches the frame's edge in only {full_on_edge} pixels"
    );
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

#[test]
fn a_crop_restored_earlier_pastes_its_change_and_leaves_an_untouched_face_as_it_is() {
    use daefr::align::{estimate_similarity, paste_crop_with, BlendMask, RestoredCrop};
    let photo = astronaut();
    let face = short_range_detector().detect(&photo).expect("detect")[0];
    let template = daefr::geometry::Template {
        right_eye: [44.1, 58.0],
        left_eye: [83.9, 58.0],
        nose_tip: [64.0, 80.2],
        mouth_center: [64.0, 97.5],
    };
    let aligned = daefr::align::align_face(&photo, &face, &template, 128).expect("aligns");
    let transform =
        estimate_similarity(&face.alignment_points(), &template.points()).expect("similarity");
    // a network that changed nothing: its change is zero, the frame keeps its own pixels
    let unchanged = RestoredCrop {
        restored: aligned.crop.clone(),
        given: Some(aligned.crop.clone()),
    };
    let mut frame = photo.clone();
    paste_crop_with(
        &mut frame,
        &unchanged,
        &transform,
        128,
        &BlendMask::default(),
    );
    assert_eq!(frame, photo, "change mode: a zero change pastes nothing");
    // the same crop pasted as a replacement brings the 128-px resampling into the 512-px face
    let replaced = RestoredCrop {
        given: None,
        ..unchanged
    };
    let mut frame = photo.clone();
    paste_crop_with(
        &mut frame,
        &replaced,
        &transform,
        128,
        &BlendMask::default(),
    );
    assert_ne!(frame, photo, "replace mode pastes the upsampled crop");
}
